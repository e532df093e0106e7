import os
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.viz import make_image_grid, save_image_grid, save_scatter

# Grid convention (torchvision's make_grid): nrow = images per row, `padding` pixels between
# images and around the border:  W = ncols*w + (ncols+1)*p,  H = rows*h + (rows+1)*p.


def test_grid_size_10_mnist_like(tmp_path):
    path = tmp_path / "grid.png"
    save_image_grid(torch.zeros(10, 1, 28, 28), path, nrow=5, padding=2)
    with Image.open(path) as img:
        assert img.format == "PNG"
        assert img.mode == "L"
        assert img.size == (5 * 28 + 6 * 2, 2 * 28 + 3 * 2)  # (width, height) = (152, 62)


@pytest.mark.parametrize(
    "n, nrow, padding, expected_wh",
    [
        (10, None, 2, (4 * 8 + 5 * 2, 3 * 6 + 4 * 2)),  # default nrow = ceil(sqrt(10)) = 4
        (16, None, 0, (4 * 8, 4 * 6)),
        (3, 5, 1, (3 * 8 + 4 * 1, 1 * 6 + 2 * 1)),  # fewer images than nrow: 3 columns
        (1, None, 3, (8 + 6, 6 + 6)),
    ],
)
def test_grid_sizes(tmp_path, n, nrow, padding, expected_wh):
    path = tmp_path / "g.png"
    save_image_grid(torch.zeros(n, 3, 6, 8), path, nrow=nrow, padding=padding)
    with Image.open(path) as img:
        assert img.size == expected_wh


def test_grid_pixel_values_and_placement(tmp_path):
    imgs = torch.empty(3, 1, 4, 4)
    imgs[0].fill_(-1.0)
    imgs[1].fill_(1.0)
    imgs[2].fill_(0.0)
    path = tmp_path / "v.png"
    save_image_grid(imgs, path, nrow=2, padding=1)
    with Image.open(path) as img:
        a = np.asarray(img)
    assert a.shape == (2 * 4 + 3, 2 * 4 + 3)
    assert (a[1:5, 1:5] == 0).all()  # image 0: -1 -> 0
    assert (a[1:5, 6:10] == 255).all()  # image 1: 1 -> 255
    assert (a[6:10, 1:5] == 128).all()  # image 2: 0 -> round(127.5) = 128
    assert (a[6:10, 6:10] == 0).all()  # empty cell
    assert (a[0, :] == 0).all() and (a[:, 5] == 0).all()  # padding is black


def test_grid_clamps_out_of_range():
    g = make_image_grid(torch.tensor([-5.0, 5.0, -0.5, 0.5]).view(1, 1, 2, 2), padding=0)
    assert g.dtype == torch.uint8
    assert g[:, :, 0].tolist() == [[0, 255], [64, 191]]  # round(0.5*127.5)=64, round(1.5*127.5)=191


def test_grid_rgb_channels(tmp_path):
    imgs = -torch.ones(2, 3, 5, 5)
    imgs[0, 0] = 1.0  # image 0 pure red
    imgs[1, 2] = 1.0  # image 1 pure blue
    path = tmp_path / "rgb.png"
    save_image_grid(imgs, path, nrow=2, padding=2)
    with Image.open(path) as img:
        assert img.mode == "RGB"
        assert img.size == (2 * 5 + 3 * 2, 5 + 2 * 2)
        a = np.asarray(img)
    assert (a[2:7, 2:7] == [255, 0, 0]).all()
    assert (a[2:7, 9:14] == [0, 0, 255]).all()


def test_grid_atomic_overwrite_leaves_no_temp(tmp_path):
    path = tmp_path / "sub" / "grid.png"
    save_image_grid(torch.zeros(4, 1, 3, 3), path)
    save_image_grid(torch.ones(4, 1, 3, 3), path)
    assert os.listdir(path.parent) == ["grid.png"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not the 0o600 of a mkstemp file
    with Image.open(path) as img:
        assert np.asarray(img)[2, 2] == 255


@pytest.mark.parametrize(
    "images, kw",
    [
        (torch.zeros(2, 2, 4, 4), {}),
        (torch.zeros(1, 4, 4), {}),
        (torch.zeros(2, 1, 4, 4), {"nrow": 0}),
        (torch.zeros(2, 1, 4, 4), {"padding": -1}),
    ],
)
def test_grid_bad_inputs(tmp_path, images, kw):
    with pytest.raises(ValueError):
        save_image_grid(images, tmp_path / "x.png", **kw)
    assert not (tmp_path / "x.png").exists()


def test_scatter_writes_png(tmp_path):
    g = torch.Generator().manual_seed(0)
    v = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
    modes = torch.cartesian_prod(v, v)
    samples = modes.repeat(20, 1) + 0.05 * torch.randn(500, 2, generator=g)
    path = tmp_path / "scatter.png"
    save_scatter(samples, path, modes=modes, sigma=0.05, title="grid", lim=6.0)
    assert path.stat().st_size > 0
    with Image.open(path) as img:
        assert img.format == "PNG"
        w, h = img.size
        assert w > 100 and h > 100
    assert os.listdir(tmp_path) == ["scatter.png"]


def test_scatter_minimal_and_does_not_touch_pyplot(tmp_path):
    had_pyplot = "matplotlib.pyplot" in sys.modules
    path = tmp_path / "s.png"
    save_scatter(torch.tensor([[0.0, 0.0], [1.0, float("nan")]]), path)
    with Image.open(path) as img:
        img.verify()
    if not had_pyplot:  # Figure + FigureCanvasAgg: no global pyplot/backend state
        assert "matplotlib.pyplot" not in sys.modules
    with pytest.raises(ValueError):
        save_scatter(torch.zeros(3, 3), tmp_path / "bad.png")
