"""ProGAN (Karras et al. 2017, arXiv 1710.10196): progressive growing.

What is checked: the growth schedule by hand (phase boundaries, alpha within a fade-in, the end); the channels per
stage; fade-in at alpha 0 equals the lower-resolution net (G: its image enlarged; D: its score of the pooled
image) and at alpha 1 the new block alone; real images faded the same way; equalised-lr weights start N(0, 1) with
zero biases; the trainer's steps move the schedule (buffer and Python mirror), each phase changes only its own
player; the drift term; a resume in the middle of a fade-in is bitwise identical to the uninterrupted run; the
stage picture; one-line errors.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import gankit
from gankit.config import resolve
from gankit.data import DataInfo
from gankit.errors import ConfigError
from gankit.gans import GANS
from gankit.gans.multiscale.progan import growth
from gankit.models.progressive import faded_real, stage_widths
from gankit.nn.progressive import EqualizedConv2d, EqualizedLinear
from gankit.train import checkpoint as ckpt
from test_wiring import image_base, instrumented_step, make_trainer

pytestmark = pytest.mark.usefixtures("one_thread")

NAME = "progan"
F32 = DataInfo("fashion-mnist", "images", (1, 32, 32), 10)
TINY = ["model.z_dim=8", "model.width_base=64", "model.max_width=8", "batch_size=4"]


def tiny(*extra, info=F32):
    return GANS.get(NAME)(resolve(NAME, TINY + list(extra)), info)


def test_growth_schedule_by_hand():
    P, S = 100, 4  # 100 images per phase, stages 4, 8, 16, 32
    assert growth(0, P, S) == (0, 1.0) and growth(99, P, S) == (0, 1.0)
    assert growth(100, P, S) == (1, 0.0) and growth(125, P, S) == (1, 0.25)   # fading in 8x8
    assert growth(200, P, S) == (1, 1.0) and growth(299, P, S) == (1, 1.0)    # 8x8 stable
    assert growth(350, P, S) == (2, 0.5) and growth(400, P, S) == (2, 1.0)
    assert growth(500, P, S) == (3, 0.0) and growth(699, P, S) == (3, 1.0)
    assert growth(10**6, P, S) == (3, 1.0)                                   # then stays at 32x32


def test_channels_per_stage():
    assert stage_widths(32, 512, 128) == [128, 64, 32, 16]
    assert stage_widths(32, 8192, 512) == [512, 512, 512, 256]  # the paper's rule, capped at 512
    with pytest.raises(ValueError, match="power-of-two"):
        stage_widths(28, 512, 128)


def test_fade_in_at_alpha_zero_is_the_lower_net_and_at_one_the_new_block():
    torch.manual_seed(0)
    gan = tiny()
    G, D = gan.G, gan.D
    z = torch.randn(4, 8)
    for s in (1, 2, 3):
        low = G.at_stage(z, s - 1, 1.0)
        assert torch.allclose(G.at_stage(z, s, 0.0), F.interpolate(low, scale_factor=2, mode="nearest"), atol=1e-6)
        new = G.at_stage(z, s, 1.0)
        half = G.at_stage(z, s, 0.5)
        assert torch.allclose(half, 0.5 * new + 0.5 * F.interpolate(low, scale_factor=2, mode="nearest"), atol=1e-5)
        x = torch.randn(4, 1, 4 * 2 ** s, 4 * 2 ** s)
        assert torch.allclose(D.at_stage(x, s, 0.0), D.at_stage(F.avg_pool2d(x, 2), s - 1, 1.0), atol=1e-5)
        # alpha 1: the old from_rgb is not read
        with torch.no_grad():
            D.from_rgb[s - 1][0].weight.add_(1.0)
        assert torch.equal(D.at_stage(x, s, 1.0), D.at_stage(x, s, 1.0 - 0.0))
    real = torch.rand(2, 1, 32, 32)
    r8 = F.avg_pool2d(real, 4)
    assert torch.allclose(faded_real(real, 1, 1.0, 32), r8)
    assert torch.allclose(faded_real(real, 1, 0.0, 32), F.interpolate(F.avg_pool2d(r8, 2), scale_factor=2))
    assert torch.allclose(faded_real(real, 3, 1.0, 32), real)


def test_equalized_weights_start_unit_normal_with_zero_biases():
    torch.manual_seed(0)
    gan = tiny("model.max_width=32")
    layers = [m for net in (gan.G, gan.D) for m in net.modules() if isinstance(m, (EqualizedConv2d, EqualizedLinear))]
    assert len(layers) == 1 + 1 + 2 * 3 + 4 + 4 + 2 * 3 + 3  # G: dense, conv, 2 per block, to_rgb; D: mirrored + final
    w = torch.cat([m.weight.flatten() for m in layers])
    assert abs(w.std().item() - 1) < 0.02 and abs(w.mean().item()) < 0.02
    assert all(m.bias is None or torch.equal(m.bias, torch.zeros_like(m.bias)) for m in layers)
    conv = [m for m in layers if isinstance(m, EqualizedConv2d)][0]
    assert conv.scale == pytest.approx(math.sqrt(2) / math.sqrt(conv.weight[0].numel()))


def test_steps_move_the_schedule_and_each_phase_changes_only_its_own_player(tmp_path, request):
    base = image_base(request)
    tr = make_trainer(tmp_path, NAME, "data.resolution=32", "model.phase_images=8", base=base)
    gan = tr.gan
    assert gan.growth_state == (0, 1.0) and gan.G.stage == 0 and gan.D.stage == 0
    updates = instrumented_step(tr)
    # at 4x4 only the 4x4 layers are used: they get gradients, the later stages' layers wait (grad None: Adam
    # leaves them as they are); the other player never moves
    assert [u[0] for u in updates] == ["d", "g"]
    stage0 = {"d": ("from_rgb.0.", "final."), "g": ("dense.", "first.", "to_rgb.0.")}
    for grp, before, after, grads in updates:
        other = "g" if grp == "d" else "d"
        assert all(torch.equal(before[other][n], after[other][n]) for n in before[other])
        got = {n for g, n, _ in grads if g == grp}
        assert got == {n for n in before[grp] if n.startswith(stage0[grp])}, grp
        assert all(not torch.equal(before[grp][n], after[grp][n]) for n in got)
        assert all(torch.equal(before[grp][n], after[grp][n]) for n in set(before[grp]) - got)
    assert int(gan.grown_steps) == 1 and gan._steps == 1
    tr.train_step()  # 2 steps x 8 images = 16: phase 2, 8x8 stable
    assert gan.growth_state == (1, 1.0) and (gan.G.stage, gan.D.stage) == (1, 1)
    logs = tr.meter.pop_means()
    assert {"d_loss", "g_loss", "gp", "drift", "resolution", "alpha"} <= set(logs)
    x = gan.sample(3)
    assert x.shape == (3, 1, 32, 32) and x.abs().max() <= 1
    # 8x8 images enlarged to 32x32: blocks of 4x4 equal pixels
    assert torch.equal(x[:, :, ::4, ::4].repeat_interleave(4, 2).repeat_interleave(4, 3), x)


def test_drift_term_is_added_with_its_weight():
    torch.manual_seed(2)
    gan = tiny("model.drift=0.5")
    real = torch.rand(4, 1, 32, 32) * 2 - 1
    torch.manual_seed(3)
    loss, logs = gan.d_step(real, None)
    want = logs["d_loss"].item() + 0.5 * logs["drift"].item() + 10.0 * logs["gp"].item()  # the preset's gp 10
    assert loss.item() == pytest.approx(want, rel=1e-5)
    r4 = faded_real(real, 0, 1.0, 32)
    assert logs["drift"].item() == pytest.approx(gan.D(r4).pow(2).mean().item(), rel=1e-5)


class _Stop(Exception):
    pass


def test_resume_in_the_middle_of_a_fade_in_is_bitwise_identical(tmp_path, mnist_root):
    """12 steps of 4 images, 16 images per phase (4 steps): steps 0-3 at 4x4, 4-7 fade in 8x8, 8-11 stable 8x8.
    Cut at step 7; the last checkpoint is at step 6, halfway through the 8x8 fade-in (alpha 0.5); resume to 12."""
    common = ["data=mnist", f"data.root={mnist_root}", "data.size=64", "data.resolution=32", "device=cpu",
              "train.progress=false", "steps=12", "train.checkpoint_every=3", "model.phase_images=16",
              "train.ema=0.9", "train.eval_every=0", "train.gif_frames=0"] + TINY

    ref = gankit.train(NAME, *common, out=str(tmp_path / "ref"))

    def cut_at_7(trainer, step):
        if step == 7:
            raise _Stop

    with pytest.raises(_Stop):
        gankit.train(NAME, *common, out=str(tmp_path / "cut"), callbacks=[cut_at_7])
    last = ckpt.load(ckpt.list_checkpoints(tmp_path / "cut" / "checkpoints")[-1])
    assert last["step"] == 6 and int(last["gan"]["grown_steps"]) == 6 and growth(6 * 4, 16, 4) == (1, 0.5)
    resumed = gankit.train(resume=str(tmp_path / "cut"))
    a = ckpt.load(ckpt.list_checkpoints(ref.dir / "checkpoints")[-1])["gan"]
    b = ckpt.load(ckpt.list_checkpoints(tmp_path / "cut" / "checkpoints")[-1])["gan"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.gan.growth_state == ref.gan.growth_state == (2, 0.0)  # 48 images: phase 3, the 16x16 fade-in
    assert resumed.gan.G_ema.stage == resumed.gan.D.stage == 2


def test_stage_picture_and_errors():
    gan = tiny()
    gan._steps = 10**6
    gan._apply_growth()
    pic = gan.stage_picture(n=2)
    assert pic.shape == (8, 1, 32, 32) and set(gan.pictures()) == {"stages"}
    with pytest.raises(ConfigError, match="power-of-two") as e:
        tiny(info=DataInfo("mnist", "images", (1, 28, 28), 10))
    assert "\n" not in str(e.value)


def layers(net) -> list:
    """The layers of a growing net in registration order (identities dropped)."""
    from torch import nn

    from gankit.nn.progressive import MinibatchStdDev, PixelNorm
    from gankit.nn.style import AdaIN, NoiseInjection
    from test_wiring import SKIP, layer_rows

    def one(m):
        if isinstance(m, AdaIN):  # instance norm, then scale and bias from an equalised affine map of w
            return ("adain", m.channels, m.affine.in_features)
        if isinstance(m, NoiseInjection):
            return ("noise", m.scale.numel())
        if isinstance(m, EqualizedConv2d):
            return ("conv", m.weight.shape[1], m.weight.shape[0], m.weight.shape[2], m.padding)
        if isinstance(m, EqualizedLinear):
            return ("linear", m.in_features, m.out_features)
        if isinstance(m, PixelNorm):
            return ("pixelnorm",)
        if isinstance(m, nn.LeakyReLU):
            return ("lrelu", m.negative_slope)
        if isinstance(m, nn.AvgPool2d):
            return ("avgpool", m.kernel_size)
        if isinstance(m, MinibatchStdDev):
            return ("mbstd", m.group_size)
        if isinstance(m, (nn.Identity, nn.Flatten)):
            return SKIP
        return None

    return layer_rows(net, one)


L, PN = ("lrelu", 0.2), ("pixelnorm",)


def conv(cin, cout, k=3, p=1):
    return ("conv", cin, cout, k, p)


def test_layer_lists_of_the_growing_nets():
    """TINY: channels min(8, 64 / side) = 8, 8, 4, 2 at 4, 8, 16, 32; z in R^8. G: dense to 4x4 (then LReLU, pixel
    norm), a 3x3 conv, two 3x3 convs per later stage, each followed by LReLU and pixel norm, a 1x1 to_rgb per stage,
    and the pixel norm of the latent; D: a 1x1 from_rgb (LReLU) per stage, two 3x3 convs and 2x2 average pooling per
    later stage, then minibatch stddev (group 4), a 3x3 conv on 8 + 1 channels, a 4x4 valid conv, a linear layer."""
    gan = tiny()
    block = lambda a, b: [conv(a, b), L, PN, conv(b, b), L, PN]  # noqa: E731
    assert layers(gan.G) == ([("linear", 8, 8 * 16), L, PN, conv(8, 8), L, PN] + block(8, 8) + block(8, 4)
                             + block(4, 2) + [conv(w, 1, 1, 0) for w in (8, 8, 4, 2)] + [PN])
    dblock = lambda a, b: [conv(a, a), L, conv(a, b), L, ("avgpool", 2)]  # noqa: E731
    assert layers(gan.D) == ([x for w in (8, 8, 4, 2) for x in (conv(1, w, 1, 0), L)]
                             + dblock(8, 8) + dblock(4, 8) + dblock(2, 4)
                             + [("mbstd", 4), conv(9, 8), L, conv(8, 8, 4, 0), L, ("linear", 8, 1)])
