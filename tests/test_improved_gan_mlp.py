"""The parts of the Improved-GAN semi-supervised MNIST nets (Salimans et al. 2016, arXiv 1606.03498; the
authors' code, openai/improved-gan) and their wiring in `semisupervised-gan`:

* weight normalisation in the layer factory and its data-dependent init (Salimans & Kingma 2016, arXiv
  1602.07868, Sec. 3): after it every weight-normalised unit's pre-activation has mean 0 and std 1 on the batch;
* Gaussian noise layers (train only) and where the MLP discriminator puts them;
* MLPs with a list of widths (`model.d_widths=[...]`, variable-length lists in the config);
* the trainer calls the GAN's `init_from_data` once, on a fresh start and not on resume;
* `model.arch=mlp` with the paper's nets trains a step; MLP-only settings on the conv nets are refused.
"""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gankit.config import resolve
from gankit.data import DataInfo
from gankit.errors import ConfigError
from gankit.gans import GANS
from gankit.models.mlp import MLPDiscriminator, MLPGenerator, hidden_widths
from gankit.nn import GaussianNoise, LayerFactory, WeightNormLinear, init_weight_norm_from_data
from test_wiring import check_phases_change_only_their_group, image_base, instrumented_step, make_trainer

pytestmark = pytest.mark.usefixtures("one_thread")

NAME = "semisupervised-gan"
MNIST = DataInfo("mnist", "images", (1, 28, 28), 10)
PAPER = ["model.arch=mlp", "model.d_widths=[12,8,6]", "model.g_widths=[10,10]", "model.g_act=softplus",
         "model.d_wn=true", "model.d_slope=0.0", "model.d_input_noise=0.3", "model.d_hidden_noise=0.5",
         "model.d_noise=0.5", "model.z_dim=4"]


# =============================================================================================
# weight normalisation and its data-dependent init
# =============================================================================================
def wn_layers(module) -> list:
    return [m for m in module.modules() if isinstance(m, WeightNormLinear)]


def test_weight_norm_layer_is_g_times_direction():
    lin = LayerFactory(wn=True).linear(5, 3)
    assert isinstance(lin, WeightNormLinear) and lin.train_scale
    with torch.no_grad():
        lin.g.copy_(torch.tensor([2.0, 0.5, 3.0]))
    want = lin.g.unsqueeze(1) * lin.v / lin.v.norm(dim=1, keepdim=True)
    assert torch.allclose(lin.weight, want, atol=1e-6)
    assert torch.allclose(lin.weight.norm(dim=1), lin.g, atol=1e-5)  # each row's length is its g
    x = torch.randn(4, 5)
    assert torch.allclose(lin(x), x @ want.T + lin.bias, atol=1e-6)
    # the direction's length does not matter
    with torch.no_grad():
        lin.v.mul_(7.0)
    assert torch.allclose(lin(x), x @ want.T + lin.bias, atol=1e-5)
    # fix_scale: g becomes a buffer (in the state dict, not among the parameters)
    lin.fix_scale()
    assert not lin.train_scale and "g" in lin.state_dict() and "g" not in dict(lin.named_parameters())
    assert torch.allclose(lin.g, torch.tensor([2.0, 0.5, 3.0]))
    with pytest.raises(ConfigError, match="choose one"):
        LayerFactory(wn=True, sn=True)
    with pytest.raises(ConfigError, match="fully connected"):
        LayerFactory(wn=True).conv(1, 2, 3)


def test_data_init_gives_unit_pre_activations_layer_by_layer():
    """After the init, each weight-normalised layer's output on the init batch has per-unit mean 0 and std 1
    (Salimans & Kingma 2016, Sec. 3), the later layers measured on the already-normalised earlier ones; the
    directions v do not move, and fixed scales (buffers) are set too."""
    torch.manual_seed(0)
    f = LayerFactory(wn=True, act="relu")
    net = nn.Sequential(f.linear(7, 16), f.activation(), f.linear(16, 9), f.activation(), f.linear(9, 4, bias=False))
    net[2].fix_scale()
    x = torch.randn(256, 7) * 3 + 1
    v_before = [m.v.clone() for m in wn_layers(net)]
    assert init_weight_norm_from_data(net, x) == 3
    outs = []
    h = x
    with torch.no_grad():
        for m in net:
            h = m(h)
            if isinstance(m, WeightNormLinear):
                outs.append(h.clone())  # the ReLUs work in place
    for out, has_bias in zip(outs, (True, True, False)):
        if has_bias:
            assert torch.allclose(out.mean(0), torch.zeros(out.shape[1]), atol=1e-5)
        assert torch.allclose(out.std(0), torch.ones(out.shape[1]), atol=1e-4)
    for m, v in zip(wn_layers(net), v_before):
        assert torch.equal(m.v, v)
    assert not torch.allclose(net[2].g, torch.ones(9))


# =============================================================================================
# Gaussian noise and the MLPs
# =============================================================================================
def test_gaussian_noise_only_in_training_and_of_its_std():
    layer = GaussianNoise(0.5)
    x = torch.zeros(20000)
    torch.manual_seed(3)
    noisy = layer(x)
    assert noisy.std().item() == pytest.approx(0.5, rel=0.03) and noisy.mean().abs().item() < 0.02
    layer.eval()
    assert torch.equal(layer(x), x)
    assert torch.equal(GaussianNoise(0.0)(x), x)


def test_mlp_widths_and_where_the_discriminator_adds_noise():
    assert hidden_widths(8, 3) == (8, 8, 8) and hidden_widths([5, 4], None) == (5, 4)
    with pytest.raises(ValueError, match="depth"):
        hidden_widths([5, 4], 3)
    D = MLPDiscriminator((1, 4, 4), [12, 8, 6], None, LayerFactory(act="relu"), outputs=3, noise=0.5)
    linears = [m for m in D.net if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(16, 12), (12, 8), (8, 6), (6, 3)]
    kinds = [type(m).__name__ for m in D.net]
    # noise before the 2nd and 3rd hidden layers; none before the first (the caller's input noise) or the head
    assert kinds == ["Linear", "Identity", "ReLU", "GaussianNoise", "Linear", "Identity", "ReLU",
                     "GaussianNoise", "Linear", "Identity", "ReLU", "Linear"]
    assert D.feature_dim == 6 and D(torch.randn(2, 1, 4, 4)).shape == (2, 3)
    G = MLPGenerator(4, (1, 4, 4), [10, 7], None, LayerFactory(norm="batch", act="softplus"), tanh=True)
    assert [type(m).__name__ for m in G.net][:3] == ["Linear", "BatchNorm1d", "Softplus"]
    assert G(torch.randn(3, 4)).shape == (3, 1, 4, 4)
    # a constant width keeps the old layer names (checkpoints of existing MLP runs still load)
    assert list(dict(MLPDiscriminator((2,), 8, 2).named_parameters())) == [
        "net.0.weight", "net.0.bias", "net.3.weight", "net.3.bias", "net.6.weight", "net.6.bias"]


# =============================================================================================
# the semi-supervised GAN with the paper's nets
# =============================================================================================
def test_paper_nets_are_built_from_the_settings():
    cfg = resolve(NAME, PAPER + ["data.labels=20"])
    gan = GANS.get(NAME)(cfg, MNIST)
    assert gan.p.d_widths == (12, 8, 6) and gan.p.g_widths == (10, 10)
    net = gan.D.net
    wn = wn_layers(net)
    assert [(m.in_features, m.out_features) for m in wn] == [(784, 12), (12, 8), (8, 6), (6, 10)]
    assert [m.train_scale for m in wn] == [False, False, False, True]  # g trains in the head only
    assert [m.std for m in net.modules() if isinstance(m, GaussianNoise)] == [0.5, 0.5]
    assert gan.D.input_noise == 0.3 and gan.D.feature_noise == 0.5
    assert not any(isinstance(m, nn.LeakyReLU) and m.negative_slope != 0 for m in net.modules())
    g_lin = [m for m in gan.G.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in g_lin] == [(4, 10), (10, 10), (10, 784)]
    assert sum(isinstance(m, nn.Softplus) for m in gan.G.modules()) == 2


@pytest.mark.parametrize("bad, match", [
    (["model.d_widths=[8,4]"], "model.d_widths sets the MLP nets"),
    (["model.arch=mlp", "model.d_widths=[8,0]"], "d_widths"),
    (["model.arch=mlp", "model.d_widths=8"], "a list of integers"),
])
def test_bad_widths_are_one_line_errors(bad, match):
    with pytest.raises(ConfigError, match=match) as e:
        GANS.get(NAME)(resolve(NAME, bad + ["data.labels=20"]), MNIST)
    assert "\n" not in str(e.value)


def test_trainer_initialises_from_data_on_a_fresh_start_only(tmp_path, request):
    """A fresh run sets D's weight-norm gains from a data batch (they differ from the plain build's, and D's
    first-layer pre-activations on real images are standardised); a resumed run keeps the checkpoint's."""
    tr = make_trainer(tmp_path, NAME, *PAPER, base=image_base(request))
    first = wn_layers(tr.gan.D)[0]
    plain = GANS.get(NAME)(tr.cfg, tr.info)
    assert not torch.allclose(first.g, wn_layers(plain.D)[0].g)
    x, _ = tr.loader.next()
    with torch.no_grad():
        pre = first(x.flatten(1))
    assert pre.mean().abs().item() < 0.5 and 0.5 < pre.std(0).mean().item() < 1.5
    # the recorded hook: called once on a fresh start, never on resume
    calls = []
    cls = type(tr.gan)
    orig = cls.init_from_data
    try:
        cls.init_from_data = lambda self, real: calls.append(real.shape)
        make_trainer(tmp_path, NAME, *PAPER, out="fresh", base=image_base(request))
        assert len(calls) == 1 and calls[0][1:] == (1, 28, 28)
        from gankit.train.loop import Trainer
        Trainer(tr.cfg, tmp_path / "resumed", state=tr.state_dict())
        assert len(calls) == 1
    finally:
        cls.init_from_data = orig


def test_paper_nets_take_a_step_each_phase_its_own_parameters(tmp_path, request):
    tr = make_trainer(tmp_path, NAME, *PAPER, base=image_base(request))
    updates = instrumented_step(tr)
    check_phases_change_only_their_group(updates, 1)
    logs = tr.meter.pop_means()
    assert all(math.isfinite(v) for v in logs.values())


def test_classifier_is_the_average_of_ds_weights(tmp_path, request):
    """model.d_average=a: after each d step the average is the bias-corrected exponential mean of D's iterates
    (parameters; buffers copied), only D's own weights are optimised, the average is in the checkpoint, and classify() reads it."""
    tr = make_trainer(tmp_path, NAME, *PAPER, "model.d_average=0.9", base=image_base(request))
    gan = tr.gan
    assert gan.D_avg is not None and gan.classifier_net is gan.D_avg
    assert all(torch.equal(a, b) for a, b in zip(gan.D_avg.state_dict().values(), gan.D.state_dict().values()))
    ids = {id(p) for ps in tr.params.values() for p in ps}
    assert not any(id(p) in ids for p in gan.D_avg.parameters())
    tr.train_step()  # the first update copies D (bias correction): avg = w1
    w1 = {n: p.clone() for n, p in gan.D.named_parameters()}
    assert all(torch.equal(p, w1[n]) for n, p in gan.D_avg.named_parameters())
    tr.train_step()  # then avg = (0.9 w1 + w2) / 1.9
    w2 = dict(gan.D.named_parameters())
    assert any(not torch.equal(w1[n], w2[n]) for n in w1)
    for n, p in gan.D_avg.named_parameters():
        assert torch.allclose(p, (0.9 * w1[n] + w2[n]) / 1.9, atol=1e-6), n
    assert gan.d_average_updates.item() == 2
    assert any("D_avg." in k for k in gan.state_dict())
    x = torch.randn(5, 1, 28, 28)
    gan.D_avg.eval()
    assert torch.allclose(gan.classify(x), gan.D_avg.class_logits(x))
    assert not torch.allclose(gan.classify(x), gan.D.eval().class_logits(x))
    # without it, D itself classifies
    plain = GANS.get(NAME)(resolve(NAME, PAPER + ["data.labels=20"]), MNIST)
    assert plain.D_avg is None and plain.classifier_net is plain.D


def test_weight_average_is_the_bias_corrected_mean_of_the_iterates():
    """average_weights after n updates = sum_s a^(n-s) w_s / sum_s a^(n-s): the first update copies the net,
    and for a = 0.9999 the first updates stay equal weights of the iterates (no pull towards the init)."""
    from gankit.gans.conditional.semisupervised import average_weights
    for a in (0.5, 0.9999):
        net, avg = nn.Linear(2, 1), nn.Linear(2, 1)
        with torch.no_grad():
            avg.weight.fill_(100.0)  # whatever it held is forgotten at the first update
        n = torch.zeros(())
        seen = []
        for s in range(1, 5):
            with torch.no_grad():
                net.weight.fill_(float(s))
            seen.append(float(s))
            average_weights(avg, net, a, n)
            k = len(seen)
            want = sum(a ** (k - 1 - i) * w for i, w in enumerate(seen)) / sum(a ** (k - 1 - i) for i in range(k))
            assert avg.weight[0, 0].item() == pytest.approx(want, rel=1e-5)
        assert n.item() == 4


def test_the_default_state_dict_is_unchanged_so_older_checkpoints_load():
    """Without model.d_average the GAN holds no average and no counter: the keys are those of D and G alone."""
    gan = GANS.get(NAME)(resolve(NAME, ["data.labels=20", "model.g_width=4", "model.d_width=4", "model.z_dim=4"]),
                         MNIST)
    assert all(k.startswith(("G.", "D.")) for k in gan.state_dict())
