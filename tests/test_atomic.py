import os

import pytest

from reenact.atomic import atomic_path, write_text_atomic


def test_atomic_path_renames_when_complete(tmp_path):
    dst = tmp_path / "out.png"
    with atomic_path(dst) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".png" and tmp.name.startswith(".")
        tmp.write_bytes(b"new")
        assert not dst.exists()
    assert dst.read_bytes() == b"new" and not tmp.exists()
    umask = os.umask(0)
    os.umask(umask)
    assert dst.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_atomic_path_keeps_the_old_file_when_the_block_fails(tmp_path):
    dst = tmp_path / "report.json"
    write_text_atomic(dst, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(dst) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert dst.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
