"""One training step of every GAN at tiny width, on points and on images, on the CPU."""
import pytest
import torch

from gankit.config import resolve
from gankit.data import DataInfo
from gankit.gans import GANS
from gankit.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gankit.train.loop import Trainer, prepare_run_dir

POINTS = DataInfo("ring8", "points", (2,), 0, torch.zeros(8, 2), 0.01)
TINY = ["model.hidden=8", "model.z_dim=4", "model.g_width=4", "model.d_width=4"]


def test_registry():
    assert {"gan", "dcgan"} <= set(GANS.names())


@pytest.mark.parametrize("res, shape", [(28, (1, 28, 28)), (32, (3, 32, 32)), (64, (1, 64, 64))])
def test_dcgan_shapes_any_resolution(res, shape):
    G = DCGANGenerator(8, shape, width=4)
    D = DCGANDiscriminator(shape, width=4)
    x = G(torch.randn(3, 8))
    assert x.shape == (3,) + shape and x.abs().max() <= 1
    assert D(x).shape == (3,)


def test_dcgan_follows_the_papers_rules():
    G, D = DCGANGenerator(8, (1, 32, 32), 4), DCGANDiscriminator((1, 32, 32), 4)
    mods = list(G.modules()) + list(D.modules())
    assert not any(isinstance(m, (torch.nn.MaxPool2d, torch.nn.AvgPool2d, torch.nn.Linear)) for m in mods)
    assert isinstance(list(G.net)[-1], torch.nn.Tanh)
    assert not isinstance(list(D.net)[1], torch.nn.BatchNorm2d)  # no BN on D's input layer
    assert isinstance(list(G.net)[-2], torch.nn.ConvTranspose2d)  # no BN on G's output layer


@pytest.mark.parametrize("name, data, extra", [
    ("gan", "ring8", []), ("gan", "grid25", ["objective=minimax"]), ("gan", "mnist", ["data.size=64"]),
    ("dcgan", "mnist", ["data.size=64"]), ("dcgan", "mnist", ["data.size=64", "data.resolution=32", "data.channels=3"]),
    ("gan", "ring8", ["penalties={r1: 1.0}", "train.ema=0.9", "train.n_critic=2"]),
])
def test_one_training_step_changes_both_nets(tmp_path, mnist_root, name, data, extra):
    import dataclasses

    keys = {f.name for f in dataclasses.fields(GANS.get(name).Params)}
    tiny = [t for t in TINY if t.split("=")[0][len("model."):] in keys]  # e.g. no MLP width for the ResNet GANs
    cfg = resolve(name, [f"data={data}", f"data.root={mnist_root}", "batch_size=8", "steps=1",
                         f"out={tmp_path / 'run'}", "train.progress=false"] + tiny + extra)
    tr = Trainer(cfg, prepare_run_dir(cfg, False))
    before = {k: v.clone() for k, v in tr.gan.state_dict().items()}
    tr.train_step()
    after = tr.gan.state_dict()
    has_d = any(True for _ in tr.gan.D.parameters())  # srresnet has no discriminator
    trains_c = getattr(tr.gan, "C", None) is not None and "c" in tr.params  # s2gan's pre-trained C is fixed
    for net in ("G.",) + (("D.",) if has_d else ()) + (("C.",) if trains_c else ()):
        changed = [k for k in before if k.startswith(net) and not torch.equal(before[k], after[k])]
        assert changed, f"{net} did not change"
    logs = tr.meter.pop_means()
    assert ({"d_loss", "g_loss"} if has_d else {"g_loss"}) <= set(logs)
    assert all(torch.isfinite(torch.tensor(list(logs.values()))))
    x = tr.gan.sample(5, seed=1)
    shape = tuple(tr.info.shape)
    if getattr(tr.gan, "translates", False) and tr.info.domains:  # translating A's test images into domain B
        shape = (tr.info.domains[1][1],) + shape[1:]
    if tr.info.domains and not getattr(tr.gan, "translates", False):  # CoGAN: each sample a pair side by side
        shape = (max(c for _, c in tr.info.domains), shape[1], 2 * shape[2])
    assert x.shape == (5,) + shape
    assert torch.equal(x, tr.gan.sample(5, seed=1))


def _step_data(name):
    """The data sets a named GAN takes a step on: its translation set for a translator, else MNIST and (unless it
    is for images only) the 2-D ring."""
    if GANS.get(name).own_evaluation:  # translators, CoGAN: their preset's data
        return [resolve(name).data.name]
    return [d for d in ("ring8", "mnist") if d == "mnist" or not GANS.get(name).needs_images]


@pytest.mark.parametrize("name, data", [(n, d) for n in GANS.names() if n != "dcgan" for d in _step_data(n)])
def test_every_named_gan_takes_a_step(tmp_path, mnist_root, name, data):
    """Each named GAN's preset (paper settings: objective, penalties, clipping, optimiser, n_critic)
    runs one step on 2-D points (unless it is for images only, e.g. the class-conditional GANs, which
    need labels the 2-D sets do not have) and on images (a translator: on its preset's translation set)."""
    # GANs that train on few labels: their presets keep 100 labels, more than 64 images hold (2 of each digit do)
    few = ["data.labels=20"] if GANS.get(name).few_labels and resolve(name).data.label_fraction is None else []
    res = [f"data.resolution={resolve(name).data.resolution}"] if GANS.get(name).own_evaluation else []
    test_one_training_step_changes_both_nets(tmp_path, mnist_root, name, data, ["data.size=64"] + few + res)
    cfg = resolve(name)
    if name == "wgan":
        assert cfg.model["d_clip"] == 0.01 and cfg.train.n_critic == 5 and cfg.optim["d"].name == "rmsprop"
    if name == "wgan-gp":
        assert cfg.penalties == {"gp": 10.0} and cfg.model["d_norm"] == "layer" and cfg.optim["d"].betas == (0.0, 0.9)


@pytest.mark.parametrize("name", [n for n in GANS.names() if n != "dcgan"])
def test_every_named_gan_takes_a_bf16_step(tmp_path, mnist_root, name):
    """``train.amp=true`` (bf16 autocast, here on the CPU) on images: a step changes the nets and every logged loss
    is finite (the objectives and gradient penalties compute in float32, tests/test_scale.py)."""
    data = _step_data(name)[-1]
    few = ["data.labels=20"] if GANS.get(name).few_labels and resolve(name).data.label_fraction is None else []
    res = [f"data.resolution={resolve(name).data.resolution}"] if GANS.get(name).own_evaluation else []
    test_one_training_step_changes_both_nets(tmp_path, mnist_root, name, data,
                                             ["data.size=64", "train.amp=true"] + few + res)


def test_wgan_clips_critic_weights(tmp_path):
    cfg = resolve("wgan", ["data=ring8", "batch_size=8", f"out={tmp_path / 'w'}", "train.progress=false",
                           "optim.d.lr=0.5"] + TINY)
    tr = Trainer(cfg, prepare_run_dir(cfg, False))
    tr.train_step()
    assert max(p.abs().max().item() for p in tr.gan.D.parameters()) <= 0.01 + 1e-9


def test_named_gans_check_their_objective():
    from gankit.errors import ConfigError

    with pytest.raises(ConfigError, match="fgan-"):
        resolve("fgan", ["objective=hinge"])


def test_energy_objectives_need_an_autoencoder_discriminator():
    from gankit.errors import ConfigError

    for obj in ("ebgan", "began"):
        with pytest.raises(ConfigError, match="auto-encoder"):
            resolve("gan", [f"objective={obj}"])
        resolve(obj)  # their own GANs accept them


@pytest.mark.parametrize("gan,good,bad", [
    ("rgan", ["rsgan", "rlsgan", "rhinge"], ["rasgan", "ralsgan", "rahinge", "hinge"]),
    ("ragan", ["rasgan", "ralsgan", "rahinge"], ["rsgan", "rlsgan", "rhinge"]),
    ("lsgan", ["lsgan", "lsgan-chi2"], ["wgan", "rlsgan"]),
    ("fgan", ["fgan-kl", "fgan-js"], ["wgan", "nonsaturating"]),
    ("bigan", ["nonsaturating", "minimax"], ["lsgan", "wgan", "hinge", "rsgan"]),
    ("triplegan", ["nonsaturating", "minimax"], ["lsgan", "wgan", "hinge", "rsgan"]),
    ("vaegan", ["nonsaturating", "minimax"], ["lsgan", "wgan", "hinge", "rsgan"]),
])
def test_named_gans_accept_exactly_their_objectives(gan, good, bad):
    """rgan is the relativistic family only (its old prefix check 'r' let the average ones in)."""
    from gankit.config import resolve
    from gankit.errors import ConfigError

    for o in good:
        assert resolve(gan, [f"objective={o}"]).objective == o
    for o in bad:
        with pytest.raises(ConfigError, match=f"got '{o}'"):
            resolve(gan, [f"objective={o}"])


@pytest.mark.parametrize("norm", ["batch", "none"])
def test_dcgan_generator_biases_follow_normalisation(norm):
    """A bias before batch norm is redundant (the paper's nets have none there); without
    normalisation every deconvolution needs its bias."""
    from torch import nn

    from gankit.models.dcgan import DCGANGenerator
    from gankit.nn import LayerFactory

    G = DCGANGenerator(8, (1, 28, 28), 8, LayerFactory(norm=norm, act="relu"))
    deconvs = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(deconvs) == 3
    hidden_bias = [m.bias is not None for m in deconvs[:-1]]
    assert hidden_bias == [norm == "none"] * 2 and deconvs[-1].bias is not None


def test_spectral_norm_is_exact_right_after_dcgan_init():
    """DCGAN's N(0, 0.02) init re-draws weights that SN already wraps; the power iteration must be
    redone for the new weights, else D starts far from 1-Lipschitz (sigma ~9-80 here before the fix)."""
    import gankit
    from gankit.data import DataInfo
    from gankit.gans import GANS
    from gankit.nn.spectral import largest_singular_value, normalised_weight, sn_layers

    cfg = gankit.load_config("dcgan", ["model.d_sn=true", "model.d_width=16", "model.g_width=16", "model.z_dim=8"])
    info = DataInfo(name="mnist", kind="images", shape=(1, 28, 28), num_classes=10)
    torch.manual_seed(0)
    D = GANS.get("dcgan")(cfg, info).D
    sigmas = [largest_singular_value(normalised_weight(m)) for _, m, _ in sn_layers(D)]
    assert len(sigmas) == 3 and all(abs(s - 1) < 1e-3 for s in sigmas), sigmas
