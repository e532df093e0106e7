"""FID, KID and Inception Score math against closed forms, scipy and torch-fidelity.

The scipy/numpy references use D <= 128 (and torch-built matrices up to D = 512) because OpenBLAS/LAPACK
at D >= 256 is very slow on a 2-core CPU shared with other jobs. Set GANKIT_SLOW_TESTS=1 to also run
the D = 2048 scipy.linalg.sqrtm comparison (minutes on 2 cores).
"""
import math
import os
import warnings

import numpy as np
import pytest
import torch

from gankit.errors import GankitError
from gankit.metrics import kid as kid_module
from gankit.metrics.frechet import feature_statistics, fid_from_features, frechet_distance
from gankit.metrics.inception_score import inception_score
from gankit.metrics.kid import kernel_inception_distance

scipy_linalg = pytest.importorskip("scipy.linalg")


pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------------------------------------------
# FID
# ----------------------------------------------------------------------------------------------------

def _np_stats(x):
    return x.mean(axis=0), np.cov(x, rowvar=False)


def _scipy_fid(mu1, s1, mu2, s2):
    """Reference FID with scipy's general matrix square root of S1 S2; also returns how well that
    square root reproduces S1 S2 (relative residual) and the size of its imaginary part."""
    prod = s1 @ s2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        root = scipy_linalg.sqrtm(prod)
    resid = np.linalg.norm(root @ root - prod) / np.linalg.norm(prod)
    imag = float(np.abs(np.imag(root)).max()) if np.iscomplexobj(root) else 0.0
    d = mu1 - mu2
    fid = float(d @ d + np.trace(s1) + np.trace(s2) - 2 * np.trace(root).real)
    return fid, resid, imag


def _well_conditioned(d, n, seed):
    rng = np.random.default_rng(seed)
    mix1 = np.eye(d) + 0.5 * rng.standard_normal((d, d)) / np.sqrt(d)
    mix2 = 1.2 * np.eye(d) + 0.5 * rng.standard_normal((d, d)) / np.sqrt(d)
    x = rng.standard_normal((n, d)) @ mix1 + rng.standard_normal(d)
    y = rng.standard_normal((n, d)) @ mix2 + 0.3 * rng.standard_normal(d)
    return x, y


@pytest.mark.parametrize("d,n", [(8, 50), (64, 300), (128, 400)])
def test_fid_matches_scipy_sqrtm_well_conditioned(d, n):
    x, y = _well_conditioned(d, n, seed=d)
    mu1, s1 = _np_stats(x)
    mu2, s2 = _np_stats(y)
    ref, resid, imag = _scipy_fid(mu1, s1, mu2, s2)
    assert resid < 1e-10 and imag < 1e-8  # the reference itself is sound here
    ours = frechet_distance(mu1, s1, mu2, s2)
    assert isinstance(ours, float)
    assert ours == pytest.approx(ref, rel=1e-6)
    # the features route gives the same number (statistics computed in torch, float64)
    assert fid_from_features(torch.from_numpy(x), torch.from_numpy(y)) == pytest.approx(ref, rel=1e-6)


@pytest.mark.skipif(os.environ.get("GANKIT_SLOW_TESTS") != "1", reason="D=2048 sqrtm takes minutes; GANKIT_SLOW_TESTS=1")
def test_fid_matches_scipy_sqrtm_d2048():
    x, y = _well_conditioned(2048, 2600, seed=2048)
    mu1, s1 = _np_stats(x)
    mu2, s2 = _np_stats(y)
    ref, resid, imag = _scipy_fid(mu1, s1, mu2, s2)
    assert resid < 1e-8
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-6)


def test_feature_statistics_match_numpy():
    x, _ = _well_conditioned(16, 40, seed=1)
    mu, sigma = feature_statistics(torch.from_numpy(x).float())
    assert mu.dtype == torch.float64 and sigma.dtype == torch.float64
    np_mu, np_sigma = _np_stats(torch.from_numpy(x).float().double().numpy())
    np.testing.assert_allclose(mu.numpy(), np_mu, rtol=0, atol=1e-12)
    np.testing.assert_allclose(sigma.numpy(), np_sigma, rtol=0, atol=1e-12)  # N - 1 divisor, like np.cov


def _rank_deficient_cases():
    rng = np.random.default_rng(7)
    d = 64
    out = {}
    out["n_lt_d"] = (rng.standard_normal((40, d)), rng.standard_normal((40, d)) + 0.2)
    x = rng.standard_normal((300, d))
    y = 1.1 * rng.standard_normal((300, d))
    x[:, 10:20] = x[:, 0:10]  # duplicated features
    y[:, 10:20] = y[:, 0:10]
    out["duplicated"] = (x, y)
    x = np.maximum(rng.standard_normal((300, d)) - 0.5, 0)  # post-ReLU with dead units
    y = np.maximum(rng.standard_normal((300, d)) - 0.4, 0)
    x[:, :16] = 0
    y[:, :16] = 0
    out["dead_relu"] = (x, y)
    x = rng.standard_normal((300, d))
    x[:, 5] = 3.0  # a constant (zero-variance) column in one set only
    out["zero_column"] = (x, rng.standard_normal((300, d)))
    return out


@pytest.mark.parametrize("case", ["n_lt_d", "duplicated", "dead_relu", "zero_column"])
def test_fid_rank_deficient_finite_and_agrees_with_scipy_where_sound(case):
    x, y = _rank_deficient_cases()[case]
    mu1, s1 = _np_stats(x)
    mu2, s2 = _np_stats(y)
    assert np.linalg.matrix_rank(s1) < s1.shape[0]
    ours = frechet_distance(mu1, s1, mu2, s2)
    assert isinstance(ours, float) and math.isfinite(ours) and ours >= 0
    ref, resid, imag = _scipy_fid(mu1, s1, mu2, s2)
    scale = float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2))
    if resid < 1e-6 and imag < 1e-4 * math.sqrt(scale):  # scipy's sqrtm is usable here
        assert ours == pytest.approx(ref, rel=1e-6, abs=1e-9 * scale)
    # rank-deficient only in the first argument, and symmetric in its arguments
    assert frechet_distance(mu2, s2, mu1, s1) == pytest.approx(ours, rel=1e-6, abs=1e-9 * scale)


def test_fid_n_less_than_d_matches_gram_reference():
    # With S1 = Xc^T Xc / (n-1) (n < D), the non-zero eigenvalues of S1 S2 are those of the small
    # n x n matrix Xc S2 Xc^T / (n-1), whose one structural zero (from centring) is dropped: an
    # independent, well-conditioned route to tr((S1 S2)^1/2). scipy's sqrtm of the singular D x D
    # product is ~1e-8 off here (sqrt of round-off in the null space); this route agrees to ~1e-10.
    x, y = _rank_deficient_cases()["n_lt_d"]
    mu1, s1 = _np_stats(x)
    mu2, s2 = _np_stats(y)
    xc = x - x.mean(axis=0)
    small = xc @ s2 @ xc.T / (len(x) - 1)
    ev = np.sort(np.linalg.eigvalsh(0.5 * (small + small.T)))[1:]
    d = mu1 - mu2
    expected = float(d @ d + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(ev, 0, None)).sum())
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)


def test_fid_identical_statistics_is_zero_even_rank_deficient():
    rng = np.random.default_rng(3)
    for x in (rng.standard_normal((500, 32)), rng.standard_normal((20, 64))):
        mu, s = _np_stats(x)
        scale = 2 * np.trace(s)
        v = frechet_distance(mu, s, mu, s)
        assert 0.0 <= v <= 1e-10 * scale
    # only round-off is clamped: non-PSD "covariances" are rejected
    with pytest.raises(GankitError, match="negative variances"):
        frechet_distance(np.zeros(3), -np.eye(3), np.zeros(3), np.eye(3))
    with pytest.raises(GankitError, match="positive semi-definite"):
        # eigenvalues (1, 1, -1.5), positive diagonal: d^2 = 3 + 0.5 - 2 * 2 = -0.5
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(3) - 2.5 / 3 * np.ones((3, 3)))


def test_fid_translation_only_is_squared_mean_difference():
    x, _ = _well_conditioned(32, 200, seed=5)
    mu, s = _np_stats(x)
    delta = np.linspace(-1.0, 2.0, 32)
    assert frechet_distance(mu, s, mu + delta, s) == pytest.approx(float(delta @ delta), rel=1e-9)


def test_fid_commuting_covariances_closed_form():
    rng = np.random.default_rng(11)
    d = 48
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    a = rng.uniform(0.1, 3.0, d)
    b = rng.uniform(0.1, 3.0, d)
    a[:5] = 0.0  # rank deficient too
    s1, s2 = (q * a) @ q.T, (q * b) @ q.T
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    expected = float((mu1 - mu2) @ (mu1 - mu2) + a.sum() + b.sum() - 2 * np.sqrt(a * b).sum())
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)
    # diagonal case: FID = ||dmu||^2 + sum (sqrt a_i - sqrt b_i)^2
    expected_diag = float((mu1 - mu2) @ (mu1 - mu2) + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum())
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected_diag, rel=1e-9)


def test_fid_non_commuting_closed_form_d512():
    # S1 = A^2, S2 = A^-1 C^2 A^-1 with A, C symmetric PD built from different rotations, so S1 and S2
    # do not commute but S1^1/2 S2 S1^1/2 = C^2 and tr((S1 S2)^1/2) = tr C exactly.
    g = torch.Generator().manual_seed(12)
    d = 512
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    r, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    a = torch.rand(d, generator=g, dtype=torch.float64) * 1.5 + 0.5
    c = torch.rand(d, generator=g, dtype=torch.float64) * 2.9 + 0.1
    root_a, inv_root_a = (q * a.sqrt()) @ q.T, (q / a.sqrt()) @ q.T
    s1 = root_a @ root_a
    s2 = inv_root_a @ ((r * c**2) @ r.T) @ inv_root_a
    assert torch.linalg.norm(s1 @ s2 - s2 @ s1) > 1e-2 * torch.linalg.norm(s1 @ s2)
    expected = float(torch.trace(s1) + torch.trace(s2) - 2 * c.sum())
    assert frechet_distance(torch.zeros(d), s1, torch.zeros(d), s2) == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize("d,n", [(16, 100), (128, 400)])
def test_fid_parity_with_torch_fidelity(d, n):
    tf_fid = pytest.importorskip("torch_fidelity.metric_fid")
    x, y = _well_conditioned(d, n, seed=100 + d)
    st1 = tf_fid.fid_features_to_statistics(torch.from_numpy(x))
    st2 = tf_fid.fid_features_to_statistics(torch.from_numpy(y))
    theirs = tf_fid.fid_statistics_to_metric(st1, st2, False)[tf_fid.KEY_METRIC_FID]
    ours = frechet_distance(st1["mu"], st1["sigma"], st2["mu"], st2["sigma"])
    assert ours == pytest.approx(theirs, rel=1e-6)


def test_fid_input_errors():
    with pytest.raises(GankitError, match="shape"):
        frechet_distance(np.zeros(3), np.eye(4), np.zeros(3), np.eye(3))
    with pytest.raises(GankitError, match="feature dimensions"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(GankitError, match="feature dimensions"):
        fid_from_features(torch.randn(10, 3), torch.randn(10, 4))
    with pytest.raises(GankitError, match="at least 2"):
        feature_statistics(torch.randn(1, 3))
    with pytest.raises(GankitError, match=r"\(N, D\)"):
        fid_from_features(torch.randn(10), torch.randn(10))
    with pytest.raises(GankitError, match="NaN"):
        fid_from_features(torch.full((10, 3), float("nan")), torch.randn(10, 3))


# ----------------------------------------------------------------------------------------------------
# KID
# ----------------------------------------------------------------------------------------------------

def _plain_mmd2(x, y, degree=3, gamma=None, coef0=1.0):
    """Unbiased MMD^2 with the polynomial kernel, written out with loops (tiny inputs only)."""
    m, d = len(x), len(x[0])
    g = 1.0 / d if gamma is None else gamma

    def k(a, b):
        return (g * sum(ai * bi for ai, bi in zip(a, b)) + coef0) ** degree

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_single_full_subset_matches_plain_formula():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(7, 4, generator=g, dtype=torch.float64)
    y = torch.randn(7, 4, generator=g, dtype=torch.float64) + 0.5
    mean, std = kernel_inception_distance(x, y, subsets=1, subset_size=100)  # size reduced to 7
    assert mean == pytest.approx(_plain_mmd2(x.tolist(), y.tolist()), rel=1e-12)
    assert std == 0.0
    mean2, _ = kernel_inception_distance(x, y, subsets=1, subset_size=7, degree=2, gamma=0.3, coef0=0.5)
    assert mean2 == pytest.approx(_plain_mmd2(x.tolist(), y.tolist(), 2, 0.3, 0.5), rel=1e-12)


def test_kid_subsets_follow_documented_protocol(monkeypatch):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(12, 3, generator=g, dtype=torch.float64)
    y = torch.randn(10, 3, generator=g, dtype=torch.float64) * 1.5
    subsets, m, seed = 5, 4, 123
    gen = torch.Generator().manual_seed(seed)
    vals = []
    for _ in range(subsets):  # randperm of the real set, then of the fake set, per subset
        ir = torch.randperm(12, generator=gen)[:m]
        jf = torch.randperm(10, generator=gen)[:m]
        vals.append(_plain_mmd2(x[ir].tolist(), y[jf].tolist()))
    mean, std = kernel_inception_distance(x, y, subsets=subsets, subset_size=m, seed=seed)
    assert mean == pytest.approx(float(np.mean(vals)), rel=1e-12)
    assert std == pytest.approx(float(np.std(vals)), rel=1e-10)  # population std (ddof = 0)
    # batching over subsets does not change anything: force one subset per chunk
    monkeypatch.setattr(kid_module, "_CHUNK_ELEMENTS", 1)
    assert kernel_inception_distance(x, y, subsets=subsets, subset_size=m, seed=seed) == (mean, std)
    # same seed -> same draws, another seed -> other draws
    monkeypatch.undo()
    assert kernel_inception_distance(x, y, subsets=subsets, subset_size=m, seed=seed) == (mean, std)
    assert kernel_inception_distance(x, y, subsets=subsets, subset_size=m, seed=seed + 1)[0] != mean


def test_kid_same_distribution_is_near_zero_shifted_is_not():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2000, 16, generator=g)
    y = torch.randn(2000, 16, generator=g)
    mean, std = kernel_inception_distance(x, y, subsets=20, subset_size=400)
    shifted, _ = kernel_inception_distance(x, y + 0.5, subsets=20, subset_size=400)
    # per-subset std is ~1e-3 here; the mean over 20 (dependent) subsets of an unbiased estimator
    # of 0 stays within a few std / sqrt(20) of 0, while a 0.5 shift gives ~0.1
    assert abs(mean) < 2e-3
    assert abs(mean) < 3 * std
    assert shifted > 50 * abs(mean) and shifted > 0.05


def test_kid_parity_with_torch_fidelity():
    tf_kid = pytest.importorskip("torch_fidelity.metric_kid")
    g = torch.Generator().manual_seed(3)
    x = torch.randn(300, 64, generator=g, dtype=torch.float64).relu()
    y = (torch.randn(300, 64, generator=g, dtype=torch.float64) * 1.1 + 0.1).relu()
    theirs = tf_kid.kid_features_to_metric(x, y, kid_subsets=1, kid_subset_size=300, verbose=False)
    mean, std = kernel_inception_distance(x, y, subsets=1, subset_size=300)
    assert mean == pytest.approx(theirs[tf_kid.KEY_METRIC_KID_MEAN], rel=1e-6)
    assert std == theirs[tf_kid.KEY_METRIC_KID_STD] == 0.0


def test_kid_input_errors():
    x = torch.randn(10, 3)
    with pytest.raises(GankitError, match="feature dimensions"):
        kernel_inception_distance(x, torch.randn(10, 4))
    with pytest.raises(GankitError, match="subset_size"):
        kernel_inception_distance(x, x, subset_size=1)
    with pytest.raises(GankitError, match="subsets"):
        kernel_inception_distance(x, x, subsets=0)
    with pytest.raises(GankitError, match="at least 2"):
        kernel_inception_distance(torch.randn(1, 3), x)


# ----------------------------------------------------------------------------------------------------
# Inception Score
# ----------------------------------------------------------------------------------------------------

def _numpy_is(logits, splits):
    """Plain per-split reference: consecutive chunks, IS = exp(mean_x KL(p(y|x) || p(y)))."""
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    n = len(p)
    scores = []
    for i in range(splits):
        chunk = p[i * n // splits:(i + 1) * n // splits]
        marg = chunk.mean(axis=0)
        scores.append(math.exp(np.mean(np.sum(chunk * (np.log(chunk) - np.log(marg)), axis=1))))
    return float(np.mean(scores)), float(np.std(scores))


def test_is_uniform_predictions_is_one():
    mean, std = inception_score(torch.zeros(100, 10), splits=5)
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)
    mean, _ = inception_score(torch.full((100, 10), 0.1), splits=5, probs=True)
    assert mean == pytest.approx(1.0, abs=1e-12)


def test_is_one_hot_spread_equally_is_k():
    k = 10
    labels = torch.arange(200) % k  # every split of 20 consecutive samples holds each class twice
    onehot = torch.nn.functional.one_hot(labels, k).double()
    mean, std = inception_score(onehot, splits=10, probs=True)  # exact zeros: 0 log 0 = 0
    assert mean == pytest.approx(k, rel=1e-12) and std == pytest.approx(0.0, abs=1e-10)
    mean, _ = inception_score(60.0 * onehot, splits=10)  # near-one-hot logits
    assert mean == pytest.approx(k, rel=1e-12)


def test_is_matches_numpy_reference_uneven_splits():
    g = torch.Generator().manual_seed(4)
    logits = torch.randn(1003, 12, generator=g, dtype=torch.float64) * 3
    ref = _numpy_is(logits.numpy(), 10)
    mean, std = inception_score(logits, splits=10)
    assert mean == pytest.approx(ref[0], rel=1e-12)
    assert std == pytest.approx(ref[1], rel=1e-9)
    # probabilities give the same numbers
    mean_p, std_p = inception_score(torch.softmax(logits, dim=1), splits=10, probs=True)
    assert mean_p == pytest.approx(mean, rel=1e-12) and std_p == pytest.approx(std, rel=1e-9)


def test_is_parity_with_torch_fidelity():
    tf_isc = pytest.importorskip("torch_fidelity.metric_isc")
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(1003, 1008, generator=g) * 4
    theirs = tf_isc.isc_features_to_metric(logits, splits=10, shuffle=False)
    mean, std = inception_score(logits, splits=10)
    assert mean == pytest.approx(theirs[tf_isc.KEY_METRIC_ISC_MEAN], rel=1e-6)
    assert std == pytest.approx(theirs[tf_isc.KEY_METRIC_ISC_STD], rel=1e-6)


def test_is_input_errors():
    with pytest.raises(GankitError, match="per split"):
        inception_score(torch.zeros(5, 3), splits=10)
    with pytest.raises(GankitError, match=r"\(N, K\)"):
        inception_score(torch.zeros(5), splits=1)
    with pytest.raises(GankitError, match="non-negative"):
        inception_score(-torch.ones(5, 3), splits=1, probs=True)
    with pytest.raises(GankitError, match="NaN"):
        inception_score(torch.full((5, 3), float("nan")), splits=1)
