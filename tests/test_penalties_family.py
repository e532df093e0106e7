"""DRAGAN, spectral-norm regularisation, orthogonal regularisation, weight clipping and spectral
normalisation, each checked against its formula computed independently (finite differences,
SVD, hand loops), so that a wrong sign or factor fails."""
import pytest
import torch
from torch import nn

from gankit.nn import LayerFactory
from gankit.nn.spectral import largest_singular_value, normalised_weight, spectral_norms
from gankit.penalties import PENALTIES, clip_weights_, layer_sigmas, orthogonal_penalty, sn_reg_penalty


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1)).double()


def _fd_input_grad(f, x, h=1e-6):
    """Per-sample d f(x)_i / d x_i by central differences (f maps a batch to one score each)."""
    g = torch.zeros_like(x)
    flat, gflat = x.view(x.shape[0], -1), g.view(x.shape[0], -1)
    for i in range(flat.shape[0]):
        for j in range(flat.shape[1]):
            e = torch.zeros_like(flat)
            e[i, j] = h
            gflat[i, j] = (f((flat + e).view_as(x))[i] - f((flat - e).view_as(x))[i]).item() / (2 * h)
    return g


def _fd_param_grad(loss, p, h=1e-6):
    g = torch.zeros_like(p)
    with torch.no_grad():
        for idx in range(p.numel()):
            old = p.view(-1)[idx].item()
            p.view(-1)[idx] = old + h
            hi = loss().item()
            p.view(-1)[idx] = old - h
            lo = loss().item()
            p.view(-1)[idx] = old
            g.view(-1)[idx] = (hi - lo) / (2 * h)
    return g


# ------------------------------------------------------------------ DRAGAN
def test_dragan_matches_finite_differences():
    D = _mlp()
    real = torch.randn(6, 3, dtype=torch.float64) * 2 + 1
    fake = torch.randn(6, 3, dtype=torch.float64)
    torch.manual_seed(7)
    got = PENALTIES.get("dragan")(D, real, fake)
    torch.manual_seed(7)  # same draws, same order: per-element noise, then per-sample alpha
    u = torch.rand(6, 3, dtype=torch.float64)
    alpha = torch.rand(6, 1, dtype=torch.float64)
    std = ((real - real.mean()) ** 2).mean().sqrt()  # population std over the whole batch
    x_hat = real + alpha * 0.5 * std * u
    norms = _fd_input_grad(lambda v: D(v).squeeze(1), x_hat).norm(dim=1)
    expected = ((norms - 1) ** 2).mean()
    assert torch.allclose(got, expected, rtol=1e-6), (got, expected)
    # and it is not the gradient penalty at the clean data
    at_real = ((_fd_input_grad(lambda v: D(v).squeeze(1), real).norm(dim=1) - 1) ** 2).mean()
    assert not torch.allclose(got, at_real, rtol=1e-3)


# ------------------------------------------------------------------ spectral-norm regulariser
def _top_svd(W):
    U, S, Vh = torch.linalg.svd(W.detach().reshape(W.shape[0], -1).double())
    return S[0], U[:, 0], Vh[0]


@pytest.mark.parametrize("layer", [nn.Linear(7, 5), nn.Conv2d(2, 4, 3)], ids=["linear", "conv"])
def test_sn_reg_power_iteration_converges_and_gradient_is_sigma_u_vT(layer):
    torch.manual_seed(1)
    layer = layer.double()
    nn.init.normal_(layer.weight)
    W = layer.weight
    for _ in range(200):
        sigmas = layer_sigmas(layer)
    (_, sigma), = sigmas
    s1, u1, v1 = _top_svd(W)
    assert abs(sigma.item() - s1.item()) < 1e-4

    lam = 3.0
    layer.zero_grad()
    pen = sn_reg_penalty(layer)
    assert torch.allclose(pen, 0.5 * s1 ** 2, rtol=1e-6)
    (lam * pen).backward()
    expected = (lam * s1 * torch.outer(u1, v1)).reshape(W.shape)  # sign-free: u, v flip together
    assert torch.allclose(W.grad, expected, atol=1e-6)
    assert layer.bias.grad is None  # biases are not regularised


def test_sn_reg_sums_half_squared_sigmas_over_layers():
    torch.manual_seed(2)
    D = nn.Sequential(nn.Conv2d(1, 3, 3, 2, 1), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(3 * 4 * 4, 1)).double()
    for _ in range(300):
        pen = PENALTIES.get("sn-reg")(D, None, None)
    expected = 0.5 * sum(torch.linalg.svdvals(p.detach().reshape(p.shape[0], -1))[0] ** 2
                         for p in D.parameters() if p.dim() > 1)
    assert torch.allclose(pen, expected, rtol=1e-5)


# ------------------------------------------------------------------ orthogonal regularisation
def test_orthogonal_matches_hand_loop_and_finite_differences():
    torch.manual_seed(3)
    D = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Conv2d(2, 3, 2)).double()
    expected = 0.0
    for p in (D[0].weight, D[2].weight):
        rows = p.detach().reshape(p.shape[0], -1)
        for i in range(rows.shape[0]):
            for j in range(rows.shape[0]):
                if i != j:
                    expected += float(rows[i] @ rows[j]) ** 2
    got = PENALTIES.get("orthogonal")(D, None, None)
    assert abs(got.item() - expected) < 1e-10 * max(1.0, expected)

    got.backward()
    for p in (D[0].weight, D[2].weight):
        fd = _fd_param_grad(lambda: orthogonal_penalty(D), p)
        assert torch.allclose(p.grad, fd, rtol=1e-5, atol=1e-8)


def test_orthogonal_is_zero_for_orthogonal_rows_of_any_norm():
    torch.manual_seed(4)
    q, _ = torch.linalg.qr(torch.randn(6, 4, dtype=torch.float64))  # orthonormal columns
    layer = nn.Linear(6, 4, bias=False).double()
    with torch.no_grad():
        layer.weight.copy_(3.0 * q.t())  # orthogonal rows with norm 3: only off-diagonals count
    assert orthogonal_penalty(layer).item() < 1e-20
    with torch.no_grad():
        layer.weight[0] += layer.weight[1]
    assert orthogonal_penalty(layer).item() > 1.0


# ------------------------------------------------------------------ weight clipping
def test_clip_weights_bounds_and_leaves_inside_values_alone():
    torch.manual_seed(5)
    m = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4)).double()
    c = 0.05
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn_like(p) * 0.08)
    before = [p.detach().clone() for p in m.parameters()]
    clip_weights_(m, c)
    n_in = n_out = 0
    for b, p in zip(before, m.parameters()):
        inside = b.abs() <= c
        assert p.min() >= -c and p.max() <= c
        assert torch.equal(p[inside], b[inside])
        assert torch.equal(p[~inside], c * b[~inside].sign())
        n_in, n_out = n_in + int(inside.sum()), n_out + int((~inside).sum())
    assert n_in > 5 and n_out > 5  # both cases were exercised


# ------------------------------------------------------------------ spectral normalisation layers
@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_sn_layers_reach_unit_spectral_norm(kind):
    torch.manual_seed(6)
    f = LayerFactory(sn=True)
    layer = f.linear(6, 5) if kind == "linear" else f.conv(2, 4, 3, 1, 1)
    with torch.no_grad():
        layer.parametrizations.weight.original.mul_(7.0)  # far from unit norm
    x = torch.randn(2, 6) if kind == "linear" else torch.randn(2, 2, 5, 5)
    layer.train()
    for _ in range(30):
        layer(x)
    w = normalised_weight(layer)
    exact = torch.linalg.svdvals(w.reshape(w.shape[0], -1).double())[0].item()
    assert abs(exact - 1.0) < 1e-3
    u_before = layer.parametrizations.weight[0]._u.clone()
    norms = spectral_norms(nn.Sequential(nn.Identity(), layer))
    assert list(norms) == ["1"] and abs(norms["1"] - exact) < 1e-9
    assert torch.equal(layer.parametrizations.weight[0]._u, u_before)  # reading changes nothing
    raw = layer.parametrizations.weight.original
    assert abs(largest_singular_value(raw) - torch.linalg.svdvals(raw.detach().reshape(raw.shape[0], -1))[0].item()) < 1e-4
    assert largest_singular_value(raw) > 2.0  # the raw weight is not normalised


# ------------------------------------------------------------------ all penalties, points and images
def _conv_d(sn=False):
    f = LayerFactory(sn=sn, act="lrelu")
    return nn.Sequential(f.conv(1, 4, 3, 2, 1), f.activation(), f.conv(4, 8, 3, 2, 1), f.activation(),
                         nn.Flatten(), f.linear(8 * 2 * 2, 1), nn.Flatten(0))


@pytest.mark.parametrize("name", PENALTIES.names())
@pytest.mark.parametrize("data", ["points", "images", "images-sn"])
def test_every_penalty_is_a_finite_differentiable_scalar(name, data):
    torch.manual_seed(8)
    if data == "points":
        D = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1), nn.Flatten(0))
        real, fake = torch.randn(8, 2), torch.randn(8, 2)
    else:
        D = _conv_d(sn=data == "images-sn")
        real, fake = torch.rand(8, 1, 8, 8) * 2 - 1, torch.rand(8, 1, 8, 8) * 2 - 1
    term = PENALTIES.get(name)(D, real, fake)
    assert term.dim() == 0 and torch.isfinite(term)
    (10.0 * term).backward()
    weights = [p for p in D.parameters() if p.dim() > 1]
    assert weights and all(p.grad is not None and torch.isfinite(p.grad).all() for p in weights)
    # every weight gets a gradient, except that the orthogonal penalty has nothing to say about
    # a layer with a single output unit (its Gram matrix is 1 x 1, all diagonal)
    assert all(p.grad.abs().sum() > 0 for p in weights if not (name == "orthogonal" and p.shape[0] == 1))
