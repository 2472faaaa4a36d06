"""Every command's --help: flags show no value type, options with values keep theirs; and the
video encoder's speed preset is --x264-preset, not --preset (serve's --preset is an AU preset)."""
from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from reenact.cli.main import app
from reenact.errors import ReenactError

CLIP = Path(__file__).resolve().parents[2] / "examples" / "video" / "clip.mp4"
COMMANDS = [info.name for info in app.registered_commands]
runner = CliRunner()


def _help(*args: str) -> str:
    result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_flags_show_no_bool_metavar(command):
    text = _help(*([command] if command else []))
    assert "--help" in text and "<bool>" not in text


def test_options_with_values_keep_their_type():
    text = _help("video")
    assert "<int" in text and "<str>" in text  # --batch, --crf; --x264-preset


def test_video_speed_preset_is_x264_preset(tmp_path):
    assert "--x264-preset" in _help("video") and "--preset " not in _help("video")
    out = tmp_path / "out.mp4"
    result = runner.invoke(app, ["video", str(CLIP), "--aus", "smile", "-o", str(out), "--x264-preset", "fastest"])
    assert isinstance(result.exception, ReenactError) and "--x264-preset must be one of" in str(result.exception)
    result = runner.invoke(app, ["video", str(CLIP), "--aus", "smile", "-o", str(out), "--preset", "veryfast"])
    assert result.exit_code == 2 and not out.exists()  # no such option any more
