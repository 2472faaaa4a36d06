"""Shipped presets are package data found through one function (reenact.aus.presets.shipped_preset_files)
by every front end: bare names in video/image/webcam, the serve page's buttons, timelines naming presets."""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reenact.aus import presets as aus_presets
from reenact.aus.names import au_index
from reenact.aus.sources import PresetSource, TimelineSource, open_au_source
from reenact.cli import serve as serve_cli
from reenact.cli import webcam as webcam_cli
from reenact.cli.main import app
from reenact.errors import AUInputError
from reenact.live.presets import PresetLibrary


def test_shipped_presets_are_the_package_data():
    folder = Path(str(resources.files("reenact.presets")))
    files = aus_presets.shipped_preset_files()
    assert set(files) == {p.stem for p in folder.glob("*.json")} and "smile" in files
    assert all(f.parent == folder for f in files.values())
    assert aus_presets.shipped_presets() == sorted(files)
    assert PresetLibrary.shipped().names == list(files)
    assert "smile_then_surprise" in aus_presets.shipped_timeline_files()


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """The one function answers from another folder holding a single preset and a timeline: a front
    end that looked for presets anywhere else would still find "smile" or miss "only_here"."""
    (tmp_path / "only_here.json").write_text(json.dumps({"aus": {"AU12": 4.0}}))
    timeline = tmp_path / "tl.json"
    timeline.write_text(json.dumps({"keyframes": [{"t": 0, "preset": "only_here"},
                                                  {"t": 1, "preset": "only_here"}]}))
    monkeypatch.setattr(aus_presets, "shipped_preset_files", lambda: {"only_here": tmp_path / "only_here.json"})
    monkeypatch.setattr(aus_presets, "shipped_timeline_files", lambda: {})
    return timeline


def test_bare_names_resolve_only_through_the_one_function(elsewhere):
    assert isinstance(open_au_source("only_here"), PresetSource)        # video, image
    assert aus_presets.load_preset("only_here").vector()[au_index("AU12")] == 4.0
    assert isinstance(open_au_source(str(elsewhere)), TimelineSource)   # a timeline naming a preset
    with pytest.raises(AUInputError, match="shipped presets: only_here"):
        open_au_source("smile")


def test_webcam_keys_and_serve_buttons_use_the_one_function(elsewhere, monkeypatch):
    assert [name for name, _ in webcam_cli.key_presets(["only_here"])] == ["only_here"]
    with pytest.raises(AUInputError):
        webcam_cli.key_presets(["smile"])
    seen = {}

    async def fake_serve(cfg, factory, presets, preset, strength):
        seen["names"], seen["preset"] = presets.names, preset

    monkeypatch.setattr(serve_cli, "_serve", fake_serve)
    monkeypatch.setattr(serve_cli, "make_factory", lambda *a: None)
    result = CliRunner().invoke(app, ["serve", "--preset", "only_here"])
    assert result.exit_code == 0, result.output
    assert seen == {"names": ["only_here"], "preset": "only_here"}
    result = CliRunner().invoke(app, ["serve", "--preset", "smile"])
    assert "unknown preset 'smile'" in str(result.exception)
