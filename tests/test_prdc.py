"""k-NN precision/recall and density/coverage against brute force, closed forms and torch-fidelity."""
import math

import numpy as np
import pytest
import torch

from gankit.errors import GankitError
from gankit.metrics.prdc import density_coverage, knn_radii, prdc, precision_recall

spatial = pytest.importorskip("scipy.spatial.distance")


pytestmark = pytest.mark.usefixtures("one_thread")


def brute_force(real, fake, k_pr, k_dc):
    """The four definitions written out on a float64 distance matrix."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    n, m = len(real), len(fake)
    d_rr = spatial.cdist(real, real)
    d_ff = spatial.cdist(fake, fake)
    d_fr = spatial.cdist(fake, real)  # (M, N)
    np.fill_diagonal(d_rr, np.inf)  # a point is not its own neighbour
    np.fill_diagonal(d_ff, np.inf)
    r_pr = np.sort(d_rr, axis=1)[:, k_pr - 1]
    r_dc = np.sort(d_rr, axis=1)[:, k_dc - 1]
    f_pr = np.sort(d_ff, axis=1)[:, k_pr - 1]
    precision = np.mean([any(d_fr[j, i] <= r_pr[i] for i in range(n)) for j in range(m)])
    recall = np.mean([any(d_fr[j, i] <= f_pr[j] for j in range(m)) for i in range(n)])
    density = sum(d_fr[j, i] <= r_dc[i] for i in range(n) for j in range(m)) / (k_dc * m)
    coverage = np.mean([any(d_fr[j, i] <= r_dc[i] for j in range(m)) for i in range(n)])
    return dict(precision=precision, recall=recall, density=density, coverage=coverage)


@pytest.mark.parametrize("seed,k_pr,k_dc", [(0, 3, 5), (1, 1, 2), (2, 4, 4), (3, 2, 7)])
def test_matches_brute_force_exactly(seed, k_pr, k_dc):
    g = torch.Generator().manual_seed(seed)
    real = torch.randn(60, 5, generator=g)
    fake = torch.randn(50, 5, generator=g) * 1.3 + 0.4
    ref = brute_force(real, fake, k_pr, k_dc)
    out = prdc(real, fake, k_pr=k_pr, k_dc=k_dc)
    assert out == ref  # counts, hence exactly equal fractions
    assert prdc(real, fake, k_pr=k_pr, k_dc=k_dc, chunk_size=7) == ref  # row chunking changes nothing
    assert precision_recall(real, fake, k=k_pr) == {"precision": ref["precision"], "recall": ref["recall"]}
    assert density_coverage(real, fake, k=k_dc) == {"density": ref["density"], "coverage": ref["coverage"]}


def test_large_common_offset_keeps_float32_exact():
    # ||a||^2 + ||b||^2 - 2ab in float32 around 1e3 would lose ~all precision; centring fixes it
    g = torch.Generator().manual_seed(4)
    real = torch.randn(80, 32, generator=g) + 1000.0
    fake = torch.randn(70, 32, generator=g) * 1.2 + 1000.2
    assert prdc(real, fake) == brute_force(real, fake, 3, 5)


def test_fake_equals_real():
    g = torch.Generator().manual_seed(5)
    real = torch.randn(500, 16, generator=g)
    out = prdc(real, real.clone(), k_pr=3, k_dc=5)
    # every fake point is the centre of a real ball (and vice versa): P = R = C = 1. Each real ball
    # B(X_i, NND_k) holds X_i itself plus exactly its k nearest neighbours (no ties in continuous data),
    # so sum_j sum_i 1[...] = N (k + 1) and density = (k + 1) / k, not 1.
    assert out["precision"] == out["recall"] == out["coverage"] == 1.0
    assert out["density"] == pytest.approx(6 / 5, abs=1e-12)
    assert density_coverage(real, real.clone(), k=2)["density"] == pytest.approx(3 / 2, abs=1e-12)


def test_same_distribution_density_one_and_coverage_closed_form():
    # Naeem et al. 2020: for fake ~ real, E[density] = 1 and
    # E[coverage] = 1 - prod_{i=1..k} (N - i) / (N + M - i). Averaging 8 independent draws of
    # N = M = 1000, D = 16 (measured per-draw std: density 0.046, coverage 0.0066) gives std
    # ~0.016 / ~0.0023, so the tolerances below are ~4 sigma.
    n = m = 1000
    k = 5
    dens, cov = [], []
    for seed in range(8):
        g = torch.Generator().manual_seed(100 + seed)
        r = density_coverage(torch.randn(n, 16, generator=g), torch.randn(m, 16, generator=g), k=k)
        dens.append(r["density"])
        cov.append(r["coverage"])
    expected_cov = 1 - math.prod((n - i) / (n + m - i) for i in range(1, k + 1))
    assert expected_cov == pytest.approx(0.96898, abs=1e-5)
    assert np.mean(dens) == pytest.approx(1.0, abs=0.07)
    assert np.mean(cov) == pytest.approx(expected_cov, abs=0.01)


def test_fake_far_away_gives_zeros():
    g = torch.Generator().manual_seed(6)
    real = torch.randn(200, 8, generator=g)
    out = prdc(real, torch.randn(150, 8, generator=g) + 100.0)
    assert out == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_two_blobs_fake_from_one_blob():
    g = torch.Generator().manual_seed(7)
    blob_a = torch.randn(500, 2, generator=g)
    blob_b = torch.randn(500, 2, generator=g) + torch.tensor([30.0, 0.0])
    real = torch.cat([blob_a, blob_b])
    fake = torch.randn(600, 2, generator=g)  # blob A only
    out = prdc(real, fake)
    # Blob B's balls (radius ~0.1) never reach blob A 30 sigma away, and no k-NN crosses blobs, so
    # the two-blob numbers are the blob-A-only ones with recall and coverage halved (N doubles).
    # Only float32 rounding at exact ball boundaries may differ (both sets are centred on their own
    # real mean), hence a 2-count tolerance.
    only_a = prdc(blob_a, fake)
    assert out["precision"] == pytest.approx(only_a["precision"], abs=2 / 600)
    assert out["density"] == pytest.approx(only_a["density"], abs=2 / (5 * 600))
    assert out["recall"] == pytest.approx(only_a["recall"] / 2, abs=2 / 1000)
    assert out["coverage"] == pytest.approx(only_a["coverage"] / 2, abs=2 / 1000)
    # Over 40 seeds (D = 2, k = 3/5): precision 0.974 +- 0.010 (same-distribution samples are not all
    # inside the k-NN balls, so "~1" means the iid level), recall 0.490 +- 0.004, coverage
    # 0.490 +- 0.005 (<= 0.5 exactly: blob B is never covered), density 1.00 +- 0.02.
    assert out["precision"] > 0.92
    assert 0.47 <= out["recall"] <= 0.5
    assert 0.47 <= out["coverage"] <= 0.5
    assert out["density"] == pytest.approx(1.0, abs=0.1)


def test_fake_is_real_plus_small_jitter():
    g = torch.Generator().manual_seed(8)
    real = torch.randn(500, 8, generator=g)
    fake = real + 1e-3 * torch.randn(500, 8, generator=g)  # jitter << nearest-neighbour distance (~0.6)
    out = prdc(real, fake)
    assert out["precision"] == out["recall"] == out["coverage"] == 1.0
    # Each real ball holds its centre's jittered copy and the copies of its k-1 nearest neighbours,
    # but the k-th neighbour sits exactly on the boundary, and the jitter moves its copy inside or
    # outside with probability ~1/2: density ~ (k + 1/2) / k = 1.1 (binomial std 0.0045 at N = 500).
    assert out["density"] == pytest.approx(1.1, abs=0.02)
    assert out == brute_force(real, fake, 3, 5)


def test_parity_with_torch_fidelity_precision_recall():
    tf_prc = pytest.importorskip("torch_fidelity.metric_prc")
    g = torch.Generator().manual_seed(9)
    real = torch.randn(400, 64, generator=g).relu()
    fake = (torch.randn(300, 64, generator=g) * 1.2 + 0.1).relu()
    # torch-fidelity: features_1 = generated, features_2 = real; radius = kthvalue(k + 1) of the
    # distances including the point itself (0), i.e. the k-th nearest other point; closed balls (<=)
    theirs = tf_prc.prc_features_to_metric(fake, real, prc_neighborhood=3, save_cpu_ram=False, verbose=False)
    ours = precision_recall(real, fake, k=3)
    assert ours["precision"] == pytest.approx(theirs["precision"], abs=1e-6)
    assert ours["recall"] == pytest.approx(theirs["recall"], abs=1e-6)


def test_knn_radii_exclude_self_but_count_duplicates():
    x = torch.tensor([[0.0], [1.0], [3.0], [3.0]])
    assert knn_radii(x, 1).tolist() == [1.0, 1.0, 0.0, 0.0]  # the duplicate at 3 is a neighbour at 0
    assert knn_radii(x, 2).tolist() == [3.0, 2.0, 2.0, 2.0]
    assert knn_radii(x, 3, chunk_size=1).tolist() == [3.0, 2.0, 3.0, 3.0]


def test_input_errors():
    x = torch.randn(5, 3)
    with pytest.raises(GankitError, match="more than k=5"):
        density_coverage(x, torch.randn(10, 3), k=5)
    with pytest.raises(GankitError, match="fake needs more than k=3"):
        precision_recall(torch.randn(10, 3), torch.randn(3, 3), k=3)
    with pytest.raises(GankitError, match="feature dimensions"):
        prdc(torch.randn(10, 3), torch.randn(10, 4))
    with pytest.raises(GankitError, match="positive integer"):
        prdc(torch.randn(10, 3), torch.randn(10, 3), k_pr=0)
    with pytest.raises(GankitError, match=r"\(N, D\)"):
        prdc(torch.randn(10), torch.randn(10))
