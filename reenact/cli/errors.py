"""User-facing errors: raised for a user's mistake, printed as one clear line, never a traceback."""
from __future__ import annotations


class ReenactError(Exception):
    """An error caused by input the user gave (a file, an option); its message says what to fix."""
