"""StackGAN (Zhang et al. 2016, arXiv 1612.03242) and StackGAN++ (Zhang et al. 2017, arXiv 1710.10916).

What is checked: conditioning augmentation and its KL against their formulas; every stage's image size; the
matching-aware D loss and the G loss (with its KL) by hand, and StackGAN++'s sums of conditional and unconditional
terms over the sizes; the wrong captions always name another class; StackGAN's schedule (Stage-I's nets alone move
before ``stage1_steps``, Stage-II's alone after, Stage-I's batch-norm statistics frozen) and a resume across the
stage boundary bitwise identical; colour consistency by hand; caption sampling, pictures, the attribute metrics
and ``gankit sample --caption``; the one-line errors.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gankit
from gankit.config import resolve
from gankit.data import DataInfo
from gankit.errors import ConfigError
from gankit.gans import GANS
from gankit.gans.multiscale.stackgan import color_consistency, downscale, pixel_stats
from gankit.models.stack import ResidualBlock, TextDiscriminator
from gankit.nn import LayerFactory
from gankit.nn.text import ConditioningAugmentation, kl_to_standard_normal
from gankit.train import checkpoint as ckpt

pytestmark = pytest.mark.usefixtures("one_thread")

MNIST = DataInfo("mnist", "images", (1, 28, 28), 10)
FASHION32 = DataInfo("fashion-mnist", "images", (1, 32, 32), 10)
TINY = ["model.z_dim=4", "model.c_dim=3", "model.compressed=5", "model.g_width=4", "model.d_width=4",
        "model.res_blocks=1", "batch_size=8"]


def tiny(name="stackgan", *extra, info=MNIST):
    torch.manual_seed(0)
    return GANS.get(name)(resolve(name, TINY + list(extra)), info)


def batch(n=8, side=28):
    torch.manual_seed(1)
    return torch.rand(n, 1, side, side) * 2 - 1, torch.arange(n) % 10


def bce_d(real, fake):  # the non-saturating D loss: -log sigma(real) - log(1 - sigma(fake))
    return F.softplus(-real).mean() + F.softplus(fake).mean()


# ------------------------------------------------------------------ parts
def test_conditioning_augmentation_and_its_kl():
    ca = ConditioningAugmentation(6, 3)
    phi, eps = torch.randn(5, 6), torch.randn(5, 3)
    c, mu, logvar = ca(phi, eps)
    out = phi @ ca.fc.weight.T + ca.fc.bias
    assert torch.allclose(mu, out[:, :3]) and torch.allclose(logvar, out[:, 3:])
    assert torch.allclose(c, mu + torch.exp(logvar / 2) * eps)
    q = torch.distributions.Normal(mu, torch.exp(logvar / 2))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    expected = torch.distributions.kl_divergence(q, p).sum(1).mean()
    assert kl_to_standard_normal(mu, logvar).item() == pytest.approx(expected.item(), rel=1e-5)
    assert kl_to_standard_normal(torch.zeros(2, 3), torch.zeros(2, 3)).item() == 0.0


def test_residual_block_adds_its_input():
    block = ResidualBlock(4, LayerFactory(norm="batch", act="relu"))
    nn.init.zeros_(block.body[-1].weight)  # the last batch norm's gain: the body gives 0
    x = torch.randn(3, 4, 5, 5)
    assert torch.equal(block(x), torch.relu(x))


def test_text_discriminator_heads():
    D = TextDiscriminator((1, 14, 14), 4, 16, 5, LayerFactory(norm="batch", act="lrelu"), unconditional=True)
    D.eval()
    x = torch.randn(3, 1, 14, 14)
    a, b = torch.zeros(3, 16), torch.zeros(3, 16)
    a[:, 1], b[:, 2] = 1, 1
    (ca, ua), (cb, ub) = D.scores(x, a), D.scores(x, b)
    assert ca.shape == ua.shape == (3,)
    assert not torch.allclose(ca, cb) and torch.equal(ua, ub)  # the text reaches only the conditional head
    assert D.side == 4 and torch.equal(D(x, a), ca)


def test_color_consistency_by_hand():
    torch.manual_seed(0)
    coarse, fine = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 8, 8)
    total = 0.0
    for j in range(2):
        pc, pf = coarse[j].reshape(3, -1).double().numpy(), fine[j].reshape(3, -1).double().numpy()
        mc, mf = pc.mean(1), pf.mean(1)
        cc, cf = np.cov(pc, bias=True), np.cov(pf, bias=True)
        total += 1.0 * ((mf - mc) ** 2).sum() + 5.0 * ((cf - cc) ** 2).sum()
    assert color_consistency([coarse, fine]).item() == pytest.approx(total / 2, rel=1e-5)
    mu, cov = pixel_stats(fine)
    assert mu.shape == (2, 3) and cov.shape == (2, 3, 3)
    same = torch.randn(2, 3, 4, 4)  # an image and its 2x nearest-neighbour enlargement: the same pixel statistics
    assert color_consistency([same, F.interpolate(same, scale_factor=2)]).item() == pytest.approx(0.0, abs=1e-10)


# ------------------------------------------------------------------ nets
def test_stage_sizes():
    for info, low in ((MNIST, 14), (FASHION32, 16)):
        gan = tiny(info=info)
        z = gan.sample_z(2)
        phi = gan.captioner.embed(torch.tensor([[3, 0, 1, 2][:gan.captioner.row_width]] * 2))
        assert [im.shape[-1] for im in gan.G.images(z, phi)] == [low, 2 * low]
        assert gan.latent_dim == 4 + 2 * 3 and gan.G(z, phi).shape == (2, 1, 2 * low, 2 * low)
        assert [d.side for d in gan.D] == [4, 4]
    for info, sizes in ((MNIST, [7, 14, 28]), (FASHION32, [8, 16, 32])):
        gan = tiny("stackgan++", info=info)
        z = gan.sample_z(2)
        phi = gan.captioner.embed(torch.zeros(2, gan.captioner.row_width, dtype=torch.long))
        assert [im.shape[-1] for im in gan.G.images(z, phi)] == sizes
        assert gan.latent_dim == 4 + 3 and len(gan.D) == 3
        assert all(d.uncond_out is not None for d in gan.D)
    assert all(d.uncond_out is None for d in tiny().D)


# ------------------------------------------------------------------ losses
@pytest.mark.parametrize("matching", [True, False])
@pytest.mark.parametrize("stage", [0, 1])
def test_stackgan_losses_by_hand(stage, matching):
    gan = tiny("stackgan", f"model.matching_aware={str(matching).lower()}", "model.kl_weight=0.5")
    gan._steps = 0 if stage == 0 else 10**6
    real, y = batch()
    torch.manual_seed(5)
    loss, logs = gan.d_step(real, y)
    torch.manual_seed(5)
    phi, phi_w = gan.captions_of(real, y)
    z = gan.sample_z(8)
    with torch.no_grad():
        fake = gan.G.stage_one(z, phi)[0] if stage == 0 else gan.G.stage_two(_frozen_low(gan, z, phi), z, phi)[0]
    D = gan.D[stage]
    r = downscale(real, fake.shape[-1])
    assert r.shape[-1] == (14 if stage == 0 else 28)
    expected = bce_d(D(r, phi), D(fake, phi))
    if matching:
        expected = 0.5 * (expected + bce_d(D(r, phi), D(r, phi_w)))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)

    torch.manual_seed(6)
    loss, logs = gan.g_step(real, y)
    torch.manual_seed(6)
    phi, _ = gan.captions_of(real, y)
    z = gan.sample_z(8)
    if stage == 0:
        fake, mu, logvar = gan.G.stage_one(z, phi)
    else:
        fake, mu, logvar = gan.G.stage_two(_frozen_low(gan, z, phi), z, phi)
    kl = kl_to_standard_normal(mu, logvar) / 3  # per dimension of c
    expected = F.softplus(-D(fake, phi)).mean() + 0.5 * kl
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert logs["kl"].item() == pytest.approx(kl.item(), rel=1e-5)


def _frozen_low(gan, z, phi):
    gan.G.sketch.eval()
    try:
        with torch.no_grad():
            return gan.G.stage_one(z, phi)[0]
    finally:
        gan.G.sketch.train()


def test_stackgan_pp_losses_by_hand():
    gan = tiny("stackgan++", "model.uncond_weight=0.5", "model.color_weight=2.0", "model.kl_weight=1.0")
    real, y = batch()
    torch.manual_seed(5)
    loss, logs = gan.d_step(real, y)
    torch.manual_seed(5)
    phi, phi_w = gan.captions_of(real, y)
    with torch.no_grad():
        images = gan.G.images(gan.sample_z(8), phi)
    terms = []
    for D, fake in zip(gan.D, images):
        r = downscale(real, fake.shape[-1])
        (rc, ru), (fc, fu) = D.scores(r, phi), D.scores(fake, phi)
        terms.append(0.5 * (bce_d(rc, fc) + bce_d(rc, D(r, phi_w))) + 0.5 * bce_d(ru, fu))
    assert loss.item() == pytest.approx(sum(terms).item(), rel=1e-5)
    assert [logs[f"d_loss_{k}"].item() for k in range(3)] == pytest.approx([t.item() for t in terms], rel=1e-5)

    torch.manual_seed(6)
    loss, logs = gan.g_step(real, y)
    torch.manual_seed(6)
    phi, _ = gan.captions_of(real, y)
    images, mu, logvar = gan.G.outputs(gan.sample_z(8), phi)
    adv = sum(F.softplus(-D.scores(im, phi)[0]).mean() + 0.5 * F.softplus(-D.scores(im, phi)[1]).mean()
              for D, im in zip(gan.D, images))
    expected = adv + kl_to_standard_normal(mu, logvar) / 3 + 2.0 * color_consistency(images)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert logs["color"].item() == pytest.approx(color_consistency(images).item(), rel=1e-5)
    assert "color" not in tiny("stackgan++").g_step(real, y)[1]  # off by default


def test_wrong_captions_name_another_class():
    gan = tiny()
    real, _ = batch(64)
    y = torch.randint(0, 10, (64,), generator=torch.Generator().manual_seed(0))  # neighbours often share a class
    assert (y.roll(1, 0) == y).any()
    for _ in range(5):
        phi, phi_w = gan.captions_of(real, y)
        assert torch.equal(phi[:, :10].argmax(1), y)
        assert (phi_w[:, :10].argmax(1) != y).all()
        assert torch.equal(phi_w[:, 10:], phi[:, 10:].roll(1, 0))  # another image's attribute words


# ------------------------------------------------------------------ the schedule
def _trainer(tmp_path, mnist_root, *extra):
    from gankit.train.loop import Trainer, prepare_run_dir

    cfg = resolve("stackgan", TINY + ["data=mnist", f"data.root={mnist_root}", "data.size=64", "device=cpu",
                                      "train.progress=false", "train.eval_every=0", f"out={tmp_path / 'run'}"]
                  + list(extra))
    return Trainer(cfg, prepare_run_dir(cfg, False))


def test_stage_one_then_stage_two(tmp_path, mnist_root):
    tr = _trainer(tmp_path, mnist_root, "steps=4", "model.stage1_steps=2")
    gan = tr.gan
    parts = {"sketch": gan.G.sketch, "ca1": gan.G.ca1, "refine": gan.G.refine, "ca2": gan.G.ca2, "D0": gan.D[0],
             "D1": gan.D[1]}

    def snapshot():
        return {k: {n: t.clone() for n, t in m.state_dict().items()} for k, m in parts.items()}

    def moved(a, b):
        return {k for k in a if any(not torch.equal(a[k][n], b[k][n]) for n in a[k])}

    for step in range(4):
        before = snapshot()
        assert gan.stage == (0 if step < 2 else 1)
        tr.train_step()
        after = snapshot()
        assert moved(before, after) == ({"sketch", "ca1", "D0"} if step < 2 else {"refine", "ca2", "D1"}), step
    assert int(gan.g_steps) == gan._steps == 4


class _Stop(Exception):
    pass


def test_resume_across_the_stage_boundary_is_bitwise_identical(tmp_path, mnist_root):
    common = TINY + ["data=mnist", f"data.root={mnist_root}", "data.size=64", "device=cpu", "train.progress=false",
                     "steps=6", "model.stage1_steps=3", "train.checkpoint_every=2", "train.eval_every=0",
                     "train.gif_frames=0", "train.ema=0.9"]
    ref = gankit.train("stackgan", *common, out=str(tmp_path / "ref"))

    def cut_at_3(trainer, step):
        if step == 3:
            raise _Stop

    with pytest.raises(_Stop):
        gankit.train("stackgan", *common, out=str(tmp_path / "cut"), callbacks=[cut_at_3])
    last = ckpt.load(ckpt.list_checkpoints(tmp_path / "cut" / "checkpoints")[-1])
    assert last["step"] == 2 and int(last["gan"]["g_steps"]) == 2  # still Stage-I; the resume crosses to Stage-II
    assert int(last["gan"]["stage1_at"]) == 3
    resumed = gankit.train(resume=str(tmp_path / "cut"))
    a = ckpt.load(ckpt.list_checkpoints(ref.dir / "checkpoints")[-1])["gan"]
    b = ckpt.load(ckpt.list_checkpoints(tmp_path / "cut" / "checkpoints")[-1])["gan"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.gan.stage == ref.gan.stage == 1 and resumed.gan._steps == 6


def test_a_longer_resume_keeps_the_stage_boundary(tmp_path, mnist_root):
    common = TINY + ["data=mnist", f"data.root={mnist_root}", "data.size=64", "device=cpu", "train.progress=false",
                     "train.eval_every=0", "train.gif_frames=0"]
    run = gankit.train("stackgan", *common, "steps=4", out=str(tmp_path / "run"))
    assert run.gan._stage1 == 2  # null: half of 4
    longer = gankit.train(None, "steps=10", resume=str(tmp_path / "run"))
    assert longer.gan._stage1 == 2 and int(longer.gan.stage1_at) == 2 and longer.gan._steps == 10


# ------------------------------------------------------------------ sampling, pictures, metrics
@pytest.mark.parametrize("name", ["stackgan", "stackgan++"])
def test_sampling_pictures_and_metrics(name):
    gan = tiny(name)
    x, y = gan.sample_with_labels(12, seed=3)
    x2, _ = gan.sample_with_labels(12, seed=3)
    assert x.shape == (12, 1, 28, 28) and torch.equal(x, x2) and torch.equal(y, torch.arange(12) % 10)
    imgs, rows = gan.sample_captions(["a thin upright one", "a large seven"], per_caption=2, seed=1)
    assert imgs.shape == (4, 1, 28, 28) and rows.tolist() == [[1, 0, 1, 1]] * 2 + [[7, 2, 0, 0]] * 2
    with pytest.raises(ValueError, match="unknown word 'furry'"):
        gan.sample_captions(["a furry one"])
    pics = gan.pictures()
    stages = 2 if name == "stackgan" else 3
    assert pics["stages"][0].shape == (10 * stages, 1, 28, 28) and pics["stages"][1] == stages
    assert pics["attributes"][0].shape == (60, 1, 28, 28) and pics["attributes"][1] == 10
    m = gan.own_metrics(20)
    assert set(m) == {"small_size", "large_size", "size_accuracy", "thin_thickness", "thick_thickness",
                      "thickness_accuracy", "upright_slant", "slanted_slant", "slant_accuracy"}
    assert all(0 <= m[f"{a}_accuracy"] <= 1 for a in ("size", "thickness", "slant"))


def test_sample_caption_from_the_command_line(tmp_path, mnist_root):
    run = gankit.train("stackgan", *TINY, "data=mnist", f"data.root={mnist_root}", "data.size=64", "device=cpu",
                       "train.progress=false", "steps=2", "model.stage1_steps=1", "train.eval_every=0",
                       out=str(tmp_path / "run"))
    cmd = [sys.executable, "-c", "import sys; from gankit.cli import main; sys.exit(main())"]
    out = tmp_path / "s.npz"
    p = subprocess.run(cmd + ["sample", str(run.dir), "--caption", "a thick slanted four", "--n", "5", "--out",
                              str(out)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "for the caption 'a thick slanted four'" in p.stdout
    d = np.load(out)
    assert d["x"].shape == (5, 1, 28, 28) and d["y"].tolist() == [4] * 5
    x_api, _ = run.sample_with_labels(5, caption="a thick slanted four")
    assert np.array_equal(d["x"], x_api.numpy())
    for args, msg in [(["--caption", "a furry four"], "unknown word 'furry'"),
                      (["--caption", "a four", "--class", "3"], "not both"),
                      (["--caption", "a four", "--recon"], "takes no --recon")]:
        p = subprocess.run(cmd + ["sample", str(run.dir), "--out", str(tmp_path / "t.png")] + args,
                           capture_output=True, text=True)
        assert p.returncode == 2 and msg in p.stderr and p.stderr.count("\n") == 1, p.stderr
    dc = gankit.train("dcgan", "data=mnist", f"data.root={mnist_root}", "data.size=64", "device=cpu", "batch_size=8",
                      "model.g_width=4", "model.d_width=4", "train.progress=false", "steps=1", "train.eval_every=0",
                      out=str(tmp_path / "dc"))
    p = subprocess.run(cmd + ["sample", str(dc.dir), "--caption", "a four", "--out", str(tmp_path / "u.png")],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "needs a text-conditioned run" in p.stderr


# ------------------------------------------------------------------ errors
def test_one_line_errors():
    with pytest.raises(ConfigError, match="captions are made for mnist and fashion-mnist") as e:
        tiny(info=DataInfo("imagefolder", "images", (3, 32, 32), 5))
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="Stage-II would never train"):
        resolve("stackgan", ["steps=100", "model.stage1_steps=100"])
    assert tiny("stackgan", "steps=101")._stage1 == 50  # null: half of the run
    with pytest.raises(ConfigError, match="takes no penalties"):
        resolve("stackgan++", ["penalties={r1: 1.0}"])
    with pytest.raises(ConfigError, match="halves 3 times to 4 or more"):
        tiny("stackgan++", "model.scales=4")
