"""AU inputs: presets, timelines, OpenFace / py-feat CSV files, sources and every bad-input message."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from reenact.aus.csv_io import read_au_csv, write_au_csv
from reenact.errors import AUInputError, DriverEnded
from reenact.aus.names import AU_NAMES, NUM_AUS, OPENFACE_COLUMNS, au_index
from reenact.aus.presets import load_preset, preset_from_dict, shipped_presets
from reenact.aus.sources import (AUSource, PresetSource, SequenceSource, TimelineSource,
                                 open_au_source)
from reenact.aus.timeline import ease, load_timeline, timeline_from_dict
from reenact.frame import Frame
from reenact.tracking.types import Face

REQUIRED = ("smile", "big_smile", "surprise", "sadness", "anger", "fear", "disgust", "blink",
            "brows_up", "mouth_open")
I12, I06, I45 = au_index("AU12"), au_index("AU06"), au_index("AU45")


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def frame(index=0, time=None, ids=(0,)) -> Frame:
    from fractions import Fraction
    faces = [Face(i, np.zeros((478, 2), np.float32)) for i in ids]
    pts = None if time is None else int(round(time * 1000))
    return Frame(np.zeros((4, 4, 3), np.uint8), pts=pts,
                 time_base=None if time is None else Fraction(1, 1000), index=index, faces=faces)


# -- presets -------------------------------------------------------------------------------------
def test_shipped_presets_load_and_cover_the_required_expressions():
    names = shipped_presets()
    for n in REQUIRED:
        assert n in names
    for n in names:
        p = load_preset(n)
        v = p.vector()
        assert v.shape == (NUM_AUS,) and v.dtype == np.float32
        assert (v >= 0).all() and (v <= 5).all()
    assert load_preset("smile").vector()[I12] > 1.0
    assert load_preset("blink").vector()[I45] == 5.0


def test_absolute_preset_sets_listed_and_keeps_unlisted():
    own = np.linspace(0.1, 1.7, NUM_AUS).astype(np.float32)
    p = preset_from_dict({"aus": {"AU12": 3.0, "AU06": 0.0}}, "test")
    out = p.apply(own)
    assert out[I12] == 3.0 and out[I06] == 0.0
    others = [i for i in range(NUM_AUS) if i not in (I12, I06)]
    np.testing.assert_array_equal(out[others], own[others])


def test_relative_preset_adds_and_clamps():
    own = np.full(NUM_AUS, 1.0, np.float32)
    own[I12] = 4.0
    p = preset_from_dict({"aus": {"AU12": 2.0, "AU06": -3.0, "AU45": 0.5}, "relative": True}, "t")
    out = p.apply(own)
    assert out[I12] == 5.0          # 4 + 2 clamped
    assert out[I06] == 0.0          # 1 - 3 clamped
    assert out[I45] == pytest.approx(1.5)
    assert out[au_index("AU01")] == 1.0


@pytest.mark.parametrize("obj, expected", [
    ({"aus": {"AU13": 1}}, "AU13"),
    ({"aus": {"smile": 1}}, "'smile'"),
    ({"aus": {"AU12": 7}}, "outside 0..5"),
    ({"aus": {"AU12": -1}}, "outside 0..5"),
    ({"aus": {"AU12": -6}, "relative": True}, "outside -5..5"),
    ({"aus": {"AU12": "high"}}, "expected a number"),
    ({"aus": {"AU12": True}}, "expected a number"),
    ({"aus": [1, 2]}, "expected an object"),
    ({"aus": {}, "relatve": True}, "unknown key(s) 'relatve'"),
    ({"name": "x"}, "missing key \"aus\""),
    ({"aus": {}, "relative": "yes"}, "\"relative\" must be true or false"),
])
def test_bad_preset_messages(tmp_path, obj, expected):
    p = write(tmp_path, "bad.json", json.dumps(obj))
    with pytest.raises(AUInputError) as e:
        load_preset(p)
    assert str(p) in str(e.value) and expected in str(e.value)


def test_malformed_json_names_line_and_column(tmp_path):
    p = write(tmp_path, "broken.json", '{\n "aus": {\n  "AU12": 3.0,\n }\n}\n')
    with pytest.raises(AUInputError, match=r"broken.json: line 4, column 2: malformed JSON"):
        load_preset(p)


def test_unknown_preset_name_lists_shipped():
    with pytest.raises(AUInputError, match="unknown preset 'grin'.*smile"):
        load_preset("grin")


# -- timelines -----------------------------------------------------------------------------------
def test_easing_values():
    assert ease("linear", 0.25) == 0.25
    assert ease("ease-in-out", 0.5) == 0.5
    assert ease("ease-in-out", 0.25) == pytest.approx(0.15625)  # 3u^2 - 2u^3
    assert ease("ease-in-out", 0.0) == 0.0 and ease("ease-in-out", 1.0) == 1.0
    assert ease("step", 0.999) == 0.0 and ease("step", 1.0) == 1.0
    assert ease("linear", -1) == 0.0 and ease("linear", 2) == 1.0


def _timeline(ease_kind: str):
    return timeline_from_dict({"keyframes": [
        {"t": 1.0, "aus": {"AU12": 0.0}},
        {"t": 3.0, "aus": {"AU12": 4.0}, "ease": ease_kind}]}, "tl")


@pytest.mark.parametrize("kind, t, expected", [
    ("linear", 0.0, 0.0), ("linear", 1.5, 1.0), ("linear", 2.0, 2.0), ("linear", 9.0, 4.0),
    ("ease-in-out", 1.5, 4 * 0.15625), ("ease-in-out", 2.0, 2.0),
    ("step", 2.9, 0.0), ("step", 3.0, 4.0)])
def test_timeline_interpolates(kind, t, expected):
    own = np.full(NUM_AUS, 0.7, np.float32)
    out = _timeline(kind).at(t, own)
    assert out[I12] == pytest.approx(expected, abs=1e-6)
    assert out[I06] == pytest.approx(0.7)   # unlisted AUs follow the face


def test_timeline_relative_keyframes_and_presets(tmp_path):
    write(tmp_path, "mine.json", json.dumps({"aus": {"AU12": 2.0}, "relative": True}))
    tl = timeline_from_dict({"keyframes": [
        {"t": 0.0, "aus": {}},
        {"t": 1.0, "preset": "mine.json"},
        {"t": 2.0, "preset": "smile", "relative": True}]}, "tl", tmp_path)
    own = np.full(NUM_AUS, 1.0, np.float32)
    assert tl.at(0.0, own)[I12] == 1.0
    assert tl.at(1.0, own)[I12] == 3.0                         # relative file: own + 2
    smile = load_preset("smile").values[I12]
    assert tl.at(2.0, own)[I12] == pytest.approx(min(5.0, 1.0 + smile))  # forced relative


def test_shipped_timeline_loads():
    tl = load_timeline(Path(__file__).parents[2] / "examples/aus/timelines/smile_then_surprise.json")
    own = np.zeros(NUM_AUS, np.float32)
    assert tl.at(1.5, own)[I12] > 1.0 and tl.at(0.0, own)[I12] == 0.0


@pytest.mark.parametrize("frames, expected", [
    ([{"t": 1.0, "aus": {}}, {"t": 0.5, "aus": {}}], "keyframes[1]: time 0.5 is not after"),
    ([{"t": 1.0, "aus": {}}, {"t": 1.0, "aus": {}}], "keyframes[1]: time 1.0 is not after"),
    ([{"t": -1, "aus": {}}], "keyframes[0]: \"t\" must be"),
    ([{"aus": {}}], "keyframes[0]: \"t\" must be"),
    ([{"t": 0, "aus": {}, "ease": "bounce"}], "keyframes[0]: \"ease\" 'bounce' is unknown"),
    ([{"t": 0}], "keyframes[0]: give exactly one of"),
    ([{"t": 0, "aus": {}, "preset": "smile"}], "keyframes[0]: give exactly one of"),
    ([{"t": 0, "aus": {"AU99": 1}}], "keyframes[0]: \"aus\": key 'AU99'"),
    ([{"t": 0, "preset": "nope"}], "keyframes[0]: unknown preset 'nope'"),
    ([{"t": 0, "aus": {}, "speed": 2}], "keyframes[0]: unknown key(s) 'speed'"),
    ([], "\"keyframes\" must be a non-empty list"),
])
def test_bad_timeline_messages(tmp_path, frames, expected):
    p = write(tmp_path, "tl.json", json.dumps({"keyframes": frames}))
    with pytest.raises(AUInputError) as e:
        load_timeline(p)
    assert str(p) in str(e.value) and expected in str(e.value)


# -- CSV files -----------------------------------------------------------------------------------
def openface_text(rows: list[list[float]], spaces=True) -> str:
    sep = ", " if spaces else ","
    head = sep.join(["frame", "timestamp", "confidence", "success", *OPENFACE_COLUMNS])
    lines = [sep.join([str(i + 1), f"{i / 30:.3f}", "0.98", "1", *(f"{v:.2f}" for v in r)])
             for i, r in enumerate(rows)]
    return "\n".join([head, *lines]) + "\n"


def test_openface_csv_reads_values(tmp_path):
    rows = [[0.1 * i + j * 0.01 for j in range(NUM_AUS)] for i in range(5)]
    seq = read_au_csv(write(tmp_path, "of.csv", openface_text(rows)))
    assert seq.kind == "openface" and seq.aus.shape == (5, NUM_AUS)
    np.testing.assert_allclose(seq.aus, np.round(rows, 2), atol=1e-6)


def test_pyfeat_csv_scales_by_5_and_maps_au43_to_au45(tmp_path):
    cols = ["AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU11", "AU12",
            "AU14", "AU15", "AU17", "AU20", "AU23", "AU24", "AU25", "AU26", "AU28", "AU43"]
    vals = {c: (k + 1) / 40 for k, c in enumerate(cols)}
    text = ",".join(["FaceScore", *cols, "input", "frame"]) + "\n" + \
        ",".join(["0.99", *(str(vals[c]) for c in cols), "a.mp4", "0"]) + "\n"
    seq = read_au_csv(write(tmp_path, "pf.csv", text))
    assert seq.kind == "pyfeat"
    assert seq.aus[0, I12] == pytest.approx(5 * vals["AU12"])
    assert seq.aus[0, I45] == pytest.approx(5 * vals["AU43"])


def test_real_shared_format_files_parse():
    here = Path(__file__).parents[1] / "data" / "aus"
    for name, kind, n in (("openface_head.csv", "openface", 5), ("pyfeat_head.csv", "pyfeat", 3)):
        seq = read_au_csv(here / name)
        assert seq.kind == kind and len(seq) == n
        assert (seq.aus >= 0).all() and (seq.aus <= 5).all() and seq.aus.max() > 0


def test_csv_roundtrip_keeps_first_face_and_holds_gaps(tmp_path):
    a = np.linspace(0, 4, NUM_AUS, dtype=np.float32)
    recs = [{"input": "v.mp4", "frame": 0, "timestamp": 0.0, "face_id": 0, "aus": a},
            {"input": "v.mp4", "frame": 0, "timestamp": 0.0, "face_id": 1, "aus": a * 0},
            {"input": "v.mp4", "frame": 1, "timestamp": 0.033, "face_id": None, "aus": None},
            {"input": "v.mp4", "frame": 2, "timestamp": 0.067, "face_id": 0, "aus": a / 2}]
    p = tmp_path / "out.csv"
    write_au_csv(p, recs)
    assert not list(tmp_path.glob(".*.tmp"))
    seq = read_au_csv(p)
    assert len(seq) == 3                                   # face 1 dropped, the gap kept
    np.testing.assert_allclose(seq.aus[0], a, atol=1e-3)
    np.testing.assert_allclose(seq.aus[1], a, atol=1e-3)   # no face: held
    np.testing.assert_allclose(seq.aus[2], a / 2, atol=1e-3)


@pytest.mark.parametrize("mutate, expected", [
    (lambda t: t.replace("AU12_r", "AU12_x"), "line 1: missing column(s) AU12_r"),
    (lambda t: t.replace("0.42", "abc", 1), "line 3, column AU01_r: 'abc' is not a number"),
    (lambda t: t.replace("0.42", "7.5", 1), "line 3, column AU01_r: 7.5 is outside 0..5"),
    (lambda t: t.splitlines()[0] + "\n", "no data rows"),
    (lambda t: "a,b,c\n1,2,3\n", "line 1: no AU columns"),
    (lambda t: "", "empty file"),
    (lambda t: t + "1, 2\n", "fields, the header has"),
])
def test_bad_csv_messages(tmp_path, mutate, expected):
    rows = [[0.1] * NUM_AUS, [0.42] + [0.2] * (NUM_AUS - 1)]
    p = write(tmp_path, "bad.csv", mutate(openface_text(rows)))
    with pytest.raises(AUInputError) as e:
        read_au_csv(p)
    assert str(p) in str(e.value) and expected in str(e.value)


# -- sources -------------------------------------------------------------------------------------
def test_sequence_policies(tmp_path):
    rows = [[float(i)] * NUM_AUS for i in range(3)]
    p = write(tmp_path, "s.csv", openface_text(rows))
    hold = open_au_source(p, driver_policy="hold")
    loop = open_au_source(p, driver_policy="loop")
    stop = open_au_source(p, driver_policy="stop")
    assert isinstance(hold, SequenceSource) and isinstance(hold, AUSource)
    own = {0: np.zeros(NUM_AUS, np.float32)}
    assert hold.targets(frame(1), own)[0][0] == 1.0
    assert hold.targets(frame(7), own)[0][0] == 2.0
    assert loop.targets(frame(4), own)[0][0] == 1.0
    assert stop.targets(frame(2), own)[0][0] == 2.0
    with pytest.raises(DriverEnded):
        stop.targets(frame(3), own)


def test_open_au_source_dispatch_and_errors(tmp_path):
    assert isinstance(open_au_source("smile"), PresetSource)
    tl = Path(__file__).parents[2] / "examples/aus/timelines/smile_then_surprise.json"
    assert isinstance(open_au_source(tl), TimelineSource)
    with pytest.raises(AUInputError, match="unknown AU input type '.txt'"):
        open_au_source(write(tmp_path, "x.txt", "hi"))
    with pytest.raises(AUInputError, match="no such driver video"):
        open_au_source(tmp_path / "missing.mp4")
    with pytest.raises(AUInputError, match="policy must be one of"):
        open_au_source("smile", driver_policy="forever")


def test_sources_target_every_face_by_id():
    own = {3: np.full(NUM_AUS, 0.5, np.float32), 5: np.full(NUM_AUS, 2.0, np.float32)}
    out = open_au_source("more_smile").targets(frame(0, ids=(3, 5)), own)
    assert set(out) == {3, 5}
    assert out[3][I12] == pytest.approx(2.0) and out[5][I12] == pytest.approx(3.5)
    assert all(v.dtype == np.float32 and v.shape == (NUM_AUS,) for v in out.values())


def test_timeline_source_uses_frame_time_then_index():
    src = open_au_source(Path(__file__).parents[2] / "examples/aus/timelines/smile_then_surprise.json",
                         fps=10.0)
    own = {0: np.zeros(NUM_AUS, np.float32)}
    by_time = src.targets(frame(index=0, time=1.5), own)[0]
    by_index = src.targets(frame(index=15), own)[0]            # 15 / 10 fps = 1.5 s
    np.testing.assert_allclose(by_time, by_index)
    assert by_time[I12] > 1.0


def test_au_names_are_openface_order():
    assert AU_NAMES[0] == "AU01" and AU_NAMES[-1] == "AU45" and len(AU_NAMES) == NUM_AUS


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_json_with_a_bom_or_in_utf_16_is_read(tmp_path, encoding):
    p = tmp_path / "p.json"
    p.write_bytes(json.dumps({"name": "x", "aus": {"AU12": 2.5}}).encode(encoding))
    assert load_preset(p).values[au_index("AU12")] == 2.5  # was UnicodeDecodeError / malformed


def test_binary_json_is_one_line(tmp_path):
    p = tmp_path / "p.json"
    p.write_bytes(bytes(range(128, 256)) * 4)
    with pytest.raises(AUInputError, match=r"p.json: not a JSON text file"):
        open_au_source(p)


def test_csv_with_a_bom_keeps_its_first_column(tmp_path):
    p = tmp_path / "a.csv"
    header = "frame," + ",".join(OPENFACE_COLUMNS)
    p.write_bytes(("\ufeff" + header + "\n1," + ",".join(["1.5"] * NUM_AUS) + "\n").encode("utf-8"))
    seq = read_au_csv(p)
    assert len(seq) == 1 and np.allclose(seq.aus[0], 1.5)


@pytest.mark.parametrize("spec", ["", "  "])
def test_an_empty_aus_spec_says_so(tmp_path, monkeypatch, spec):
    monkeypatch.chdir(tmp_path)  # "" used to read as ".", the current folder: ".: cannot be read"
    with pytest.raises(AUInputError, match="^empty AU input; give a preset name"):
        open_au_source(spec)


def test_a_folder_as_aus_spec(tmp_path):
    with pytest.raises(AUInputError, match="is a folder"):
        open_au_source(tmp_path)
