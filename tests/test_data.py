"""Tests for gankit.data: toy mixtures, MNIST family, imagefolder and DeviceLoader."""
from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from gankit.data import DATASETS, DataInfo, DeviceLoader, load_dataset
from gankit.errors import ConfigError, DataError


def _data_root() -> Path | None:
    env = os.environ.get("GANKIT_DATA")
    for cand in ([Path(env)] if env else []) + [Path(__file__).resolve().parents[2] / "shared" / "data"]:
        if (cand / "mnist").is_dir():
            return cand
    return None


@pytest.fixture(scope="module")
def data_root() -> Path:
    root = _data_root()
    if root is None:
        pytest.skip("real MNIST data not found: set GANKIT_DATA or provide ../shared/data/mnist")
    return root


@pytest.fixture(scope="module")
def mnist_train(data_root):
    return load_dataset("mnist", root=str(data_root))


# --------------------------------------------------------------------------- registry / toy
def test_registry_names_and_unknown():
    assert {"ring8", "grid25", "mnist", "fashion-mnist", "imagefolder"} <= set(DATASETS.names())
    with pytest.raises(ConfigError, match="mnist"):
        load_dataset("mnsit")


@pytest.mark.parametrize("name,k,sigma", [("ring8", 8, 0.01), ("grid25", 25, 0.05)])
def test_toy_mixture(name, k, sigma):
    x, y, info = load_dataset(name, size=5000, seed=3)
    assert y is None and x.dtype == torch.float32 and x.shape == (5000, 2)
    assert info.kind == "points" and info.shape == (2,) and info.num_classes == 0
    assert info.modes.shape == (k, 2) and info.sigma == sigma
    dist = torch.cdist(x, info.modes)  # (N, K)
    assert dist.min(dim=1).values.max() < 6 * sigma  # every point near some mode
    counts = torch.bincount(dist.argmin(dim=1), minlength=k)
    assert counts.min() > 5000 / k * 0.6  # uniform mode choice
    # determinism by seed, and independence of seeds / splits
    assert torch.equal(x, load_dataset(name, size=5000, seed=3)[0])
    assert not torch.equal(x, load_dataset(name, size=5000, seed=4)[0])
    assert not torch.equal(x, load_dataset(name, size=5000, seed=3, split="test")[0])


def test_toy_mode_centres():
    ring = load_dataset("ring8", size=10)[2].modes
    assert torch.allclose(ring.norm(dim=1), torch.ones(8))
    assert torch.allclose(ring[0], torch.tensor([1.0, 0.0]))
    assert torch.allclose(ring[2], torch.tensor([0.0, 1.0]), atol=1e-6)
    grid = load_dataset("grid25", size=10)[2].modes
    expected = {(float(a), float(b)) for a in range(-4, 5, 2) for b in range(-4, 5, 2)}
    assert {tuple(p.tolist()) for p in grid} == expected
    assert load_dataset("ring8")[0].shape == (100_000, 2)  # default size


def test_common_argument_errors():
    with pytest.raises(DataError, match="split"):
        load_dataset("ring8", split="val")
    with pytest.raises(DataError, match="size"):
        load_dataset("ring8", size=0)


# --------------------------------------------------------------------------- MNIST family
def test_mnist_train(mnist_train):
    x, y, info = mnist_train
    assert x.shape == (60000, 1, 28, 28) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and y.shape == (60000,)
    assert y[:5].tolist() == [5, 0, 4, 1, 9]
    assert x.min().item() == -1.0 and x.max().item() == 1.0
    assert info == DataInfo("mnist", "images", (1, 28, 28), 10)


def test_mnist_test_split_and_env(data_root, monkeypatch):
    monkeypatch.setenv("GANKIT_DATA", str(data_root))
    x, y, _ = load_dataset("mnist", split="test")  # root from GANKIT_DATA
    assert x.shape == (10000, 1, 28, 28)
    assert y[:5].tolist() == [7, 2, 1, 0, 4]


def test_fashion_mnist(data_root):
    x, y, info = load_dataset("fashion-mnist", root=str(data_root), size=100)
    assert y[:5].tolist() == [9, 0, 0, 3, 0]
    assert x.shape == (100, 1, 28, 28) and info.name == "fashion-mnist"


def test_resolution_and_channels(data_root, mnist_train):
    for res in (32, 64):
        x, _, info = load_dataset("mnist", root=str(data_root), split="test", size=50, resolution=res)
        assert x.shape == (50, 1, res, res) and info.shape == (1, res, res)
        assert x.min() >= -1 and x.max() <= 1
    x3, _, info = load_dataset("mnist", root=str(data_root), split="test", size=20, channels=3)
    assert x3.shape == (20, 3, 28, 28) and info.shape == (3, 28, 28)
    assert torch.equal(x3[:, 0], x3[:, 2])
    with pytest.raises(DataError, match="resolution"):
        load_dataset("mnist", root=str(data_root), resolution=48)
    with pytest.raises(DataError, match="channels"):
        load_dataset("mnist", root=str(data_root), channels=2)


def test_torchvision_raw_layout(data_root, tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for stem in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        with gzip.open(data_root / "mnist" / f"{stem}.gz", "rb") as src, open(raw / stem, "wb") as dst:
            shutil.copyfileobj(src, dst)
    x, y, _ = load_dataset("mnist", root=str(tmp_path), split="test")
    assert x.shape == (10000, 1, 28, 28) and y[:5].tolist() == [7, 2, 1, 0, 4]
    with pytest.raises(DataError, match="train split not found"):  # only test files there
        load_dataset("mnist", root=str(tmp_path))
    # a raw file cut short is reported, naming it
    labels = (raw / "t10k-labels-idx1-ubyte").read_bytes()
    (raw / "t10k-labels-idx1-ubyte").write_bytes(labels[:1000])
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.*truncated"):
        load_dataset("mnist", root=str(tmp_path), split="test")


def test_missing_root_message(tmp_path, monkeypatch):
    monkeypatch.delenv("GANKIT_DATA", raising=False)
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError) as err:
        load_dataset("fashion-mnist", root=str(missing))
    msg = str(err.value)
    assert "\n" not in msg and "fashion-mnist" in msg and "GANKIT_DATA" in msg
    assert "data.download=true" in msg
    for d in (missing / "fashion-mnist", missing / "FashionMNIST" / "raw", missing):
        assert str(d) in msg


def test_truncated_and_corrupt_gz(data_root, tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    shutil.copy(data_root / "mnist" / "t10k-labels-idx1-ubyte.gz", folder)
    images = (data_root / "mnist" / "t10k-images-idx3-ubyte.gz").read_bytes()
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(images[:20000])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz") as err:
        load_dataset("mnist", root=str(tmp_path), split="test")
    assert "\n" not in str(err.value)
    # valid gzip, wrong IDX magic (labels where images should be)
    shutil.copy(folder / "t10k-labels-idx1-ubyte.gz", folder / "t10k-images-idx3-ubyte.gz")
    with pytest.raises(DataError, match="magic"):
        load_dataset("mnist", root=str(tmp_path), split="test")


# --------------------------------------------------------------------------- imagefolder
def _png(path: Path, size=(20, 12), color=(255, 0, 0), mode="RGB"):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)


def test_imagefolder_classes(tmp_path):
    _png(tmp_path / "dogs" / "a.png", color=(0, 0, 255))
    _png(tmp_path / "cats" / "b.png")
    _png(tmp_path / "cats" / "nested" / "c.jpg", size=(9, 30))
    (tmp_path / "cats" / "notes.txt").write_text("not an image")
    x, y, info = load_dataset("imagefolder", root=str(tmp_path), resolution=16)
    assert x.shape == (3, 3, 16, 16) and info.shape == (3, 16, 16)
    assert y.tolist() == [0, 0, 1] and info.num_classes == 2  # cats=0, dogs=1
    assert torch.allclose(x[0, 0], torch.ones(16, 16)) and torch.allclose(x[0, 2], -torch.ones(16, 16))
    assert torch.allclose(x[2, 2], torch.ones(16, 16))  # blue dog
    xs, ys, _ = load_dataset("imagefolder", root=str(tmp_path), resolution=16, size=2)
    assert xs.shape[0] == 2 and ys.tolist() == [0, 0]


def test_imagefolder_flat_grayscale(tmp_path):
    _png(tmp_path / "one.png", size=(10, 10), color=128, mode="L")
    _png(tmp_path / "two.bmp", size=(40, 50))
    x, y, info = load_dataset("imagefolder", root=str(tmp_path), resolution=8, channels=1)
    assert y is None and info.num_classes == 0 and x.shape == (2, 1, 8, 8)
    assert x.min() >= -1 and x.max() <= 1


def test_imagefolder_errors(tmp_path):
    with pytest.raises(DataError, match="data.root"):
        load_dataset("imagefolder")
    with pytest.raises(DataError, match="not a directory"):
        load_dataset("imagefolder", root=str(tmp_path / "missing"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"no images.*\.png") as err:
        load_dataset("imagefolder", root=str(empty))
    assert str(empty) in str(err.value)
    _png(tmp_path / "imgs" / "good.png")
    (tmp_path / "imgs" / "bad.png").write_bytes(np.random.default_rng(0).bytes(300))
    with pytest.raises(DataError, match="bad.png") as err:
        load_dataset("imagefolder", root=str(tmp_path / "imgs"), resolution=8)
    assert "\n" not in str(err.value)
    with pytest.raises(DataError, match="resolution"):
        load_dataset("imagefolder", root=str(tmp_path / "imgs"), resolution=4)


# --------------------------------------------------------------------------- DeviceLoader
def _batches(loader, k):
    return [loader.next() for _ in range(k)]


def test_loader_epoch_covers_every_index_once():
    x = torch.arange(100, dtype=torch.float32).unsqueeze(1)
    y = torch.arange(100)
    loader = DeviceLoader(x, y, batch_size=10, device="cpu", seed=0)
    seen = []
    for xb, yb in _batches(loader, 10):
        assert xb.shape == (10, 1) and torch.equal(xb[:, 0].long(), yb)
        seen += yb.tolist()
    assert sorted(seen) == list(range(100)) and loader.epoch == 0
    second = torch.cat([b[1] for b in _batches(loader, 10)])
    assert loader.epoch == 1 and sorted(second.tolist()) == list(range(100))
    assert second.tolist() != seen  # new permutation each epoch


def test_loader_drop_last_and_unlabeled():
    loader = DeviceLoader(torch.randn(25, 2), None, batch_size=10, device="cpu", seed=1)
    batches = _batches(loader, 5)
    assert all(b[0].shape == (10, 2) and b[1] is None for b in batches)
    assert loader.epoch == 2  # 2 batches per epoch, the 5 leftover rows dropped
    with pytest.raises(DataError, match="batch_size"):
        DeviceLoader(torch.randn(5, 2), None, batch_size=6, device="cpu", seed=0)


def test_loader_seeded():
    x, y = torch.randn(64, 3), torch.arange(64)
    a = [b[1] for b in _batches(DeviceLoader(x, y, 16, "cpu", seed=7), 9)]
    b = [b[1] for b in _batches(DeviceLoader(x, y, 16, "cpu", seed=7), 9)]
    c = [b[1] for b in _batches(DeviceLoader(x, y, 16, "cpu", seed=8), 9)]
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    assert not all(torch.equal(p, q) for p, q in zip(a, c))


def test_loader_resume(tmp_path):
    x, y = torch.randn(30, 2), torch.arange(30)
    ref = DeviceLoader(x, y, 7, "cpu", seed=3)
    _batches(ref, 6)  # mid second epoch
    torch.save(ref.state_dict(), tmp_path / "loader.pt")
    expected = _batches(ref, 12)
    state = torch.load(tmp_path / "loader.pt", weights_only=True)
    resumed = DeviceLoader(x, y, 7, "cpu", seed=999)
    resumed.load_state_dict(state)
    got = _batches(resumed, 12)
    for (ex, ey), (gx, gy) in zip(expected, got):
        assert torch.equal(ex, gx) and torch.equal(ey, gy)
    assert resumed.epoch == ref.epoch
    with pytest.raises(DataError, match="samples"):
        DeviceLoader(torch.randn(31, 2), None, 7, "cpu", seed=0).load_state_dict(state)
