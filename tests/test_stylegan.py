"""StyleGAN (Karras et al. 2018, arXiv 1812.04948): the style-based generator and its sampling controls.

What is checked: the mapping network (depth, lr multiplier) and the synthesis layers (a constant input, two style
layers per stage, noise scales starting at 0); each layer reads its own row of w (changing one row changes the
image, and changing a row of a stage not in use does not); w_avg follows the batch mean of w in training only;
truncation: psi = 0 gives w_avg on every layer, psi = 1 changes nothing, the cutoff limits it; style mixing uses
the second latent from the crossover layer on (training and the grid); sampling and `gankit sample --truncation`
apply psi in W; `gankit sample --style-mix K` writes the grid and refuses bad K and other GANs in one line;
growth is inherited from ProGAN and `model.progressive=false` starts at the full size.
"""
from __future__ import annotations

import pytest
import torch

import gankit
from gankit.config import resolve
from gankit.data import DataInfo
from gankit.gans import GANS
from gankit.nn.progressive import EqualizedLinear
from gankit.nn.style import NoiseInjection

pytestmark = pytest.mark.usefixtures("one_thread")

NAME = "stylegan"
F32 = DataInfo("fashion-mnist", "images", (1, 32, 32), 10)
TINY = ["model.z_dim=6", "model.w_dim=6", "model.mapping_layers=3", "model.width_base=64", "model.max_width=8",
        "batch_size=4"]


def tiny(*extra):
    gan = GANS.get(NAME)(resolve(NAME, TINY + list(extra)), F32)
    gan._steps = 10**6  # grown to 32x32 unless a test says otherwise
    gan._apply_growth()
    return gan


def test_mapping_and_synthesis_structure():
    gan = tiny()
    G = gan.G
    lins = [m for m in G.mapping.modules() if isinstance(m, EqualizedLinear)]
    assert len(lins) == 3 and all(m.lr_mul == 0.01 for m in lins)
    assert G.layers == 8 and len(G.style_layers) == 8 and G.const.shape == (1, 8, 4, 4)
    assert G.style_layers[0].conv is None and all(layer.conv is not None for layer in G.style_layers[1:])
    assert all(torch.equal(m.scale, torch.zeros_like(m.scale)) for m in G.modules() if isinstance(m, NoiseInjection))
    assert gan.D.stages == 4 and gan.sample(2).shape == (2, 1, 32, 32)


def test_each_layer_reads_its_own_style_row():
    torch.manual_seed(0)
    gan = tiny()
    G = gan.G.eval()
    ws = G.styles(torch.randn(2, 6))
    base = G.synthesis(ws, 3)
    for k in (0, 5, 7):
        other = ws.clone()
        other[:, k] += 1.0
        assert not torch.allclose(G.synthesis(other, 3), base, atol=1e-4), k
    # at stage 1 (8x8) only rows 0-3 are read
    low = G.synthesis(ws, 1)
    other = ws.clone()
    other[:, 4:] += 5.0
    assert torch.equal(G.synthesis(other, 1), low)


def test_w_avg_moves_in_training_only():
    gan = tiny("model.w_avg_beta=0.5")
    G = gan.G
    z = torch.randn(5, 6)
    G.eval()
    G.styles(z)
    assert torch.equal(G.w_avg, torch.zeros(6))
    G.train()
    w = G.mapping(z).mean(0)
    G.styles(z)
    assert torch.allclose(G.w_avg, 0.5 * w, atol=1e-6)


def test_truncation_in_w():
    torch.manual_seed(1)
    gan = tiny()
    G = gan.G.eval()
    with torch.no_grad():
        G.w_avg.copy_(torch.randn(6))
    z = torch.randn(3, 6)
    assert torch.allclose(G.styles(z, psi=0.0), G.w_avg.expand(3, 8, 6), atol=1e-6)
    assert torch.allclose(G.styles(z, psi=1.0), G.styles(z), atol=1e-6)
    cut = tiny("model.truncation_cutoff=2").G.eval()
    cut.load_state_dict(G.state_dict())
    ws = cut.styles(z, psi=0.0)
    assert torch.allclose(ws[:, :2], G.w_avg.expand(3, 2, 6), atol=1e-6) and torch.allclose(ws[:, 2:], G.styles(z)[:, 2:])
    # sampling applies psi through the generator, and resets it afterwards
    assert torch.allclose(gan.sample(4, seed=2, truncation=1.0), gan.sample(4, seed=2), atol=1e-4)
    s0 = gan.sample(4, seed=2, truncation=1e-6)
    assert torch.allclose(s0[0], s0[3], atol=1e-3)  # (almost) psi 0: every sample is the image of w_avg
    assert G.psi is None


def test_style_mixing_in_training_and_the_grid():
    torch.manual_seed(2)
    gan = tiny("model.mixing=1.0")
    G = gan.G.train()
    ws = G.mixed_styles(torch.randn(3, 6), 3)
    differs = [not torch.allclose(ws[:, 0], ws[:, k]) for k in range(8)]
    k = differs.index(True)  # the crossover: rows before it are w1, from it on w2
    assert 1 <= k < 8 and not any(differs[:k]) and all(differs[k:])
    assert all(torch.allclose(ws[:, k], ws[:, j]) for j in range(k, 8))
    never = tiny("model.mixing=0.0").G.train()
    ws = never.mixed_styles(torch.randn(3, 6), 3)
    assert all(torch.allclose(ws[:, 0], ws[:, j]) for j in range(8))
    grid, per_row = gan.style_mixing(rows=2, cols=3, crossover=4)
    assert per_row == 4 and grid.shape == (12, 1, 32, 32)
    assert torch.equal(grid[0], torch.full_like(grid[0], -1.0))
    with pytest.raises(ValueError, match="between 1 and 7"):
        gan.style_mixing(crossover=8)
    pics = gan.pictures()
    assert set(pics) == {"stages", "style-mixing", "psi"} and pics["psi"][0].shape[0] == 6 * 5


def test_mixing_at_the_crossover_matches_the_sources():
    """A mix that takes every layer from the column source is that source's image; one that takes every layer
    from the row source is the row's."""
    torch.manual_seed(3)
    gan = tiny()
    G = gan.G.eval()
    from gankit.models.style import style_mixing_grid

    a, b = torch.randn(1, 6), torch.randn(2, 6)
    grid = style_mixing_grid(G, a, b, crossover=0, stage=3)
    assert torch.allclose(grid[4:6], grid[1:3], atol=1e-5)   # crossover 0: all of b
    grid = style_mixing_grid(G, a, b, crossover=8, stage=3)
    assert torch.allclose(grid[4], grid[3], atol=1e-5) and torch.allclose(grid[5], grid[3], atol=1e-5)


def test_progressive_off_starts_at_full_size():
    gan = GANS.get(NAME)(resolve(NAME, TINY + ["model.progressive=false"]), F32)
    assert gan.growth_state == (3, 1.0) and gan.G.stage == 3
    grown = GANS.get(NAME)(resolve(NAME, TINY), F32)
    assert grown.growth_state == (0, 1.0)


def test_cli_style_mix_and_truncation(tmp_path, mnist_root):
    from cli_harness import assert_user_error, run_cli

    run = gankit.train(NAME, "data=mnist", f"data.root={mnist_root}", "data.size=64", "steps=2", *TINY,
                       "model.phase_images=4", "train.progress=false", "train.eval_every=0", "train.gif_frames=0",
                       out=str(tmp_path / "run"))
    r = run_cli(["sample", str(run.dir), "--style-mix", "2", "--out", str(tmp_path / "mix.png")], cwd=tmp_path)
    assert r.rc == 0, r.describe()
    from PIL import Image

    w, h = Image.open(tmp_path / "mix.png").size
    assert w > h  # 6 images per row, 5 rows
    r = run_cli(["sample", str(run.dir), "--style-mix", "50"], cwd=tmp_path)
    assert_user_error(r, ("crossover must be between 1 and",))
    r = run_cli(["sample", str(run.dir), "--truncation", "0.5", "--out", str(tmp_path / "t.npy")], cwd=tmp_path)
    assert r.rc == 0, r.describe()
    other = gankit.train("lapgan", "data=mnist", f"data.root={mnist_root}", "data.size=64", "steps=1",
                         "model.z_dim=4", "model.hidden=8", "model.g_width=4", "model.d_width=4", "batch_size=4",
                         "train.progress=false", "train.eval_every=0", out=str(tmp_path / "lap"))
    r = run_cli(["sample", str(other.dir), "--style-mix", "2"], cwd=tmp_path)
    assert_user_error(r, ("needs a style-based run",))


def test_layer_lists():
    """TINY: mapping pixel norm + 3 x (linear 6 -> 6, LReLU); synthesis per stage two style layers (3x3 conv
    except the very first, noise, LReLU, AdaIN from w in R^6), channels 8, 8, 4, 2; a 1x1 to_rgb per stage."""
    from test_progan import PN, L, conv, layers

    gan = tiny()
    style = lambda a, b, c=True: ([conv(a, b)] if c else []) + [("noise", b), L, ("adain", b, 6)]  # noqa: E731
    want = [PN] + [("linear", 6, 6), L] * 3
    want += style(8, 8, False) + style(8, 8) + style(8, 8) + style(8, 8) + style(8, 4) + style(4, 4)
    want += style(4, 2) + style(2, 2) + [conv(w, 1, 1, 0) for w in (8, 8, 4, 2)]
    assert layers(gan.G) == want
    assert layers(gan.D) == layers(GANS.get("progan")(resolve("progan", [t for t in TINY if "w_dim" not in t
                                                                         and "mapping" not in t]), F32).D)
