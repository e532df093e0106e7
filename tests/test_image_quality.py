"""PSNR / SSIM against closed forms and scikit-image."""
import math

import pytest
import torch

from gankit.errors import GankitError
from gankit.metrics.image_quality import psnr, ssim


pytestmark = pytest.mark.usefixtures("one_thread")


def _images(n, c, h, w, seed, noise=0.2):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, c, h, w, generator=g, dtype=torch.float64) * 2 - 1
    y = (x + noise * torch.randn(n, c, h, w, generator=g, dtype=torch.float64)).clamp(-1, 1)
    return x, y


# ----------------------------------------------------------------------------------------------------
# PSNR
# ----------------------------------------------------------------------------------------------------

def test_psnr_identical_is_inf():
    x, _ = _images(3, 3, 8, 8, 0)
    out = psnr(x, x.clone())
    assert out.shape == (3,) and bool(torch.isinf(out).all()) and bool((out > 0).all())


def test_psnr_closed_form():
    x = torch.zeros(3, 2, 4, 5)
    y = x.clone()
    y[0] += 0.1  # MSE 0.01
    y[1, 0] += 0.5  # half of the values off by 0.5: MSE 0.125
    y[2, :, 0, 0] = 1.0  # 2 of 40 values off by 1: MSE 0.05
    expected = [10 * math.log10(4 / 0.01), 10 * math.log10(4 / 0.125), 10 * math.log10(4 / 0.05)]
    assert psnr(x, y).tolist() == pytest.approx(expected, rel=1e-6)
    assert psnr(x, y, data_range=1.0).tolist() == pytest.approx([10 * math.log10(1 / 0.01), 10 * math.log10(8),
                                                                 10 * math.log10(20)], rel=1e-6)
    assert psnr(x, y)[0].item() == pytest.approx(26.0206, abs=1e-4)


# ----------------------------------------------------------------------------------------------------
# SSIM
# ----------------------------------------------------------------------------------------------------

def test_ssim_identical_is_one():
    x, _ = _images(4, 3, 16, 16, 1)
    assert torch.allclose(ssim(x, x.clone()), torch.ones(4, dtype=torch.float64), rtol=0, atol=1e-12)


def test_ssim_constant_images_closed_form():
    # constant images: all local variances/covariances vanish, the structure term is C2 / C2 = 1 and
    # SSIM = (2ab + C1) / (a^2 + b^2 + C1) with C1 = (0.01 * 2)^2
    a, b = 0.3, -0.2
    x = torch.full((1, 1, 12, 12), a, dtype=torch.float64)
    y = torch.full((1, 1, 12, 12), b, dtype=torch.float64)
    c1 = (0.01 * 2.0) ** 2
    assert ssim(x, y).item() == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), rel=1e-9)
    # a constant image a against a checkerboard a +- 0.1 (12 x 12, so a 2 x 2 valid interior): with e the
    # weight of the even offsets of the 1-D window, a centre's own phase gets 2-D weight p = e^2 + (1-e)^2,
    # so the local mean is a +- dm, dm = 0.1 (2p - 1), the local variance 0.01 - dm^2 (both phases),
    # the covariance with a constant is 0, and SSIM = luminance * C2 / (var + C2), averaged over the
    # two "+" and two "-" centres.
    z = torch.tensor([[a + 0.1, a - 0.1], [a - 0.1, a + 0.1]], dtype=torch.float64).repeat(6, 6)[None, None]
    window = torch.exp(-torch.arange(-5.0, 6.0, dtype=torch.float64) ** 2 / (2 * 1.5 ** 2))
    window = window / window.sum()
    e = window[0::2].sum()
    p = e * e + (1 - e) * (1 - e)
    dm = 0.1 * (2 * p - 1)
    var = 0.01 - dm * dm
    c2 = (0.03 * 2.0) ** 2
    lum = [(2 * a * (a + s * dm) + c1) / (a * a + (a + s * dm) ** 2 + c1) for s in (1, -1)]
    expected = (lum[0] + lum[1]) / 2 * c2 / (var + c2)
    assert ssim(torch.full_like(z, a), z).item() == pytest.approx(float(expected), rel=1e-9)


@pytest.mark.parametrize("size,channels", [(28, 1), (28, 3), (32, 1), (32, 3)])
def test_ssim_matches_skimage(size, channels):
    metrics = pytest.importorskip("skimage.metrics")
    x, y = _images(3, channels, size, size, seed=size + channels)
    ours = ssim(x, y)
    assert ours.shape == (3,)
    for i in range(3):
        ref = metrics.structural_similarity(x[i].numpy(), y[i].numpy(), gaussian_weights=True, sigma=1.5,
                                            use_sample_covariance=False, data_range=2.0, channel_axis=0)
        assert ours[i].item() == pytest.approx(ref, abs=1e-4)
        assert ours[i].item() == pytest.approx(ref, abs=1e-8)  # same float64 arithmetic, in fact


def test_ssim_matches_skimage_float32_non_square_other_range():
    metrics = pytest.importorskip("skimage.metrics")
    x, y = _images(2, 3, 28, 32, seed=5, noise=0.5)
    x01, y01 = ((x + 1) / 2).float(), ((y + 1) / 2).float()  # [0, 1] images, data_range 1
    ours = ssim(x01, y01, data_range=1.0)
    for i in range(2):
        ref = metrics.structural_similarity(x01[i].double().numpy(), y01[i].double().numpy(), gaussian_weights=True,
                                            sigma=1.5, use_sample_covariance=False, data_range=1.0, channel_axis=0)
        assert ours[i].item() == pytest.approx(ref, abs=1e-4)


def test_ssim_batch_and_symmetry():
    x, y = _images(5, 3, 16, 20, seed=6)
    batch = ssim(x, y)
    single = torch.cat([ssim(x[i:i + 1], y[i:i + 1]) for i in range(5)])
    assert torch.allclose(batch, single, rtol=0, atol=1e-14)
    assert torch.allclose(ssim(y, x), batch, rtol=0, atol=1e-14)
    assert bool((batch < 1).all()) and bool((batch > -1).all())
    # a channel average: SSIM of a 3-channel pair = mean of the 1-channel SSIMs
    per_channel = torch.stack([ssim(x[:, c:c + 1], y[:, c:c + 1]) for c in range(3)], dim=1).mean(dim=1)
    assert torch.allclose(batch, per_channel, rtol=0, atol=1e-14)


def test_image_quality_input_errors():
    x = torch.zeros(2, 1, 16, 16)
    with pytest.raises(GankitError, match="same shape"):
        psnr(x, torch.zeros(2, 1, 16, 15))
    with pytest.raises(GankitError, match=r"\(N, C, H, W\)"):
        ssim(torch.zeros(16, 16), torch.zeros(16, 16))
    with pytest.raises(GankitError, match="smaller than"):
        ssim(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8))
    with pytest.raises(GankitError, match="odd"):
        ssim(x, x, window_size=4)
    with pytest.raises(GankitError, match="data_range"):
        psnr(x, x, data_range=0)
