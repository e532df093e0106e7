"""Stacked-MNIST mode counting (1000 modes) against hand-computed values."""
import math

import pytest
import torch

from gankit.errors import GankitError
from gankit.metrics.stacked_mnist import stacked_mnist_modes


def test_stacked_mnist_all_modes_equally():
    ids = torch.arange(1000).repeat(3)
    digits = torch.stack([ids // 100, ids // 10 % 10, ids % 10], dim=1)
    out = stacked_mnist_modes(digits)
    assert out == {"modes": 1000, "kl": pytest.approx(0.0, abs=1e-12), "num_samples": 3000}


def test_stacked_mnist_single_mode():
    out = stacked_mnist_modes(torch.tensor([[4, 0, 7]]).repeat(500, 1))
    assert out["modes"] == 1 and out["num_samples"] == 500
    assert out["kl"] == pytest.approx(math.log(1000), rel=1e-12)


def test_stacked_mnist_hand_computed():
    # 3 samples in mode 12, 1 in mode 210: distinct modes although their digits are permutations
    digits = torch.tensor([[0, 1, 2], [0, 1, 2], [0, 1, 2], [2, 1, 0]])
    out = stacked_mnist_modes(digits)
    assert out["modes"] == 2
    # KL(p_gen || U) = 0.75 log(0.75 * 1000) + 0.25 log(0.25 * 1000)
    assert out["kl"] == pytest.approx(0.75 * math.log(750) + 0.25 * math.log(250), rel=1e-12)
    assert out["kl"] == pytest.approx(6.345420, abs=1e-6)
    # with half of the modes used equally: KL = log 2
    ids = torch.arange(0, 1000, 2)
    half = stacked_mnist_modes(torch.stack([ids // 100, ids // 10 % 10, ids % 10], dim=1))
    assert half["modes"] == 500 and half["kl"] == pytest.approx(math.log(2), rel=1e-12)


def test_stacked_mnist_errors():
    with pytest.raises(GankitError, match=r"\(N, 3\)"):
        stacked_mnist_modes(torch.zeros(5, 2, dtype=torch.long))
    with pytest.raises(GankitError, match="0..9"):
        stacked_mnist_modes(torch.tensor([[0, 10, 1]]))
    with pytest.raises(GankitError, match="integer"):
        stacked_mnist_modes(torch.zeros(4, 3))
