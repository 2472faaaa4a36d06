"""Report pictures: grid layout, time plots and bars are written as PNG files."""
import numpy as np
from PIL import Image

from reenact.aus.names import NUM_AUS
from reenact.eval import plots


def test_labelled_grid_layout_and_aspect():
    red = np.zeros((20, 40, 3), np.uint8)
    red[..., 0] = 255
    grid = plots.labelled_grid([[red, None], [np.ones((8, 8)), red]], ["a", "b"], ["r1", "r2"],
                               tile=40, pad=2, aspect=2.0)
    assert grid.shape == (plots.LABEL_H + 2 * 22 + 2, 48 + 2 * 42 + 2, 3)
    y0, x0 = plots.LABEL_H + 2, 48 + 2
    assert tuple(grid[y0 + 5, x0 + 5]) == (255, 0, 0)              # first tile: red
    assert tuple(grid[y0 + 5, x0 + 42 + 5]) == (255, 255, 255)     # None: blank
    assert tuple(grid[y0 + 22 + 5, x0 + 5]) == (255, 255, 255)     # attention 1 shows white


def test_time_plot_and_bars_write_pngs(tmp_path):
    t = np.linspace(0, 2, 30)
    aus = np.zeros((30, NUM_AUS))
    aus[:, 8] = np.linspace(0, 5, 30)
    aus[5] = np.nan  # a frame without a face
    p = plots.au_over_time(t, {"target": aus, "output": aus * 0.5}, ["AU12", "AU01", "AU45"],
                           tmp_path / "aus.png", "test")
    assert Image.open(p).size[0] > 300
    b = plots.per_au_bars({"m1": {"AU01": 0.1, "AU12": 0.5}, "m2": {"AU01": 0.2, "AU12": 0.3}},
                          tmp_path / "bars.png", "MAE")
    assert Image.open(b).format == "PNG"
    assert not list(tmp_path.glob("*.tmp*")) and len(list(tmp_path.iterdir())) == 2
