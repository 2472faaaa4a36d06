"""File types Reenact takes as media, by lower-case suffix (for listing folders and routing inputs)."""
from __future__ import annotations

# Stills PIL reads and writes as RGB.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
# Containers taken as video (FFmpeg reads many more; these are the ones a folder listing picks up).
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg"})
