"""The error types every layer raises; the CLI only formats them (one line, never a traceback).

A ``ReenactError`` is caused by something the user gave (a file, an option) and its message says
what to fix. The subclasses let callers and tests tell the kinds apart; all print the same way.
``DriverEnded`` is not an error of the user: it is control flow for a finished AU source.
"""
from __future__ import annotations


class ReenactError(Exception):
    """An error caused by input the user gave (a file, an option); its message says what to fix."""


class AUInputError(ReenactError, ValueError):
    """Bad AU input (preset, timeline, AU file, driver): the message says where and what is wrong."""


class BackendUnavailable(ReenactError):
    """A backend asked for by name that cannot run on this machine (the message says why)."""


class CheckpointError(ReenactError):
    """A checkpoint that cannot be used: missing, unreadable, or made for another model."""


class DatasetError(ReenactError):
    """A training dataset that cannot be used: the message names the file, row and problem."""


class DriverEnded(Exception):
    """The AU sequence or driver video ended and the policy is "stop"."""
