"""The semi-supervised GAN (Salimans et al. 2016, arXiv 1606.03498, Sec. 5) and few-label data (data.labels=N).

What is checked: the (K+1)-class losses against hand-computed values and against the literal K+1-way softmax;
feature matching against its formula; that D is the K-logit classifier with D(x) = Z/(Z+1); the steps route the
labelled, unlabelled and generated rows to the right terms; one training step in which the d phase changes only
D and the g phase only G; the balanced, seeded, reproducible choice of the labelled images and its one-line
errors; the semi-supervised batches and their resumable state; and that evaluation (the Python API, the
training's final evaluation and `gankit eval`) reports the classifier's error on the real test split.

Everything runs on the CPU at tiny width; the cases with real data read MNIST (GANKIT_DATA or ../shared/data)."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
import torch
from torch import nn

import gankit
from gankit.config import resolve
from gankit.data import UNLABELLED, DataInfo, FewLabelLoader, make_loader, select_labelled
from gankit.errors import ConfigError, GankitError
from gankit.gans import GANS
from gankit.gans.conditional.semisupervised import class_error, semisupervised_d_terms
from gankit.objectives.feature_matching import feature_matching_loss
from gankit.nn import ClassifierDiscriminator
from gankit.train.loop import Trainer, prepare_run_dir
from test_wiring import check_phases_change_only_their_group, image_base, instrumented_step, make_trainer

NAME = "semisupervised-gan"
MNIST = DataInfo("mnist", "images", (1, 28, 28), 10)
TINY = ["model.g_width=4", "model.d_width=4", "model.z_dim=4"]


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny nets: one torch thread (tests/conftest.py)


def softplus(v: float) -> float:
    return math.log1p(math.exp(v))


def one_line(e) -> str:
    msg = str(e.value)
    assert "\n" not in msg and len(msg) <= 300
    return msg


# =============================================================================================
# the losses
# =============================================================================================
def test_k_plus_one_losses_by_hand():
    """K = 2. Real rows: (0, 0) labelled 0, (log 3, 0) unlabelled, (0, log 2) labelled 1; fakes (0, 0) and
    (log 1/4, log 1/4). Z = sum exp(l): D = Z / (Z + 1)."""
    real = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0], [0.0, math.log(2.0)]])
    labels = torch.tensor([0, UNLABELLED, 1])
    fake = torch.tensor([[0.0, 0.0], [math.log(0.25), math.log(0.25)]])
    sup, unsup = semisupervised_d_terms(real, labels, fake, labels < 0)
    # -log softmax: row 0 p(0) = 1/2, row 2 p(1) = 2/3
    assert sup.item() == pytest.approx((math.log(2) + math.log(1.5)) / 2, rel=1e-6)
    # -log D(x) for row 1: Z = 4, D = 4/5; -log(1 - D(G(z))) = log(Z + 1): Z = 2 and 1/2
    assert unsup.item() == pytest.approx(math.log(5 / 4) + (math.log(3) + math.log(1.5)) / 2, rel=1e-6)
    # every real row in the unsupervised term (all labels known: the fully supervised setting)
    _, unsup_all = semisupervised_d_terms(real, labels, fake)
    real_terms = [math.log(3 / 2), math.log(5 / 4), math.log(4 / 3)]  # -log(Z / (Z + 1)), Z = 2, 4, 3
    assert unsup_all.item() == pytest.approx(sum(real_terms) / 3 + (math.log(3) + math.log(1.5)) / 2, rel=1e-6)
    # no known label: no supervised term
    sup0, _ = semisupervised_d_terms(real, torch.full((3,), UNLABELLED), fake)
    assert sup0.item() == 0.0


def test_k_plus_one_losses_are_the_literal_k_plus_one_way_softmax():
    """Append the fake class's logit 0 and use the (K+1)-way softmax as written in the paper (Sec. 5):
    L_sup = -log p(y | x, y < K+1), L_unsup = -log(1 - p(K+1 | x)) - log p(K+1 | G(z))."""
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(7, 5, generator=g, dtype=torch.float64) * 3, torch.randn(6, 5, generator=g, dtype=torch.float64) * 3
    labels = torch.tensor([3, UNLABELLED, 0, 4, UNLABELLED, UNLABELLED, 1])
    p_real = torch.softmax(torch.cat([real, torch.zeros(7, 1, dtype=torch.float64)], 1), 1)
    p_fake = torch.softmax(torch.cat([fake, torch.zeros(6, 1, dtype=torch.float64)], 1), 1)
    known = labels >= 0
    p_y = p_real[known].gather(1, labels[known][:, None]).squeeze(1) / (1 - p_real[known, 5])
    want_sup = -p_y.log().mean()
    want_unsup = -(1 - p_real[~known, 5]).log().mean() - p_fake[:, 5].log().mean()
    sup, unsup = semisupervised_d_terms(real, labels, fake, ~known)
    assert sup.item() == pytest.approx(want_sup.item(), rel=1e-5)
    assert unsup.item() == pytest.approx(want_unsup.item(), rel=1e-5)


def test_k_plus_one_losses_are_stable_for_large_logits():
    real = torch.tensor([[1000.0, -1000.0], [-1000.0, -1000.0]])
    fake = torch.tensor([[1000.0, 999.0], [-1000.0, -1000.0]])
    sup, unsup = semisupervised_d_terms(real, torch.tensor([0, UNLABELLED]), fake, torch.tensor([False, True]))
    assert torch.isfinite(sup) and torch.isfinite(unsup)
    assert sup.item() == pytest.approx(0.0, abs=1e-6)
    # row 1 real: Z = 2 e^-1000, -log D = log(1 + 1/Z) ~ 1000 - log 2; fakes: log(1 + Z) ~ 1000 + log(1 + e^-1) and ~0
    assert unsup.item() == pytest.approx(1000 - math.log(2) + 0.5 * (1000 + math.log1p(math.exp(-1))), rel=1e-6)


def test_feature_matching_loss_is_its_formula():
    """|| mean f(x) - mean f(G(z)) ||^2, summed over the features."""
    f_real = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    f_fake = torch.tensor([[0.0, 0.0], [2.0, 2.0]], requires_grad=True)
    loss = feature_matching_loss(f_real, f_fake)
    assert loss.item() == pytest.approx((2 - 1) ** 2 + (3 - 1) ** 2)
    loss.backward()  # d/d f_fake_i = 2 (mean_fake - mean_real) / M
    assert torch.allclose(f_fake.grad, torch.tensor([[-1.0, -2.0], [-1.0, -2.0]]))
    # only the rows asked for (the unlabelled ones): mean real (1, 2)
    assert feature_matching_loss(f_real, f_fake, torch.tensor([True, False])).item() == pytest.approx(0 + 1)
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(9, 4, 3, 3, generator=g), torch.randn(5, 4, 3, 3, generator=g)
    want = ((a.flatten(1).mean(0) - b.flatten(1).mean(0)) ** 2).sum()
    assert feature_matching_loss(a, b).item() == pytest.approx(want.item(), rel=1e-6)


def test_class_error_counts_known_labels_only():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [5.0, 0.0], [0.0, 3.0]])
    assert class_error(logits, torch.tensor([0, 0, UNLABELLED, 1])).item() == pytest.approx(1 / 3)
    assert class_error(logits, torch.full((4,), UNLABELLED)).item() == 0.0


# =============================================================================================
# the networks and the steps
# =============================================================================================
def test_d_is_a_k_logit_classifier_with_d_of_x_z_over_z_plus_one():
    torch.manual_seed(0)
    gan = GANS.get(NAME)(resolve(NAME, TINY + ["model.d_input_noise=0.3", "model.d_noise=0.5"]), MNIST)
    assert isinstance(gan.D, ClassifierDiscriminator) and not gan.conditional and gan.classifies and gan.few_labels
    x = torch.randn(5, 1, 28, 28)
    gan.D.eval()  # no noise
    f, logits = gan.D.outputs(x)
    assert f.shape == (5, 2 * 4 * 7 * 7) and logits.shape == (5, 10)
    z = logits.double().exp().sum(1)
    assert torch.allclose(torch.sigmoid(gan.D(x).double()), z / (z + 1), rtol=1e-5)
    assert torch.equal(gan.classify(x), logits) and not gan.D.training
    gan.D.train()
    assert not torch.equal(gan.D.class_logits(x), logits)  # noise in training mode
    assert torch.equal(gan.classify(x), logits) and gan.D.training  # classify: eval mode, then back
    mlp = GANS.get(NAME)(resolve(NAME, ["model.arch=mlp", "model.hidden=8", "model.d_depth=2", "model.z_dim=4"]), MNIST)
    mlp.D.eval()
    f, logits = mlp.D.outputs(x)
    assert f.shape == (5, 8) and logits.shape == (5, 10) and mlp.G(torch.randn(3, 4)).shape == (3, 1, 28, 28)


class StubD(nn.Module):
    """Features: the first 3 pixels; class logits: the first 10 pixels."""

    def outputs(self, x):
        flat = x.flatten(1)
        return flat[:, :3], flat[:, :10]

    def forward(self, x, y=None):
        return torch.logsumexp(self.outputs(x)[1], 1)


class FixedG(nn.Module):
    def __init__(self, images):
        super().__init__()
        self.images = nn.Parameter(images.clone())

    def forward(self, z, y=None):
        return self.images[:z.shape[0]]


def test_steps_route_labelled_unlabelled_and_generated_rows(tmp_path):
    """d_step: L_supervised on the labelled rows, L_unsupervised on the unlabelled rows and the fakes,
    loss = sup + unsup_weight * unsup; g_step: feature matching of the unlabelled rows and the fakes."""
    cfg = resolve(NAME, TINY + ["batch_size=3", "data.labels=20", "model.unsup_weight=0.5"])
    gan = GANS.get(NAME)(cfg, MNIST)
    g = torch.Generator().manual_seed(2)
    real = torch.randn(6, 1, 28, 28, generator=g)
    labels = torch.tensor([UNLABELLED] * 3 + [4, 0, 9])
    fakes = torch.randn(3, 1, 28, 28, generator=g)
    gan.D, gan.G = StubD(), FixedG(fakes)
    loss, logs = gan.d_step(real, labels)
    flat, fflat = real.flatten(1), fakes.flatten(1)
    sup, _ = semisupervised_d_terms(flat[3:, :10], labels[3:], fflat[:, :10])  # the labelled rows
    _, unsup = semisupervised_d_terms(flat[:3, :10], labels[:3], fflat[:, :10])  # the unlabelled ones
    assert logs["d_class"].item() == pytest.approx(sup.item(), rel=1e-6)
    assert logs["d_loss"].item() == pytest.approx(unsup.item(), rel=1e-6)
    assert loss.item() == pytest.approx(sup.item() + 0.5 * unsup.item(), rel=1e-6)
    assert logs["d_class_err"].item() == pytest.approx(class_error(flat[3:, :10], labels[3:]).item())
    loss, logs = gan.g_step(real, labels)
    want = ((flat[:3, :3].mean(0) - fflat[:, :3].mean(0)) ** 2).sum()
    assert loss.item() == pytest.approx(want.item(), rel=1e-6) and logs["g_loss"].item() == loss.item()
    loss.backward()
    assert gan.G.images.grad is not None and gan.G.images.grad.abs().sum() > 0
    # without data.labels every image is labelled and serves both terms
    full = GANS.get(NAME)(resolve(NAME, TINY + ["batch_size=3", "data=imagefolder"]), MNIST)
    assert full.cfg.data.labels is None
    full.D, full.G = StubD(), FixedG(fakes)
    y = torch.tensor([1, 2, 3])
    loss, logs = full.d_step(real[:3], y)
    sup, unsup = semisupervised_d_terms(flat[:3, :10], y, fflat[:, :10])
    assert loss.item() == pytest.approx(sup.item() + unsup.item(), rel=1e-6)
    with pytest.raises(ValueError, match="labels"):
        full.d_step(real[:3], None)


def test_one_step_each_phase_changes_only_its_own_parameters(tmp_path, request):
    """A real Trainer step on tiny MNIST with 20 labels: the d phase changes D (every parameter gets a
    gradient) and not G, the g phase G and not D; each phase receives 8 unlabelled + 8 labelled rows."""
    tr = make_trainer(tmp_path, NAME, "model.d_input_noise=0.3", "model.d_noise=0.5", base=image_base(request))
    assert isinstance(tr.loader, FewLabelLoader) and len(tr.loader.labelled_index) == 20
    seen = []
    for ph in tr.phases:
        def wrapped(real, labels, fn=ph.fn):
            seen.append((real.shape[0], labels[:8].tolist(), bool((labels[8:] >= 0).all())))
            return fn(real, labels)
        ph.fn = wrapped
    updates = instrumented_step(tr)
    check_phases_change_only_their_group(updates, 1)
    assert seen == [(16, [UNLABELLED] * 8, True)] * 2
    logs = tr.meter.pop_means()
    assert {"d_loss", "d_class", "d_class_err", "g_loss"} <= set(logs) and all(math.isfinite(v) for v in logs.values())


# =============================================================================================
# data.labels: which images keep their labels, and the batches
# =============================================================================================
def shuffled_labels(n=600, k=10, seed=5):
    return (torch.arange(n) % k)[torch.randperm(n, generator=torch.Generator().manual_seed(seed))]


def test_labelled_selection_is_balanced_seeded_and_reproducible():
    y = shuffled_labels()
    idx = select_labelled(y, 30, 10, seed=7)
    assert idx.dtype == torch.int64 and len(idx) == 30 and len(set(idx.tolist())) == 30
    assert torch.bincount(y[idx], minlength=10).tolist() == [3] * 10
    assert y[idx].tolist() == sorted(y[idx].tolist())  # class by class
    assert torch.equal(idx, select_labelled(y, 30, 10, seed=7))
    other = select_labelled(y, 30, 10, seed=8)
    assert not torch.equal(idx, other) and torch.bincount(y[other], minlength=10).tolist() == [3] * 10
    # within a class: the first of that class in a permutation of all indices by the seeded generator
    perm = torch.randperm(600, generator=torch.Generator().manual_seed(7))
    assert idx[:3].tolist() == [i for i in perm.tolist() if y[i] == 0][:3]


@pytest.mark.parametrize("n, y, match", [
    (15, "labels", "multiple of the 10 classes"),
    (610, "labels", "needs 61 images of each class, but class 0 has 60"),
    (0, "labels", "multiple of the 10 classes"),
    (20, None, "no class labels"),
], ids=["not-divisible", "too-many", "zero", "unlabelled-data"])
def test_labelled_selection_errors(n, y, match):
    with pytest.raises(ConfigError, match=match) as e:
        select_labelled(shuffled_labels() if y else None, n, 10, seed=0, name="toy")
    assert one_line(e).startswith("config: data.labels")


def test_few_label_batches_and_their_state():
    y = shuffled_labels(200)
    x = torch.arange(200, dtype=torch.float32)[:, None, None, None].expand(200, 1, 2, 2).clone()  # x remembers its row
    info = DataInfo("toy", "images", (1, 2, 2), 10)
    loader = make_loader(x, y, info, 8, "cpu", 3, labels=10)
    assert isinstance(loader, FewLabelLoader)
    chosen = set(loader.labelled_index.tolist())
    assert chosen == set(select_labelled(y, 10, 10, 3).tolist())
    for _ in range(30):  # several epochs of the labelled stream (10 images, tiled to fill a batch of 8)
        xb, yb = loader.next()
        rows = xb[:, 0, 0, 0].long()
        assert xb.shape == (16, 1, 2, 2) and yb[:8].tolist() == [UNLABELLED] * 8
        assert not chosen & set(rows[:8].tolist())  # the unlabelled part never holds a labelled image
        assert set(rows[8:].tolist()) <= chosen and torch.equal(yb[8:], y[rows[8:]])
    state = loader.state_dict()
    want = [loader.next() for _ in range(5)]
    again = make_loader(x, y, info, 8, "cpu", 3, labels=10)
    again.load_state_dict(state)
    for (xa, ya), (xb, yb) in zip(want, (again.next() for _ in range(5))):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    plain = make_loader(x, y, info, 8, "cpu", 3)
    with pytest.raises(GankitError, match="semi-supervised"):
        again.load_state_dict(plain.state_dict())
    small = make_loader(x, y, info, 8, "cpu", 3, labels=20)
    assert small.labelled.x.shape[0] == 20 and small.next()[0].shape[0] == 16
    with pytest.raises(ConfigError, match="fewer than one batch"):
        make_loader(x[:24], torch.arange(24) % 10, info, 8, "cpu", 3, labels=20)  # 2 of each class, 4 left
    assert torch.equal(make_loader(x, y, info, 8, "cpu", 3).next()[1], plain.next()[1])  # no data.labels: as before


def test_data_labels_config(tmp_path, mnist_root):
    cfg = resolve(NAME)
    assert (cfg.data.name, cfg.data.labels, cfg.batch_size) == ("mnist", 100, 100)  # the preset: 100 labels on MNIST
    assert resolve(NAME, ["data=fashion-mnist"]).data.labels == 100
    assert resolve(NAME, ["data=imagefolder"]).data.labels is None  # other data keeps every label
    assert resolve(NAME, ["data.labels=null"]).data.labels is None
    with pytest.raises(ConfigError, match="data.labels must be ≥ 1") as e:
        resolve(NAME, ["data.labels=0"])
    one_line(e)
    with pytest.raises(ConfigError, match="not used by GAN 'dcgan'.*semisupervised-gan") as e:
        resolve("dcgan", ["data.labels=100"])
    one_line(e)
    with pytest.raises(ConfigError, match="objective must be nonsaturating"):
        resolve(NAME, ["objective=hinge"])
    with pytest.raises(ConfigError, match="needs image data"):
        resolve(NAME, ["data=ring8"])
    with pytest.raises(ConfigError, match="no class labels"):
        GANS.get(NAME)(resolve(NAME, TINY), DataInfo("imagefolder", "images", (1, 28, 28), 0))
    # a bad N on real data fails when the run starts, before its directory is made
    for n, match in ((15, "multiple of the 10 classes of 'mnist'"), (50, "class 2 has 4")):
        out = tmp_path / f"bad{n}"
        with pytest.raises(ConfigError, match=match) as e:
            gankit.train(NAME, f"data.root={mnist_root}", "data.size=64", f"data.labels={n}", "batch_size=8",
                         "train.progress=false", *TINY, out=str(out))
        one_line(e)
        assert not out.exists()


def test_the_run_seed_chooses_the_labelled_images(tmp_path, mnist_root):
    def labelled(seed, out):
        cfg = resolve(NAME, [f"data.root={mnist_root}", "data.size=200", "data.labels=20", "batch_size=8",
                             f"seed={seed}", "train.progress=false", f"out={tmp_path / out}"] + TINY)
        return Trainer(cfg, prepare_run_dir(cfg, False)).loader.labelled_index
    a, b, c = labelled(0, "a"), labelled(0, "b"), labelled(1, "c")
    assert torch.equal(a, b) and not torch.equal(a, c)


# =============================================================================================
# evaluation: the classifier's test error
# =============================================================================================
def test_evaluation_reports_the_classifiers_test_error(mnist_root):
    from gankit.data import load_dataset
    from gankit.train.run import evaluate_gan

    torch.manual_seed(0)
    gan = GANS.get(NAME)(resolve(NAME, TINY), MNIST)
    r = evaluate_gan(gan, MNIST, n=30, metrics=["classifier_error"], root=str(mnist_root))
    x, y, _ = load_dataset("mnist", root=str(mnist_root), split="test")
    wrong = int((gan.classify(x).argmax(1) != y).sum())
    assert (r["classifier_errors"], r["classifier_images"]) == (wrong, 10000)
    assert r["classifier_error"] == pytest.approx(wrong / 10000)
    assert r["protocol"]["classifier"] == {"split": "test", "images": "all"}
    from gankit.metrics.suite import _resolve_metrics

    assert "classifier_error" in [m.name for m in _resolve_metrics(None, None, None, "mnist", None, gan.classify)]
    dcgan = GANS.get("dcgan")(resolve("dcgan", TINY), MNIST)
    with pytest.raises(GankitError, match="trains a classifier of real images"):
        evaluate_gan(dcgan, MNIST, n=30, metrics=["classifier_error"], root=str(mnist_root))


def test_run_end_to_end_and_gankit_eval(tmp_path, mnist_root):
    """Training's final evaluation and `gankit eval` both report classifier_error with the usual metrics."""
    out = tmp_path / "r"
    run = gankit.train(NAME, f"data.root={mnist_root}", "data.size=64", "data.labels=20", "batch_size=8", "steps=2",
                       "train.eval_samples=30", "train.progress=false", "train.grid_size=16", *TINY, out=str(out))
    ev = json.loads((out / "eval.json").read_text())
    assert 0 <= ev["classifier_error"] <= 1 and ev["classifier_images"] == 10000 and "cfid" in ev
    assert run.sample(4, seed=1).shape == (4, 1, 28, 28)
    r = subprocess.run([sys.executable, "-m", "gankit.cli", "eval", str(out), "--n", "30", "--out", str(tmp_path / "e.json"),
                        "--data-root", str(mnist_root)], capture_output=True, text=True,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    assert "classifier_error" in r.stdout
    again = json.loads((tmp_path / "e.json").read_text())
    assert again["classifier_errors"] == ev["classifier_errors"]  # the same D, the same test images
    assert "cfid" in again and "classifier_error" in again["protocol"]["metrics"]
