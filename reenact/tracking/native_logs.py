"""Keep MediaPipe's start-up chatter off the user's terminal, and nothing else.

MediaPipe's C++ side writes a handful of informational lines straight to file descriptor 2 when a
graph starts and on its first inference ("Logging before InitGoogle", "Created TensorFlow Lite
XNNPACK delegate", "Feedback manager requires ..."); no environment variable silences them. While
``filtered_stderr()`` is active, fd 2 goes to a temporary file; on exit every line that is not one of
those known notices is written back, so real errors and other threads' output are delayed, never lost.
"""
from __future__ import annotations

import os
import re
import sys
import tempfile
from contextlib import contextmanager

KNOWN_NOTICES = re.compile(
    r"^(WARNING: Logging before InitGoogle\(\)|INFO: Created TensorFlow Lite XNNPACK delegate"
    r"|[WI]\d{4} [\d:. ]+\d+ (face_landmarker_graph|inference_feedback_manager|gl_context)\.cc:\d+\])")


@contextmanager
def filtered_stderr():
    """Route fd 2 through a filter that drops MediaPipe's known start-up notices (see module doc)."""
    fd = 2  # the C++ side writes to the descriptor, whatever Python's sys.stderr is
    try:
        os.fstat(fd)
    except OSError:  # no stderr at all: nothing to filter
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), fd)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            tmp.seek(0)
            kept = [ln for ln in tmp.read().splitlines(keepends=True)
                    if not KNOWN_NOTICES.match(ln.decode("utf-8", "replace"))]
            if kept:
                os.write(fd, b"".join(kept))
