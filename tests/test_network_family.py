"""The parts of the network family against hand computations: the ResNet blocks of SNGAN / WGAN-GP (order of
operations), self-attention (SAGAN, Zhang et al. 2018, arXiv 1805.08318), BigGAN's conditioning, orthogonal
regulariser and truncation trick (Brock et al. 2018, arXiv 1809.11096), and SS-GAN's rotation loss (Chen et al.
2019, arXiv 1811.11212); then how the GANs wire them into their steps."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gankit.config import resolve
from gankit.data import DataInfo
from gankit.gans import GANS
from gankit.gans.base import truncate
from gankit.models.resnet import DBlock, GBlock, ResNetDiscriminator, ResNetGenerator
from gankit.nn import LayerFactory
from gankit.nn.attention import SelfAttention
from gankit.nn.conditioning import LinearConditionalBatchNorm
from gankit.nn.rotation import RotationHead, rotate, rotation_loss
from gankit.penalties.weights import orthogonal_penalty

pytestmark = pytest.mark.usefixtures("one_thread")
FASHION32 = DataInfo("fashion-mnist", "images", (1, 32, 32), 10)


# ----------------------------------------------------------------------------- ResNet blocks
def test_g_block_is_norm_relu_up_conv_norm_relu_conv_plus_upsampled_1x1_shortcut():
    torch.manual_seed(0)
    blk = GBlock(3, 5, LayerFactory(norm="batch"), up=True)
    x = torch.randn(4, 3, 6, 6)
    up = lambda t: t.repeat_interleave(2, 2).repeat_interleave(2, 3)  # nearest x2
    h = blk.conv1(up(F.relu(blk.norm1(x))))
    h = blk.conv2(F.relu(blk.norm2(h)))
    want = h + blk.shortcut(up(x))
    blk2 = GBlock(3, 5, LayerFactory(norm="batch"), up=True)
    blk2.load_state_dict(blk.state_dict())
    assert torch.allclose(blk2(x), want, atol=1e-5)
    assert blk2(x).shape == (4, 5, 12, 12)


def test_d_blocks_optimised_first_and_pre_activation_later():
    torch.manual_seed(0)
    f = LayerFactory()
    first, later, same = DBlock(1, 4, f, down=True, first=True), DBlock(4, 6, f, down=True), DBlock(6, 6, f, down=False)
    x = torch.randn(3, 1, 8, 8)
    pool = lambda t: F.avg_pool2d(t, 2)
    want1 = pool(first.conv2(F.relu(first.conv1(x)))) + first.shortcut(pool(x))  # no ReLU on the input
    assert torch.allclose(first(x), want1, atol=1e-5)
    h = want1
    want2 = pool(later.conv2(F.relu(later.conv1(F.relu(h))))) + pool(later.shortcut(h))
    assert torch.allclose(later(h), want2, atol=1e-5)
    assert same.shortcut is None
    want3 = same.conv2(F.relu(same.conv1(F.relu(want2)))) + want2  # identity shortcut
    assert torch.allclose(same(want2), want3, atol=1e-5)


def test_resnet_discriminator_sums_relu_features_over_positions():
    torch.manual_seed(0)
    D = ResNetDiscriminator((1, 32, 32), 4, LayerFactory(sn=True))
    x = torch.randn(2, 1, 32, 32)
    D.eval()
    h = F.relu(D.blocks(x)).sum((2, 3))
    assert torch.allclose(D(x), D.fc(h).squeeze(1), atol=1e-5)
    assert D.feature_dim == 4 and D.trunk(x).shape == (2, 4)


@pytest.mark.parametrize("res, g_maps, d_maps", [(28, [14, 28], [14, 7, 7, 7]), (32, [8, 16, 32], [16, 8, 8, 8]),
                                                 (64, [8, 16, 32, 64], [32, 16, 8, 8, 8])])
def test_resnet_shapes_at_28_32_64(res, g_maps, d_maps):
    G = ResNetGenerator(6, (1, res, res), 4)
    D = ResNetDiscriminator((1, res, res), 4)
    seen = []
    hooks = [b.register_forward_hook(lambda m, i, o: seen.append(o.shape[-1])) for b in list(G.blocks) + list(D.blocks)]
    x = G(torch.randn(2, 6))
    assert x.shape == (2, 1, res, res) and x.abs().max() <= 1
    assert D(x).shape == (2,)
    assert seen == g_maps + d_maps
    for h in hooks:
        h.remove()


def test_widen_halves_g_and_doubles_d_channels():
    G = ResNetGenerator(6, (1, 64, 64), 4, widen=True)
    D = ResNetDiscriminator((1, 64, 64), 4, widen=True)
    assert [b.conv1.out_channels for b in G.blocks] == [16, 8, 4, 4] and G.bottom == 32
    assert [b.conv1.out_channels for b in D.blocks] == [4, 8, 16, 16, 16]


# ----------------------------------------------------------------------------- self-attention
def test_self_attention_with_gamma_zero_is_the_identity():
    att = SelfAttention(16)
    x = torch.randn(2, 16, 5, 5)
    assert att.gamma.item() == 0.0 and torch.equal(att(x), x)


def test_self_attention_against_a_loop_over_positions():
    torch.manual_seed(0)
    att = SelfAttention(8).requires_grad_(False)
    with torch.no_grad():
        att.gamma.fill_(0.7)
    x = torch.randn(1, 8, 3, 4)
    flat = x[0].reshape(8, -1)  # (C, N)
    Wf, Wg, Wh, Wv = (m.weight[:, :, 0, 0] for m in (att.f, att.g, att.h, att.v))
    f, g, h = Wf @ flat, Wg @ flat, Wh @ flat
    n = flat.shape[1]
    out = torch.zeros_like(flat)
    for j in range(n):
        s = torch.tensor([(f[:, i] @ g[:, j]).item() for i in range(n)])
        beta = torch.exp(s) / torch.exp(s).sum()  # beta_{j,i}, Eq. 1
        o_j = sum(beta[i] * h[:, i] for i in range(n))
        out[:, j] = flat[:, j] + 0.7 * (Wv @ o_j)
    assert att.f.out_channels == 1 and att.h.out_channels == 4  # C/8 keys and queries, C/2 values
    assert torch.allclose(att(x)[0].reshape(8, -1), out, atol=1e-5)


def test_attention_block_sits_after_the_block_with_that_map_size():
    G = ResNetGenerator(6, (1, 32, 32), 8, attention=16)
    D = ResNetDiscriminator((1, 32, 32), 8, attention=16)
    g_types = [type(b).__name__ for b in G.blocks]
    d_types = [type(b).__name__ for b in D.blocks]
    assert g_types == ["GBlock", "GBlock", "SelfAttention", "GBlock"]
    assert d_types == ["DBlock", "SelfAttention", "DBlock", "DBlock", "DBlock"]
    from gankit.errors import ConfigError

    with pytest.raises(ConfigError, match="feature-map size"):
        ResNetGenerator(6, (1, 32, 32), 8, attention=12)


# ----------------------------------------------------------------------------- BigGAN's parts
def test_linear_conditional_batch_norm_by_hand():
    torch.manual_seed(0)
    cbn = LinearConditionalBatchNorm(3, 2)
    h, c = torch.randn(5, 3, 2, 2), torch.randn(5, 2)
    bn = F.batch_norm(h, None, None, training=True, eps=1e-5)
    assert torch.allclose(cbn(h, c), bn, atol=1e-5)  # zero projections: plain batch norm for every c
    with torch.no_grad():
        cbn.gain.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]))
        cbn.bias.weight.copy_(torch.tensor([[0.5, 0.0], [0.0, 0.0], [0.0, -1.0]]))
    gain = 1 + c @ cbn.gain.weight.t()
    bias = c @ cbn.bias.weight.t()
    assert torch.allclose(cbn(h, c), gain[:, :, None, None] * bn + bias[:, :, None, None], atol=1e-5)


def test_hierarchical_latent_feeds_each_block_its_chunk_and_the_shared_embedding():
    torch.manual_seed(0)
    G = ResNetGenerator(13, (1, 32, 32), 4, LayerFactory(), num_classes=10, shared_dim=5, hierarchical=True)
    assert G.chunks == [4, 3, 3, 3]  # 13 // 4 = 3 per block, the rest to the linear layer
    z, y = torch.randn(2, 13), torch.tensor([3, 7])
    seen = []
    for blk in G.blocks:
        blk.norm1.register_forward_hook(lambda m, i, o: seen.append(i[1]))
    got_fc = []
    G.fc.register_forward_hook(lambda m, i, o: got_fc.append(i[0]))
    G(z, y)
    e = G.shared(y)
    assert torch.equal(got_fc[0], z[:, :4])
    for k, c in enumerate(seen):
        assert torch.equal(c, torch.cat([z[:, 4 + 3 * k: 7 + 3 * k], e], 1))


def test_truncation_redraws_only_the_large_entries():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(2000, 16, generator=g)
    t = truncate(z, 0.5, torch.Generator().manual_seed(1))
    small = z.abs() <= 0.5
    assert t.abs().max() <= 0.5
    assert torch.equal(t[small], z[small]) and not torch.equal(t, z)
    assert torch.equal(t, truncate(z, 0.5, torch.Generator().manual_seed(1)))  # seeded
    # the truncated normal's variance on [-a, a]: 1 - 2 a phi(a) / (2 Phi(a) - 1)
    a = 0.5
    phi = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    var = 1 - 2 * a * phi / math.erf(a / math.sqrt(2))
    assert abs(t.var().item() - var) < 0.01
    with pytest.raises(ValueError):
        truncate(z, 0.0)


def test_orthogonal_term_of_biggan_skips_the_shared_embedding():
    gan = GANS.get("biggan")(resolve("biggan", ["data=mnist", "model.g_width=4", "model.d_width=4", "model.z_dim=8",
                                                "model.shared_dim=6"]), FASHION32)
    G = gan.G
    want = 0.0
    for name, p in G.named_parameters():
        if p.dim() < 2 or name.startswith("shared."):
            continue
        W = p.detach().reshape(p.shape[0], -1)
        gram = W @ W.t()
        want += ((gram * (1 - torch.eye(gram.shape[0]))) ** 2).sum().item()
    assert math.isclose(gan.ortho_term().item(), want, rel_tol=1e-4)
    assert gan.ortho_term().item() < orthogonal_penalty(G).item()  # the embedding would add to it


# ----------------------------------------------------------------------------- rotation
def test_rotate_matches_rot90_per_image_and_labels_are_uniform():
    x = torch.arange(2 * 1 * 3 * 3, dtype=torch.float32).reshape(2, 1, 3, 3).repeat(4, 1, 1, 1)
    r = torch.tensor([0, 1, 2, 3, 3, 2, 1, 0])
    out = rotate(x, r)
    for i in range(8):
        assert torch.equal(out[i], torch.rot90(x[i], int(r[i]), dims=(1, 2)))
    from gankit.nn.rotation import random_rotations

    draws = random_rotations(40000, "cpu", torch.Generator().manual_seed(0))
    counts = torch.bincount(draws, minlength=4).float() / 40000
    assert set(draws.unique().tolist()) == {0, 1, 2, 3} and (counts - 0.25).abs().max() < 0.01


def test_rotation_loss_is_the_cross_entropy_of_the_head_on_the_rotated_images():
    torch.manual_seed(0)
    D = ResNetDiscriminator((1, 8, 8), 4, LayerFactory())  # no SN: its power iteration moves at each forward
    head = RotationHead(D.feature_dim, LayerFactory())
    x = torch.randn(6, 1, 8, 8)
    torch.manual_seed(5)
    loss, acc = rotation_loss(D, head, x)
    torch.manual_seed(5)
    r = torch.randint(0, 4, (6,))
    logits = head(D.trunk(rotate(x, r)))
    assert torch.allclose(loss, F.cross_entropy(logits, r), atol=1e-6)
    assert math.isclose(acc.item(), (logits.argmax(1) == r).float().mean().item())


# ----------------------------------------------------------------------------- wiring into the steps
def tiny(name, *extra):
    cfg = resolve(name, ["data=mnist", "model.g_width=4", "model.d_width=4", "model.z_dim=8"] + list(extra))
    torch.manual_seed(0)
    return GANS.get(name)(cfg, FASHION32)


def test_ssgan_adds_each_rotation_term_with_its_weight(monkeypatch):
    """d_loss + rotation_d * CE(real) in D's step, g_loss + rotation_g * CE(fake) in G's step: a term moved to
    the other step, a wrong weight or a term on the wrong images fails."""
    import gankit.nn.rotation as mod  # the steps reach it through add_rotation_term

    calls = []

    def fake_rotation_loss(D, head, x):
        calls.append(x)
        return torch.tensor(3.0), torch.tensor(0.5)

    gan = tiny("ssgan")
    real = torch.rand(4, 1, 32, 32) * 2 - 1
    base = tiny("ssgan", "model.rotation_d=0", "model.rotation_g=0")
    base.load_state_dict(gan.state_dict(), strict=False)
    monkeypatch.setattr(mod, "rotation_loss", fake_rotation_loss)
    torch.manual_seed(1)
    d_loss, logs = gan.d_step(real, None)
    torch.manual_seed(1)
    d_base, _ = base.d_step(real, None)
    assert math.isclose(d_loss.item(), d_base.item() + 1.0 * 3.0, rel_tol=1e-5)
    assert calls[-1] is real and logs["rot_d"] == 3.0
    torch.manual_seed(2)
    g_loss, logs = gan.g_step(real, None)
    torch.manual_seed(2)
    g_base, _ = base.g_step(real, None)
    assert math.isclose(g_loss.item(), g_base.item() + 0.2 * 3.0, rel_tol=1e-5)
    assert calls[-1] is not real and calls[-1].shape == real.shape and logs["rot_g"] == 3.0
    assert base.rotation is None and "d" in gan.optim_groups()
    assert {id(p) for p in gan.rotation.parameters()} <= {id(p) for p in gan.optim_groups()["d"]}


def test_biggan_g_step_adds_beta_times_the_orthogonal_term(monkeypatch):
    gan = tiny("biggan", "model.shared_dim=6")
    real, y = torch.rand(4, 1, 32, 32) * 2 - 1, torch.tensor([0, 1, 2, 3])
    monkeypatch.setattr(type(gan), "ortho_term", lambda self: torch.tensor(50.0))
    gan.eval()  # SN's power iteration and BN's statistics stay put between the two calls
    torch.manual_seed(3)
    loss, logs = gan.g_step(real, y)
    gan.p.ortho = 0.0
    torch.manual_seed(3)
    plain, _ = gan.g_step(real, y)
    assert math.isclose(loss.item(), plain.item() + 1e-4 * 50.0, rel_tol=1e-5) and logs["ortho"] == 50.0
    d_loss, _ = gan.d_step(real, y)  # D's step has no orthogonal term
    assert "ortho" not in _


def test_biggan_samples_per_class_and_truncation_changes_them():
    gan = tiny("biggan", "model.shared_dim=6")
    x, y = gan.sample_with_labels(20, seed=0)
    assert x.shape == (20, 1, 32, 32) and torch.equal(y, torch.arange(20) % 10)
    xt, _ = gan.sample_with_labels(20, seed=0, truncation=0.5)
    assert not torch.equal(x, xt)
    assert torch.equal(xt, gan.sample_with_labels(20, seed=0, truncation=0.5)[0])


def test_truncation_is_refused_for_non_gaussian_latents():
    gan = GANS.get("began")(resolve("began", ["data=mnist", "data.resolution=28", "model.g_width=4",
                                              "model.d_width=4", "model.code_dim=4", "model.z_dim=4"]),
                            DataInfo("mnist", "images", (1, 28, 28), 10))
    with pytest.raises(ValueError, match="Gaussian"):
        gan.sample(4, truncation=1.0)


def test_sagan_has_sn_in_g_and_attention_in_both():
    from gankit.nn.spectral import sn_layers

    gan = tiny("sagan")
    assert sum(isinstance(m, SelfAttention) for m in gan.G.modules()) == 1
    assert sum(isinstance(m, SelfAttention) for m in gan.D.modules()) == 1
    weights = [m for m in gan.G.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(list(sn_layers(gan.G))) == len(weights)
    no_sn = tiny("sngan-resnet")
    assert not list(sn_layers(no_sn.G)) and not any(isinstance(m, SelfAttention) for m in no_sn.G.modules())


# ----------------------------------------------------------------------------- few labels (S2GAN / S3GAN)
def few(name, *extra):
    cfg = resolve(name, ["data=mnist", "data.label_fraction=null", "data.labels=20", "batch_size=4",
                         "model.g_width=4", "model.d_width=4", "model.z_dim=8", "model.c_width=4"] + list(extra))
    torch.manual_seed(0)
    return GANS.get(name)(cfg, FASHION32)


def test_label_fraction_becomes_a_balanced_count():
    from gankit.data.fewlabels import labels_from_fraction

    assert labels_from_fraction(0.1, 60000, 10) == 6000 and labels_from_fraction(0.2, 60000, 10) == 12000
    assert labels_from_fraction(0.001, 64, 10) == 10  # at least one of each class
    from gankit.errors import ConfigError

    with pytest.raises(ConfigError, match="not both"):
        resolve("s3gan", ["data.labels=100"])
    with pytest.raises(ConfigError, match="label_fraction"):
        resolve("dcgan", ["data.label_fraction=0.1"])


def test_s2gan_co_scores_unlabelled_reals_with_the_heads_argmax_and_learns_the_labelled():
    gan = few("s2gan-co")
    x = torch.rand(8, 1, 32, 32) * 2 - 1
    y = torch.tensor([-1, -1, -1, -1, 3, 4, 5, 6])  # 4 unlabelled rows, then the labelled batch
    seen = {}
    gan.D.embed.register_forward_hook(lambda m, i, o: seen.setdefault("labels", i[0]))  # the first call: the reals'
    gan.D.eval()  # SN's power iteration stays put between the calls below
    h = gan.D.net.trunk(x[:4])
    want = gan.class_head(h).argmax(1)
    loss, logs = gan.d_step(x, y)
    assert torch.equal(seen["labels"], want)  # the projection term of the unlabelled rows used the head's labels
    ce = F.cross_entropy(gan.class_head(gan.D.net.trunk(x[4:])).float(), y[4:])
    assert math.isclose(logs["class_ce"].item(), ce.item(), rel_tol=1e-4)
    head = {id(p) for p in gan.class_head.parameters()}
    assert head <= {id(p) for p in gan.optim_groups()["d"]} and gan.C is None and gan.rotation is None


def test_s2gan_classifier_learns_only_from_the_labelled_rows_in_its_own_group():
    gan = few("s2gan", "model.c_selfsup=0")  # C learning alongside the GAN, not pre-trained
    assert [p.group for p in gan.phases()] == ["d", "c", "g"]
    assert {id(p) for p in gan.C.parameters()} == {id(p) for p in gan.optim_groups()["c"]}
    x = torch.rand(8, 1, 32, 32) * 2 - 1
    y = torch.tensor([-1, -1, -1, -1, 3, 4, 5, 6])
    gan.C.eval()
    loss, _ = gan.c_step(x, y)
    assert math.isclose(loss.item(), F.cross_entropy(gan.C(x[4:]), y[4:]).item(), rel_tol=1e-5)
    assert torch.equal(gan.classify(x[:2]), gan.C(x[:2]).float())


def test_s3gan_adds_rotation_to_s2gan_co():
    gan = few("s3gan")
    assert gan.rotation is not None and (gan.p.rotation_d, gan.p.rotation_g) == (1.0, 0.2)
    x, y = torch.rand(8, 1, 32, 32) * 2 - 1, torch.tensor([-1, -1, -1, -1, 3, 4, 5, 6])
    _, logs = gan.d_step(x, y)
    assert {"rot_d", "class_ce", "d_loss"} <= set(logs)
    _, logs = gan.g_step(x, y)
    assert {"rot_g", "g_loss", "ortho"} <= set(logs)


# ----------------------------------------------------------------------------- pictures
def test_sagan_attention_picture_rows_are_a_marked_sample_and_one_map_per_query():
    gan = tiny("sagan")
    pics = gan.pictures()
    images, per_row = pics["attention"]
    assert per_row == 4 and images.shape == (16, 1, 32, 32)
    assert images[1:4].min() >= -1 and images[1:4].max() == 1.0  # each map scaled so its peak is 1
    assert tiny("sagan", "model.attention=0").pictures() == {}


def test_biggan_truncation_grid_is_classes_by_thresholds():
    gan = tiny("biggan", "model.shared_dim=6")
    images, per_row = gan.pictures()["truncation"]
    assert per_row == 12 and images.shape == (10 * 12, 1, 32, 32)
    row0 = images[:12]
    y = torch.arange(10).repeat_interleave(4)
    x, _ = gan.sample_with_labels(40, seed=0, labels=y, truncation=0.7)
    # the 0.7 block of class 0: the first four samples of the 40 drawn at that threshold with the same seed
    assert torch.allclose(row0[4:8], x[:4], atol=1e-6)
    assert not torch.allclose(row0[:4], row0[4:8])


# ----------------------------------------------------------------------------- S2GAN's pre-trained labeller
def test_kmeans_finds_separated_clusters_and_the_labeller_votes_and_scores_by_hand():
    from gankit.gans.network.selfsup_labeller import fit_cluster_labeller, kmeans

    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    h = torch.cat([c + 0.1 * torch.randn(20, 2, generator=g) for c in centres])
    found, assign = kmeans(h, 3, generator=torch.Generator().manual_seed(1))
    assert all(len(set(assign[i * 20:(i + 1) * 20].tolist())) == 1 for i in range(3))  # each blob one cluster
    assert len(set(assign.tolist())) == 3
    for c in centres:  # each true centre has a centroid at its blob's mean
        assert torch.cdist(c[None], found).min() < 0.1
    # labelled points: blob 0 -> class 1 (2 votes against 1), blob 1 -> class 0, blob 2 has none (nearest labelled)
    hl = torch.tensor([[0.1, 0.0], [0.0, 0.1], [-0.1, 0.0], [6.0, 5.0]])
    yl = torch.tensor([1, 1, 2, 0])
    lab = fit_cluster_labeller(h, hl, yl, 3, num_classes=3, seed=1)
    blob_of = {int(torch.cdist(c[None], lab.centroids).argmin()): i for i, c in enumerate(centres)}
    want = {0: 1, 1: 0, 2: 0}  # (6, 5) is nearest blob 1; blob 2's nearest labelled feature is (6, 5)
    assert {blob_of[k]: int(v) for k, v in enumerate(lab.cluster_class)} == want
    q = torch.tensor([[9.0, 1.0]])
    d2 = torch.cdist(q, lab.centroids).pow(2)[0]
    scores = lab(q)[0]
    for k in range(3):  # class score: minus the squared distance to that class's nearest centroid
        mine = [d2[j] for j in range(3) if lab.cluster_class[j] == k]
        assert (scores[k] == float("-inf")) if not mine else math.isclose(scores[k].item(), -min(mine).item(), rel_tol=1e-5)


def few_loader(n=60, batch=4):
    from gankit.data.fewlabels import FewLabelLoader

    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, 32, 32, generator=g) * 2 - 1
    y = torch.arange(n) % 10
    return FewLabelLoader(x, y, 20, 10, batch, "cpu", 0)


def test_s2gan_pretrained_labeller_learns_rotations_in_the_trunk_then_only_the_last_layer_from_labels(monkeypatch):
    import gankit.gans.network.selfsup_labeller as sl

    gan = few("s2gan", "model.c_selfsup=3", "model.c_probe=2")
    assert [p.group for p in gan.phases()] == ["d", "g"] and "c" not in gan.optim_groups()  # fixed after
    C = gan.C
    start = {k: v.clone() for k, v in C.state_dict().items()}
    seen = {"rot": [], "probe": []}
    rot_loss, probe = sl.learn_rotations, sl.learn_linear_classifier

    def spy_rot(C_, head, batches, steps, make_opt):
        def watched():
            x_u, x_l, y_l = batches()
            seen["rot"].append(x_u.shape[0])
            return x_u, x_l, y_l
        out = rot_loss(C_, head, watched, steps, make_opt)
        seen["after_rot"] = {k: v.clone() for k, v in C_.state_dict().items()}
        return out

    def spy_probe(C_, batches, steps, make_opt):
        def watched():
            x_u, x_l, y_l = batches()
            seen["probe"].append(y_l.clone())
            return x_u, x_l, y_l
        return probe(C_, watched, steps, make_opt)

    monkeypatch.setattr(sl, "learn_rotations", spy_rot)
    monkeypatch.setattr(sl, "learn_linear_classifier", spy_probe)
    logs = gan.pretrain(few_loader())
    assert set(logs) == {"pretrain_rot_acc", "pretrain_probe_acc"} and seen["rot"] == [4, 4, 4]
    assert len(seen["probe"]) == 2 and all((y >= 0).all() for y in seen["probe"])  # only labelled rows
    last = {f"net.{len(C.net) - 1}.{k}" for k in C.net[-1].state_dict()}
    moved = lambda a, b: {k for k in a if a[k].dtype.is_floating_point and not torch.equal(a[k], b[k])}
    trunk_weights = {k for k in start if k.endswith("weight") and k not in last}
    assert trunk_weights <= moved(start, seen["after_rot"])  # stage 1 trains the trunk ...
    assert not moved(start, seen["after_rot"]) & last  # ... not the class layer
    end = C.state_dict()
    assert moved(seen["after_rot"], end) == {k for k in last if k.endswith(("weight", "bias"))}  # stage 2: it alone
    assert not any(p.requires_grad for p in C.parameters()) and not C.training
    x = torch.rand(6, 1, 32, 32) * 2 - 1
    C.train()  # the labeller is used in eval mode whatever the caller left
    logits = gan.class_logits(x)
    assert not C.training and torch.equal(logits, C(x))


def test_s2gan_kmeans_labeller_fills_the_centroids_in_the_checkpoint_and_labels_by_them():
    gan = few("s2gan", "model.c_selfsup=2", "model.c_head=kmeans", "model.c_clusters=5")
    assert gan.clusters is not None and "clusters.centroids" in gan.state_dict()
    logs = gan.pretrain(few_loader())
    assert set(logs) == {"pretrain_rot_acc", "pretrain_cluster_acc"}
    assert gan.clusters.centroids.abs().sum() > 0
    x = torch.rand(6, 1, 32, 32) * 2 - 1
    assert torch.equal(gan.class_logits(x), gan.clusters(gan.C.trunk(x)))
    assert torch.equal(gan.classify(x), gan.clusters(gan.C.trunk(x)).float())


def test_s2gan_pretraining_refusals():
    from gankit.errors import ConfigError

    with pytest.raises(ConfigError, match="needs model.c_selfsup"):
        few("s2gan", "model.c_selfsup=0", "model.c_head=kmeans")
    with pytest.raises(ConfigError, match="D's class head"):
        few("s3gan", "model.c_selfsup=10")
    with pytest.raises(ConfigError, match="c_head"):
        few("s2gan", "model.c_head=spectral")


def test_the_trainer_pretrains_once_on_a_fresh_run_and_not_on_resume(tmp_path, mnist_root, monkeypatch):
    import json

    from gankit.gans.network.fewlabels import S2GAN
    from gankit.train.loop import resume, start

    calls = []
    real = S2GAN.pretrain
    monkeypatch.setattr(S2GAN, "pretrain", lambda self, loader: calls.append(1) or real(self, loader))
    common = [f"data.root={mnist_root}", "data=mnist", "data.size=200", "data.label_fraction=null", "data.labels=20",
              "batch_size=4", "model.g_width=4", "model.d_width=4", "model.z_dim=8", "model.c_width=4",
              "model.c_selfsup=2", "model.c_probe=2", "train.progress=false", "train.eval_every=0",
              "train.sample_every=0", "train.checkpoint_every=1", f"out={tmp_path / 'r'}"]
    tr = start(resolve("s2gan", common + ["steps=1"]))
    tr.fit()
    assert calls == [1]
    rows = [json.loads(line) for line in open(tmp_path / "r" / "metrics.jsonl")]
    assert rows[0]["step"] == 0 and {"pretrain_rot_acc", "pretrain_probe_acc"} <= set(rows[0])
    C = {k: v.clone() for k, v in tr.gan.C.state_dict().items()}
    again = resume(tmp_path / "r", ["steps=2"])
    again.fit()
    assert calls == [1]  # the checkpoint holds the pre-trained C
    for k, v in again.gan.C.state_dict().items():
        assert torch.equal(v, C[k]), k  # and nothing moved it while the GAN trained


def test_conditional_sagan_preset_is_biggan_parts_with_the_sagan_settings():
    from gankit.nn import ProjectionDiscriminator
    from gankit.nn.conditioning import ConditionalBatchNorm

    cfg = resolve("sagan-conditional", ["model.g_width=4", "model.d_width=4", "model.z_dim=8"])
    assert cfg.gan == "biggan" and (cfg.train.n_critic, cfg.train.ema) == (1, None)
    assert (cfg.optim["g"].lr, cfg.optim["d"].lr, cfg.optim["g"].betas) == (1e-4, 4e-4, (0.0, 0.9))
    assert cfg.model["ortho"] == 0 and not cfg.model["hierarchical"] and cfg.model["shared_dim"] == 0
    torch.manual_seed(0)
    gan = GANS.get("biggan")(cfg, FASHION32)
    assert sum(isinstance(m, SelfAttention) for m in gan.G.modules()) == 1
    assert sum(isinstance(m, SelfAttention) for m in gan.D.modules()) == 1
    cbn = [m for m in gan.G.modules() if isinstance(m, ConditionalBatchNorm)]
    assert cbn and not any(isinstance(m, LinearConditionalBatchNorm) for m in gan.G.modules())
    assert isinstance(gan.D, ProjectionDiscriminator) and gan.G_ema is None
    x, y = torch.rand(4, 1, 32, 32) * 2 - 1, torch.tensor([0, 1, 2, 3])
    _, logs = gan.g_step(x, y)
    assert "ortho" not in logs  # BigGAN's orthogonal term is off
    out = gan.G(torch.randn(4, 8), y)
    assert out.shape == (4, 1, 32, 32)
