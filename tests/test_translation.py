"""Image-to-image translation: the derived domains and sets, the nets (U-Net, ResNet G, PatchGAN), the history of
fakes, pix2pix's and CycleGAN's losses by hand, their wiring (presets, phases, groups), evaluation, `gankit
translate`."""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from gankit.config import resolve
from gankit.data import DataInfo, load_dataset, make_loader
from gankit.data.domains import (UnpairedLoader, canonical, colourised, coloured, edges, hue_rgb,
                                 split_domains)
from gankit.errors import ConfigError
from gankit.gans import GANS
from gankit.models.translation import PatchDiscriminator, ResnetGenerator, UNetGenerator, receptive_field
from gankit.nn.history import HistoryBuffer
from gankit.train.loop import Trainer, prepare_run_dir

TRANSLATORS = sorted(n for n in GANS.names() if GANS.get(n).own_evaluation)  # the translators and CoGAN
TINY = {"pix2pix": ["model.g_width=4", "model.d_width=4"],
        "cyclegan": ["model.g_width=4", "model.d_width=4", "model.blocks=1"],
        "discogan": ["model.g_width=4", "model.d_width=4"],
        "dualgan": ["model.g_width=4", "model.d_width=4"],
        "srgan": ["model.g_width=4", "model.blocks=1", "model.d_width=4", "model.d_hidden=8"],
        "srresnet": ["model.g_width=4", "model.blocks=1"],
        "stargan": ["model.g_width=4", "model.d_width=4", "model.blocks=1"],
        "cogan": ["model.g_width=4", "model.d_width=4", "model.z_dim=8"],
        "fader": ["model.width=4", "model.p_hidden=8"],
        "unit": ["model.g_width=4", "model.d_width=4"],
        "xgan": ["model.g_width=4", "model.d_width=4"],
        "combogan": ["model.g_width=4", "model.d_width=4"]}


def tiny_cfg(name, tmp_path, root, *extra):
    return resolve(name, [f"data.root={root}", "data.size=64", "batch_size=4", "steps=2", f"out={tmp_path / name}",
                          "train.progress=false", "train.eval_every=0", "train.sample_every=0"] + TINY[name]
                   + list(extra))


# ------------------------------------------------------------------ domains and sets
def test_the_translators_are_the_ones_this_file_covers():
    assert TRANSLATORS == ["cogan", "combogan", "cyclegan", "discogan", "dualgan", "fader", "pix2pix", "srgan", "srresnet", "stargan",
                           "unit", "xgan"]


def test_edges_of_a_filled_square_are_its_two_pixel_outline():
    x = -torch.ones(1, 1, 8, 8)
    x[..., 2:6, 2:6] = 1
    e = edges(x)[0, 0] > 0
    expect = torch.zeros(8, 8, dtype=torch.bool)
    expect[1:7, 1:7] = True
    expect[3:5, 3:5] = False  # the square's interior (eroded) is not edge; the ring inside and outside is
    assert torch.equal(e, expect)


def test_colours_are_saturated_and_canonical_undoes_every_invertible_domain():
    h = torch.rand(1000, generator=torch.Generator().manual_seed(0))
    rgb = hue_rgb(h)
    assert torch.allclose(rgb.amax(-1), torch.ones(1000)) and rgb.min() >= 0
    assert torch.allclose(hue_rgb(torch.tensor([0.0, 1 / 3, 2 / 3])), torch.eye(3))  # red, green, blue
    x = torch.rand(6, 1, 16, 16) * 2 - 1
    assert torch.equal(canonical("inverted", -x), x) and torch.equal(canonical("image", x), x)
    assert torch.allclose(canonical("colourised", colourised(x)), x, atol=1e-6)
    assert torch.allclose(canonical("coloured", coloured(x, torch.Generator().manual_seed(1))), x, atol=1e-6)
    assert canonical("edges", x) is None
    c = colourised(torch.ones(1, 1, 16, 16))[0]  # the top row red, the bottom row blue
    assert torch.allclose(c[:, 0, 0], torch.tensor([1.0, -1, -1])) and torch.allclose(c[:, -1, 0], torch.tensor([-1.0, -1, 1]))


def test_paired_sets_hold_the_same_image_in_both_domains(mnist_root):
    base, yb, _ = load_dataset("mnist", root=mnist_root, resolution=32, split="test", size=50)
    x, y, info = load_dataset("edges2mnist", root=mnist_root, resolution=32, split="test", size=50)
    assert info.domains == (("edges", 1), ("image", 1)) and info.paired and x.shape == (50, 2, 32, 32)
    a, b = split_domains(x, info)
    assert torch.equal(b, base) and torch.equal(a, edges(base)) and torch.equal(y, torch.stack([yb, yb], 1))
    x2, _, info2 = load_dataset("mnist2colourised", root=mnist_root, resolution=32, split="test", size=50)
    assert info2.domains == (("image", 1), ("colourised", 3)) and torch.equal(x2[:, 1:], colourised(base))


def test_unpaired_sets_use_disjoint_halves_and_are_seeded(mnist_root):
    x, y, info = load_dataset("mnist2inverted", root=mnist_root, split="train", size=3000)
    assert not info.paired and info.domains == (("image", 1), ("inverted", 1))
    a, b = split_domains(x, info)
    rows_a = {bytes(r.numpy().tobytes()) for r in a.flatten(1)}
    assert not any(bytes((-r).numpy().tobytes()) in rows_a for r in b.flatten(1))  # no image in both domains
    x2, y2, _ = load_dataset("mnist2inverted", root=mnist_root, split="train", size=3000)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    x3, _, _ = load_dataset("mnist2inverted", root=mnist_root, split="train", size=3000, seed=1)
    assert not torch.equal(x, x3)
    xc, _, infoc = load_dataset("mnist2coloured", root=mnist_root, split="test", size=200)
    colour = xc[:, 1:].flatten(2).amax(2)  # each image one colour: its channels' maxima differ across images
    assert infoc.domains[1] == ("coloured", 3) and colour.std(0).min() > 0.1


def test_unpaired_loader_shuffles_each_domain_on_its_own_and_resumes_exactly():
    info = DataInfo("mnist2inverted", "images", (2, 4, 4), 10, domains=(("image", 1), ("inverted", 1)), paired=False)
    n = 40
    x = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 2, 4, 4).clone()
    y = torch.arange(n).view(n, 1).repeat(1, 2)
    loader = make_loader(x, y, info, 8, "cpu", 0)
    assert isinstance(loader, UnpairedLoader)
    xb, yb = loader.next()
    assert xb.shape == (8, 2, 4, 4) and yb.shape == (8, 2)
    assert not torch.equal(yb[:, 0], yb[:, 1])  # rows are not pairs
    assert torch.equal(xb[:, 0, 0, 0].long(), yb[:, 0]) and torch.equal(xb[:, 1, 0, 0].long(), yb[:, 1])
    state = loader.state_dict()
    want = [loader.next() for _ in range(7)]
    other = make_loader(x, y, info, 8, "cpu", 0)
    other.load_state_dict(state)
    for (wx, wy) in want:
        gx, gy = other.next()
        assert torch.equal(gx, wx) and torch.equal(gy, wy)


# ------------------------------------------------------------------ nets
def test_unet_shapes_skips_and_dropout():
    G = UNetGenerator(1, 3, width=4, depth=5)
    x = torch.randn(2, 1, 32, 32)
    assert G(x).shape == (2, 3, 32, 32) and G(x).abs().max() <= 1
    shapes = []
    hooks = [m.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape))) for m in G.down]
    G(x)
    for h in hooks:
        h.remove()
    assert shapes == [(2, 4, 16, 16), (2, 8, 8, 8), (2, 16, 4, 4), (2, 32, 2, 2), (2, 32, 1, 1)]
    # each decoder layer but the innermost reads its input concatenated with the encoder's map of the same size
    ins = [next(m for m in layer if isinstance(m, nn.ConvTranspose2d)).in_channels for layer in G.up]
    assert ins == [32, 64, 32, 16, 8]
    drops = [any(isinstance(m, nn.Dropout) for m in layer) for layer in G.up]
    assert drops == [True, True, True, False, False]
    plain = UNetGenerator(1, 3, width=4, depth=5, skips=False)
    assert [next(m for m in layer if isinstance(m, nn.ConvTranspose2d)).in_channels for layer in plain.up] == \
        [32, 32, 16, 8, 4]
    assert plain(x).shape == (2, 3, 32, 32)


def test_a_skip_carries_the_input_to_the_output():
    """With the innermost path cut (its weights zero), a U-Net's output still depends on the input through the
    skips; without skips it does not."""
    torch.manual_seed(0)
    for skips, depends in ((True, True), (False, False)):
        G = UNetGenerator(1, 1, width=4, depth=3, dropout=0.0, norm="none", skips=skips).eval()
        with torch.no_grad():
            for p in G.down[-1].parameters():
                p.zero_()
        x = torch.randn(1, 1, 8, 8)
        out1, out2 = G(x), G(x + torch.randn_like(x))
        assert (not torch.allclose(out1, out2)) == depends


@pytest.mark.parametrize("layers, side, out", [(1, 32, 14), (2, 32, 6), (3, 256, 30)])
def test_patchgan_output_size_and_receptive_field(layers, side, out):
    D = PatchDiscriminator(2, width=4, layers=layers, norm="none")
    assert D(torch.randn(1, 2, side, side)).shape == (1, 1, out, out)
    assert receptive_field(3) == 70  # pix2pix's 70 x 70 PatchGAN
    if side <= 32:  # one score's gradient reaches exactly receptive_field(layers) pixels along each axis (at most)
        x = torch.randn(1, 2, side, side, requires_grad=True)
        D(x)[0, 0, out // 2, out // 2].backward()
        rows = (x.grad.abs().sum((0, 1, 3)) > 0).nonzero().flatten()
        assert 0 < rows.max() - rows.min() + 1 <= receptive_field(layers)


def test_resnet_generator_layers():
    G = ResnetGenerator(1, 3, width=4, blocks=2)
    assert G(torch.randn(2, 1, 32, 32)).shape == (2, 3, 32, 32)
    kinds = [type(m).__name__ for m in G.net]
    assert kinds[:4] == ["ReflectionPad2d", "Conv2d", "InstanceNorm2d", "ReLU"]
    assert kinds.count("ResidualBlock") == 2 and kinds[-1] == "Tanh"
    convs = [m for m in G.net if isinstance(m, nn.Conv2d)]
    assert [(c.kernel_size, c.stride, c.out_channels) for c in convs] == \
        [((7, 7), (1, 1), 4), ((3, 3), (2, 2), 8), ((3, 3), (2, 2), 16), ((7, 7), (1, 1), 3)]


# ------------------------------------------------------------------ history of fakes
def test_history_buffer_fills_then_swaps_with_probability_half():
    torch.manual_seed(0)
    buf = HistoryBuffer(50, (1,))
    first = torch.arange(50.0).view(50, 1)
    assert torch.equal(buf(first), first) and buf._count == 50 and int(buf.count) == 50
    old_seen = 0
    for i in range(100):
        fake = torch.full((20, 1), 1000.0 + i)
        out = buf(fake)
        old = out[:, 0] != 1000.0 + i
        old_seen += int(old.sum())
        # a returned old image is one that was stored, and the new fake took some slot
        assert all(v in set(buf.images[:50, 0].tolist()) or v < 1000 + i for v in out[old, 0].tolist())
    share = old_seen / 2000
    assert abs(share - 0.5) < 0.05


def test_history_buffer_survives_a_state_dict_round_trip():
    torch.manual_seed(0)
    buf = HistoryBuffer(5, (2,))
    buf(torch.randn(3, 2))
    other = HistoryBuffer(5, (2,))
    other.load_state_dict(buf.state_dict())
    assert other._count == 3 and torch.equal(other.images, buf.images)
    assert HistoryBuffer(0, (2,))(torch.ones(3, 2)).sum() == 6  # size 0: the fakes as they are


# ------------------------------------------------------------------ losses by hand
def test_pix2pix_losses_by_hand(tmp_path, mnist_root):
    cfg = tiny_cfg("pix2pix", tmp_path, mnist_root, "model.dropout=0", "model.norm=none")
    tr = Trainer(cfg, prepare_run_dir(cfg, False))
    gan = tr.gan
    real, _ = tr.loader.next()
    a, b = real[:, :1], real[:, 1:]
    bce = nn.functional.binary_cross_entropy_with_logits
    with torch.no_grad():
        fake = gan.G(a)
        d_r, d_f = gan.D(torch.cat([a, b], 1)), gan.D(torch.cat([a, fake], 1))
        want_d = 0.5 * (bce(d_r, torch.ones_like(d_r)) + bce(d_f, torch.zeros_like(d_f)))
        want_g = bce(d_f, torch.ones_like(d_f)) + 100 * (fake - b).abs().mean()
        got_d, _ = gan.d_step(real, None)
        got_g, logs = gan.g_step(real, None)
    assert torch.allclose(got_d, want_d, atol=1e-6) and torch.allclose(got_g, want_g, atol=1e-5)
    assert torch.allclose(logs["l1"], (fake - b).abs().mean())


def test_cyclegan_cycle_and_identity_losses_by_hand(tmp_path, mnist_root):
    cfg = tiny_cfg("cyclegan", tmp_path, mnist_root)
    tr = Trainer(cfg, prepare_run_dir(cfg, False))
    gan = tr.gan
    real, _ = tr.loader.next()
    a, b = real[:, :1], real[:, 1:]
    G, F, DA, DB = gan.G["ab"], gan.G["ba"], gan.D["a"], gan.D["b"]
    with torch.no_grad():
        fb, fa = G(a), F(b)
        adv = ((DB(fb) - 1) ** 2).mean() + ((DA(fa) - 1) ** 2).mean()  # the paper's E(D(G(x)) - 1)^2 per direction
        cycle = (F(fb) - a).abs().mean() + (G(fa) - b).abs().mean()
        ident = (G(b) - b).abs().mean() + (F(a) - a).abs().mean()
        got, logs = gan.g_step(real, None)
    assert torch.allclose(got, adv + 10 * cycle + 0.5 * 10 * ident, atol=1e-5)
    assert torch.allclose(logs["cycle"], cycle, atol=1e-6) and torch.allclose(logs["identity"], ident, atol=1e-6)
    # D: (1/2)[(D(y) - 1)^2 + D(fake)^2] per domain, on the fakes the G step made (the history still filling)
    with torch.no_grad():
        want = 0.5 * (((DA(a) - 1) ** 2).mean() + (DA(fa) ** 2).mean()) \
            + 0.5 * (((DB(b) - 1) ** 2).mean() + (DB(fb) ** 2).mean())
        got_d, _ = gan.d_step(real, None)
    assert torch.allclose(got_d, want, atol=1e-5)
    assert gan.history_a._count == 4 and torch.equal(gan.history_b.images[:4], fb)


def test_discogan_and_dualgan_losses_are_their_papers(tmp_path, mnist_root):
    cfg = tiny_cfg("discogan", tmp_path, mnist_root)
    tr = Trainer(cfg, prepare_run_dir(cfg, False))
    gan = tr.gan
    real, _ = tr.loader.next()
    a, b = real[:, :1], real[:, 1:]
    gan.eval()  # batch norm on running statistics, so two forward passes agree
    with torch.no_grad():
        fb, fa = gan.G["ab"](a), gan.G["ba"](b)
        sp = nn.functional.softplus
        adv = sp(-gan.D["b"](fb)).mean() + sp(-gan.D["a"](fa)).mean()
        cycle = ((gan.G["ba"](fb) - a) ** 2).mean() + ((gan.G["ab"](fa) - b) ** 2).mean()
        got, logs = gan.g_step(real, None)
    assert torch.allclose(got, adv + cycle, atol=1e-5) and "identity" not in logs
    cfg = tiny_cfg("dualgan", tmp_path, mnist_root, "optim.d.lr=0.5")
    tr = Trainer(cfg, prepare_run_dir(cfg, False))
    tr.train_step()
    assert max(p.abs().max().item() for p in tr.gan.D.parameters()) <= 0.01 + 1e-9  # clipped critics
    assert tr.gan.objective.name == "wgan" and [(p.group, p.repeat) for p in tr.gan.phases()] == [("g", 1), ("d", 2)]


# ------------------------------------------------------------------ wiring: presets, phases, groups
PRESETS = {  # objective, batch, steps, n_critic, (g optimiser, lr), (d optimiser, lr), model subset, data
    "pix2pix": ("nonsaturating", 32, 3000, 1, ("adam", 2e-4), ("adam", 2e-4),
                {"depth": 5, "d_layers": 2, "norm": "batch", "dropout": 0.5, "l1_weight": 100.0}, "edges2mnist"),
    "cyclegan": ("lsgan", 16, 3000, 1, ("adam", 2e-4), ("adam", 2e-4),
                 {"g_arch": "resnet", "blocks": 3, "norm": "instance", "cycle_weight": 10.0, "identity": 0.5,
                  "adv_weight": 2.0, "history": 50, "cycle_loss": "l1"}, "mnist2inverted"),
    "discogan": ("nonsaturating", 16, 3000, 1, ("adam", 2e-4), ("adam", 2e-4),
                 {"g_arch": "encdec", "cycle_weight": 1.0, "cycle_loss": "l2", "identity": 0.0, "history": 0},
                 "mnist2inverted"),
    "dualgan": ("wgan", 16, 3000, 2, ("rmsprop", 5e-5), ("rmsprop", 5e-5),
                {"g_arch": "unet", "cycle_weight": 500.0, "cycle_loss": "l1", "d_clip": 0.01, "history": 0},
                "mnist2inverted"),
    "srgan": ("nonsaturating", 16, 3000, 1, ("adam", 1e-4), ("adam", 1e-4),
              {"blocks": 8, "content": "features", "adv_weight": 1e-3, "pretrain_steps": 1000}, "lowres2mnist"),
    "srresnet": ("nonsaturating", 16, 3000, 1, ("adam", 1e-4), ("adam", 2e-4),
                 {"blocks": 8, "content": "mse", "adv_weight": 0.0}, "lowres2mnist"),
    "cogan": ("nonsaturating", 64, 4000, 1, ("adam", 2e-4), ("adam", 2e-4), {"z_dim": 100, "g_width": 32,
                                                                             "d_width": 32}, "mnist2edges"),
    "fader": (None, 32, 4000, 1, ("adam", 2e-3), ("adam", 2e-3),
              {"width": 32, "downs": 3, "dropout": 0.3, "lambda_e": 0.01, "lambda_steps": 2000}, "mnist-attributes"),
    "unit": ("lsgan", 16, 3000, 1, ("adam", 1e-4), ("adam", 1e-4),
             {"blocks": 2, "kl_weight": 0.01, "recon_weight": 10.0, "cycle_weight": 10.0, "adv_weight": 2.0},
             "mnist2inverted"),
    "stargan": ("wgan", 16, 3000, 5, ("adam", 1e-4), ("adam", 1e-4),
                {"blocks": 3, "d_layers": 3, "lambda_cls": 1.0, "lambda_rec": 10.0}, "mnist-attributes"),
    "combogan": ("lsgan", 16, 3000, 1, ("adam", 2e-4), ("adam", 2e-4),
                 {"enc_blocks": 2, "dec_blocks": 1, "cycle_weight": 10.0, "adv_weight": 2.0}, "mnist-colours"),
    "xgan": ("lsgan", 16, 3000, 1, ("adam", 1e-4), ("adam", 1e-4),
             {"blocks": 2, "rec_weight": 10.0, "sem_weight": 10.0, "dann_weight": 1.0, "adv_weight": 2.0},
             "mnist2coloured"),
}


def test_every_translator_has_a_preset_row():
    assert set(PRESETS) == set(TRANSLATORS)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_translator_presets(name):
    objective, batch, steps, n_critic, og, od, model, data = PRESETS[name]
    cfg = resolve(name)
    assert (cfg.objective, cfg.batch_size, cfg.steps, cfg.train.n_critic) == (objective, batch, steps, n_critic)
    assert (cfg.optim["g"].name, cfg.optim["g"].lr) == og and (cfg.optim["d"].name, cfg.optim["d"].lr) == od
    assert {k: cfg.model[k] for k in model} == model
    assert cfg.data.name == data and cfg.data.resolution == 32 and not cfg.train.ema
    if name == "cyclegan":  # 1 and 3 channels: no identity loss there
        assert resolve(name, ["data=mnist2coloured"]).model["identity"] == 0.0


@pytest.mark.parametrize("name", TRANSLATORS)
def test_each_phase_changes_only_its_own_nets_and_the_order_is_the_papers(tmp_path, mnist_root, name):
    cfg = tiny_cfg(name, tmp_path, mnist_root)
    tr = Trainer(cfg, prepare_run_dir(cfg, False))
    order = [p.group for p in tr.phases]
    want = {"pix2pix": ["d", "g"], "srgan": ["d", "g"], "srresnet": ["g"], "stargan": ["d", "g"],
            "cogan": ["d", "g"], "fader": ["d", "g"], "unit": ["d", "g"], "xgan": ["d", "g"]}.get(name, ["g", "d"])
    assert order == want  # CycleGAN's: G's update, then D's
    groups = {g: {id(p) for p in ps} for g, ps in tr.params.items()}
    assert set(groups) == set(want) and not groups["g"] & groups.get("d", set())
    names = {id(p): n for n, p in tr.gan.named_parameters()}
    assert all(names[i].startswith("G.") for i in groups["g"]) and all(names[i].startswith("D.") for i in groups.get("d", ()))
    for phase in tr.phases:
        before = {n: p.detach().clone() for n, p in tr.gan.named_parameters()}
        tr._trainable(phase.group)
        real, labels = tr.loader.next()
        opt = tr.optims[phase.group]
        opt.zero_grad(set_to_none=True)
        loss, _ = phase.fn(real, labels)
        loss.backward()
        opt.step()
        prefix = "G." if phase.group == "g" else "D."
        changed = {n for n, p in tr.gan.named_parameters() if not torch.equal(before[n], p)}
        assert changed and all(n.startswith(prefix) for n in changed), phase.group


@pytest.mark.parametrize("name", ["cogan", "cyclegan", "discogan", "dualgan", "pix2pix", "unit"])
def test_translator_init_is_normal_002(name):
    info = DataInfo("mnist2inverted", "images", (2, 32, 32), 10, domains=(("image", 1), ("inverted", 1)))
    if name == "pix2pix":
        info = DataInfo("edges2mnist", "images", (2, 32, 32), 10, domains=(("edges", 1), ("image", 1)), paired=True)
    gan = GANS.get(name)(resolve(name), info)
    ws = torch.cat([m.weight.detach().flatten() for m in gan.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))])
    assert abs(ws.std().item() - 0.02) < 0.002 and abs(ws.mean().item()) < 0.001


@pytest.mark.parametrize("name", ["srgan", "stargan", "fader"])
def test_srgan_stargan_and_fader_init_is_pytorchs_default(name):
    """SRGAN states no init and StarGAN's and the Fader networks' code set none; their nets keep PyTorch's
    (Kaiming-uniform, |w| <= 1 / sqrt(fan_in)), not N(0, 0.02)."""
    info = DataInfo("lowres2mnist", "images", (2, 32, 32), 10, domains=(("lowres", 1), ("image", 1)), paired=True)
    if name in ("stargan", "fader"):
        info = DataInfo("mnist-attributes", "images", (3, 32, 32), 10, attributes=("r", "g", "b", "t", "o"),
                        attribute_groups=((0, 1, 2),))
    gan = GANS.get(name)(resolve(name), info)
    for m in gan.modules():
        if isinstance(m, nn.Conv2d) and m.weight.shape[1] * m.weight[0, 0].numel() >= 64:
            bound = 1 / (m.weight[0].numel()) ** 0.5
            assert m.weight.abs().max() <= bound + 1e-7
            assert abs(m.weight.std().item() - bound / 3 ** 0.5) < 0.15 * bound


def test_translators_refuse_the_wrong_data_and_other_gans_refuse_translation_sets():
    with pytest.raises(ConfigError, match="translation set"):
        resolve("cyclegan", ["data=mnist"])
    with pytest.raises(ConfigError, match="unpaired"):
        resolve("pix2pix", ["data=mnist2inverted"])
    with pytest.raises(ConfigError, match="GANs that do: cogan, combogan, cyclegan, discogan, dualgan, pix2pix, srgan, srresnet, unit, xgan$"):
        resolve("dcgan", ["data=edges2mnist"])
    info = DataInfo("mnist2coloured", "images", (4, 32, 32), 10, domains=(("image", 1), ("coloured", 3)))
    with pytest.raises(ConfigError, match="identity"):
        GANS.get("cyclegan")(resolve("cyclegan", ["data=mnist2coloured", "model.identity=0.5"]), info)
    with pytest.raises(ConfigError, match="multiple of 32"):
        GANS.get("pix2pix")(resolve("pix2pix", ["data.resolution=28"]),
                            DataInfo("edges2mnist", "images", (2, 28, 28), 10, domains=(("edges", 1), ("image", 1)), paired=True))


def test_the_history_is_in_the_checkpoint_and_resume_continues_exactly(tmp_path, mnist_root):
    from gankit.train.loop import resume, start

    common = ["data.size=64", "batch_size=4", "train.progress=false", "train.eval_every=0", "train.sample_every=0",
              "train.checkpoint_every=2", "model.history=6", f"data.root={mnist_root}"] + TINY["cyclegan"]
    full = start(resolve("cyclegan", common + ["steps=4", f"out={tmp_path / 'full'}"]))
    full.fit()
    half = start(resolve("cyclegan", common + ["steps=2", f"out={tmp_path / 'half'}"]))
    half.fit()
    assert half.gan.history_a._count == 6 and int(half.gan.history_a.count) == 6
    again = resume(tmp_path / "half", ["steps=4"])
    assert again.gan.history_a._count == 6 and torch.equal(again.gan.history_a.images, half.gan.history_a.images)
    again.fit()
    for k, v in full.gan.state_dict().items():
        assert torch.equal(v, again.gan.state_dict()[k]), k


# ------------------------------------------------------------------ evaluation, sampling, CLI
def test_translation_metrics_of_the_identity_and_of_perfect_translators(tmp_path, mnist_root):
    from gankit.metrics.translation import translation_metrics

    cfg = tiny_cfg("cyclegan", tmp_path, mnist_root)
    tr = Trainer(cfg, prepare_run_dir(cfg, False))
    gan = tr.gan
    with torch.no_grad():  # make G: A -> B and F: B -> A exactly "invert" by swapping in a module that negates
        gan.G["ab"] = Negate()
        gan.G["ba"] = Negate()
    r = translation_metrics(gan, tr.info, n=500, root=mnist_root)
    # the perfect inverter keeps every class as well as the reference classifier reads MNIST (>= 99 %)
    assert r["class_preserved_ab"] > 0.98 and r["class_preserved_ba"] > 0.98
    assert r["cycle_l1_ab"] == 0 and r["cycle_l1_ba"] == 0
    assert r["protocol"]["images"] == 500 and r["protocol"]["split"] == "test"


class Negate(nn.Module):
    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))  # where the GAN reads its device

    def forward(self, x):
        return -x


def test_paired_metrics_are_l1_psnr_ssim_against_the_true_target(tmp_path, mnist_root):
    from gankit.metrics.translation import translation_metrics

    cfg = tiny_cfg("pix2pix", tmp_path, mnist_root, "data=mnist2colourised")
    tr = Trainer(cfg, prepare_run_dir(cfg, False))
    tr.gan.G = Colourise()
    r = translation_metrics(tr.gan, tr.info, n=200, root=mnist_root)
    assert r["l1"] < 1e-6 and r["psnr"] > 100 and abs(r["ssim"] - 1) < 1e-6 and r["class_preserved_ab"] > 0.98
    assert "cycle_l1_ab" not in r


class Colourise(nn.Module):
    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return colourised(x)


def test_train_sample_eval_and_translate_from_the_command_line(tmp_path, mnist_root):
    run = tmp_path / "p"
    env = {**os.environ, "GANKIT_DATA": str(mnist_root)}
    base = [sys.executable, "-m", "gankit.cli"]
    out = subprocess.run(base + ["train", "pix2pix", "steps=2", "data.size=64", "batch_size=4", "model.g_width=4",
                                 "model.d_width=4", "train.eval_every=2", "train.eval_samples=100", f"out={run}",
                                 "train.progress=false"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    ev = json.loads((run / "eval.json").read_text())
    assert {"l1", "psnr", "ssim", "class_preserved_ab", "cfid_ab"} <= set(ev)
    assert (run / "samples" / "final.png").is_file()
    edges_in = load_dataset("edges2mnist", root=mnist_root, resolution=32, split="test", size=5)[0][:, :1].numpy()
    np.save(tmp_path / "in.npy", edges_in)
    out = subprocess.run(base + ["translate", str(run), "--input", str(tmp_path / "in.npy"), "--out",
                                 str(tmp_path / "out.npy")], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    y = np.load(tmp_path / "out.npy")
    assert y.shape == (5, 1, 32, 32) and np.abs(y).max() <= 1
    again = subprocess.run(base + ["translate", str(run), "--input", str(tmp_path / "in.npy"), "--out",
                                   str(tmp_path / "out.npy")], capture_output=True, text=True, env=env)
    assert again.returncode == 2 and "exists" in again.stderr and "Traceback" not in again.stderr
    bad = subprocess.run(base + ["translate", str(run), "--input", str(tmp_path / "in.npy"), "--to", "a", "--out",
                                 str(tmp_path / "o2.npy")], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    ev2 = subprocess.run(base + ["eval", str(run), "--n", "100", "--overwrite"], capture_output=True, text=True, env=env)
    assert ev2.returncode == 0, ev2.stderr


# ------------------------------------------------------------------ super-resolution
def test_lowres_is_a_x4_bicubic_downsample_stored_at_full_size():
    from gankit.data.domains import bicubic_up, low_of, lowres

    x = torch.rand(3, 1, 32, 32) * 2 - 1
    lr = lowres(x)
    small = low_of(lr)
    assert lr.shape == x.shape and small.shape == (3, 1, 8, 8)
    want = nn.functional.interpolate(x, scale_factor=0.25, mode="bicubic", antialias=True, align_corners=False)
    assert torch.allclose(small, want.clamp(-1, 1))
    assert torch.equal(lr, small.repeat_interleave(4, 2).repeat_interleave(4, 3))  # each pixel 4 x 4 times
    assert bicubic_up(small).shape == x.shape


def test_srresnet_upsamples_x4_with_two_pixel_shuffles_and_d_is_vgg_style():
    from gankit.models.superres import SRDiscriminator, SRResNet

    G = SRResNet(3, width=8, blocks=2)
    assert G(torch.randn(2, 3, 8, 8)).shape == (2, 3, 32, 32)
    shuffles = [m for m in G.up if isinstance(m, nn.PixelShuffle)]
    assert len(shuffles) == 2 and all(m.upscale_factor == 2 for m in shuffles)
    assert sum(isinstance(m, nn.Module) and type(m).__name__ == "SRResidualBlock" for m in G.blocks) == 2
    D = SRDiscriminator(3, 32, width=4, stages=4, hidden=16)
    assert D(torch.randn(2, 3, 32, 32)).shape == (2,)
    convs = [m for m in D.features if isinstance(m, nn.Conv2d)]
    assert [(c.out_channels, c.stride[0]) for c in convs] == [(4, 1), (4, 2), (8, 1), (8, 2), (16, 1), (16, 2),
                                                               (32, 1), (32, 2)]
    with pytest.raises(ValueError, match="powers of 2"):
        SRResNet(1, factor=3)


SR_TINY = ["model.g_width=4", "model.blocks=1", "model.d_width=4", "model.d_hidden=8"]


def sr_trainer(tmp_path, root, name="srgan", *extra):
    cfg = resolve(name, [f"data.root={root}", "data.size=64", "batch_size=4", "steps=4", f"out={tmp_path / name}",
                         "train.progress=false", "train.eval_every=0", "train.sample_every=0"]
                  + [t for t in SR_TINY if name == "srgan" or "d_" not in t] + list(extra))
    return Trainer(cfg, prepare_run_dir(cfg, False))


def test_srgan_loss_is_content_plus_1e3_adversarial_after_the_pretraining(tmp_path, mnist_root):
    tr = sr_trainer(tmp_path, mnist_root, "srgan", "model.pretrain_steps=2")
    gan = tr.gan
    real, _ = tr.loader.next()
    low, high = real[:, :1], real[:, 1:]
    gan.eval()
    with torch.no_grad():
        fake = gan.G(low)
        feats = gan._content
        content = (feats(fake) - feats(high)).pow(2).mean()
        adv = nn.functional.softplus(-gan.D(fake)).mean()
        got, logs = gan.g_step(real, None)
        assert torch.allclose(got, content, atol=1e-6) and float(logs["g_loss"]) == 0  # pretraining: content alone
        gan.after_step("g")
        gan.after_step("g")
        got, _ = gan.g_step(real, None)
        assert torch.allclose(got, content + 1e-3 * adv, atol=1e-6)
    assert int(gan.g_updates) == 2 and "g_updates" in gan.state_dict()
    # the content network is frozen and not in the checkpoint
    assert not any("_content" in k for k in gan.state_dict())


def test_srresnet_is_the_pixel_mse_alone_without_d(tmp_path, mnist_root):
    tr = sr_trainer(tmp_path, mnist_root, "srresnet")
    gan = tr.gan
    assert set(tr.optims) == {"g"} and [p.group for p in tr.phases] == ["g"] and not list(gan.D.parameters())
    real, _ = tr.loader.next()
    with torch.no_grad():
        got, _ = gan.g_step(real, None)
        assert torch.allclose(got, (gan.G(real[:, :1]) - real[:, 1:]).pow(2).mean(), atol=1e-7)
    tr.train_step()


def test_super_resolvers_take_small_images_and_refuse_other_sets(tmp_path, mnist_root):
    tr = sr_trainer(tmp_path, mnist_root, "srresnet")
    small = torch.rand(2, 1, 8, 8) * 2 - 1
    assert tr.gan.translate(small).shape == (2, 1, 32, 32)
    assert torch.equal(tr.gan.translate(small), tr.gan.translate(small.repeat_interleave(4, 2).repeat_interleave(4, 3)))
    with pytest.raises(Exception, match="must have shape"):
        tr.gan.translate(torch.rand(2, 1, 16, 16))
    with pytest.raises(ConfigError, match="super-resolution set"):
        resolve("srgan", ["data=edges2mnist"])
    with pytest.raises(ConfigError, match="vgg_weights"):
        resolve("srgan", ["model.content=vgg"])


def test_vgg_content_loads_a_local_state_dict_and_refuses_bad_files(tmp_path):
    from torchvision.models import vgg19

    from gankit.nn.perceptual import VGG54_LAYERS, VGGFeatures

    torch.manual_seed(0)
    features = vgg19().features[:VGG54_LAYERS]
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, tmp_path / "vgg.pth")
    vgg = VGGFeatures(str(tmp_path / "vgg.pth"))
    out = vgg(torch.rand(1, 1, 32, 32) * 2 - 1)
    assert out.shape == (1, 512, 2, 2)
    (tmp_path / "bad.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="cannot read"):
        VGGFeatures(str(tmp_path / "bad.pth"))
    with pytest.raises(ConfigError, match="not a file"):
        VGGFeatures(str(tmp_path / "missing.pth"))


def test_sr_metrics_score_the_bicubic_baseline(tmp_path, mnist_root):
    from gankit.metrics.translation import translation_metrics

    tr = sr_trainer(tmp_path, mnist_root, "srresnet")
    tr.gan.G = Bicubic()
    r = translation_metrics(tr.gan, tr.info, n=300, root=mnist_root)
    assert abs(r["psnr"] - r["psnr_bicubic"]) < 1e-9 and abs(r["ssim"] - r["ssim_bicubic"]) < 1e-9
    assert abs(r["perceptual"] - r["perceptual_bicubic"]) < 1e-6 and 0 <= r["class_preserved_ab"] <= 1


class Bicubic(nn.Module):
    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        from gankit.data.domains import bicubic_up, low_of

        return bicubic_up(low_of(x))


def test_photo_patches_are_seeded_and_keep_train_and_test_apart():
    pytest.importorskip("skimage", reason="scikit-image (a test dependency) reads the bundled photographs")
    from gankit.data.domains import photo_patches

    a = photo_patches("train", 32, 70, torch.Generator().manual_seed(0))
    b = photo_patches("train", 32, 70, torch.Generator().manual_seed(0))
    assert a.shape == (70, 3, 32, 32) and torch.equal(a, b) and a.min() >= -1 and a.max() <= 1
    x, y, info = load_dataset("lowres2photos", resolution=32, split="test", size=14)
    assert info.domains == (("lowres", 3), ("image", 3)) and info.num_classes == 0 and x.shape == (14, 6, 32, 32)


# ------------------------------------------------------------------ StarGAN and the attribute set
def test_attribute_set_layout_and_transforms(mnist_root):
    from gankit.data.attributes import ATTRIBUTES, JITTER_DEGREES, apply_attributes, random_attributes, rotate, thicken

    x, y, info = load_dataset("mnist-attributes", root=mnist_root, split="test", size=200)
    base, yb, _ = load_dataset("mnist", root=mnist_root, split="test", size=200)
    assert info.attributes == ATTRIBUTES and info.attribute_groups == ((0, 1, 2),) and x.shape == (200, 3, 28, 28)
    assert torch.equal(y[:, 0], yb) and torch.equal(y[:, 1:4].sum(1), torch.ones(200, dtype=torch.long))
    gen = torch.Generator().manual_seed(8)  # the test split's draws at seed 0: attributes, then the jitter angles
    attrs = random_attributes(200, gen)
    jitter = (torch.rand(200, generator=gen) * 2 - 1) * JITTER_DEGREES
    assert torch.equal(y[:, 1:], attrs) and torch.equal(x, apply_attributes(base, attrs, jitter))
    assert jitter.abs().max() <= 10 and jitter.std() > 4
    assert 0.3 < y[:, 4].float().mean() < 0.7 and 0.3 < y[:, 5].float().mean() < 0.7
    x2, y2, _ = load_dataset("mnist-attributes", root=mnist_root, split="test", size=200)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    img = torch.rand(2, 1, 8, 8) * 2 - 1
    assert torch.allclose(rotate(img, 90.0), torch.rot90(img, -1, dims=(2, 3)), atol=1e-5)  # clockwise
    assert torch.equal(thicken(img)[0, 0, 3, 3], img[0, 0, 2:5, 2:5].max())
    red = apply_attributes(img, torch.tensor([[1, 0, 0, 0, 0], [0, 0, 1, 0, 0]]))
    assert torch.equal(red[0, 0], img[0, 0]) and (red[0, 1:] == -1).all() and torch.equal(red[1, 2], img[1, 0])


def test_stargan_losses_by_hand(tmp_path, mnist_root):
    cfg = tiny_cfg("stargan", tmp_path, mnist_root)
    tr = Trainer(cfg, prepare_run_dir(cfg, False))
    gan = tr.gan
    real, labels = tr.loader.next()
    c_org = labels[:, 1:].float()
    bce = nn.functional.binary_cross_entropy_with_logits
    torch.manual_seed(5)
    perm = torch.randperm(4)
    c_trg = c_org[perm]
    with torch.no_grad():
        fake = gan.G(real, c_trg)
        src_r, cls_r = gan.D(real)
        src_f, cls_f = gan.D(fake)
        want_g = -src_f.mean() + bce(cls_f, c_trg, reduction="sum") / 4 + 10 * (real - gan.G(fake, c_org)).abs().mean()
        torch.manual_seed(5)
        got_g, logs = gan.g_step(real, labels)
    assert torch.allclose(got_g, want_g, atol=1e-5)
    torch.manual_seed(5)
    want_adv = src_f.mean() - src_r.mean()
    got_d, logs = gan.d_step(real, labels)
    assert torch.allclose(logs["d_loss"], want_adv, atol=1e-5)
    assert torch.allclose(logs["d_cls"], bce(cls_r, c_org, reduction="sum") / 4, atol=1e-5)
    assert torch.allclose(got_d, want_adv + logs["d_cls"] + 10 * logs["gp"], atol=1e-5)


def test_stargan_reconstructs_with_the_source_attributes_and_parses_targets(tmp_path, mnist_root):
    cfg = tiny_cfg("stargan", tmp_path, mnist_root)
    tr = Trainer(cfg, prepare_run_dir(cfg, False))
    gan = tr.gan
    calls = []
    real_forward = gan.G.forward
    gan.G.forward = lambda x, c: (calls.append(c.clone()), real_forward(x, c))[1]
    real, labels = tr.loader.next()
    gan.g_step(real, labels)
    assert len(calls) == 2 and torch.equal(calls[1], labels[:, 1:].float())  # G(G(x, c), c'): back with c'
    assert sorted(map(tuple, calls[0].tolist())) == sorted(map(tuple, labels[:, 1:].float().tolist()))
    assert torch.equal(gan.target("red,thick"), torch.tensor([1.0, 0, 0, 1, 0]))
    for bad, why in (("red,blue", "exactly one"), ("purple", "unknown attribute"), ("thick", "exactly one"), ("", "give")):
        with pytest.raises(Exception, match=why):
            gan.target(bad)
    out = gan.translate(real, gan.target("blue,rotated"))
    assert out.shape == real.shape
    x, y = gan.sample_with_labels(3)
    assert x.shape == (3, 3, 32, 32) and y.shape == (3,)
    grid, per = gan.sample_grid(64)
    assert grid.shape == (8 * 6, 3, 32, 32) and per == 8  # input, three colours, thick and rotated switched


# ------------------------------------------------------------------ CoGAN
def test_cogan_shares_gs_first_and_ds_last_layers_as_the_same_tensors(tmp_path, mnist_root):
    cfg = tiny_cfg("cogan", tmp_path, mnist_root)
    tr = Trainer(cfg, prepare_run_dir(cfg, False))
    G, D = tr.gan.G, tr.gan.D
    # one shared trunk feeds both heads: the same parameters, counted once in the g group
    assert len(G.heads) == 2 and len(D.heads) == 2
    g_ids = [id(p) for p in tr.params["g"]]
    assert len(g_ids) == len(set(g_ids)) == sum(1 for _ in G.parameters())
    seen = []
    hook = G.shared.register_forward_hook(lambda m, i, o: seen.append(o))
    za, zb = G(torch.randn(3, 8))
    hook.remove()
    assert len(seen) == 1 and za.shape == (3, 1, 32, 32) and zb.shape == (3, 1, 32, 32)
    # D: each domain's own first conv, then the same shared layers
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        D.eval()
        assert torch.allclose(D(x, 0), D.shared(D.heads[0](x)).squeeze(1)) and D(x, 1).shape == (2,)
    # a G step's gradient reaches the shared trunk from both domains' losses
    real, _ = tr.loader.next()
    tr._trainable("g")
    loss_a_only = tr.gan.objective.g_loss(tr.gan.D(tr.gan.G(torch.randn(4, 8))[0], 0))
    (ga,) = torch.autograd.grad(loss_a_only, [G.shared[0].weight])
    assert ga.abs().sum() > 0


def test_cogan_pairs_and_pictures(tmp_path, mnist_root):
    cfg = tiny_cfg("cogan", tmp_path, mnist_root, "data=mnist2inverted")
    tr = Trainer(cfg, prepare_run_dir(cfg, False))
    a, b = tr.gan.pairs(5, seed=3)
    a2, b2 = tr.gan.pairs(5, seed=3)
    assert torch.equal(a, a2) and torch.equal(b, b2) and a.shape == (5, 1, 32, 32)
    x, y = tr.gan.sample_with_labels(5, seed=3)
    assert y is None and torch.equal(x, torch.cat([a, b], -1))
    grid, per = tr.gan.sample_grid(64)
    assert per == 8 and torch.equal(grid[:8], tr.gan.pairs(32, 0)[0][:8].repeat(1, 3, 1, 1))
    with pytest.raises(Exception, match="does not translate"):
        tr.gan.translate(a)


def test_pair_metrics_of_perfectly_corresponding_pairs(tmp_path, mnist_root):
    from gankit.metrics.translation import pair_metrics

    cfg = tiny_cfg("cogan", tmp_path, mnist_root, "data=mnist2inverted")
    tr = Trainer(cfg, prepare_run_dir(cfg, False))
    digits = load_dataset("mnist", root=mnist_root, split="test", size=300, resolution=32)[0]
    tr.gan.pairs = lambda n, seed=0: (digits[:n], -digits[:n])  # B is exactly A inverted
    r = pair_metrics(tr.gan, n=300, root=mnist_root)
    assert r["pair_l1"] == 0 and r["pair_l1_shuffled"] > 0.1 and r["pair_class_agreement"] == 1
    assert r["cfid_a"] < 5 and r["cfid_b"] < 5


def test_shipped_attribute_classifier_reaches_its_accuracy(mnist_root):
    from gankit.metrics.reference import RECIPES, REQUIRED_ACCURACY, accuracy, load_reference_classifier, reference_record

    rec = reference_record("mnist-attributes")
    assert rec["recipe"] == RECIPES["mnist-attributes"]
    net = load_reference_classifier("mnist-attributes")  # checks the sha256 against the record
    from gankit.metrics.reference import to_input

    x, y, _ = load_dataset("mnist-attributes", root=mnist_root, split="test", resolution=32)
    acc = accuracy(net, to_input(x), y[:, 1:].float())  # all five attributes right, read as the metrics read them
    assert acc >= REQUIRED_ACCURACY["mnist-attributes"] and acc == pytest.approx(rec["test_accuracy"], abs=1e-4)


def test_attribute_classifier_recipe_is_deterministic(tmp_path, mnist_root):
    from gankit.metrics.reference import train_reference_classifier

    a = train_reference_classifier("mnist-attributes", mnist_root, tmp_path / "a", epochs=1, train_size=256,
                                   progress=False)
    b = train_reference_classifier("mnist-attributes", mnist_root, tmp_path / "b", epochs=1, train_size=256,
                                   progress=False)
    from safetensors.torch import load_file

    assert a["recipe"] == b["recipe"] and a["recipe"]["resolution"] == 32
    # values, not bytes: oneDNN's kernel choice is not pinned (see test_eval_suite's reference-classifier check)
    wa = load_file(str(tmp_path / "a" / "mnist-attributes-classifier.safetensors"))
    wb = load_file(str(tmp_path / "b" / "mnist-attributes-classifier.safetensors"))
    assert wa.keys() == wb.keys() and a["recipe"]["multilabel"]
    assert all(torch.allclose(wa[k].double(), wb[k].double(), rtol=1e-4, atol=1e-5) for k in wa)
    assert wa["head.weight"].shape == (5, 128)


def test_domain_accuracy_of_a_translator_that_keeps_the_source_domain(tmp_path, mnist_root):
    """G = identity with the source attributes as targets: the domain accuracy is the classifier's on real images,
    the class is kept as well as the reference classifier reads these digits, and nothing needs reconstructing."""
    from gankit.metrics.translation import attribute_translation_metrics

    cfg = tiny_cfg("stargan", tmp_path, mnist_root)
    tr = Trainer(cfg, prepare_run_dir(cfg, False))
    gan = tr.gan
    gan.G = KeepImage()
    x, y = gan.task_data()
    gan.seeded_targets = lambda n, seed: y[:n, 1:].float()
    r = attribute_translation_metrics(gan, n=500, root=mnist_root)
    assert r["domain_accuracy"] == r["domain_accuracy_real"] > 0.95
    assert r["class_preserved"] == r["class_preserved_real"] > 0.6 and r["rec_l1"] == 0  # rotated digits read poorly
    assert set(f"attribute_accuracy_{a}" for a in gan.info.attributes) <= set(r)


class KeepImage(nn.Module):
    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, x, c):
        return x


# ------------------------------------------------------------------ Fader networks
def test_fader_losses_by_hand_and_the_ramp_of_lambda_e(tmp_path, mnist_root):
    cfg = tiny_cfg("fader", tmp_path, mnist_root, "model.lambda_steps=4", "model.lambda_e=0.5")
    tr = Trainer(cfg, prepare_run_dir(cfg, False))
    gan = tr.gan
    real, labels = tr.loader.next()
    c = labels[:, 1:].float()
    bce = nn.functional.binary_cross_entropy_with_logits
    gan.eval()
    with torch.no_grad():
        z = gan.G.encode(real)
        want_p = bce(gan.D(z), c, reduction="sum") / 4
        rec = (gan.G.decode(z, c) - real).pow(2).mean()
        fool = bce(gan.D(z), 1 - c, reduction="sum") / 4  # the encoder wants P to predict the flipped attributes
        got_p, _ = gan.d_step(real, labels)
        assert torch.allclose(got_p, want_p, atol=1e-5)
        got, logs = gan.g_step(real, labels)
        assert torch.allclose(got, rec, atol=1e-6) and torch.allclose(logs["g_loss"], fool, atol=1e-5)  # lambda 0
        for k, lam in ((1, 0.125), (2, 0.25), (4, 0.5), (6, 0.5)):
            while gan._steps < k:
                gan.after_step("g")
            got, _ = gan.g_step(real, labels)
            assert torch.allclose(got, rec + lam * fool, atol=1e-5), k
    gan.after_step("d")
    assert int(gan.ae_updates) == 6 and gan._steps == 6
    other = GANS.get("fader")(cfg, tr.info)
    other.load_state_dict(gan.state_dict())
    assert other._steps == 6  # the ramp resumes where it was


def test_fader_decoder_reads_the_attributes_at_every_layer_and_p_reads_the_code(tmp_path, mnist_root):
    from gankit.gans.translation.fader import attribute_maps

    cfg = tiny_cfg("fader", tmp_path, mnist_root)
    gan = Trainer(cfg, prepare_run_dir(cfg, False)).gan
    ins = [next(m for m in layer if isinstance(m, nn.ConvTranspose2d)).in_channels for layer in gan.G.decoder]
    assert ins == [16 + 10, 8 + 10, 4 + 10]  # each layer: the maps, then (y, 1 - y) for the 5 attributes
    m = attribute_maps(torch.tensor([[1.0, 0, 0, 1, 0]]), torch.zeros(1, 1, 2, 2))
    assert m.shape == (1, 10, 2, 2) and m[0, :, 0, 0].tolist() == [1, 0, 0, 1, 0, 0, 1, 1, 0, 1]
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    gan.eval()
    with torch.no_grad():
        z = gan.G.encode(x)
        assert z.shape == (2, 16, 4, 4) and gan.D(z).shape == (2, 5)
        red, blue = gan.G.decode(z, gan.target("red").expand(2, -1)), gan.G.decode(z, gan.target("blue").expand(2, -1))
        assert not torch.allclose(red, blue)  # swapping the attribute at decoding changes the output
        assert torch.equal(gan.translate(x, gan.target("red")), red)


# ------------------------------------------------------------------ UNIT
def test_unit_shares_the_latent_layers_and_its_loss_by_hand(tmp_path, mnist_root):
    from gankit.gans.translation.unit import kl_unit_gaussian

    cfg = tiny_cfg("unit", tmp_path, mnist_root)
    tr = Trainer(cfg, prepare_run_dir(cfg, False))
    gan, G = tr.gan, tr.gan.G
    # the encoders end in one shared block and the decoders start with one: the same tensors for both domains
    seen = []
    hook = G.shared_enc.register_forward_hook(lambda m, i, o: seen.append(1))
    G.encode(torch.zeros(1, 1, 32, 32), 0)
    G.encode(torch.zeros(1, 1, 32, 32), 1)
    hook.remove()
    assert len(seen) == 2 and len({id(p) for p in tr.params["g"]}) == sum(1 for _ in G.parameters())
    real, _ = tr.loader.next()
    a, b = real[:, :1], real[:, 1:]
    torch.manual_seed(3)
    got, logs = gan.g_step(real, None)
    torch.manual_seed(3)
    with torch.no_grad():
        mu_a, mu_b = G.encode(a, 0), G.encode(b, 1)
        za, zb = mu_a + torch.randn_like(mu_a), mu_b + torch.randn_like(mu_b)
        rec = (G.decode(za, 0) - a).abs().mean() + (G.decode(zb, 1) - b).abs().mean()
        ab, ba = G.decode(za, 1), G.decode(zb, 0)
        adv = ((gan.D["b"](ab) - 1) ** 2).mean() + ((gan.D["a"](ba) - 1) ** 2).mean()  # the paper's LSGAN G term
        m1, m2 = G.encode(ab, 1), G.encode(ba, 0)
        cycle = (G.decode(m1 + torch.randn_like(m1), 0) - a).abs().mean() + \
            (G.decode(m2 + torch.randn_like(m2), 1) - b).abs().mean()
        kl = (mu_a ** 2).mean() / 2 + (mu_b ** 2).mean() / 2 + (m1 ** 2).mean() / 2 + (m2 ** 2).mean() / 2
    assert torch.allclose(got, adv + 10 * rec + 10 * cycle + 0.01 * kl, atol=1e-4)
    assert torch.allclose(kl_unit_gaussian(torch.full((2, 3), 2.0)), torch.tensor(2.0))
    # translating uses the code's mean (no noise) and leaves the nets' mode as it was
    gan.eval()
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    out = gan.translate(x, "ab")
    assert torch.equal(out, G.decode(G.encode(x, 0), 1)) and not G.training


def test_translate_refuses_what_a_hostile_probe_found(tmp_path, mnist_root):
    """One-line errors (exit 2) for empty arrays, .npz archives and empty files named .npy, clashing output names
    and an output folder with other files; the API checks uint8 and ranges like the CLI."""
    from PIL import Image

    from gankit.train.run import load_run

    run = tmp_path / "p"
    env = {**os.environ, "GANKIT_DATA": str(mnist_root)}
    base = [sys.executable, "-m", "gankit.cli"]
    out = subprocess.run(base + ["train", "pix2pix", "steps=1", "data.size=64", "batch_size=4", "model.g_width=4",
                                 "model.d_width=4", "train.eval_every=0", f"out={run}", "train.progress=false"],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    np.save(tmp_path / "empty.npy", np.zeros((0, 1, 32, 32), np.float32))
    np.savez(tmp_path / "arch.npz", x=np.zeros((2, 1, 32, 32)))
    (tmp_path / "arch.npz").rename(tmp_path / "arch.npy")
    (tmp_path / "zero.npy").write_bytes(b"")
    folder = tmp_path / "pics"
    (folder / "sub").mkdir(parents=True)
    for name in ("x.png", "x.jpg", "sub/x.png"):
        Image.new("L", (32, 32)).save(folder / name)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "stale.png").write_bytes(b"")
    np.save(tmp_path / "ok.npy", np.zeros((2, 1, 32, 32), np.uint8))
    cases = [("empty.npy", "o1.npy", "no images"), ("arch.npy", "o2.npy", "npz archive"),
             ("zero.npy", "o3.npy", "cannot read"), ("pics", "o4", "same output"),
             ("ok.npy", "full", "holds other files"), ("pics", "pics/inside", "inside the input")]
    for src, dst, why in cases:
        extra = ["--overwrite"] if dst == "full" else []
        r = subprocess.run(base + ["translate", str(run), "--input", str(tmp_path / src), "--out", str(tmp_path / dst)]
                           + extra, capture_output=True, text=True, env=env)
        assert r.returncode == 2 and why in r.stderr and len(r.stderr.strip().splitlines()) == 1, (src, r.stderr)
    (folder / "x.jpg").unlink()
    r = subprocess.run(base + ["translate", str(run), "--input", str(folder), "--out", str(tmp_path / "o5")],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0 and sorted(p.name for p in (tmp_path / "o5").iterdir()) == ["sub__x.png", "x.png"]
    loaded = load_run(run)
    u8 = np.full((1, 1, 32, 32), 255, np.uint8)
    assert torch.equal(loaded.translate(u8), loaded.translate(np.ones((1, 1, 32, 32), np.float32)))
    with pytest.raises(Exception, match="finite floats"):
        loaded.translate(np.full((1, 1, 32, 32), 3.0, np.float32))
    r = subprocess.run(base + ["eval", str(run), "--n", "20", "--truncation", "0.5", "--out", str(tmp_path / "e.json")],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "truncation" in r.stderr


def test_stargans_generator_sees_the_target_attributes():
    """The target enters G as constant channels; an instance norm after a reflection-padded conv would remove them
    exactly (a constant map convolves to a constant, which the norm subtracts), so G pads its first conv with zeros
    (as the authors' code): two targets give two outputs from the untrained G."""
    from gankit.gans.translation.stargan import AttributeConditioned

    info = DataInfo("mnist-attributes", "images", (3, 32, 32), 10, attributes=("r", "g", "b", "t", "o"),
                    attribute_groups=((0, 1, 2),))
    torch.manual_seed(0)
    gan = GANS.get("stargan")(resolve("stargan", ["model.g_width=8", "model.blocks=1"]), info).eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    red, blue = torch.tensor([[1.0, 0, 0, 0, 0]] * 2), torch.tensor([[0.0, 0, 1, 0, 0]] * 2)
    with torch.no_grad():
        assert (gan.G(x, red) - gan.G(x, blue)).abs().max() > 1e-3
        reflect = AttributeConditioned(ResnetGenerator(8, 3, 8, 1)).eval()  # the same net with reflection padding
        assert torch.allclose(reflect(x, red), reflect(x, blue), atol=1e-5)  # ... is blind to the target


def test_history_buffer_keeps_the_later_of_two_swaps_into_one_slot():
    buf = HistoryBuffer(2, (1,))
    buf(torch.zeros(2, 1))
    torch.manual_seed(0)
    for _ in range(50):  # with 2 slots and 8 images, clashes are certain
        fake = torch.arange(8.0).view(8, 1) + 10
        state = torch.get_rng_state()
        buf(fake)
        torch.set_rng_state(state)
        swap = torch.rand(8) < 0.5
        slot = torch.randint(0, 2, (8,))
        for s in (0, 1):
            chosen = [i for i in range(8) if swap[i] and slot[i] == s]
            if chosen:
                assert buf.images[s, 0] == fake[chosen[-1], 0]
        assert buf.images[2, 0] == 0  # the spare row is cleared


def test_xgan_losses_by_hand_and_its_shared_layers(tmp_path, mnist_root):
    """Royer et al. 2017: D's step (a GAN per domain + the embedding's domain classifier) and G's (L2
    reconstruction, GAN on the translations, L1 semantic consistency of the embedding, the flipped domain labels)
    against the terms written out, with the preset's weights."""
    bce = nn.functional.binary_cross_entropy_with_logits
    cfg = tiny_cfg("xgan", tmp_path, mnist_root)
    tr = Trainer(cfg, prepare_run_dir(cfg, False))
    gan, G, D = tr.gan, tr.gan.G, tr.gan.D
    assert G.shared_enc is not None and {id(p) for p in D["latent"].parameters()} <= {id(p) for p in tr.params["d"]}
    assert [p.group for p in gan.phases()] == ["d", "g"]
    real, _ = tr.loader.next()
    a, b = real[:, :1], real[:, 1:]
    with torch.no_grad():
        za, zb = G.encode(a, 0), G.encode(b, 1)
        ab, ba = G.decode(za, 1), G.decode(zb, 0)
        ls_d = lambda r, f: 0.5 * (((r - 1) ** 2).mean() + (f ** 2).mean())
        la, lb = D["latent"](za), D["latent"](zb)
        want_d = ls_d(D["a"](a), D["a"](ba)) + ls_d(D["b"](b), D["b"](ab)) \
            + bce(la, torch.zeros_like(la)) + bce(lb, torch.ones_like(lb))
        rec = ((G.decode(za, 0) - a) ** 2).mean() + ((G.decode(zb, 1) - b) ** 2).mean()
        adv = ((D["b"](ab) - 1) ** 2).mean() + ((D["a"](ba) - 1) ** 2).mean()  # lsgan's 1/2 undone by the weight 2
        sem = (G.encode(ab, 1) - za).abs().mean() + (G.encode(ba, 0) - zb).abs().mean()
        dann = bce(la, torch.ones_like(la)) + bce(lb, torch.zeros_like(lb))  # the encoders say the other domain
        got_d, _ = gan.d_step(real, None)
        got_g, logs = gan.g_step(real, None)
    assert torch.allclose(got_d, want_d, atol=1e-5)
    assert torch.allclose(got_g, adv + 10 * rec + 10 * sem + 1 * dann, atol=1e-4)
    assert set(logs) == {"g_loss", "rec", "sem", "dann"}
    out = gan.translate(a, "ab")
    assert out.shape == (4, 3, 32, 32) and torch.allclose(out, G.decode(G.encode(a, 0), 1), atol=1e-5)


# ------------------------------------------------------------------ ComboGAN and the multi-domain set
def test_mnist_colours_groups_disjoint_digits_by_colour_and_its_loader_resumes(mnist_root):
    x, y, info = load_dataset("mnist-colours", root=mnist_root, resolution=32, split="test", size=50)
    assert x.shape == (50, 9, 32, 32) and y.shape == (50, 3, 6) and [c for c, _ in info.domains] == ["red", "green", "blue"]
    for k in range(3):  # domain k: strokes in colour k only, labelled so
        assert (y[:, k, 1:4].argmax(1) == k).all()
        dom = x[:, 3 * k:3 * k + 3]
        others = [c for c in range(3) if c != k]
        assert (dom[:, others] == -1).all() and (dom[:, k] > 0).any()
    again, _, _ = load_dataset("mnist-colours", root=mnist_root, resolution=32, split="test", size=50)
    assert torch.equal(x, again)
    attrs, ya, _ = load_dataset("mnist-attributes", root=mnist_root, resolution=32, split="test")
    red = (ya[:, 1:4].argmax(1) == 0).nonzero().flatten()[:50]
    assert torch.equal(x[:, :3], attrs[red]) and torch.equal(y[:, 0], ya[red])  # the red digits, in order
    loader = make_loader(x, y, info, 8, "cpu", 0)
    assert isinstance(loader, UnpairedLoader) and set(loader.state_dict()) == {"a", "b", "c"}
    state = loader.state_dict()
    want = [loader.next() for _ in range(9)]
    other = make_loader(x, y, info, 8, "cpu", 0)
    other.load_state_dict(state)
    for wx, wy in want:
        gx, gy = other.next()
        assert torch.equal(gx, wx) and torch.equal(gy, wy)
    with pytest.raises(ConfigError, match="GANs that do: combogan"):
        resolve("dcgan", ["data=mnist-colours"])
    with pytest.raises(ConfigError, match="GAN 'cyclegan' does not train on it. GANs that do: combogan"):
        resolve("cyclegan", ["data=mnist-colours"])
    with pytest.raises(ConfigError, match=r"multi-domain set \(mnist-colours\) or a translation set .* got 'mnist'$"):
        resolve("combogan", ["data=mnist"])


def combo(tmp_path, root, *extra):
    cfg = tiny_cfg("combogan", tmp_path, root, *extra)
    return Trainer(cfg, prepare_run_dir(cfg, False))


def test_combogan_nets_grow_linearly_and_a_step_is_a_cycle_step_between_the_drawn_pair(tmp_path, mnist_root):
    """Anoosheh et al. 2017: an encoder, decoder and D per domain (parameters linear in N); a step's G loss is
    CycleGAN's between the pair drawn for that step, and only that pair's nets get gradients."""
    tr = combo(tmp_path, mnist_root)
    gan, G, D = tr.gan, tr.gan.G, tr.gan.D
    count = lambda m: sum(p.numel() for p in m.parameters())
    assert len(G.enc) == len(G.dec) == len(D) == 3
    two = combo(tmp_path / "two", mnist_root, "data=mnist2coloured").gan  # 1 and 3 channels
    per_domain = count(G.enc[0]) + count(G.dec[0]) + count(D[0])
    assert count(G) + count(D) == 3 * per_domain  # three colour domains of 3 channels: linear in N
    assert count(two.G) + count(two.D) < count(G) + count(D)
    pairs = [gan.pair_at(s) for s in range(300)]
    assert all(i != j for i, j in pairs) and len(set(pairs)) == 6  # every ordered pair turns up
    assert pairs == [gan.pair_at(s) for s in range(300)]  # seeded by (seed, step)
    real, labels = tr.loader.next()
    i, j = gan.pair_at(0)
    xi, xj = real[:, 3 * i:3 * i + 3], real[:, 3 * j:3 * j + 3]
    loss, logs = gan.g_step(real, labels)
    with torch.no_grad():
        ij, ji = G.dec[j](G.enc[i](xi)), G.dec[i](G.enc[j](xj))
        adv = ((D[j](ij) - 1) ** 2).mean() + ((D[i](ji) - 1) ** 2).mean()
        cyc = (G.dec[i](G.enc[j](ij)) - xi).abs().mean() + (G.dec[j](G.enc[i](ji)) - xj).abs().mean()
    assert torch.allclose(loss, adv + 10 * cyc, atol=1e-4)
    loss.backward()
    k = 3 - i - j  # the domain not drawn
    assert all(p.grad is None for p in list(G.enc[k].parameters()) + list(G.dec[k].parameters()))
    assert all(p.grad is not None for p in list(G.enc[i].parameters()) + list(G.dec[j].parameters()))
    d_loss, _ = gan.d_step(real, labels)  # D's step on the fakes of G's step, for the same pair
    ls_d = lambda r, f: 0.5 * (((r - 1) ** 2).mean() + (f ** 2).mean())
    want = ls_d(D[i](xi), D[i](ji)) + ls_d(D[j](xj), D[j](ij))
    assert torch.allclose(d_loss, want, atol=1e-5)


def test_combogan_steps_follow_the_drawn_pairs_and_resume_exactly(tmp_path, mnist_root):
    from gankit.train.loop import resume, start

    common = [f"data.root={mnist_root}", "data.size=64", "batch_size=4", "train.progress=false", "train.eval_every=0",
              "train.sample_every=0", "train.checkpoint_every=2"] + TINY["combogan"]
    full = start(resolve("combogan", common + ["steps=4", f"out={tmp_path / 'full'}"]))
    seen = []
    real_g = full.gan.g_step
    full.gan.g_step = lambda r, l: seen.append(full.gan.pair_at(full.gan._steps)) or real_g(r, l)
    full.phases = full.gan.phases()
    full.fit()
    assert seen == [full.gan.pair_at(s) for s in range(4)] and int(full.gan.g_steps) == 4
    half = start(resolve("combogan", common + ["steps=2", f"out={tmp_path / 'half'}"]))
    half.fit()
    again = resume(tmp_path / "half", ["steps=4"])
    assert again.gan._steps == 2
    again.fit()
    for k, v in full.gan.state_dict().items():
        assert torch.equal(v, again.gan.state_dict()[k]), k


def test_combogan_translates_named_pairs_and_is_scored_on_every_pair(tmp_path, mnist_root):
    from gankit.metrics.translation import colour_domain_metrics

    tr = combo(tmp_path, mnist_root)
    gan = tr.gan
    assert gan.directions == ("red2green", "red2blue", "green2red", "green2blue", "blue2red", "blue2green")
    assert gan.target("Green2Blue") == "green2blue" and gan.input_channels("green2blue") == 3
    with pytest.raises(Exception, match="red2green"):
        gan.target("red2purple")
    x, _ = gan.task_data()
    out = gan.translate(x[:5, 3:6], "green2blue")
    with torch.no_grad():
        gan.G.eval()
        want = gan.G.dec[2](gan.G.enc[1](x[:5, 3:6]))
    assert torch.allclose(out, want, atol=1e-5)
    r = colour_domain_metrics(gan, n=60, root=mnist_root)
    assert {f"domain_accuracy_{d}" for d in gan.directions} | {"class_agreement"} <= set(r) and r["images"] == 60
    assert r["domain_accuracy_real"] > 0.95 and 0 <= r["class_preserved"] <= 1
    assert math.isclose(r["cfid"], sum(r[f"cfid_{d}"] for d in gan.directions) / 6)
    images, per = gan.sample_grid(64)
    assert per == 8 and images.shape == (3 * 4 * 8, 3, 32, 32)  # per domain: inputs, then into each of 3
    two = combo(tmp_path / "two", mnist_root, "data=mnist2inverted").gan
    assert two.directions == ("ab", "ba") and two.target("a") == "ba"


# ------------------------------------------------------------------ the user's own folders
def write_images(folder, arrays, names):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for a, n in zip(arrays, names):
        Image.fromarray(a).save(folder / n)


def squares(k, side=16, seed=0):
    g = np.random.default_rng(seed)
    return [g.integers(0, 256, (side, side, 3), dtype=np.uint8) for _ in range(k)]


def test_paired_folders_two_directories_or_side_by_side_give_the_same_pairs(tmp_path):
    a, b = squares(5, seed=1), squares(5, seed=2)
    names = [f"im{i}.png" for i in range(5)]
    write_images(tmp_path / "ab" / "A", a, names)
    write_images(tmp_path / "ab" / "B", b[::-1], names[::-1])  # written in another order: matched by name
    write_images(tmp_path / "sbs", [np.concatenate([x, y], 1) for x, y in zip(a, b)], names)
    x1, y1, info = load_dataset("paired-folder", root=str(tmp_path / "ab"), resolution=16)
    x2, _, _ = load_dataset("paired-folder", root=str(tmp_path / "sbs"), resolution=16)
    assert x1.shape == (5, 6, 16, 16) and info.paired and info.domains == (("A", 3), ("B", 3)) and y1.shape == (5, 2)
    assert torch.equal(x1, x2)
    want = torch.from_numpy(np.stack(a)).permute(0, 3, 1, 2).float() / 127.5 - 1
    assert torch.allclose(x1[:, :3], want) and torch.allclose(x1[:, 3:], torch.from_numpy(np.stack(b)).permute(0, 3, 1, 2).float() / 127.5 - 1)
    grey, _, info1 = load_dataset("paired-folder", root=str(tmp_path / "ab"), resolution=16, channels=1)
    assert grey.shape == (5, 2, 16, 16) and info1.domains == (("A", 1), ("B", 1))
    (tmp_path / "ab" / "B" / "im0.png").unlink()
    with pytest.raises(Exception, match="partner of the same name.*'im0.png'"):
        load_dataset("paired-folder", root=str(tmp_path / "ab"), resolution=16)


def test_unpaired_folders_repeat_the_smaller_domain_and_train_test_subfolders_are_the_splits(tmp_path):
    write_images(tmp_path / "u" / "train" / "A", squares(5, seed=1), [f"a{i}.png" for i in range(5)])
    write_images(tmp_path / "u" / "train" / "B", squares(2, seed=2), ["b0.png", "b1.png"])
    write_images(tmp_path / "u" / "test" / "A", squares(3, seed=3), [f"t{i}.png" for i in range(3)])
    write_images(tmp_path / "u" / "test" / "B", squares(3, seed=4), [f"t{i}.png" for i in range(3)])
    x, _, info = load_dataset("unpaired-folder", root=str(tmp_path / "u"), resolution=16)
    assert x.shape == (5, 6, 16, 16) and not info.paired
    assert torch.equal(x[0, 3:], x[2, 3:]) and torch.equal(x[1, 3:], x[3, 3:])  # B's 2 images, repeated
    xt, _, _ = load_dataset("unpaired-folder", root=str(tmp_path / "u"), resolution=16, split="test")
    assert xt.shape == (3, 6, 16, 16)
    with pytest.raises(Exception, match="needs the sub-directories A/ and B/"):
        load_dataset("unpaired-folder", root=str(tmp_path), resolution=16)
    with pytest.raises(Exception, match="set data.root=DIR"):
        load_dataset("unpaired-folder", resolution=16)


def test_translators_train_evaluate_and_translate_on_the_users_folders(tmp_path):
    """pix2pix on a side-by-side folder and CycleGAN on an unpaired one, through the command line: train, eval
    (the paired metrics; no class metrics without classes), translate a folder of images."""
    names = [f"im{i:02d}.png" for i in range(12)]
    a, b = squares(12, 32, seed=5), squares(12, 32, seed=6)
    write_images(tmp_path / "pairs", [np.concatenate([x, y], 1) for x, y in zip(a, b)], names)
    write_images(tmp_path / "un" / "A", a, names)
    write_images(tmp_path / "un" / "B", b[:7], names[:7])
    env = {**os.environ, "GANKIT_DEBUG": "0"}
    common = ["steps=2", "batch_size=4", "train.progress=false", "train.sample_every=0", "train.eval_every=2",
              "data.resolution=32", "model.g_width=4", "model.d_width=4"]
    for gan, data, extra in (("pix2pix", "pairs", []), ("cyclegan", "un", ["model.blocks=1"])):
        out = tmp_path / f"run-{gan}"
        data_name = "paired-folder" if gan == "pix2pix" else "unpaired-folder"
        r = subprocess.run([sys.executable, "-m", "gankit.cli", "train", gan, f"data={data_name}",
                            f"data.root={tmp_path / data}", f"out={out}"] + common + extra,
                           capture_output=True, text=True, env=env, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
        ev = json.loads((out / "eval.json").read_text())
        if gan == "pix2pix":
            assert {"l1", "psnr", "ssim"} <= set(ev) and not any(k.startswith("class_preserved") for k in ev)
        else:
            assert {"cycle_l1_ab", "cycle_l1_ba"} <= set(ev)
        r = subprocess.run([sys.executable, "-m", "gankit.cli", "translate", str(out), "--input",
                            str(tmp_path / "un" / "A"), "--out", str(tmp_path / f"out-{gan}")],
                           capture_output=True, text=True, env=env, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
        assert sorted(p.name for p in (tmp_path / f"out-{gan}").iterdir()) == names


# ------------------------------------------------------------------ StarGAN's mask vector
def test_label_sets_parse_refuse_and_build_gs_label_by_hand():
    from gankit.data.attributes import ATTRIBUTES, GROUPS
    from gankit.gans.translation.stargan import LabelSets

    ls = LabelSets("red,green,blue; thick,rotated", ATTRIBUTES, GROUPS)
    assert ls.sets == [[0, 1, 2], [3, 4]] and len(ls) == 2
    c = torch.tensor([[0.0, 1, 0, 1, 1], [1.0, 0, 0, 0, 1]])
    got = ls.g_input(c, torch.tensor([0, 1]))
    assert torch.equal(got, torch.tensor([[0.0, 1, 0, 0, 0, 1, 0], [0.0, 0, 0, 0, 1, 0, 1]]))  # [c * set, mask]
    assert ls.of([3]) == 1 and ls.of([0, 2]) == 0
    with pytest.raises(Exception, match="one label set"):
        ls.of([0, 3])
    for bad, why in (("red,green;blue,thick", "must be whole"), ("red,green,blue", "at least two sets"),
                     ("red,green,blue;red", "more than one set"), ("red,green,blue;pink", "unknown attribute 'pink'")):
        with pytest.raises(ConfigError, match=why):
            LabelSets(bad, ATTRIBUTES, GROUPS)
    with pytest.raises(ConfigError, match="must be whole"):
        resolve("stargan", ["model.label_sets=red;green,blue"])
    # an attribute left out of every set is never asked for
    assert LabelSets("red,green,blue;thick", ATTRIBUTES, GROUPS).sets == [[0, 1, 2], [3]]


def test_stargan_with_a_mask_vector_reads_one_label_set_per_iteration(tmp_path, mnist_root):
    """Choi et al. 2017, Sec. 3.2: G reads [c on one set, the mask]; D's attribute loss only that set's
    attributes; the set is kept through an iteration's D updates and its G update, then drawn again."""
    bce = nn.functional.binary_cross_entropy_with_logits
    cfg = tiny_cfg("stargan", tmp_path, mnist_root, "model.label_sets=red,green,blue;thick,rotated")
    tr = Trainer(cfg, prepare_run_dir(cfg, False))
    gan = tr.gan
    assert gan.G.net.net[0].in_channels == 3 + 5 + 2
    calls = []
    real_forward = gan.G.forward
    gan.G.forward = lambda x, c: (calls.append(c.clone()), real_forward(x, c))[1]
    real, labels = tr.loader.next()
    c_org = labels[:, 1:].float()
    torch.manual_seed(11)
    _, logs = gan.d_step(real, labels)
    k = gan._set
    cols = [[0, 1, 2], [3, 4]][k]
    with torch.no_grad():
        _, cls_r = gan.D(real)
    assert torch.allclose(logs["d_cls"], bce(cls_r[:, cols], c_org[:, cols], reduction="sum") / 4, atol=1e-5)
    assert torch.equal(calls[0][:, 5:], nn.functional.one_hot(torch.full((4,), k), 2).float())  # the mask
    outside = [i for i in range(5) if i not in cols]
    assert (calls[0][:, outside] == 0).all()  # unknown labels are zero
    gan.d_step(real, labels)
    assert gan._set == k  # kept through the iteration's D updates ...
    gan.g_step(real, labels)
    assert all(torch.equal(c[:, 5:], calls[0][:, 5:]) for c in calls[1:])  # ... and its G update (and the cycle)
    assert torch.equal(calls[-1][:, :5], c_org * torch.tensor([float(i in cols) for i in range(5)]))  # back: c' on the set
    assert gan._set is None  # the next iteration draws again
    drawn = set()
    for _ in range(40):
        drawn.add(gan.current_set())
        gan._set = None
    assert drawn == {0, 1}
    # translating: the named attributes' set; the expected result keeps the others
    t = gan.target("blue")
    assert torch.equal(t, torch.tensor([0.0, 0, 1, 0, 0, 1, 0]))
    want = gan.expected_attributes(torch.stack([t, gan.target("thick,rotated")]), torch.tensor([[1.0, 0, 0, 1, 0]] * 2))
    assert torch.equal(want, torch.tensor([[0.0, 0, 1, 1, 0], [1.0, 0, 0, 1, 1]]))
    with pytest.raises(Exception, match="one label set: red,green,blue; thick,rotated"):
        gan.target("blue,thick")
    grid, per = gan.sample_grid(64)
    assert grid.shape == (8 * 6, 3, 32, 32) and per == 8
