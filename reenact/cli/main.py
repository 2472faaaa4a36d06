"""The ``reenact`` command. Each subcommand lives in its own module with a ``register(app)``."""
from __future__ import annotations

import importlib
import os
import sys

# torch's OpenMP threads spin while waiting for work; on a 2-core machine shared with MediaPipe, the
# decoder and the encoder that made the generator 5x slower (docs/speed.md). It must be set before
# torch is imported, which the subcommand modules below may do.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import typer  # noqa: E402
from typer.core import TyperCommand, TyperGroup  # noqa: E402

from reenact.cli.signals import InterruptGuard  # noqa: E402
from reenact.errors import ReenactError  # noqa: E402


class _FlagsShowNoType:
    """Typer (0.29) prints a value type after every option in --help, flags included: ``--no-audio
    <bool>``, ``--help <bool>``, as if they took a value. A flag takes none, so it gets an empty
    metavar (what the help shows instead of the type); options with values keep theirs."""

    def get_params(self, ctx):
        params = super().get_params(ctx)  # the command's options and the --help option
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
        return params


class ReenactCommand(_FlagsShowNoType, TyperCommand):
    pass


class ReenactGroup(_FlagsShowNoType, TyperGroup):
    pass


app = typer.Typer(help="Reenact: change the facial expression of people in video, in real time.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  cls=ReenactGroup)

# Modules under reenact.cli, each adding its subcommands to ``app``.
COMMAND_MODULES = (
    "video",
    "image",
    "train",
    "export",
    "prepare",
    "aus",
    "eval",
    "webcam",
    "serve",
)

for _name in COMMAND_MODULES:
    importlib.import_module(f"reenact.cli.{_name}").register(app)
for _info in app.registered_commands:  # every subcommand's help, without each module asking for it
    if _info.cls in (None, TyperCommand):  # typer fills in its own class when none is given
        _info.cls = ReenactCommand


@app.callback()
def _root() -> None:
    """Reenact: change the facial expression of people in video, in real time."""


def main() -> None:
    """Console entry point: a user's mistake prints one line (no traceback) and exits with 2."""
    guard = InterruptGuard()
    with guard:
        try:
            app()
        except ReenactError as err:
            print(f"reenact: error: {err}", file=sys.stderr)
            sys.exit(2)
        except Exception:
            # A signal that lands inside an import or a native call can surface as another error
            # (Python wraps it, e.g. "Error calling __set_name__"): once a signal has arrived, the
            # run was interrupted, and that is all the user needs to read.
            if guard.signum is None:
                raise
            print(f"reenact: interrupted by {guard.name}", file=sys.stderr)
            sys.exit(guard.exit_code)
        except SystemExit as done:
            # Typer turns every KeyboardInterrupt into exit 130; say which signal it was. A command
            # for which a signal is the normal way to stop (serve, webcam) exits 0 and stays so.
            if guard.signum is None or done.code in (0, None):
                raise
            print(f"reenact: interrupted by {guard.name}", file=sys.stderr)
            sys.exit(guard.exit_code)


if __name__ == "__main__":
    main()
