"""Running `reenact` commands in-process, as a user would type them."""
from __future__ import annotations

from typer.testing import CliRunner

from reenact.cli.main import app


def run(*args):
    """The result of ``reenact ARGS`` (each argument turned into a string, paths included)."""
    return CliRunner().invoke(app, [str(a) for a in args])
