import math

import pytest
import torch

from gankit.errors import ConfigError
from gankit.metrics import METRICS, default_min_count, toy_eval, toy_mode_metrics

SIGMA = 0.05


def grid_modes():
    """The 5x5 grid of the VEEGAN/PacGAN 2D-grid toy: centres at {-4,-2,0,2,4}^2."""
    v = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
    return torch.cartesian_prod(v, v)  # (25, 2)


def test_registered():
    assert "toy_modes" in METRICS
    assert METRICS.get("toy_modes") is toy_mode_metrics
    with pytest.raises(ConfigError):
        METRICS.get("toy_mode")


def test_default_min_count_reproduces_protocol_and_scales():
    assert default_min_count(2500) == 1
    assert default_min_count(100) == 1
    assert default_min_count(2501) == 2  # count >= N/2500  <=>  count >= ceil(N/2500)
    assert default_min_count(5000) == 2
    assert default_min_count(25000) == 10


def test_samples_at_centres_all_modes_uniform():
    modes = grid_modes()
    samples = modes.repeat(100, 1)  # 2500 samples, exactly 100 at each centre
    r = toy_mode_metrics(samples, modes, SIGMA)
    assert r["modes_captured"] == 25
    assert r["num_modes"] == 25
    assert r["num_samples"] == 2500
    assert r["high_quality_pct"] == 100.0
    assert r["hq_counts"] == [100] * 25
    assert r["reverse_kl"] == pytest.approx(0.0, abs=1e-12)
    assert r["protocol"]["min_count"] == 1
    assert r["protocol"]["hq_threshold"] == 3.0
    assert r["protocol"]["num_samples"] == 2500
    assert "nearest mode" in r["protocol"]["rule"]


def test_all_samples_in_one_mode_kl_is_log_k():
    modes = grid_modes()
    samples = modes[7].expand(2500, 2) + 0.01  # well inside 3 sigma = 0.15
    r = toy_mode_metrics(samples, modes, SIGMA)
    assert r["modes_captured"] == 1
    assert r["high_quality_pct"] == 100.0
    assert r["reverse_kl"] == math.log(25)
    assert r["hq_counts"][7] == 2500


def test_half_far_away_is_half_high_quality():
    modes = grid_modes()
    good = modes.repeat(40, 1)  # 1000 samples, 40 per mode
    far = torch.full((1000, 2), 100.0)
    r = toy_mode_metrics(torch.cat([good, far]), modes, SIGMA)
    assert r["high_quality_pct"] == 50.0
    assert r["modes_captured"] == 25
    # low-quality samples are excluded from the histogram: still perfectly uniform
    assert r["reverse_kl"] == pytest.approx(0.0, abs=1e-12)
    assert sum(r["hq_counts"]) == 1000


def test_two_modes_three_to_one_kl():
    modes = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    samples = torch.cat([modes[0].expand(300, 2), modes[1].expand(100, 2)])
    r = toy_mode_metrics(samples, modes, 1.0)
    expected = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)  # = 0.1308120359...
    assert r["reverse_kl"] == pytest.approx(expected, rel=1e-12)
    assert r["reverse_kl"] == pytest.approx(0.1308120359, abs=1e-9)
    assert r["modes_captured"] == 2


def test_empty_modes_contribute_zero():
    modes = torch.tensor([[0.0, 0.0], [10.0, 0.0], [20.0, 0.0], [30.0, 0.0]])
    samples = torch.cat([modes[0].expand(30, 2), modes[1].expand(10, 2)])
    r = toy_mode_metrics(samples, modes, 1.0)
    # p = (3/4, 1/4, 0, 0), q = 1/4 each
    expected = 0.75 * math.log(3.0) + 0.25 * math.log(1.0)
    assert r["reverse_kl"] == pytest.approx(expected, rel=1e-12)
    assert r["modes_captured"] == 2


def test_min_count_threshold():
    modes = torch.tensor([[0.0, 0.0], [10.0, 0.0], [20.0, 0.0]])
    samples = torch.cat([modes[0].expand(20, 2), modes[1].expand(19, 2), modes[2].expand(1, 2)])
    assert toy_mode_metrics(samples, modes, 1.0, min_count=20)["modes_captured"] == 1
    assert toy_mode_metrics(samples, modes, 1.0, min_count=19)["modes_captured"] == 2
    assert toy_mode_metrics(samples, modes, 1.0)["modes_captured"] == 3  # default: >= 1 of 40
    r = toy_mode_metrics(samples, modes, 1.0, min_count=20)
    assert r["protocol"]["min_count"] == 20


def test_default_min_count_scales_with_n():
    modes = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    # N = 5000 -> default min_count 2: a mode with a single HQ sample is not captured
    samples = torch.cat([modes[0].expand(4999, 2), modes[1].expand(1, 2)])
    r = toy_mode_metrics(samples, modes, 1.0)
    assert r["protocol"]["min_count"] == 2
    assert r["modes_captured"] == 1
    assert r["hq_counts"] == [4999, 1]


def test_hq_threshold_boundary_and_low_quality_not_counted():
    modes = torch.tensor([[0.0, 0.0], [100.0, 0.0]])
    # distances 2.9, 3.0 (inclusive) and 3.1 sigma from mode 0
    samples = torch.tensor([[2.9, 0.0], [0.0, 3.0], [3.1, 0.0], [0.0, -3.1]])
    r = toy_mode_metrics(samples, modes, 1.0)
    assert r["high_quality_pct"] == 50.0
    assert r["hq_counts"] == [2, 0]
    assert r["modes_captured"] == 1
    r2 = toy_mode_metrics(samples, modes, 1.0, hq_threshold=4.0)
    assert r2["high_quality_pct"] == 100.0


def test_no_high_quality_samples_and_non_finite():
    modes = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    far = torch.full((10, 2), 100.0)
    r = toy_mode_metrics(far, modes, 1.0)
    assert r["modes_captured"] == 0
    assert r["high_quality_pct"] == 0.0
    assert math.isnan(r["reverse_kl"])

    samples = torch.tensor([[0.0, 0.0], [float("nan"), 0.0], [float("inf"), 1.0], [10.0, 0.0]])
    r = toy_mode_metrics(samples, modes, 1.0)
    assert r["high_quality_pct"] == 50.0
    assert r["hq_counts"] == [1, 1]
    assert r["reverse_kl"] == pytest.approx(0.0, abs=1e-12)


def test_dtype_and_alias():
    modes = grid_modes()
    samples = modes.repeat(4, 1).to(torch.float16)
    r = toy_eval(samples, modes.double(), SIGMA)
    assert r["modes_captured"] == 25
    assert isinstance(r["reverse_kl"], float)
    assert isinstance(r["modes_captured"], int)


@pytest.mark.parametrize(
    "samples, modes, sigma, kw",
    [
        (torch.zeros(3), torch.zeros(2, 2), 1.0, {}),
        (torch.zeros(3, 2), torch.zeros(2, 3), 1.0, {}),
        (torch.zeros(0, 2), torch.zeros(2, 2), 1.0, {}),
        (torch.zeros(3, 2), torch.zeros(0, 2), 1.0, {}),
        (torch.zeros(3, 2), torch.zeros(2, 2), 0.0, {}),
        (torch.zeros(3, 2), torch.zeros(2, 2), 1.0, {"min_count": 0}),
        (torch.zeros(3, 2), torch.zeros(2, 2), 1.0, {"hq_threshold": -1.0}),
    ],
)
def test_bad_inputs(samples, modes, sigma, kw):
    with pytest.raises(ValueError):
        toy_mode_metrics(samples, modes, sigma, **kw)
