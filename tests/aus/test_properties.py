"""Property tests of the AU inputs a user gives: any preset, timeline, CSV or data-channel value
gives a result or a ReenactError (one line for the user), never another exception."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from reenact.aus.csv_io import read_au_csv  # noqa: E402
from reenact.aus.names import AU_NAMES, NUM_AUS, OPENFACE_COLUMNS  # noqa: E402
from reenact.aus.presets import preset_from_dict, read_json  # noqa: E402
from reenact.aus.timeline import timeline_from_dict  # noqa: E402
from reenact.errors import ReenactError  # noqa: E402
from reenact.live.controls import MutableAUSource  # noqa: E402

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# JSON-like values, with AU names and the keys presets and timelines use among the strings, so
# the generated objects get past the first checks often enough to test the later ones.
KEYS = st.sampled_from(["name", "aus", "relative", "keyframes", "t", "ease", "preset", "fps",
                        *AU_NAMES, "AU99", "au12", ""]) | st.text(max_size=6)
SCALARS = (st.none() | st.booleans() | st.integers(-10, 10) | st.floats(allow_nan=True)
           | st.text(max_size=8) | KEYS)
JSONISH = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(KEYS, inner, max_size=5), max_leaves=20)


def _result_or_user_error(fn, *args):
    try:
        return fn(*args)
    except ReenactError as e:
        assert str(e) and "\n" not in str(e)
        return None


@SETTINGS
@given(JSONISH)
def test_any_preset_object(obj):
    preset = _result_or_user_error(preset_from_dict, obj, "p.json")
    if preset is not None:
        assert preset.values.shape == (NUM_AUS,) and np.isfinite(preset.values[~np.isnan(preset.values)]).all()


@SETTINGS
@given(st.fixed_dictionaries({"keyframes": st.lists(st.dictionaries(KEYS, JSONISH, max_size=4)
                                                    | JSONISH, max_size=4)}, optional={"fps": JSONISH}))
def test_any_timeline_object(obj):
    _result_or_user_error(timeline_from_dict, obj, "t.json", Path(tempfile.gettempdir()))


@SETTINGS
@given(st.binary(max_size=200) | st.text(max_size=80).map(lambda t: t.encode("utf-8")))
def test_any_json_bytes(data):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "x.json"
        p.write_bytes(data)
        _result_or_user_error(read_json, p)


CELL = st.sampled_from(["", "1", "0.5", "nan", "inf", "-3", "x", "1e400", " 2 ", '"', "\x00"])


@SETTINGS
@given(header=st.lists(st.sampled_from(["frame", "timestamp", "face_id", "success", "file",
                                        *OPENFACE_COLUMNS, "AU12_c", "junk"]), max_size=22),
       rows=st.lists(st.lists(CELL, max_size=22), max_size=5), bom=st.booleans())
def test_any_au_csv(header, rows, bom):
    text = ("\ufeff" if bom else "") + "\n".join([",".join(header)] + [",".join(r) for r in rows])
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "a.csv"
        p.write_text(text, encoding="utf-8")
        seq = _result_or_user_error(read_au_csv, p)
        if seq is not None:
            assert seq.aus.shape[1] == NUM_AUS


@SETTINGS
@given(name=KEYS, value=st.floats(allow_nan=True, allow_infinity=True) | st.none())
def test_any_data_channel_au_value(name, value):
    """The session turns ValueError into an error message for the page; what is kept must be
    finite, so the state echoed to the page is valid JSON."""
    src = MutableAUSource(None)
    try:
        src.set_au(name, value)
    except ValueError:
        pass
    json.dumps(src.state().as_json(), allow_nan=False)
