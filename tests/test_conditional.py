"""Class-conditional parts and GANs: the conditioning modules of gankit.nn.conditioning (shapes, the label
reaching the output, conditional BN at init = plain BN), the loss terms against hand-computed values on
tiny tensors (matching-aware D, projection, AC-GAN class terms), one training step of every conditional
GAN with each phase changing only its own parameters, sampling with labels, and the run end to end.

Everything runs on the CPU at tiny width; the GAN cases read a few MNIST images."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import gankit
from gankit.config import resolve
from gankit.data import DataInfo
from gankit.errors import ConfigError, GankitError
from gankit.gans import GANS
from gankit.gans.conditional.acgan import acgan_class_terms
from gankit.gans.conditional.cgan import matching_aware_d_loss, wrong_labels
from gankit.models import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
from gankit.models.sngan import SNGANDiscriminator, SNGANGenerator
from gankit.nn import (AuxClassifierDiscriminator, ConditionalBatchNorm, InputConditioned, LabelInput, LayerFactory,
                       ProjectionDiscriminator)
from gankit.nn.spectral import sn_layers
from gankit.objectives import OBJECTIVES
from test_wiring import check_phases_change_only_their_group, image_base, instrumented_step, make_trainer

CONDITIONAL = ("cgan", "acgan", "projection")
MNIST = DataInfo("mnist", "images", (1, 28, 28), 10)
TINY = ["model.g_width=4", "model.d_width=4", "model.z_dim=8", "model.hidden=8"]


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny nets: one torch thread (tests/conftest.py)


def softplus(v: float) -> float:
    return math.log1p(math.exp(v))


# =============================================================================================
# the parts
# =============================================================================================
def test_label_input_one_hot_on_vectors_and_as_image_channels():
    li = LabelInput(3)
    assert li.dim == 3 and not list(li.parameters())
    z = torch.zeros(2, 4)
    out = li(z, torch.tensor([2, 0]))
    assert out.shape == (2, 7)
    assert out[:, 4:].tolist() == [[0, 0, 1], [1, 0, 0]]
    x = torch.randn(2, 1, 5, 5)
    out = li(x, torch.tensor([1, 2]))
    assert out.shape == (2, 4, 5, 5) and torch.equal(out[:, :1], x)
    assert torch.equal(out[0, 1:], torch.tensor([0.0, 1.0, 0.0])[:, None, None].expand(3, 5, 5))
    flat = LabelInput(3, flat=True)(x, torch.tensor([1, 2]))
    assert flat.shape == (2, 28) and torch.equal(flat[:, :25], x.flatten(1)) and flat[1, 25:].tolist() == [0, 0, 1]


def test_label_input_embedding():
    torch.manual_seed(0)
    li = LabelInput(4, embed_dim=2)
    assert li.dim == 2 and li.embed.weight.shape == (4, 2)
    out = li(torch.zeros(3, 5), torch.tensor([3, 3, 1]))
    assert out.shape == (3, 7)
    assert torch.equal(out[:, 5:], li.embed.weight[[3, 3, 1]])


def test_conditional_batch_norm_at_init_is_plain_batch_norm():
    torch.manual_seed(0)
    for dims, shape in ((2, (6, 3, 4, 4)), (1, (6, 3))):
        cbn = ConditionalBatchNorm(3, 5, dims=dims)
        bn = (nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d)(3)
        assert torch.equal(cbn.gain.weight, torch.ones(5, 3)) and torch.equal(cbn.bias.weight, torch.zeros(5, 3))
        h = torch.randn(shape) * 3 + 1
        y = torch.tensor([0, 1, 2, 3, 4, 0])
        assert torch.allclose(cbn(h, y), bn(h), atol=1e-6)       # training mode: batch statistics
        assert torch.allclose(cbn.bn.running_mean, bn.running_mean) and torch.allclose(cbn.bn.running_var, bn.running_var)
        cbn.eval(), bn.eval()
        assert torch.allclose(cbn(h, y), bn(h), atol=1e-6)       # eval mode: running statistics


def test_conditional_batch_norm_uses_the_gain_and_bias_of_each_label():
    torch.manual_seed(0)
    cbn = ConditionalBatchNorm(2, 3).eval()
    with torch.no_grad():
        cbn.gain.weight[1] = torch.tensor([2.0, -1.0])
        cbn.bias.weight[1] = torch.tensor([0.5, 0.0])
    h = torch.randn(4, 2, 3, 3)
    normed = cbn.bn(h)
    out = cbn(h, torch.tensor([1, 0, 1, 2]))
    assert out.shape == h.shape
    assert torch.allclose(out[0], normed[0] * torch.tensor([2.0, -1.0])[:, None, None] + torch.tensor([0.5, 0.0])[:, None, None])
    assert torch.allclose(out[1], normed[1]) and torch.allclose(out[3], normed[3])  # classes 0, 2: gain 1, bias 0


def test_the_factory_makes_conditional_batch_norm_and_embeddings():
    f = LayerFactory(norm="conditional", classes=10)
    assert isinstance(f.norm_layer(8), ConditionalBatchNorm) and f.norm_layer(8).bn.num_features == 8
    assert isinstance(f.norm_layer(8, dims=1).bn, nn.BatchNorm1d)
    with pytest.raises(ConfigError, match="needs class labels"):
        LayerFactory(norm="conditional")
    emb = LayerFactory(sn=True).embedding(10, 6)
    assert isinstance(emb, nn.Embedding) and [n for n, _, _ in sn_layers(emb)] == [""]
    assert not list(sn_layers(LayerFactory().embedding(10, 6)))


class StubD(nn.Module):
    """phi(x) = x, psi(h) = h . w + b: a discriminator whose parts are known numbers."""

    feature_dim = 2

    def __init__(self):
        super().__init__()
        self.w, self.b = torch.tensor([1.0, -2.0]), 0.5

    def trunk(self, x):
        return x

    def head(self, h):
        return h @ self.w + self.b


def test_projection_term_by_hand():
    """Miyato & Koyama 2018, Eq. 3: D(x, y) = psi(phi(x)) + <V_y, phi(x)>."""
    emb = nn.Embedding(3, 2)
    with torch.no_grad():
        emb.weight.copy_(torch.tensor([[1.0, 1.0], [0.0, 3.0], [-1.0, 0.5]]))
    D = ProjectionDiscriminator(StubD(), emb)
    x = torch.tensor([[1.0, 2.0], [3.0, -1.0]])
    out = D(x, torch.tensor([0, 2]))
    # psi: 1 - 4 + 0.5 = -2.5 and 3 + 2 + 0.5 = 5.5; projections: 1 + 2 = 3 and -3 - 0.5 = -3.5
    assert out.tolist() == pytest.approx([-2.5 + 3.0, 5.5 - 3.5])
    assert D(x, torch.tensor([1, 1])).tolist() == pytest.approx([-2.5 + 6.0, 5.5 - 3.0])


@pytest.mark.parametrize("make", [
    lambda: DCGANDiscriminator((1, 28, 28), 4),
    lambda: SNGANDiscriminator((1, 28, 28), 4, LayerFactory(sn=True, act="lrelu", slope=0.1)),
    lambda: MLPDiscriminator((1, 28, 28), 8, 2),
], ids=["dcgan", "sngan", "mlp"])
def test_projection_and_aux_heads_on_the_real_discriminators(make):
    torch.manual_seed(0)
    net = make().eval()
    x = torch.randn(4, 1, 28, 28)
    phi = net.trunk(x).flatten(1)
    assert phi.shape == (4, net.feature_dim)
    assert torch.allclose(net.head(net.trunk(x)), net(x)) and torch.equal(net(x, torch.arange(4)), net(x))
    emb = LayerFactory().embedding(10, net.feature_dim)
    P = ProjectionDiscriminator(net, emb)
    y = torch.tensor([0, 1, 2, 3])
    assert P(x, y).shape == (4,)
    assert torch.allclose(P(x, y), net(x) + (emb(y) * phi).sum(1), atol=1e-5)
    assert not torch.allclose(P(x, y), P(x, y + 1))  # the label changes D's verdict
    A = AuxClassifierDiscriminator(net, nn.Linear(net.feature_dim, 10))
    src, cls = A.outputs(x)
    assert src.shape == (4,) and cls.shape == (4, 10)
    assert torch.equal(src, net(x)) and torch.equal(A(x), src) and torch.equal(A(x, y), src)
    assert torch.allclose(cls, A.classifier(phi))


@pytest.mark.parametrize("G", [
    lambda f: DCGANGenerator(6, (1, 28, 28), 4, f),
    lambda f: SNGANGenerator(6, (1, 28, 28), 4, f),
    lambda f: MLPGenerator(6, (1, 28, 28), 8, 2, f, tanh=True),
], ids=["dcgan", "sngan", "mlp"])
def test_conditional_batch_norm_generators_follow_the_label(G):
    torch.manual_seed(0)
    net = G(LayerFactory(norm="conditional", act="relu", classes=10))
    assert any(isinstance(m, ConditionalBatchNorm) for m in net.modules())
    z = torch.randn(4, 6)
    y = torch.tensor([0, 1, 2, 3])
    assert net(z, y).shape == (4, 1, 28, 28)
    # at initialisation every class has gain 1 and bias 0: the label cannot matter yet
    assert torch.allclose(net(z, y), net(z, y + 4))
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, ConditionalBatchNorm):
                m.gain.weight.normal_(1, 0.3)
                m.bias.weight.normal_(0, 0.3)
    assert not torch.allclose(net(z, y), net(z, y + 4))
    with pytest.raises(ValueError, match="labels"):
        net(z)


def test_unconditional_nets_take_and_ignore_labels():
    torch.manual_seed(0)
    z, x, y = torch.randn(3, 6), torch.randn(3, 1, 28, 28), torch.tensor([1, 2, 3])
    for G in (DCGANGenerator(6, (1, 28, 28), 4), SNGANGenerator(6, (1, 28, 28), 4), MLPGenerator(6, (1, 28, 28), 8)):
        G.eval()
        assert torch.equal(G(z, y), G(z)) and torch.equal(G(z, None), G(z))
    for D in (DCGANDiscriminator((1, 28, 28), 4), MLPDiscriminator((1, 28, 28), 8)):
        D.eval()
        assert torch.equal(D(x, y), D(x))


def test_input_concatenation_makes_the_label_matter():
    torch.manual_seed(0)
    G = InputConditioned(DCGANGenerator(6 + 10, (1, 28, 28), 4), LabelInput(10)).eval()
    D = InputConditioned(DCGANDiscriminator((1 + 10, 28, 28), 4), LabelInput(10)).eval()
    z, y = torch.randn(3, 6), torch.tensor([0, 5, 9])
    x = G(z, y)
    assert x.shape == (3, 1, 28, 28) and D(x, y).shape == (3,)
    assert not torch.allclose(G(z, y), G(z, (y + 1) % 10))
    assert not torch.allclose(D(x, y), D(x, (y + 1) % 10))
    with pytest.raises(ValueError, match="labels"):
        D(x)


# =============================================================================================
# the terms, by hand
# =============================================================================================
def test_matching_aware_term_by_hand():
    """Reed et al. 2016, Alg. 1 with the log loss: softplus(-s_r) + [softplus(s_w) + softplus(s_f)] / 2."""
    obj = OBJECTIVES.get("nonsaturating")
    r, f, w = torch.tensor([0.0, 2.0]), torch.tensor([1.0, -1.0]), torch.tensor([0.5, 3.0])
    want = ((softplus(-0.0) + softplus(-2.0)) / 2
            + 0.5 * ((softplus(1.0) + softplus(-1.0)) / 2 + (softplus(0.5) + softplus(3.0)) / 2))
    assert matching_aware_d_loss(obj, r, f, w).item() == pytest.approx(want, rel=1e-6)
    hinge = OBJECTIVES.get("hinge")  # relu(1 - r) + [relu(1 + f) + relu(1 + w)] / 2
    want = (1.0 + 0.0) / 2 + 0.5 * ((2.0 + 0.0) / 2 + (1.5 + 4.0) / 2)
    assert matching_aware_d_loss(hinge, r, f, w).item() == pytest.approx(want, rel=1e-6)


def test_wrong_labels_are_the_other_classes_uniformly():
    y = torch.full((30000,), 3)
    w = wrong_labels(y, 4, generator=torch.Generator().manual_seed(0))
    assert not bool((w == y).any())
    counts = torch.bincount(w, minlength=4).tolist()
    assert counts[3] == 0 and all(abs(c - 10000) < 5 * math.sqrt(10000) for c in counts[:3])
    y = torch.randint(10, (1000,))
    assert not bool((wrong_labels(y, 10) == y).any())


class LabelScore(nn.Module):
    """D(x, y) = mean(x) + y: a discriminator whose verdicts are known numbers."""

    def forward(self, x, y=None):
        return x.flatten(1).mean(1) + y.float()


class ZeroG(nn.Module):
    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))  # the GAN reads its device from G's parameters

    def forward(self, z, y=None):
        return torch.zeros(z.shape[0], 1, 28, 28)


@pytest.mark.parametrize("matching_aware", [True, False])
def test_cgan_d_step_by_hand(matching_aware):
    """Two classes, so the wrong label is 1 - y: real x with means 0.5 and -1, labels 0 and 1; G gives
    zeros. D scores: real 0.5, 0; fake 0, 1; mismatched 1.5, -1."""
    info = DataInfo("mnist", "images", (1, 28, 28), 2)
    gan = GANS.get("cgan")(resolve("cgan", TINY + [f"model.matching_aware={str(matching_aware).lower()}"]), info)
    gan.D, gan.G = LabelScore(), ZeroG()
    real = torch.stack([torch.full((1, 28, 28), 0.5), torch.full((1, 28, 28), -1.0)])
    loss, logs = gan.d_step(real, torch.tensor([0, 1]))
    real_term = (softplus(-0.5) + softplus(-0.0)) / 2
    fake_term = (softplus(0.0) + softplus(1.0)) / 2
    wrong_term = (softplus(1.5) + softplus(-1.0)) / 2
    want = real_term + (0.5 * (fake_term + wrong_term) if matching_aware else fake_term)
    assert loss.item() == pytest.approx(want, rel=1e-6) and logs["d_loss"].item() == pytest.approx(want, rel=1e-6)


def test_acgan_class_terms_by_hand():
    """Odena et al. 2016: D minimises CE(real) + CE(fake), G minimises CE(fake) (mean over the batch)."""
    cls_real = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    cls_fake = torch.tensor([[0.0, 0.0], [3.0, -1.0]])
    ce_real = (math.log1p(math.exp(-2.0)) + math.log1p(math.exp(-1.0))) / 2
    ce_fake = (math.log(2.0) + (math.log1p(math.exp(-4.0)) + 4.0)) / 2  # label 1 against logits (3, -1)
    d_term, g_term = acgan_class_terms(cls_real, torch.tensor([0, 1]), cls_fake, torch.tensor([0, 1]))
    assert d_term.item() == pytest.approx(ce_real + ce_fake, rel=1e-6)
    assert g_term.item() == pytest.approx(ce_fake, rel=1e-6)
    d_term, g_term = acgan_class_terms(None, None, cls_fake, torch.tensor([0, 1]))
    assert d_term.item() == pytest.approx(ce_fake, rel=1e-6) == g_term.item()


class TwoHeads(nn.Module):
    """AC-GAN D stub: source score mean(x), class logits (mean(x), 0)."""

    def outputs(self, x):
        m = x.flatten(1).mean(1)
        return m, torch.stack([m, torch.zeros_like(m)], 1)

    def forward(self, x, y=None):
        return self.outputs(x)[0]


def test_acgan_steps_by_hand():
    info = DataInfo("mnist", "images", (1, 28, 28), 2)
    gan = GANS.get("acgan")(resolve("acgan", TINY + ["model.class_weight=0.5"]), info)
    gan.D, gan.G = TwoHeads(), ZeroG()
    real = torch.stack([torch.full((1, 28, 28), 1.0), torch.full((1, 28, 28), -2.0)])
    y = torch.tensor([0, 1])
    loss, logs = gan.d_step(real, y)
    adv = (softplus(-1.0) + softplus(2.0)) / 2 + softplus(0.0)  # real scores 1, -2; fake scores 0, 0
    ce_real = (math.log1p(math.exp(-1.0)) + math.log1p(math.exp(-2.0))) / 2  # logits (1, 0) -> 0, (-2, 0) -> 1
    ce_fake = math.log(2.0)                                                   # logits (0, 0)
    assert logs["d_loss"].item() == pytest.approx(adv, rel=1e-6)
    assert logs["d_class"].item() == pytest.approx(ce_real + ce_fake, rel=1e-6)
    assert loss.item() == pytest.approx(adv + 0.5 * (ce_real + ce_fake), rel=1e-6)
    loss, logs = gan.g_step(real, y)
    assert logs["g_class"].item() == pytest.approx(ce_fake, rel=1e-6)
    assert loss.item() == pytest.approx(softplus(-0.0) + 0.5 * ce_fake, rel=1e-6)


# =============================================================================================
# the GANs
# =============================================================================================
@pytest.mark.parametrize("name, extra", [
    ("cgan", []), ("cgan", ["model.matching_aware=false", "model.label_dim=3"]), ("cgan", ["model.arch=mlp"]),
    ("cgan", ["model.d_cond=projection", "model.g_cond=cbn"]), ("acgan", []), ("acgan", ["model.g_cond=cbn"]),
    ("projection", []), ("projection", ["model.arch=dcgan", "penalties={r1: 1.0}", "model.d_norm=none"]),
], ids=["cgan", "cgan-plain-embed", "cgan-mlp", "cgan-cbn-projection", "acgan", "acgan-cbn", "projection",
        "projection-dcgan-r1"])
def test_one_step_each_phase_changes_only_its_own_parameters(tmp_path, request, name, extra):
    tr = make_trainer(tmp_path, name, "train.n_critic=2", *extra, base=image_base(request))
    assert tr.gan.conditional and tr.gan.num_classes == 10
    real, labels = tr.loader.next()
    assert labels is not None and labels.shape == (real.shape[0],)
    updates = instrumented_step(tr)
    check_phases_change_only_their_group(updates, 2)
    logs = tr.meter.pop_means()
    assert {"d_loss", "g_loss"} <= set(logs) and all(math.isfinite(v) for v in logs.values())
    if name == "acgan":
        assert {"d_class", "g_class"} <= set(logs)


def test_the_gans_compose_the_papers_parts():
    over = TINY
    cgan = GANS.get("cgan")(resolve("cgan", over), MNIST)
    assert isinstance(cgan.G, InputConditioned) and isinstance(cgan.D, InputConditioned)
    assert cgan.p.matching_aware and cgan.objective.name == "nonsaturating"
    ac = GANS.get("acgan")(resolve("acgan", over), MNIST)
    assert isinstance(ac.D, AuxClassifierDiscriminator) and ac.D.classifier.out_features == 10
    pr = GANS.get("projection")(resolve("projection", over), MNIST)
    assert isinstance(pr.D, ProjectionDiscriminator) and pr.objective.name == "hinge" and not pr.p.matching_aware
    assert isinstance(pr.G, InputConditioned)  # the preset: the label appended to z (configs/projection.yaml)
    weights = [m for m in pr.D.modules() if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding))]
    assert {id(m) for m in weights} == {id(m) for _, m, _ in sn_layers(pr.D)}  # SN everywhere, embedding too
    # the paper's G: conditional BN (two layers in DCGAN's G at 28x28), starting at gain 1, bias 0
    pr = GANS.get("projection")(resolve("projection", over + ["model.g_cond=cbn"]), MNIST)
    assert sum(isinstance(m, ConditionalBatchNorm) for m in pr.G.modules()) == 2
    for m in pr.G.modules():
        if isinstance(m, ConditionalBatchNorm):
            assert torch.equal(m.gain.weight, torch.ones_like(m.gain.weight)) and not m.bias.weight.any()


def test_conditional_gans_refuse_data_without_labels():
    with pytest.raises(ConfigError, match="needs image data") as e:
        resolve("cgan", ["data=ring8"])
    assert "\n" not in str(e.value)
    blank = DataInfo("imagefolder", "images", (1, 28, 28), 0)
    for name in CONDITIONAL:
        with pytest.raises(ConfigError, match="needs labelled data") as e:
            GANS.get(name)(resolve(name, TINY), blank)
        assert "\n" not in str(e.value)


def test_hidden_fc_layer_is_for_dcgan_nets_only():
    """model.fc (InfoGAN's hidden FC layers) on the DCGAN nets; other nets refuse it in one line."""
    gan = GANS.get("infogan")(resolve("infogan", TINY + ["model.fc=12"]), MNIST)
    assert gan.D.net.feature_dim == 12
    for arch in ("sngan", "mlp"):
        with pytest.raises(ConfigError, match="model.fc") as e:
            GANS.get("cgan")(resolve("cgan", TINY + ["model.fc=12", f"model.arch={arch}"]), MNIST)
        assert "\n" not in str(e.value)


def test_conditional_sampling_draws_balanced_labels_and_uses_them():
    torch.manual_seed(0)
    gan = GANS.get("cgan")(resolve("cgan", TINY + ["train.ema=null"]), MNIST)
    x, y = gan.sample_with_labels(23, seed=4)
    assert x.shape == (23, 1, 28, 28) and y.tolist() == [i % 10 for i in range(23)]
    assert torch.equal(gan.sample(23, seed=4), x) and torch.equal(gan.sample_with_labels(23, seed=4)[0], x)
    # by hand: the same noise through G in eval mode with those labels
    gan.G.eval()
    with torch.no_grad():
        want = gan.G(gan.sample_z(23, generator=torch.Generator().manual_seed(4)), y)
    gan.G.train()
    assert torch.equal(x, want)
    # chosen labels
    x7, y7 = gan.sample_with_labels(5, seed=4, labels=[7] * 5)
    assert y7.tolist() == [7] * 5 and not torch.allclose(x7, x[:5])
    with pytest.raises(ValueError, match="class indices"):
        gan.sample_with_labels(2, labels=[3, 10])
    # the training picture: one row per class
    grid, per = gan.sample_grid(64, seed=0)
    assert per == 7 and grid.shape == (70, 1, 28, 28)
    with torch.no_grad():
        row3 = gan.sample_with_labels(70, seed=0, labels=torch.arange(10).repeat_interleave(7))[0][21:28]
    assert torch.equal(grid[21:28], row3)


def test_unconditional_sampling_is_unchanged():
    gan = GANS.get("dcgan")(resolve("dcgan", TINY), MNIST)
    assert not gan.conditional and gan.sample_labels(5) is None
    x, y = gan.sample_with_labels(6, seed=2)
    assert y is None and torch.equal(x, gan.sample(6, seed=2))
    grid, per = gan.sample_grid(9, seed=2)
    assert per is None and torch.equal(grid, gan.sample(9, seed=2))


def test_evaluation_adds_class_accuracy_for_conditional_gans(mnist_root):
    from gankit.train.run import evaluate_gan

    torch.manual_seed(0)
    gan = GANS.get("cgan")(resolve("cgan", TINY), MNIST)
    r = evaluate_gan(gan, MNIST, n=20, metrics=["class_accuracy"], root=str(mnist_root))
    assert 0.0 <= r["class_accuracy"] <= 1.0 and r["protocol"]["metrics"] == ["class_accuracy"]
    assert r["protocol"]["features"]["name"] == "classifier-mnist"
    unconditional = GANS.get("dcgan")(resolve("dcgan", TINY), MNIST)
    with pytest.raises(GankitError, match="needs the labels"):
        evaluate_gan(unconditional, MNIST, n=20, metrics=["class_accuracy"], root=str(mnist_root))


def test_cgan_run_end_to_end(tmp_path, mnist_root):
    """Train (with the final evaluation), the class-by-row picture, load the run, sample and evaluate."""
    from PIL import Image

    run = gankit.train("cgan", "data=mnist", f"data.root={mnist_root}", "data.size=64", "batch_size=8", "steps=2",
                       "train.eval_samples=20", "train.progress=false", "train.grid_size=20", *TINY,
                       out=str(tmp_path / "r"))
    ev = (tmp_path / "r" / "eval.json").read_text()
    assert '"class_accuracy"' in ev
    w, h = Image.open(tmp_path / "r" / "samples" / "final.png").size
    assert (w, h) == (2 * 28 + 3 * 2, 10 * 28 + 11 * 2)  # 10 rows (classes) of 2
    assert run.gan.conditional and run.sample(4).shape == (4, 1, 28, 28)
    run.save_samples(tmp_path / "s.npy", n=12, seed=1)
    x, _ = run.gan.sample_with_labels(12, seed=1)
    assert np.array_equal(np.load(tmp_path / "s.npy"), x.cpu().numpy())
    run.save_samples(tmp_path / "s.png", n=12, seed=1)
    assert Image.open(tmp_path / "s.png").size == (10 * 28 + 11 * 2, 2 * 28 + 3 * 2)  # a column per class
    r = run.evaluate(n=20, write=False, metrics="class_accuracy")
    assert 0.0 <= r["class_accuracy"] <= 1.0


def test_class_accuracy_of_real_labelled_images_is_the_reference_classifiers_test_accuracy(mnist_root):
    """Scoring the real test images with their own labels as "samples" gives exactly the reference
    classifier's test accuracy (0.9966 on MNIST, stored with its weights), so class_accuracy of a
    conditional GAN is measured on the scale of that classifier."""
    import json
    from importlib.resources import files

    from gankit.metrics.suite import load_real_images, score_images

    x, y = load_real_images("mnist", "test", 10000, root=str(mnist_root))
    r = score_images(x, "mnist", metrics=["class_accuracy"], labels=y, root=str(mnist_root), cache=False)
    stored = json.loads(files("gankit.metrics").joinpath("weights/mnist-classifier.json").read_text())
    assert r["class_accuracy"] == pytest.approx(stored["test_accuracy"], abs=5e-5)
