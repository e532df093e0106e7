"""LAPGAN (Denton et al. 2015, arXiv 1506.05751): a GAN per level of a Laplacian pyramid.

What is checked: the levels' sizes and nets; the sampling chain is I_k = u(I_{k+1}) + G_k(z_k, u(I_{k+1})) from
the coarsest G's image, with the noise read from one latent vector; each level's D and G losses are the
objective's on that level's real and generated pairs, the finer levels conditioned on the *real* coarser image;
the levels are independent (a level's gradient from the summed loss is its own loss's, and another level's nets
do not change it), so one Adam over all levels steps like one Adam per level; each phase changes only its own
player's parameters; the pyramid picture; the one-line errors.
"""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from gankit.config import resolve
from gankit.data import DataInfo
from gankit.errors import ConfigError
from gankit.gans import GANS
from gankit.nn.pyramid import gaussian_pyramid, upsample
from test_wiring import check_phases_change_only_their_group, image_base, instrumented_step, make_trainer

pytestmark = pytest.mark.usefixtures("one_thread")

NAME = "lapgan"
MNIST = DataInfo("mnist", "images", (1, 28, 28), 10)
RGB32 = DataInfo("cifar10", "images", (3, 32, 32), 10)
TINY = ["model.z_dim=4", "model.hidden=8", "model.g_width=4", "model.d_width=4", "batch_size=4"]


def tiny(*extra, info=MNIST):
    return GANS.get(NAME)(resolve(NAME, TINY + list(extra)), info)


def test_levels_sizes_and_nets():
    gan = tiny()
    assert gan.sizes == [28, 14, 7]
    assert len(gan.G.levels) == 2 and len(gan.D) == 3
    assert gan.latent_dim == 4 + 28 * 28 + 14 * 14  # z_K and one noise plane per finer level
    assert gan.G.coarse(torch.randn(2, 4)).shape == (2, 1, 7, 7)
    for k, s in enumerate((28, 14)):
        assert gan.G.levels[k](torch.randn(2, 1, s, s), torch.randn(2, 1, s, s)).shape == (2, 1, s, s)
        assert gan.D[k](torch.randn(2, 1, s, s), torch.randn(2, 1, s, s)).shape == (2,)
    assert gan.D[-1](torch.randn(2, 1, 7, 7)).shape == (2,)
    rgb = tiny("model.noise_planes=2", info=RGB32)
    assert rgb.sizes == [32, 16, 8] and rgb.latent_dim == 4 + 2 * (32 * 32 + 16 * 16)
    assert rgb.sample(3).shape == (3, 3, 32, 32)
    two = tiny("model.levels=2")
    assert two.sizes == [28, 14] and len(two.D) == 2


def test_sampling_runs_the_chain_from_coarse_to_fine():
    gan = tiny().eval()
    z = torch.randn(3, gan.latent_dim)
    z_coarse, noise = gan.G.split(z)
    assert torch.equal(z_coarse, z[:, :4])
    # coarse to fine: z_K, then the 14x14 plane, then the 28x28 plane
    assert torch.equal(noise[1].flatten(1), z[:, 4:4 + 196]) and torch.equal(noise[0].flatten(1), z[:, 200:])
    with torch.no_grad():
        i2 = gan.G.coarse(z_coarse)
        i1 = upsample(i2) + gan.G.levels[1](noise[1], upsample(i2))
        i0 = upsample(i1) + gan.G.levels[0](noise[0], upsample(i1))
        images = gan.G.images(z)
        out = gan.G(z)
    for got, want in zip(images, (i2, i1, i0)):
        assert torch.allclose(got, want, atol=1e-6)
    assert torch.allclose(out, i0.clamp(-1, 1), atol=1e-6)
    assert torch.equal(gan.sample(4, seed=3), gan.sample(4, seed=3))


class Recorder(nn.Module):
    """A residual generator that returns a fixed residual and records the condition it was given."""

    def __init__(self, out, noise_planes=1):
        super().__init__()
        self.out = nn.Parameter(out.clone())
        self.noise_planes = noise_planes
        self.seen = []

    def forward(self, noise, coarse):
        self.seen.append(coarse.detach().clone())
        return self.out[:coarse.shape[0]] + 0 * coarse


def test_each_level_plays_its_own_game_on_real_conditions():
    """D's loss is the sum over levels of objective.d_loss(D_k(h_k, l_k), D_k(h~_k, l_k)) with h_k, l_k from the
    real images' pyramid and h~_k generated given the real l_k; the coarsest level is a plain GAN of I_K. G's loss
    is the sum of objective.g_loss on the same pairs."""
    torch.manual_seed(0)
    gan = tiny()
    real = torch.rand(4, 1, 28, 28) * 2 - 1
    fixed = [torch.randn(4, 1, 28, 28), torch.randn(4, 1, 14, 14)]
    gan.G.levels = nn.ModuleList([Recorder(fixed[0]), Recorder(fixed[1])])
    coarse_fake = torch.randn(4, 1, 7, 7)
    gan.G.coarse = Recorder(coarse_fake)
    gan.G.coarse.forward = lambda z: gan.G.coarse.out[:z.shape[0]]
    gauss = gaussian_pyramid(real, 3)
    cond = [upsample(gauss[1]), upsample(gauss[2])]
    h = [gauss[0] - cond[0], gauss[1] - cond[1]]
    obj = gan.objective
    loss, logs = gan.d_step(real, None)
    want = [obj.d_loss(gan.D[k](h[k], cond[k]), gan.D[k](fixed[k], cond[k])) for k in range(2)]
    want.append(obj.d_loss(gan.D[2](gauss[2]), gan.D[2](coarse_fake)))
    for k in range(3):
        assert logs[f"d_loss_{k}"].item() == pytest.approx(want[k].item(), rel=1e-5)
    assert loss.item() == pytest.approx(sum(w.item() for w in want), rel=1e-5)
    # the finer generators were conditioned on the real coarser images
    assert torch.allclose(gan.G.levels[0].seen[-1], cond[0]) and torch.allclose(gan.G.levels[1].seen[-1], cond[1])
    loss, logs = gan.g_step(real, None)
    want = [obj.g_loss(gan.D[k](fixed[k], cond[k])) for k in range(2)] + [obj.g_loss(gan.D[2](coarse_fake))]
    for k in range(3):
        assert logs[f"g_loss_{k}"].item() == pytest.approx(want[k].item(), rel=1e-5)
    loss.backward()
    assert all(g.out.grad is not None and g.out.grad.abs().sum() > 0 for g in gan.G.levels)


def level_params(gan, k):
    """Level k's G and D parameters (k = 0 finest, the last the coarsest level)."""
    g = gan.G.levels[k] if k < len(gan.G.levels) else gan.G.coarse
    return list(g.parameters()) + list(gan.D[k].parameters())


def test_levels_are_independent():
    """The gradient a level's parameters get from the summed loss is that of the level's own term; perturbing
    another level's nets leaves a level's term unchanged. So one Adam over every level (per-parameter moments and
    step counts) steps each level exactly as its own Adam would."""
    torch.manual_seed(1)
    gan = tiny()
    real = torch.rand(4, 1, 28, 28) * 2 - 1
    torch.manual_seed(7)
    loss, logs = gan.d_step(real, None)
    k0 = logs["d_loss_0"].item()
    other = copy.deepcopy(gan)
    with torch.no_grad():
        for p in level_params(other, 1) + level_params(other, 2):
            p.add_(torch.randn_like(p))
    torch.manual_seed(7)
    _, logs_other = other.d_step(real, None)
    assert logs_other["d_loss_0"].item() == pytest.approx(k0, rel=1e-6)
    assert logs_other["d_loss_1"].item() != pytest.approx(logs["d_loss_1"].item(), rel=1e-3)
    # gradients: the sum's gradient on level 0 equals the gradient of level 0's term alone
    torch.manual_seed(7)
    loss, _ = gan.d_step(real, None)
    g_sum = torch.autograd.grad(loss, list(gan.D[0].parameters()))
    torch.manual_seed(7)
    real_s, fake_s = gan.level_scores(real, grad_fakes=False)
    own = gan.objective.d_loss(real_s[0], fake_s[0])
    g_own = torch.autograd.grad(own, list(gan.D[0].parameters()))
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(g_sum, g_own))
    # one Adam over all levels == one Adam per level (same steps for level 0 over three updates)
    a, b = copy.deepcopy(gan), copy.deepcopy(gan)
    opt_all = torch.optim.Adam([p for p in a.D.parameters()], lr=1e-2)
    opt_lvl = [torch.optim.Adam(list(b.D[k].parameters()), lr=1e-2) for k in range(3)]
    for t in range(3):
        torch.manual_seed(10 + t)
        opt_all.zero_grad()
        a.d_step(real, None)[0].backward()
        opt_all.step()
        torch.manual_seed(10 + t)
        real_s, fake_s = b.level_scores(real, grad_fakes=False)
        for k, opt in enumerate(opt_lvl):
            opt.zero_grad()
            b.objective.d_loss(real_s[k], fake_s[k]).backward(retain_graph=True)
            opt.step()
    for pa, pb in zip(a.D.parameters(), b.D.parameters()):
        assert torch.allclose(pa, pb, atol=1e-6)


def test_one_step_each_phase_changes_only_its_own_parameters(tmp_path, request):
    tr = make_trainer(tmp_path, NAME, base=image_base(request))
    updates = instrumented_step(tr)
    check_phases_change_only_their_group(updates, 1)
    logs = tr.meter.pop_means()
    assert {"d_loss", "g_loss", "d_loss_0", "d_loss_2", "g_loss_1"} <= set(logs)


def test_pyramid_picture():
    gan = tiny()
    pic = gan.pyramid_picture(n=2)
    assert pic.shape == (6, 1, 28, 28) and pic.abs().max() <= 1
    # column 0 is the coarsest image enlarged (7x7 blocks of 4x4 equal pixels), the last the final sample
    assert torch.equal(pic[0, :, ::4, ::4].repeat_interleave(4, 1).repeat_interleave(4, 2), pic[0])
    z = torch.randn(2, gan.latent_dim, generator=torch.Generator().manual_seed(0))
    gan.G.eval()
    assert torch.allclose(pic[2], gan.G(z)[0], atol=1e-6)
    assert set(gan.pictures()) == {"pyramid"}


@pytest.mark.parametrize("extra, match", [
    (["model.levels=4"], "7 is odd"),
    (["penalties.gp=10"], "takes no penalties"),
])
def test_one_line_errors(extra, match):
    with pytest.raises(ConfigError, match=match) as e:
        tiny(*extra)
    assert "\n" not in str(e.value)


def test_points_are_refused():
    with pytest.raises(ConfigError, match="needs image data"):
        resolve(NAME, ["data=ring8"])
