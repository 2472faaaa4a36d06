"""Prototype presets: whole expressions that relax the AUs contradicting them; preset modes."""
from __future__ import annotations

import json

import numpy as np
import pytest

from reenact.aus.names import AU_NAMES, NUM_AUS, au_index
from reenact.aus.presets import MODES, load_preset, preset_from_dict, shipped_preset_files, shipped_presets
from reenact.aus.prototypes import (CONTRADICTS, CORE, EMOTIONS, REST_LEVEL, contradicting,
                                    prototype_target)
from reenact.errors import AUInputError

A = {n: au_index(n) for n in AU_NAMES}
EMOTION_PRESETS = {"smile": "happiness", "big_smile": "happiness", "sadness": "sadness",
                   "surprise": "surprise", "fear": "fear", "anger": "anger", "disgust": "disgust"}


def crying_face() -> np.ndarray:
    """A crying face's AUs: sad brow (1+4), corners down (15), chin up (17), some cheek raise."""
    own = np.full(NUM_AUS, 0.3, np.float32)
    for name, v in {"AU01": 3.2, "AU04": 2.6, "AU06": 1.2, "AU15": 2.8, "AU17": 2.1,
                    "AU12": 0.1, "AU45": 0.9}.items():
        own[A[name]] = v
    return own


def test_smile_on_a_crying_face_lowers_the_crying_aus():
    own = crying_face()
    smile = load_preset("smile")
    out = smile.apply(own)
    for name in ("AU01", "AU04", "AU15", "AU17"):
        i = A[name]
        assert out[i] < own[i] - 1.0, name
        assert out[i] == pytest.approx(REST_LEVEL[i])
    assert out[A["AU12"]] == smile.values[A["AU12"]] and out[A["AU06"]] == smile.values[A["AU06"]]
    assert out[A["AU45"]] == own[A["AU45"]]   # blinks and unrelated AUs follow the face


def test_sadness_on_a_smiling_face_lowers_the_smile():
    own = np.zeros(NUM_AUS, np.float32)
    own[A["AU06"]], own[A["AU12"]], own[A["AU25"]] = 2.5, 3.8, 2.0
    out = load_preset("sadness").apply(own)
    assert out[A["AU12"]] == 0.0 and out[A["AU06"]] == 0.0 and out[A["AU25"]] == 0.0
    assert out[A["AU15"]] > 1.0


def test_relaxing_never_raises_an_au_and_leaves_a_resting_face_alone():
    rng = np.random.default_rng(3)
    for emotion in EMOTIONS:
        relax = contradicting(emotion)
        low = (REST_LEVEL * rng.uniform(0, 1, NUM_AUS)).astype(np.float32)
        out = prototype_target(low, {}, relax)
        np.testing.assert_array_equal(out, low)   # below rest: nothing to relax
        high = rng.uniform(0, 5, NUM_AUS).astype(np.float32)
        out = prototype_target(high, {}, relax)
        assert (out <= high).all()
        others = [i for i in range(NUM_AUS) if i not in relax]
        np.testing.assert_array_equal(out[others], high[others])


@pytest.mark.parametrize("name", sorted(EMOTION_PRESETS))
def test_strength_zero_is_the_face_itself_and_strength_is_smooth(name):
    preset = load_preset(name)
    own = crying_face()
    np.testing.assert_array_equal(preset.apply(own, 0.0), own)
    full = preset.apply(own)
    steps = np.linspace(0, 1, 21)
    outs = np.stack([preset.apply(own, s) for s in steps])
    np.testing.assert_allclose(outs[-1], full)
    # linear in s: equal steps move the AUs by equal amounts, no jump anywhere
    np.testing.assert_allclose(np.diff(outs, axis=0), np.broadcast_to((full - own) / 20, (20, NUM_AUS)),
                               atol=1e-5)


def test_prototype_target_is_continuous_in_the_faces_own_aus():
    # a video's AUs drifting across a relaxed AU's resting level must not make the target jump
    preset = load_preset("smile")
    own = crying_face()
    i = A["AU04"]
    prev = None
    for v in np.linspace(0.0, 3.0, 301):
        own[i] = v
        t = preset.apply(own)[i]
        if prev is not None:
            assert abs(t - prev) <= 0.0101
        prev = t


def test_shipped_emotion_presets_are_prototypes_with_their_core_aus():
    for name, emotion in EMOTION_PRESETS.items():
        p = load_preset(name)
        assert p.mode == "prototype" and p.emotion == emotion
        assert {A[n] for n in CORE[emotion]} <= set(p.values), name
        assert set(p.relax) == set(contradicting(emotion))
        assert not set(p.values) & set(p.relax), name   # a prototype never relaxes its own AUs
    for name in ("blink", "brows_up", "mouth_open", "neutral"):
        assert load_preset(name).mode == "set"
    for name in ("more_smile", "less_smile"):
        assert load_preset(name).mode == "additive"
    assert set(shipped_presets()) >= set(EMOTION_PRESETS)
    for name in shipped_presets():   # every shipped file says its mode in the new spelling
        assert "mode" in json.loads(shipped_preset_files()[name].read_text()), name


def test_contradiction_table_names_real_aus_and_no_core_au():
    assert set(CONTRADICTS) == set(CORE)
    for emotion in EMOTIONS:
        assert not set(CORE[emotion]) & set(CONTRADICTS[emotion]), emotion
    assert "AU24" not in {a for aus in CORE.values() for a in aus}


def test_additive_and_set_presets_behave_as_before():
    own = np.linspace(0.1, 1.7, NUM_AUS).astype(np.float32)
    add = preset_from_dict({"mode": "additive", "aus": {"AU12": 2.0, "AU06": -3.0}}, "t")
    old = preset_from_dict({"relative": True, "aus": {"AU12": 2.0, "AU06": -3.0}}, "t")
    expected = own.copy()
    expected[A["AU12"]] += 2.0
    expected[A["AU06"]] = 0.0
    np.testing.assert_allclose(add.apply(own), expected)
    np.testing.assert_array_equal(add.apply(own), old.apply(own))
    set_ = preset_from_dict({"aus": {"AU12": 3.0}}, "t")
    out = set_.apply(own)
    assert out[A["AU12"]] == 3.0
    keep = [i for i in range(NUM_AUS) if i != A["AU12"]]
    np.testing.assert_array_equal(out[keep], own[keep])   # a set preset relaxes nothing
    assert load_preset("blink").apply(own)[A["AU01"]] == own[A["AU01"]]


def test_custom_relax_list_replaces_the_emotions_table():
    p = preset_from_dict({"mode": "prototype", "emotion": "happiness", "relax": ["AU15"],
                          "aus": {"AU12": 3.0}}, "t")
    own = crying_face()
    out = p.apply(own)
    assert out[A["AU15"]] == 0.0 and out[A["AU01"]] == own[A["AU01"]]


@pytest.mark.parametrize("obj, expected", [
    ({"mode": "blend", "aus": {}}, "\"mode\" 'blend' is unknown; use one of 'set', 'additive', 'prototype'"),
    ({"mode": "prototype", "aus": {}}, "needs an \"emotion\""),
    ({"mode": "prototype", "emotion": "joy", "aus": {}}, "\"emotion\" 'joy' is unknown"),
    ({"mode": "prototype", "relax": "AU15", "aus": {}}, "\"relax\" must be a list"),
    ({"mode": "prototype", "relax": ["AU24"], "aus": {}}, "\"relax\": unknown AU 'AU24'"),
    ({"mode": "set", "emotion": "anger", "aus": {}}, "\"emotion\" belongs to"),
    ({"mode": "prototype", "relative": True, "emotion": "anger", "aus": {}}, "\"relative\": true means"),
    ({"mode": "prototype", "emotion": "anger", "aus": {"AU04": -1}}, "outside 0..5"),
])
def test_bad_mode_messages_are_one_clear_line(tmp_path, obj, expected):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(obj))
    with pytest.raises(AUInputError) as e:
        load_preset(p)
    msg = str(e.value)
    assert str(p) in msg and expected in msg and "\n" not in msg
    assert set(MODES) == {"set", "additive", "prototype"}


def test_strength_outside_0_1_is_refused():
    with pytest.raises(ValueError, match="strength must be between 0 and 1"):
        load_preset("smile").apply(crying_face(), 1.5)


def test_timeline_through_prototypes_moves_without_jumps():
    from reenact.aus.timeline import timeline_from_dict
    tl = timeline_from_dict({"keyframes": [
        {"t": 0.0, "aus": {}},
        {"t": 1.0, "preset": "smile", "ease": "ease-in-out"},
        {"t": 2.0, "preset": "sadness", "ease": "linear"}]}, "tl")
    own = crying_face()
    np.testing.assert_array_equal(tl.at(0.0, own), own)
    np.testing.assert_array_equal(tl.at(1.0, own), load_preset("smile").apply(own))
    outs = np.stack([tl.at(t, own) for t in np.linspace(0, 2, 201)])
    assert np.abs(np.diff(outs, axis=0)).max() < 0.1   # 0.01 s steps: no jump anywhere
    assert tl.at(1.0, own)[A["AU01"]] == pytest.approx(REST_LEVEL[A["AU01"]])  # smile relaxed it
    assert tl.at(2.0, own)[A["AU01"]] == load_preset("sadness").values[A["AU01"]]
