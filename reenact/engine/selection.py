"""Which tracked faces get edited (``--faces all|largest|ID``)."""
from __future__ import annotations

from reenact.errors import ReenactError
from reenact.tracking.types import Face


def parse_faces(spec: str | int) -> str | int:
    """"all", "largest" or a face id (int); anything else is a ReenactError."""
    text = str(spec).strip().lower()
    if text in ("all", "largest"):
        return text
    try:
        value = int(text)
    except ValueError:
        raise ReenactError(f"--faces must be all, largest or a face id (0, 1, ...), got {spec!r}") from None
    if value < 0:
        raise ReenactError(f"--faces: a face id is 0 or more, got {value}")
    return value


class FaceSelector:
    """Picks faces frame by frame. "largest" sticks to its choice while that face stays tracked,
    so two faces of similar size do not swap the edit back and forth."""

    def __init__(self, spec: str | int = "all"):
        self.spec = parse_faces(spec)
        self._current: int | None = None

    def __call__(self, faces: list[Face]) -> list[Face]:
        if self.spec == "all":
            return list(faces)
        if isinstance(self.spec, int):
            return [f for f in faces if f.face_id == self.spec]
        ids = {f.face_id for f in faces}
        if self._current not in ids:
            self._current = max(faces, key=lambda f: f.area).face_id if faces else None
        return [f for f in faces if f.face_id == self._current]
