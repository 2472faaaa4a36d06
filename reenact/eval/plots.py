"""Pictures for evaluation reports: labelled strips and grids (PIL), time series and bars (matplotlib).

Every function returns or writes uint8 RGB; files are written to a temp name and renamed.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from reenact.atomic import atomic_path

LABEL_H = 14
BG = (255, 255, 255)


def _font():
    return ImageFont.load_default()


def as_tile(img: np.ndarray, size: int, height: int | None = None) -> np.ndarray:
    """uint8 RGB, or a float (H, W) map in [0, 1] (shown grey: white = 1), resized to
    size x size (or size wide, ``height`` high)."""
    a = np.asarray(img)
    if a.ndim == 2:
        a = (np.clip(a, 0.0, 1.0) * 255).round().astype(np.uint8)
        a = np.repeat(a[:, :, None], 3, axis=2)
    im = Image.fromarray(a.astype(np.uint8))
    want = (size, height or size)
    if im.size != want:
        im = im.resize(want, Image.BILINEAR)
    return np.asarray(im)


def labelled_grid(rows: list[list[np.ndarray | None]], col_labels: list[str] | None = None,
                  row_labels: list[str] | None = None, tile: int = 128, pad: int = 2,
                  aspect: float = 1.0) -> np.ndarray:
    """A grid of tiles with optional column titles (top) and row titles (left); None = blank.
    Tiles are ``tile`` pixels wide and ``tile / aspect`` high (aspect = width / height)."""
    tile_h = max(1, int(round(tile / aspect)))
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    left = 48 if row_labels else 0
    top = LABEL_H if col_labels else 0
    w = left + n_cols * (tile + pad) + pad
    h = top + n_rows * (tile_h + pad) + pad
    canvas = Image.new("RGB", (w, h), BG)
    draw = ImageDraw.Draw(canvas)
    font = _font()
    for c, text in enumerate(col_labels or []):
        draw.text((left + pad + c * (tile + pad) + 2, 1), text, fill=(0, 0, 0), font=font)
    for r, row in enumerate(rows):
        y = top + pad + r * (tile_h + pad)
        if row_labels:
            draw.text((2, y + tile_h // 2 - 6), row_labels[r], fill=(0, 0, 0), font=font)
        for c, img in enumerate(row):
            if img is not None:
                canvas.paste(Image.fromarray(as_tile(img, tile, tile_h)), (left + pad + c * (tile + pad), y))
    return np.asarray(canvas)


def _save_figure(fig, path: Path) -> Path:
    """Write a matplotlib figure as PNG atomically and close it (closed on failure too)."""
    plt = _pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    finally:
        plt.close(fig)
    return path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; never open a window
    import matplotlib.pyplot as plt

    return plt


def au_over_time(times: np.ndarray, series: dict[str, np.ndarray], au_names: list[str],
                 path: Path, title: str = "") -> Path:
    """One panel per AU, one line per series (e.g. "input", "target", "output").

    times: (T,) seconds; series: name -> (T, 17) AUs on 0-5 (NaN where no face was found).
    """
    from reenact.aus.names import au_index

    plt = _pyplot()
    n = len(au_names)
    cols = 2 if n > 3 else 1
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 1.9 * rows), sharex=True, squeeze=False)
    for k, name in enumerate(au_names):
        ax = axes[k // cols][k % cols]
        for label, values in series.items():
            ax.plot(times, np.asarray(values)[:, au_index(name)], label=label, lw=1.2)
        ax.set_ylim(-0.1, 5.1)
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    for k in range(n, rows * cols):
        axes[k // cols][k % cols].axis("off")
    axes[0][0].legend(loc="upper right", fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("time (s)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save_figure(fig, path)


def per_au_bars(values: dict[str, dict[str, float]], path: Path, ylabel: str, title: str = "") -> Path:
    """Grouped bars: values[series][AU name] (e.g. per-AU expression distance per model)."""
    plt = _pyplot()
    names = list(next(iter(values.values())).keys())
    x = np.arange(len(names))
    width = 0.8 / max(1, len(values))
    fig, ax = plt.subplots(figsize=(10, 3))
    for k, (label, per) in enumerate(values.items()):
        ax.bar(x + k * width, [per.get(n, np.nan) for n in names], width, label=label)
    ax.set_xticks(x + width * (len(values) - 1) / 2, names, rotation=45, fontsize=8)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return _save_figure(fig, path)
