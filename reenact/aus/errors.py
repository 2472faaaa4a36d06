"""Errors of AU inputs (presets, timelines, AU files, driver videos).

``AUInputError`` is a ValueError whose message names the file, the line or key, and the problem;
it is also a ReenactError, so a command that lets it through prints it as one line.
``DriverEnded`` is raised by a source whose sequence or driver has ended under the "stop" policy.
"""
from __future__ import annotations

from reenact.cli.errors import ReenactError


class AUInputError(ReenactError, ValueError):
    """Bad AU input: the message says where (file, line, key) and what is wrong."""


class DriverEnded(Exception):
    """The AU sequence or driver video ended and the policy is "stop"."""
