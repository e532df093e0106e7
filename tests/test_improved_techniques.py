"""The parts of Salimans et al. 2016 ("Improved Techniques for Training GANs", arXiv 1606.03498) against
hand computations: minibatch discrimination (Sec. 3.2), historical averaging (Sec. 3.3) and one-sided
label smoothing (Sec. 3.4). Feature matching (Sec. 3.1) is checked in tests/test_semisupervised.py."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gankit.nn.minibatch import MinibatchDiscrimination, minibatch_features
from gankit.objectives import OBJECTIVES
from gankit.penalties.historical import HistoricalAverage


def test_minibatch_discrimination_on_a_three_sample_batch_by_hand():
    """A = 2 features, B = 2 kernels of C = 2 dims. With T chosen so that M_1 = ((1,0),(0,1)),
    M_2 = ((0,1),(1,0)), M_3 = ((1,1),(1,1)), the L1 distances are 2 (1-2) and 1 (1-3, 2-3) in both
    kernels, so o_1 = o_2 = 1 + e^-2 + e^-1 and o_3 = 1 + 2 e^-1 (the j = i term is the 1)."""
    mbd = MinibatchDiscrimination(2, kernels=2, kernel_dim=2)
    with torch.no_grad():
        mbd.T.copy_(torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0]]))
    f = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    out = mbd(f)
    a, b = 1 + math.exp(-2) + math.exp(-1), 1 + 2 * math.exp(-1)
    want = torch.tensor([[1.0, 0.0, a, a], [0.0, 1.0, a, a], [1.0, 1.0, b, b]])
    assert out.shape == (3, 2 + 2) and mbd.out_features == 4
    assert torch.allclose(out, want, atol=1e-6)


def test_minibatch_features_against_a_loop_and_what_they_see():
    g = torch.Generator().manual_seed(0)
    m = torch.randn(5, 3, 4, generator=g)
    loop = torch.zeros(5, 3)
    for i in range(5):
        for j in range(5):
            for b in range(3):
                loop[i, b] += math.exp(-(m[i, b] - m[j, b]).abs().sum().item())
    assert torch.allclose(minibatch_features(m), loop, atol=1e-5)
    # a collapsed batch (every sample the same) gives the largest features, n in every kernel
    same = m[:1].repeat(5, 1, 1)
    assert torch.allclose(minibatch_features(same), torch.full((5, 3), 5.0))
    # conv features are flattened first; gradients reach T
    mbd = MinibatchDiscrimination(2 * 3 * 3, kernels=4, kernel_dim=3)
    x = torch.randn(6, 2, 3, 3, generator=g)
    mbd(x).sum().backward()
    assert mbd(x).shape == (6, 18 + 4) and mbd.T.grad is not None and mbd.T.grad.abs().sum() > 0


def test_historical_average_term_and_its_state_by_hand():
    """||theta - (1/t) sum_{i<=t} theta[i]||^2 over every parameter, theta[t] the current value; zero at the
    first update; the average is a constant for the gradient (2 (theta - mean))."""
    net = nn.Linear(2, 1, bias=True)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[1.0, 2.0]]))
        net.bias.fill_(0.0)
    ha = HistoricalAverage(list(net.parameters()))
    t1 = ha.term()
    assert t1.item() == 0.0 and int(ha.count) == 1
    with torch.no_grad():  # one "update"
        net.weight.copy_(torch.tensor([[3.0, 2.0]]))
        net.bias.fill_(4.0)
    t2 = ha.term()  # mean of ([1,2],0) and ([3,2],4) = ([2,2],2): (3-2)^2 + 0 + (4-2)^2
    assert t2.item() == pytest.approx(1.0 + 4.0) and int(ha.count) == 2
    t2.backward()
    assert torch.allclose(net.weight.grad, torch.tensor([[2.0, 0.0]])) and net.bias.grad.item() == pytest.approx(4.0)
    # the state is buffers: saved and restored with a state dict
    other = HistoricalAverage(list(nn.Linear(2, 1).parameters()))
    other.load_state_dict(ha.state_dict())
    assert int(other.count) == 2 and all(torch.equal(a, b) for a, b in zip(other.sums, ha.sums))


def test_one_sided_label_smoothing_objective_by_hand():
    """D: -0.9 log D(x) - 0.1 log(1 - D(x)) - log(1 - D(G(z))); fakes keep target 0 (one-sided); G non-saturating."""
    obj = OBJECTIVES.get("nonsaturating-ls")
    l_real, l_fake = torch.tensor([0.5, -1.0]), torch.tensor([0.2, 2.0])
    s = torch.sigmoid
    want = (-(0.9 * torch.log(s(l_real)) + 0.1 * torch.log(1 - s(l_real)))).mean() - torch.log(1 - s(l_fake)).mean()
    assert obj.d_loss(l_real, l_fake).item() == pytest.approx(want.item(), rel=1e-6)
    assert obj.g_loss(l_fake).item() == pytest.approx((-torch.log(s(l_fake))).mean().item(), rel=1e-6)
    # the smoothed D loss is smallest at D(x) = 0.9 on real data, not at 1
    grid = torch.linspace(-5, 5, 2001)
    best = grid[torch.stack([obj.d_loss(v.view(1), torch.tensor([-20.0])) for v in grid]).argmin()]
    assert torch.sigmoid(best).item() == pytest.approx(0.9, abs=2e-3)


def test_virtual_batch_norm_by_hand_and_independent_of_the_batch():
    """Each sample is normalised with (n * reference stats + its own) / (n + 1), per channel over positions;
    the reference batch itself with its own statistics; a sample's output does not depend on its batch."""
    from gankit.nn import LayerFactory
    from gankit.nn.virtual_batchnorm import VirtualBatchNorm, WithReferenceBatch

    g = torch.Generator().manual_seed(0)
    ref, x = torch.randn(4, 3, 2, 2, generator=g), torch.randn(5, 3, 2, 2, generator=g) * 2 + 1
    vbn = LayerFactory(norm="virtual").norm_layer(3)
    assert isinstance(vbn, VirtualBatchNorm)
    with torch.no_grad():
        vbn.weight.copy_(torch.tensor([1.0, 2.0, 0.5]))
        vbn.bias.copy_(torch.tensor([0.0, -1.0, 3.0]))
    net = WithReferenceBatch(nn.Sequential(vbn), ref)
    out = net(x)
    n = 4
    r_mean, r_sq = ref.mean((0, 2, 3)), (ref * ref).mean((0, 2, 3))
    for i in range(5):
        m, q = x[i].mean((1, 2)), (x[i] * x[i]).mean((1, 2))
        mean, sq = (n * r_mean + m) / (n + 1), (n * r_sq + q) / (n + 1)
        want = (x[i] - mean.view(3, 1, 1)) / torch.sqrt(sq - mean ** 2 + 1e-5).view(3, 1, 1)
        want = want * vbn.weight.view(3, 1, 1) + vbn.bias.view(3, 1, 1)
        assert torch.allclose(out[i], want.detach(), atol=1e-5)
        assert torch.allclose(net(x[i:i + 1])[0], out[i], atol=1e-5)  # alone or in a batch: the same
    # 2-D inputs (N, C): the statistics over the batch dimension only
    ref2, x2 = torch.randn(6, 4, generator=g), torch.randn(3, 4, generator=g)
    net2 = WithReferenceBatch(nn.Sequential(VirtualBatchNorm(4)), ref2)
    mean = (6 * ref2.mean(0) + x2) / 7
    sq = (6 * (ref2 ** 2).mean(0) + x2 ** 2) / 7
    assert torch.allclose(net2(x2), (x2 - mean) / torch.sqrt(sq - mean ** 2 + 1e-5), atol=1e-5)
    # train and eval mode agree (no running statistics); the reference is a buffer (saved in checkpoints)
    net.eval()
    assert torch.allclose(net(x), out, atol=1e-6)
    assert "reference" in net.state_dict() and torch.equal(net.state_dict()["reference"], ref)


def test_virtual_batch_norm_gradients_reach_through_the_reference_pass_and_need_the_wrapper():
    from gankit.errors import GankitError
    from gankit.nn.virtual_batchnorm import VirtualBatchNorm, WithReferenceBatch

    g = torch.Generator().manual_seed(1)
    lin = nn.Linear(3, 4)
    net = WithReferenceBatch(nn.Sequential(lin, VirtualBatchNorm(4)), torch.randn(8, 3, generator=g))
    x = torch.randn(2, 3, generator=g)
    net(x).pow(2).sum().backward()
    assert lin.weight.grad is not None and lin.weight.grad.abs().sum() > 0
    # a deep copy (an EMA generator) uses its own layers, and the same reference
    import copy

    twin = copy.deepcopy(net)
    assert all(a is b for a, b in zip(twin.vbn, [m for m in twin.net.modules() if isinstance(m, VirtualBatchNorm)]))
    assert torch.allclose(twin(x), net(x))
    with pytest.raises(GankitError, match="reference batch"):
        nn.Sequential(nn.Linear(3, 4), VirtualBatchNorm(4))(x)
    with pytest.raises(GankitError, match="no virtual batch norm"):
        WithReferenceBatch(nn.Linear(3, 4), torch.zeros(2, 3))


# ---------------------------------------------------------------- the named GAN: its switches reach its steps
def _improved(*over):
    from gankit.config import resolve
    from gankit.data import DataInfo
    from gankit.gans import GANS

    info = DataInfo("mnist", "images", (1, 28, 28), 10)
    cfg = resolve("improved-gan", ["data=mnist", "model.g_width=4", "model.d_width=4", "model.z_dim=6",
                                   "model.minibatch=5", "model.minibatch_dim=3", "model.vbn_size=7", *over])
    return GANS.get("improved-gan")(cfg, info)


def test_improved_gan_steps_compose_its_switches_by_hand():
    from gankit.objectives.feature_matching import feature_matching_loss
    from gankit.objectives.standard import nonsaturating_g_loss, one_sided_smoothed_d_loss

    gan = _improved("model.historical=0.5", "model.feature_matching=true")
    real = torch.rand(8, 1, 28, 28) * 2 - 1
    assert gan.objective.name == "nonsaturating-ls"  # one-sided label smoothing by default
    # D: the smoothed loss on the same fakes + 0.5 x the historical term (0 at the first update, then not)
    torch.manual_seed(3)
    loss, logs = gan.d_step(real, None)
    torch.manual_seed(3)
    with torch.no_grad():
        fake = gan.G(gan.sample_z(8))
    want = one_sided_smoothed_d_loss(gan.D(real), gan.D(fake))
    assert loss.item() == pytest.approx(want.item(), rel=1e-5) and logs["hist_d"].item() == 0.0
    with torch.no_grad():
        for p in gan.D.parameters():
            p.add_(0.01)
    torch.manual_seed(4)
    loss, logs = gan.d_step(real, None)
    torch.manual_seed(4)
    with torch.no_grad():
        fake = gan.G(gan.sample_z(8))
    want = one_sided_smoothed_d_loss(gan.D(real), gan.D(fake)) + 0.5 * logs["hist_d"]
    assert logs["hist_d"].item() > 0 and loss.item() == pytest.approx(want.item(), rel=1e-5)
    # G: feature matching on D's last feature map, + 0.5 x G's historical term
    torch.manual_seed(5)
    loss, logs = gan.g_step(real, None)
    torch.manual_seed(5)
    fm = feature_matching_loss(gan.D.trunk(real), gan.D.trunk(gan.G(gan.sample_z(8))))
    assert loss.item() == pytest.approx(fm.item() + 0.5 * logs["hist_g"].item(), rel=1e-5)
    # without feature matching: the non-saturating G loss on D's output (minibatch features included)
    gan = _improved()
    torch.manual_seed(6)
    loss, logs = gan.g_step(real, None)
    torch.manual_seed(6)
    assert loss.item() == pytest.approx(nonsaturating_g_loss(gan.D(gan.G(gan.sample_z(8)))).item(), rel=1e-5)
    assert "hist_g" not in logs and gan.hist_g is None and gan.hist_d is None


def test_improved_gan_state_vbn_reference_and_historical_sums_are_in_the_state_dict():
    gan = _improved("model.historical=0.1", "seed=7")
    state = gan.state_dict()
    ref = state["G.reference"]
    assert ref.shape == (7, 6) and torch.equal(ref, torch.randn(7, 6, generator=torch.Generator().manual_seed(7)))
    assert "hist_g.count" in state and "hist_d.sum0" in state and "G_ema.reference" in state
    # a sample does not depend on the rest of its batch (VBN), in train mode too
    z = torch.randn(5, 6)
    assert torch.allclose(gan.G(z)[2:3], gan.G(z[2:3]), atol=1e-5)
    # label smoothing off / on is the objective; other objectives are refused in one line
    from gankit.config import resolve
    from gankit.errors import ConfigError

    assert _improved("objective=nonsaturating").objective.name == "nonsaturating"
    with pytest.raises(ConfigError, match="objective must be") as e:
        resolve("improved-gan", ["data=mnist", "objective=wgan"])
    assert "\n" not in str(e.value)


def _composed(name, *extra):
    from gankit.config import resolve
    from gankit.data import DataInfo
    from gankit.gans import GANS

    cfg = resolve(name, ["data=mnist", "data.resolution=28", "model.g_width=4", "model.d_width=4", "model.z_dim=6",
                         "model.vbn_size=7"] + list(extra))
    torch.manual_seed(0)
    return GANS.get(name)(cfg, DataInfo("mnist", "images", (1, 28, 28), 10))


@pytest.mark.parametrize("name", ["dcgan", "lsgan", "hinge-gan", "wgan"])
def test_the_techniques_switch_on_in_other_composed_gans(name):
    """Each technique is a part of every composed GAN, not of improved-gan alone: off by default, on by setting."""
    from gankit.nn import WithReferenceBatch

    plain = _composed(name)
    assert not any(isinstance(m, MinibatchDiscrimination) for m in plain.D.modules())
    assert not isinstance(plain.G, WithReferenceBatch) and plain.hist_d is None
    gan = _composed(name, "model.minibatch=6", "model.minibatch_dim=3", "model.vbn=true", "model.historical=0.5",
                    "model.feature_matching=true")
    mbd = [m for m in gan.D.modules() if isinstance(m, MinibatchDiscrimination)]
    assert len(mbd) == 1 and (mbd[0].kernels, mbd[0].kernel_dim) == (6, 3)
    assert isinstance(gan.G, WithReferenceBatch) and gan.hist_g is not None and gan.hist_d is not None
    real = torch.rand(8, 1, 28, 28) * 2 - 1
    _, logs = gan.d_step(real, None)
    assert "hist_d" in logs
    from gankit.objectives.feature_matching import feature_matching_loss

    torch.manual_seed(5)
    loss, logs = gan.g_step(real, None)
    torch.manual_seed(5)
    fm = feature_matching_loss(gan.D.trunk(real), gan.D.trunk(gan.G(gan.sample_z(8))))
    assert loss.item() == pytest.approx(fm.item() + 0.5 * logs["hist_g"].item(), rel=1e-5)


def test_technique_switches_refuse_what_they_cannot_do():
    from gankit.config import resolve
    from gankit.data import DataInfo
    from gankit.errors import ConfigError
    from gankit.gans import GANS

    with pytest.raises(ConfigError, match="minibatch discrimination"):
        _composed("wgan-gp", "model.minibatch=4")  # a per-sample gradient penalty through a batch-mixing layer
    points = DataInfo("ring8", "points", (2,), 0, torch.zeros(8, 2), 0.01)
    with pytest.raises(ConfigError, match="DCGAN nets"):
        GANS.get("gan")(resolve("gan", ["data=ring8", "model.minibatch=4"]), points)
