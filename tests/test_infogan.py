"""InfoGAN (Chen et al. 2016, arXiv 1606.03657): the mutual-information lower bound against hand-computed
values and torch.distributions, the one-to-one code matching (Hungarian method) against brute force and
hand-computed confusions, the nets the GAN composes, one training step with each phase changing only its
own parameters (and no labels read), the steps' losses by hand, sampling with a fixed code, the latent
traversals, code_accuracy in evaluation, and the run end to end through the Python API.

Everything runs on the CPU at tiny width; the GAN cases read a few MNIST images."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

import gankit
from gankit.config import resolve
from gankit.data import DataInfo
from gankit.errors import GankitError
from gankit.gans import GANS
from gankit.gans.representation.infogan import mutual_information_bound
from gankit.metrics.matching import confusion_counts, linear_assignment, matched_accuracy
from gankit.nn import AuxClassifierDiscriminator, InputConditioned, LabelInput
from test_wiring import check_phases_change_only_their_group, image_base, instrumented_step, make_trainer

MNIST = DataInfo("mnist", "images", (1, 28, 28), 10)
TINY = ["model.g_width=4", "model.d_width=4", "model.q_hidden=8"]
LOG2PI = math.log(2 * math.pi)


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny nets: one torch thread (tests/conftest.py)


def softplus(v: float) -> float:
    return math.log1p(math.exp(v))


# =============================================================================================
# the mutual-information lower bound L_I = E log Q(c | x) + H(c)
# =============================================================================================
def test_mutual_information_bound_by_hand():
    # categorical, K = 3, codes 1 and 0: log softmax(0, 0, 0)[1] = -log 3, log softmax(log 2, 0, 0)[0] = log 1/2
    logits = torch.tensor([[0.0, 0.0, 0.0], [math.log(2.0), 0.0, 0.0]])
    l_cat, l_cont = mutual_information_bound(logits, torch.tensor([1, 0]))
    assert l_cat.item() == pytest.approx((-math.log(3) - math.log(2)) / 2 + math.log(3), rel=1e-6)
    assert l_cont.item() == 0.0
    # continuous, sigma 1: squared errors 0.25 + 0 and 0.25 + 0; two dims of U(-1, 1), entropy 2 log 2
    mean = torch.tensor([[0.5, 0.0], [0.0, -1.0]])
    c = torch.tensor([[1.0, 0.0], [0.5, -1.0]])
    l_cat, l_cont = mutual_information_bound(None, None, mean, c)
    assert l_cat.item() == 0.0
    assert l_cont.item() == pytest.approx(-0.125 - LOG2PI + 2 * math.log(2), rel=1e-6)
    # learned sigma: sample 0, dim 0 has sigma 2: -0.5 (0.5 / 2)^2 - log 2 - 0.5 log 2 pi
    log_std = torch.tensor([[math.log(2.0), 0.0], [0.0, 0.0]])
    _, l_cont = mutual_information_bound(None, None, mean, c, log_std)
    s0 = -0.5 * 0.25 ** 2 - math.log(2) - LOG2PI
    s1 = -0.125 - LOG2PI
    assert l_cont.item() == pytest.approx((s0 + s1) / 2 + 2 * math.log(2), rel=1e-6)
    # codes from U(-2, 2): entropy log 4 per dimension
    _, wide = mutual_information_bound(None, None, mean, c, cont_low=-2.0, cont_high=2.0)
    assert wide.item() == pytest.approx(-0.125 - LOG2PI + 2 * math.log(4), rel=1e-6)


def test_mutual_information_bound_against_torch_distributions_and_its_maximum():
    torch.manual_seed(0)
    logits, cat = torch.randn(50, 10), torch.randint(10, (50,))
    mean, log_std, c = torch.randn(50, 2), torch.randn(50, 2) * 0.3, torch.rand(50, 2) * 2 - 1
    l_cat, l_cont = mutual_information_bound(logits, cat, mean, c, log_std)
    want_cat = torch.distributions.Categorical(logits=logits).log_prob(cat).mean() + math.log(10)
    uniform = torch.distributions.Uniform(-torch.ones(2), torch.ones(2))
    want_cont = (torch.distributions.Normal(mean, log_std.exp()).log_prob(c).sum(1).mean()
                 + uniform.entropy().sum())
    assert l_cat.item() == pytest.approx(want_cat.item(), rel=1e-5)
    assert l_cont.item() == pytest.approx(want_cont.item(), rel=1e-5)
    # a Q that is certain of the right code reaches the bound's maximum H(c) = log K
    sure = torch.full((4, 10), -50.0)
    sure[torch.arange(4), torch.tensor([3, 1, 4, 1])] = 50.0
    assert mutual_information_bound(sure, torch.tensor([3, 1, 4, 1]))[0].item() == pytest.approx(math.log(10), abs=1e-6)


# =============================================================================================
# matching code values to classes
# =============================================================================================
def brute_force(cost):
    n, m = len(cost), len(cost[0])
    return min(sum(cost[i][p[i]] for i in range(n)) for p in itertools.permutations(range(m), n))


def test_linear_assignment_is_optimal_against_brute_force():
    gen = torch.Generator().manual_seed(0)
    for n, m in [(1, 1), (3, 3), (5, 5), (6, 6), (3, 5), (4, 7)]:
        for _ in range(5):
            cost = torch.randint(0, 20, (n, m), generator=gen).tolist()
            cols = linear_assignment(cost)
            assert len(set(cols)) == n and all(0 <= j < m for j in cols)
            assert sum(cost[i][j] for i, j in enumerate(cols)) == brute_force(cost)
    assert linear_assignment([]) == []
    with pytest.raises(ValueError, match="more rows"):
        linear_assignment([[1], [2]])


def test_linear_assignment_agrees_with_scipy_on_10_by_10():
    optimize = pytest.importorskip("scipy.optimize")
    gen = torch.Generator().manual_seed(1)
    for _ in range(20):
        cost = torch.rand(10, 10, generator=gen).double()
        rows, cols = optimize.linear_sum_assignment(cost.numpy())
        ours = linear_assignment(cost.tolist())
        assert sum(cost[i, j].item() for i, j in enumerate(ours)) == pytest.approx(cost[rows, cols].sum().item(), abs=1e-12)


def test_code_accuracy_of_a_permutation_is_one():
    perm = torch.tensor([3, 7, 0, 9, 1, 8, 2, 6, 5, 4])
    codes = torch.arange(1000) % 10
    r = matched_accuracy(codes, perm[codes], 10, 10)
    assert r["accuracy"] == 1.0 and r["matching"] == perm.tolist()


def from_counts(counts):
    """(codes, classes) with ``counts[k][c]`` samples of code k and class c."""
    codes, classes = [], []
    for k, row in enumerate(counts):
        for c, v in enumerate(row):
            codes += [k] * v
            classes += [c] * v
    return torch.tensor(codes), torch.tensor(classes)


def test_code_accuracy_with_known_confusions():
    """Rows are code values, columns classes. One-to-one: code 0 -> 0 (5), 1 -> 2 (4), 2 -> 1 (0): 9 of 16.
    (Each code's most frequent class would give 5 + 4 + 3 = 12, but codes 0 and 2 would share class 0.)"""
    counts = [[5, 1, 0], [0, 2, 4], [3, 0, 1]]
    codes, classes = from_counts(counts)
    assert confusion_counts(codes, classes, 3, 3).tolist() == counts
    r = matched_accuracy(codes, classes, 3, 3)
    assert r["accuracy"] == 9 / 16 and r["matching"] == [0, 2, 1]
    # more code values than classes: code 1 gets none and counts as wrong; 4 + 2 of 10
    codes, classes = from_counts([[4, 0], [3, 1], [0, 2]])
    r = matched_accuracy(codes, classes, 3, 2)
    assert r["accuracy"] == 6 / 10 and r["matching"] == [0, -1, 1]
    # fewer code values than classes: the unused class just has no code
    codes, classes = from_counts([[1, 0, 6], [2, 3, 0]])
    r = matched_accuracy(codes, classes, 2, 3)
    assert r["accuracy"] == 9 / 12 and r["matching"] == [2, 1]


def test_code_accuracy_metric_on_real_digits_equals_the_classifiers_accuracy(mnist_root):
    """Real MNIST test digits "generated" with code perm[label]: the best matching undoes the permutation,
    so code_accuracy is the classifier's accuracy on them (= class_accuracy against the true labels)."""
    from gankit.metrics import score_images
    from gankit.metrics.suite import load_real_images

    x, y = load_real_images("mnist", "test", 300, str(mnist_root))
    perm = torch.tensor([3, 7, 0, 9, 1, 8, 2, 6, 5, 4])
    r = score_images(x, "mnist", metrics=["code_accuracy", "class_accuracy"], labels=y, codes=perm[y], num_codes=10,
                     root=str(mnist_root))
    assert r["class_accuracy"] > 0.95
    assert r["code_accuracy"] == r["class_accuracy"]
    assert r["code_matching"] == torch.argsort(perm).tolist()  # code k -> the class whose code is k
    with pytest.raises(GankitError, match="categorical latent code"):
        score_images(x, "mnist", metrics=["code_accuracy"], root=str(mnist_root))


# =============================================================================================
# the GAN
# =============================================================================================
def test_infogan_composes_the_papers_parts():
    gan = GANS.get("infogan")(resolve("infogan", TINY), MNIST)
    assert gan.p.z_dim == 62 and gan.latent_dim == 64 and gan.num_classes == 10
    assert gan.conditional and gan.code_labels and gan.objective.name == "nonsaturating"
    assert isinstance(gan.G, InputConditioned) and isinstance(gan.G.label, LabelInput)
    assert gan.G.label.dim == 10 and gan.G.net.net[0].in_channels == 62 + 2 + 10
    assert isinstance(gan.D, AuxClassifierDiscriminator)
    q = gan.D.classifier
    assert [type(m) for m in q] == [nn.Linear, nn.BatchNorm1d, nn.LeakyReLU, nn.Linear]
    assert q[0].in_features == gan.D.net.feature_dim and q[3].out_features == 12  # 10 logits + 2 means
    # Q reads D's trunk: its output's gradient reaches the trunk's convolutions, not D's source head
    x = torch.randn(4, 1, 28, 28)
    gan.D.outputs(x)[1].sum().backward()
    assert gan.D.net.net[0].weight.grad.abs().sum() > 0 and gan.D.net.net[-1].weight.grad is None
    learned = GANS.get("infogan")(resolve("infogan", TINY + ["model.cont_std=learned"]), MNIST)
    assert learned.D.classifier[3].out_features == 14  # + 2 log sigmas


def test_no_labelled_data_needed():
    blank = DataInfo("imagefolder", "images", (1, 28, 28), 0)
    gan = GANS.get("infogan")(resolve("infogan", TINY), blank)
    assert gan.num_classes == 10


@pytest.mark.parametrize("extra", [[], ["model.cont_std=learned", "model.noise=normal", "model.continuous=1"]],
                         ids=["preset", "learned-sigma"])
def test_one_step_each_phase_changes_only_its_own_parameters(tmp_path, request, extra):
    tr = make_trainer(tmp_path, "infogan", "train.n_critic=2", "model.q_hidden=8", *extra, base=image_base(request))
    nxt = tr.loader.next
    tr.loader.next = lambda: (nxt()[0], None)  # no labels reach the steps: InfoGAN never reads them
    updates = instrumented_step(tr)
    check_phases_change_only_their_group(updates, 2)
    logs = tr.meter.pop_means()
    assert {"d_loss", "g_loss", "info_cat", "info_cont"} <= set(logs) and all(math.isfinite(v) for v in logs.values())
    assert logs["info_cat"] <= math.log(10) + 1e-6


class QStub(nn.Module):
    """D with known outputs: source score mean(x), Q's output a fixed tensor."""

    def __init__(self, q):
        super().__init__()
        self.q = q

    def outputs(self, x):
        return x.flatten(1).mean(1), self.q

    def forward(self, x, y=None):
        return x.flatten(1).mean(1)


class ZeroG(nn.Module):
    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, z, y=None):
        return torch.zeros(z.shape[0], 1, 28, 28)


def test_infogan_steps_by_hand():
    """K = 3, one continuous code, lambda_cont 0.5. Codes (0, 2), continuous codes (0.5, -1); Q's logits
    (log 2, 0, 0) and (0, 0, 0), means 0 and -0.5. Real scores 1 and -2, fake scores 0."""
    gan = GANS.get("infogan")(resolve("infogan", TINY + ["model.categories=3", "model.continuous=1", "model.z_dim=2",
                                                          "model.lambda_cont=0.5"]), MNIST)
    q = torch.tensor([[math.log(2.0), 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, -0.5]])
    gan.D, gan.G = QStub(q), ZeroG()
    z = torch.tensor([[0.3, -0.2, 0.5], [0.1, 0.9, -1.0]])
    gan.draw = lambda n: (z, torch.tensor([0, 2]))
    real = torch.stack([torch.full((1, 28, 28), 1.0), torch.full((1, 28, 28), -2.0)])
    l_cat = (math.log(0.5) + math.log(1 / 3)) / 2 + math.log(3)
    l_cont = -0.5 * 0.25 - 0.5 * LOG2PI + math.log(2)  # both samples miss by 0.5
    loss, logs = gan.d_step(real, None)
    adv = (softplus(-1.0) + softplus(2.0)) / 2 + softplus(0.0)
    assert logs["d_loss"].item() == pytest.approx(adv, rel=1e-6)
    assert logs["info_cat"].item() == pytest.approx(l_cat, rel=1e-6)
    assert logs["info_cont"].item() == pytest.approx(l_cont, rel=1e-6)
    assert loss.item() == pytest.approx(adv - l_cat - 0.5 * l_cont, rel=1e-6)
    loss, logs = gan.g_step(real, None)
    assert logs["g_loss"].item() == pytest.approx(math.log(2), rel=1e-6)
    assert loss.item() == pytest.approx(math.log(2) - l_cat - 0.5 * l_cont, rel=1e-6)


def test_sampling_fixes_the_categorical_code_and_traverses_the_continuous_ones():
    torch.manual_seed(0)
    gan = GANS.get("infogan")(resolve("infogan", TINY), MNIST)
    z = gan.sample_z(20000)
    assert z.shape == (20000, 64) and z.min() >= -1 and z.max() <= 1 and z.min() < -0.999 and z.max() > 0.999
    x, y = gan.sample_with_labels(12, seed=3)
    assert y.tolist() == [i % 10 for i in range(12)]
    x4, y4 = gan.sample_with_labels(6, seed=3, labels=[4] * 6)
    assert y4.tolist() == [4] * 6
    want = gan.generate_from(gan.sample_z(6, generator=torch.Generator().manual_seed(3)), torch.full((6,), 4))
    assert torch.equal(x4, want) and not torch.allclose(x4, x[:6])
    grid, per = gan.sample_grid(30, seed=0)
    assert per == 3 and grid.shape == (30, 1, 28, 28)  # a row per code value
    # traversal of continuous code 1: rows = code values, columns = c from -2 to 2, one noise draw
    t = gan.traversal(1, steps=5, seed=2)
    assert t.shape == (50, 1, 28, 28)
    zt = gan.sample_z(1, generator=torch.Generator().manual_seed(2)).repeat(50, 1)
    zt[:, 62] = 0
    zt[:, 63] = torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0]).repeat(10)
    assert torch.allclose(t, gan.generate_from(zt, torch.arange(10).repeat_interleave(5)))
    assert not torch.allclose(t[0], t[4]) and not torch.allclose(t[0], t[5])  # the code and c both matter
    with pytest.raises(ValueError, match="continuous code"):
        gan.traversal(2)
    pics = gan.pictures(seed=0)
    assert sorted(pics) == ["traversal-cont0", "traversal-cont1"]
    assert pics["traversal-cont0"][0].shape == (100, 1, 28, 28) and pics["traversal-cont0"][1] == 10


def test_evaluation_reports_code_accuracy_not_class_accuracy(mnist_root):
    from gankit.train.run import evaluate_gan

    torch.manual_seed(0)
    gan = GANS.get("infogan")(resolve("infogan", TINY), MNIST)
    r = evaluate_gan(gan, MNIST, n=30, metrics=["code_accuracy"], root=str(mnist_root))
    assert 0.1 <= r["code_accuracy"] <= 1.0 and "class_accuracy" not in r
    assert sorted(r["code_matching"]) == list(range(10))
    with pytest.raises(GankitError, match="needs the labels"):
        evaluate_gan(gan, MNIST, n=30, metrics=["class_accuracy"], root=str(mnist_root))
    dcgan = GANS.get("dcgan")(resolve("dcgan", TINY[:2]), MNIST)
    with pytest.raises(GankitError, match="categorical latent code"):
        evaluate_gan(dcgan, MNIST, n=30, metrics=["code_accuracy"], root=str(mnist_root))


def test_infogan_run_end_to_end(tmp_path, mnist_root):
    """Train (final evaluation with code_accuracy, traversal pictures), load, sample with a fixed code, .npz."""
    from PIL import Image

    run = gankit.train("infogan", "data=mnist", f"data.root={mnist_root}", "data.size=64", "batch_size=8", "steps=2",
                       "train.eval_samples=30", "train.progress=false", "train.grid_size=20", *TINY,
                       out=str(tmp_path / "r"))
    ev = (tmp_path / "r" / "eval.json").read_text()
    assert '"code_accuracy"' in ev and '"class_accuracy"' not in ev
    side = 10 * 28 + 11 * 2
    for i in (0, 1):
        assert Image.open(tmp_path / "r" / "samples" / f"traversal-cont{i}.png").size == (side, side)
    x, y = run.sample_with_labels(6, seed=1, label=3)
    assert x.shape == (6, 1, 28, 28) and y.tolist() == [3] * 6 and torch.equal(run.sample(6, seed=1, label=3), x)
    run.save_samples(tmp_path / "s.npz", n=6, seed=1, label=3)
    with np.load(tmp_path / "s.npz") as f:
        assert sorted(f.files) == ["x", "y"] and f["x"].dtype == np.float32 and f["y"].dtype == np.int64
        assert np.array_equal(f["x"], x.numpy()) and f["y"].tolist() == [3] * 6
        assert f["x"].min() >= -1 and f["x"].max() <= 1
    with pytest.raises(GankitError, match="between 0 and 9") as e:
        run.sample(2, label=10)
    assert "\n" not in str(e.value)
    with pytest.raises(GankitError, match="integer"):
        run.sample(2, label="3")
    paths = run.save_pictures(tmp_path / "pics", seed=0)
    assert [p.name for p in paths] == ["traversal-cont0.png", "traversal-cont1.png"]
    with pytest.raises(GankitError, match="already exists"):
        run.save_pictures(tmp_path / "pics", seed=0)
    assert run.save_pictures(tmp_path / "pics", seed=1, overwrite=True) == paths
