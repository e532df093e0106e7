"""The parts of the multi-scale and style-based GANs (issue 12), each against its formula:

* the Laplacian pyramid (Denton et al. 2015): levels' sizes, reconstruction gives the image back, the residuals
  of a smooth image are small and the coarsest level is the average-pooled image;
* equalised learning rate (Karras et al. 2017, Sec. 4.1): effective weight = N(0, 1) weight x gain / sqrt(fan_in),
  outputs equal the plain layer with that weight, lr_mul;
* pixel norm (Sec. 4.2) and minibatch standard deviation (Sec. 3) on hand-made batches;
* fade-in at alpha 0 and 1;
* AdaIN (Karras et al. 2018): the output's per-sample, per-channel mean and std are the style's y_b and y_s;
  noise inputs start silent; style mixing uses w2 from the crossover on; truncation with psi = 0 gives w_avg.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from gankit.nn import (AdaIN, EqualizedConv2d, EqualizedLinear, MinibatchStdDev, NoiseInjection, PixelNorm,
                       fade_in, laplacian_pyramid, mix_styles, reconstruct, truncate_w)
from gankit.nn.pyramid import downsample, pyramid_sizes, upsample

pytestmark = pytest.mark.usefixtures("one_thread")


# ------------------------------------------------------------------ the Laplacian pyramid
@pytest.mark.parametrize("size, levels, sizes", [(28, 3, [28, 14, 7]), (32, 3, [32, 16, 8]), (32, 1, [32])])
def test_pyramid_levels_and_exact_reconstruction(size, levels, sizes):
    x = torch.rand(5, 2, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    pyr = laplacian_pyramid(x, levels)
    assert [p.shape[-1] for p in pyr] == sizes == pyramid_sizes(size, levels)
    assert all(p.shape[:2] == (5, 2) for p in pyr)
    assert torch.allclose(reconstruct(pyr), x, atol=1e-6)
    if levels > 1:  # the coarsest level is the image average-pooled (levels - 1) times
        coarse = x
        for _ in range(levels - 1):
            coarse = F.avg_pool2d(coarse, 2)
        assert torch.allclose(pyr[-1], coarse, atol=1e-6)
        assert torch.allclose(pyr[0], x - upsample(downsample(x)), atol=1e-6)


def test_pyramid_of_a_constant_image_has_zero_residuals_and_odd_sides_are_refused():
    x = torch.full((2, 1, 16, 16), 0.3)
    pyr = laplacian_pyramid(x, 3)
    assert all(torch.allclose(h, torch.zeros_like(h), atol=1e-7) for h in pyr[:-1])
    assert torch.allclose(pyr[-1], torch.full((2, 1, 4, 4), 0.3))
    with pytest.raises(ValueError, match="7 is odd"):
        laplacian_pyramid(torch.zeros(1, 1, 28, 28), 4)
    with pytest.raises(ValueError, match="at least one level"):
        laplacian_pyramid(x, 0)


# ------------------------------------------------------------------ equalised learning rate
def test_equalized_layers_scale_unit_weights_at_run_time():
    torch.manual_seed(0)
    lin = EqualizedLinear(50, 40)
    assert lin.scale == pytest.approx(math.sqrt(2.0) / math.sqrt(50))
    assert lin.weight.std().item() == pytest.approx(1.0, rel=0.1)  # stored N(0, 1)
    x = torch.randn(3, 50)
    assert torch.allclose(lin(x), x @ (lin.weight * lin.scale).T + lin.bias, atol=1e-6)
    # lr_mul: stored weights divided, the run-time scale and the bias multiplied
    m = EqualizedLinear(50, 40, lr_mul=0.01, bias_init=1.0)
    assert m.weight.std().item() == pytest.approx(100.0, rel=0.1)
    assert m.scale == pytest.approx(0.01 * math.sqrt(2.0 / 50))
    assert torch.allclose(m(x), x @ (m.weight * m.scale).T + 1.0, atol=1e-4)
    conv = EqualizedConv2d(3, 8, 3, padding=1, gain=1.0)
    assert conv.scale == pytest.approx(1.0 / math.sqrt(27))
    img = torch.randn(2, 3, 5, 5)
    assert torch.allclose(conv(img), F.conv2d(img, conv.weight / math.sqrt(27), conv.bias, padding=1), atol=1e-5)
    # the gradient reaching the stored weight carries the scale (what equalises Adam's steps)
    conv(img).sum().backward()
    w = (conv.weight.detach() / math.sqrt(27)).requires_grad_()
    F.conv2d(img, w, conv.bias.detach(), padding=1).sum().backward()
    assert torch.allclose(conv.weight.grad, w.grad / math.sqrt(27), atol=1e-5)


# ------------------------------------------------------------------ pixel norm, minibatch stddev, fade-in
def test_pixel_norm_gives_unit_rms_over_channels():
    x = torch.tensor([[[[3.0]], [[4.0]]], [[[0.0]], [[2.0]]]])  # (2, 2, 1, 1)
    out = PixelNorm(eps=0.0)(x)
    assert torch.allclose(out[0, :, 0, 0], torch.tensor([3.0, 4.0]) / math.sqrt(12.5))
    assert torch.allclose(out[1, :, 0, 0], torch.tensor([0.0, 2.0]) / math.sqrt(2.0))
    y = PixelNorm()(torch.randn(4, 16, 3, 3))
    assert torch.allclose(y.pow(2).mean(1), torch.ones(4, 3, 3), atol=1e-5)


def test_minibatch_stddev_channel_on_a_hand_made_batch():
    """Batch of 4, one channel, 1x2 pixels; with groups of 2 the groups are samples {0, 2} and {1, 3} (sample i
    in group i mod 2). Group {0, 2}: the first pixel's values 0, 2 (std 1), the second's 1, 5 (std 2): mean 1.5.
    Group {1, 3}: 4, 4 (std 0) and 0, 6 (std 3): mean 1.5. Biased standard deviations, as in the paper."""
    x = torch.tensor([[0.0, 1.0], [4.0, 0.0], [2.0, 5.0], [4.0, 6.0]]).view(4, 1, 1, 2)
    out = MinibatchStdDev(group_size=2, eps=0.0)(x)
    assert out.shape == (4, 2, 1, 2) and torch.equal(out[:, :1], x)
    assert torch.allclose(out[:, 1], torch.full((4, 1, 2), 1.5))
    x[3, 0, 0, 1] = 8.0  # group {1, 3}: (4, 4) -> 0, (0, 8) -> 4: mean 2
    out = MinibatchStdDev(group_size=2, eps=0.0)(x)
    assert torch.allclose(out[[0, 2], 1], torch.full((2, 1, 2), 1.5))
    assert torch.allclose(out[[1, 3], 1], torch.full((2, 1, 2), 2.0))
    whole = MinibatchStdDev(group_size=3, eps=0.0)(x)  # 3 does not divide 4: one group
    a = torch.tensor([0.0, 4.0, 2.0, 4.0]).std(unbiased=False)
    b = torch.tensor([1.0, 0.0, 5.0, 8.0]).std(unbiased=False)
    assert torch.allclose(whole[:, 1], ((a + b) / 2).expand(4, 1, 2))


def test_fade_in_blends_from_old_to_new():
    old, new = torch.zeros(2, 3), torch.ones(2, 3) * 4
    assert torch.equal(fade_in(0.0, old, new), old)
    assert torch.equal(fade_in(1.0, old, new), new)
    assert torch.allclose(fade_in(torch.tensor(0.25), old, new), torch.ones(2, 3))


# ------------------------------------------------------------------ style-based generator parts
def test_adain_output_statistics_are_the_style():
    torch.manual_seed(1)
    layer = AdaIN(channels=3, w_dim=6)
    x = torch.randn(4, 3, 8, 8) * 5 + 2
    w = torch.randn(4, 6)
    ys, yb = layer.style(w)
    out = layer(x, w)
    assert torch.allclose(out.mean(dim=(2, 3)), yb, atol=1e-4)
    assert torch.allclose(out.std(dim=(2, 3), unbiased=False), ys.abs(), atol=1e-3)
    # at init the style's scale is 1 + (a term linear in w) and its bias linear in w
    zero = torch.zeros(1, 6)
    s0, b0 = layer.style(zero)
    assert torch.allclose(s0, torch.ones(1, 3)) and torch.allclose(b0, torch.zeros(1, 3))


def test_noise_injection_starts_silent_and_scales_per_channel():
    layer = NoiseInjection(2)
    x = torch.randn(3, 2, 4, 4)
    assert torch.equal(layer(x), x)
    with torch.no_grad():
        layer.scale.copy_(torch.tensor([0.0, 2.0]))
    noise = torch.randn(3, 1, 4, 4)
    out = layer(x, noise)
    assert torch.equal(out[:, 0], x[:, 0]) and torch.allclose(out[:, 1], x[:, 1] + 2 * noise[:, 0])


def test_style_mixing_uses_the_second_latent_from_the_crossover_on_and_truncation():
    w1, w2 = torch.zeros(2, 3), torch.ones(2, 3)
    ws = mix_styles(w1, w2, layers=5, crossover=2)
    assert torch.equal(ws[:, :2], torch.zeros(2, 2, 3)) and torch.equal(ws[:, 2:], torch.ones(2, 3, 3))
    assert torch.equal(mix_styles(w1, w2, 5, 0), torch.ones(2, 5, 3))
    with pytest.raises(ValueError, match="crossover"):
        mix_styles(w1, w2, 5, 6)
    w_avg = torch.tensor([0.5, -1.0, 2.0])
    ws = torch.randn(2, 4, 3)
    assert torch.allclose(truncate_w(ws, w_avg, 0.0), w_avg.expand(2, 4, 3))
    assert torch.allclose(truncate_w(ws, w_avg, 1.0), ws, atol=1e-6)
    half = truncate_w(ws, w_avg, 0.5, cutoff=2)
    assert torch.allclose(half[:, :2], w_avg + 0.5 * (ws[:, :2] - w_avg)) and torch.equal(half[:, 2:], ws[:, 2:])
