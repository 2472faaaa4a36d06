"""A signal is always reported as an interruption, in one line, whatever it interrupted."""
from __future__ import annotations

import os
import signal
import time

import pytest

import reenact.cli.main as cli_main


def _signalled_inside_an_import():
    # What the CI run saw: SIGHUP landed while MediaPipe imported matplotlib, and Python wrapped
    # the handler's KeyboardInterrupt in "RuntimeError: Error calling __set_name__".
    try:
        os.kill(os.getpid(), signal.SIGHUP)
        time.sleep(5)
    except KeyboardInterrupt as e:
        raise RuntimeError("Error calling __set_name__ on '_axis_method_wrapper'") from e


def test_an_error_caused_by_a_signal_is_reported_as_the_interruption(monkeypatch, capsys):
    monkeypatch.setattr(cli_main, "app", _signalled_inside_an_import)
    with pytest.raises(SystemExit) as done:
        cli_main.main()
    assert done.value.code == 128 + signal.SIGHUP
    err = capsys.readouterr().err
    assert err.strip() == "reenact: interrupted by SIGHUP" and "Traceback" not in err


def test_an_error_without_a_signal_is_not_hidden(monkeypatch):
    def broken():
        raise RuntimeError("a real bug")

    monkeypatch.setattr(cli_main, "app", broken)
    with pytest.raises(RuntimeError, match="a real bug"):
        cli_main.main()
