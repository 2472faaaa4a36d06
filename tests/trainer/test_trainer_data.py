import csv
import pickle
import shutil

import numpy as np
import pytest
from PIL import Image

from reenact.trainer.data import CropDataset, DatasetError, StepBatches, load_index

CROPS = "crops"


@pytest.fixture
def crops(tmp_path, data_dir):
    dst = tmp_path / "crops"
    shutil.copytree(data_dir / CROPS, dst)
    return dst


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def _write(path, rows):
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)


def test_reads_the_test_crops(data_dir):
    train = load_index(data_dir / CROPS, "train", 64)
    test = load_index(data_dir / CROPS, "test", 64)
    assert len(train) + len(test) == 12 and len(test) > 0
    assert train.aus.shape == (len(train), 17) and train.aus.dtype == np.float32
    assert not set(train.names) & set(test.names)
    img, aus = CropDataset(train)[0]
    assert img.shape == (3, 64, 64) and str(img.dtype) == "torch.uint8" and aus.shape == (17,)
    assert train.summary()["layout"] == "reenact"


@pytest.mark.parametrize("edit,expected", [
    (lambda rows: rows[2].__setitem__(3, "nan"), r"aus.csv line 3 \(imgs/\S+\): AU04_r is nan"),
    (lambda rows: rows[4].__setitem__(1, "7.5"), r"aus.csv line 5 \(imgs/\S+\): AU01_r = 7.5 is outside"),
    (lambda rows: rows[5].__setitem__(0, ""), r"aus.csv line 6: no image file named"),
    (lambda rows: rows[6].__setitem__(0, "imgs/missing.png"), r"aus.csv line 7: image imgs/missing.png does not exist"),
])
def test_bad_rows_are_named(crops, edit, expected):
    rows = _rows(crops / "aus.csv")
    edit(rows)
    _write(crops / "aus.csv", rows)
    with pytest.raises(DatasetError, match=expected):
        load_index(crops, "train", 64)


def test_missing_column_and_wrong_size(crops):
    rows = _rows(crops / "aus.csv")
    name = rows[1][0]
    Image.open(crops / name).resize((50, 60)).save(crops / name)
    with pytest.raises(DatasetError, match=rf"{name}: 50x60 pixels, this config trains on 64x64"):
        load_index(crops, "train", 64)
    _write(crops / "aus.csv", [r[:3] + r[4:] for r in rows])  # drop AU04_r
    with pytest.raises(DatasetError, match="line 1: missing column"):
        load_index(crops, "train", 64)


def test_empty_split_and_unknown_split_rows(crops):
    rows = _rows(crops / "split.csv")
    _write(crops / "split.csv", [rows[0]] + [[r[0], "train"] for r in rows[1:]])
    with pytest.raises(DatasetError, match="'test' split is empty"):
        load_index(crops, "test", 64)
    _write(crops / "split.csv", [rows[0], ["imgs/other.png", "train"]])
    with pytest.raises(DatasetError, match="split.csv line 2: 'imgs/other.png' is not in aus.csv"):
        load_index(crops, "train", 64)


def test_reads_the_authors_layout(crops, tmp_path):
    root = tmp_path / "authors"
    (root / "imgs").mkdir(parents=True)
    rows = _rows(crops / "aus.csv")[1:]
    table = {}
    for i, row in enumerate(rows):
        sid = f"N_{i:010d}_00001"
        Image.open(crops / row[0]).convert("RGB").save(root / "imgs" / f"{sid}.jpg")
        table[sid] = np.array([float(v) for v in row[1:]])
    with open(root / "aus_openface.pkl", "wb") as fh:
        pickle.dump(table, fh, protocol=2)
    ids = sorted(table)
    (root / "train_ids.csv").write_text("".join(f"{s}.jpg\n" for s in ids[:9]))
    (root / "test_ids.csv").write_text("".join(f"{s}.jpg\n" for s in ids[9:]) + "N_missing.jpg\n")
    index = load_index(root, "train", 64)
    assert index.layout == "ganimation" and len(index) == 9
    np.testing.assert_allclose(index.aus[0], table[ids[0]], rtol=1e-6)
    with pytest.raises(DatasetError, match="test_ids.csv line 4: N_missing has no AUs"):
        load_index(root, "test", 64)


def test_step_batches_are_deterministic_and_split_over_ranks():
    a = StepBatches(20, 6, seed=3, start=0, stop=10)
    b = StepBatches(20, 6, seed=3, start=4, stop=10)
    assert list(a)[4:] == list(b)
    assert a.steps_per_epoch == 3
    epoch0 = [i for step in range(3) for i in a.indices(step)]
    assert len(set(epoch0)) == 18  # no repeats within an epoch
    r0 = StepBatches(20, 6, seed=3, start=0, stop=10, rank=0, world=2)
    r1 = StepBatches(20, 6, seed=3, start=0, stop=10, rank=1, world=2)
    for step in range(10):
        assert sorted(r0.indices(step) + r1.indices(step)) == sorted(a.indices(step))
        assert not set(r0.indices(step)) & set(r1.indices(step))
    with pytest.raises(DatasetError, match="fewer than one batch"):
        StepBatches(4, 6, seed=0, start=0, stop=1)


def test_step_batches_split_unevenly_when_the_batch_does_not_divide():
    # batch 5 over 2 processes: shards of 3 and 2 that together are the one-process batch
    whole = StepBatches(20, 5, seed=1, start=0, stop=8)
    shards = [StepBatches(20, 5, seed=1, start=0, stop=8, rank=r, world=2) for r in (0, 1)]
    for step in range(8):
        r0, r1 = (s.indices(step) for s in shards)
        assert (len(r0), len(r1)) == (3, 2)
        assert sorted(r0 + r1) == sorted(whole.indices(step))
    with pytest.raises(ValueError, match="batch 2 is smaller than the 3 processes"):
        StepBatches(20, 2, seed=0, start=0, stop=1, rank=0, world=3)


def test_manifest_alignment_is_read_and_checked(crops):
    import json

    manifest = {"tool": "reenact prepare", "align": {"size": 64, "margin": 0.2, "template_id": "t1"},
                "crops": [{"file": "imgs/a.png"}] * 1000}
    (crops / "manifest.json").write_text(json.dumps(manifest))
    index = load_index(crops, "train", 64)
    assert (index.align.size, index.align.margin, index.align.template_id) == (64, 0.2, "t1")
    assert "crops" not in index.summary()["manifest"]  # the per-crop list stays on disk
    manifest["align"]["size"] = 128
    (crops / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DatasetError, match="crops were made at 128 px, this config trains on 64 px"):
        load_index(crops, "train", 64)
    (crops / "manifest.json").write_text("{not json")
    with pytest.raises(DatasetError, match="manifest.json line 1: not valid JSON"):
        load_index(crops, "train", 64)
