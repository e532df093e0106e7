"""SNGAN, EBGAN and BEGAN: their loss pieces against hand-computed values, one training step of each
on points and on MNIST, BEGAN's k_t through a checkpoint, and SNGAN's sigma(W_SN) against an SVD."""
import math

import pytest
import torch

import gankit
from gankit.config import resolve
from gankit.errors import ConfigError
from gankit.gans import GANS
from gankit.models.autoencoder import ConvAutoEncoder, Energy, MLPAutoEncoder
from gankit.models.sngan import SNGANDiscriminator, SNGANGenerator
from gankit.nn.spectral import normalised_weight, sn_layers
from gankit.objectives.energy import (began_convergence, began_d_loss, began_k_update, ebgan_d_loss, ebgan_g_loss,
                                      pulling_away_term)
from gankit.train import checkpoint as ckpt
from gankit.train.loop import Trainer, prepare_run_dir

T = torch.float64
TINY = ["model.hidden=8", "model.z_dim=4", "model.g_width=4", "model.d_width=4", "batch_size=8",
        "train.progress=false"]


def t(*xs):
    return torch.tensor(xs, dtype=T)


# ------------------------------------------------------------------------------ EBGAN pieces
def test_ebgan_margin_loss_by_hand():
    e_real, e_fake = t(0.1, 0.3), t(0.2, 0.9)
    # E e_real = 0.2; max(0, 0.5 - 0.2) = 0.3, max(0, 0.5 - 0.9) = 0 -> mean 0.15
    assert math.isclose(ebgan_d_loss(e_real, e_fake, 0.5).item(), 0.35, rel_tol=1e-12)
    assert math.isclose(ebgan_d_loss(e_real, e_fake, 1.0).item(), 0.2 + (0.8 + 0.1) / 2, rel_tol=1e-12)
    assert math.isclose(ebgan_g_loss(e_fake).item(), 0.55, rel_tol=1e-12)
    # fakes above the margin get no gradient from D's loss
    f = e_fake.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(ebgan_d_loss(e_real, f, 0.5), f)
    assert torch.equal(g, t(-0.5, 0.0))


def test_pulling_away_term_by_hand():
    assert pulling_away_term(torch.eye(3, dtype=T)).item() == pytest.approx(0.0, abs=1e-15)
    same = t(1.0, 2.0, -3.0).repeat(4, 1)
    assert pulling_away_term(same).item() == pytest.approx(1.0, rel=1e-12)
    # S1=(1,0,0), S2=(1,1,0), S3=(0,1,1): cos^2 = 1/2 (1,2), 0 (1,3), 1/4 (2,3);
    # the ordered pairs i != j sum to 2 * 0.75 = 1.5, divided by N(N-1) = 6 -> 0.25
    s = t(1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0).view(3, 3)
    assert pulling_away_term(s).item() == pytest.approx(0.25, rel=1e-12)
    assert pulling_away_term(5 * s).item() == pytest.approx(0.25, rel=1e-12)  # scale-free
    assert pulling_away_term(s.view(3, 1, 3)).item() == pytest.approx(0.25, rel=1e-12)  # flattened per sample
    assert pulling_away_term(s[:1]).item() == 0.0


# ------------------------------------------------------------------------------ BEGAN pieces
def test_began_k_update_clipping_and_convergence_by_hand():
    # k + lambda_k (gamma L(x) - L(G(z))) = 0.2 + 0.001 * (0.5 * 0.4 - 0.1) = 0.2001
    assert began_k_update(0.2, 0.4, 0.1, 0.5, 0.001) == pytest.approx(0.2001, rel=1e-12)
    assert began_k_update(0.2, 0.4, 0.3, 0.5, 0.001) == pytest.approx(0.1999, rel=1e-12)
    assert began_k_update(0.9999, 1.0, 0.0, 0.5, 0.01) == 1.0          # 1.0049 clipped to 1
    assert began_k_update(0.0001, 0.0, 1.0, 0.5, 0.001) == 0.0         # -0.0009 clipped to 0
    k = began_k_update(torch.tensor(0.2, dtype=T), t(0.4)[0], t(0.1)[0], 0.5, 0.001)
    assert isinstance(k, torch.Tensor) and k.item() == pytest.approx(0.2001, rel=1e-12)
    assert began_k_update(torch.tensor(1.0), torch.tensor(2.0), torch.tensor(0.0), 0.5, 1.0).item() == 1.0
    assert began_k_update(torch.tensor(0.0), torch.tensor(0.0), torch.tensor(2.0), 0.5, 1.0).item() == 0.0
    # M = L(x) + |gamma L(x) - L(G(z))|
    assert began_convergence(0.4, 0.1, 0.5) == pytest.approx(0.5, rel=1e-12)
    assert began_convergence(0.4, 0.5, 0.5) == pytest.approx(0.7, rel=1e-12)
    assert began_convergence(t(0.4)[0], t(0.5)[0], 0.3).item() == pytest.approx(0.78, rel=1e-12)
    # D loss: E L(x) - k E L(G(z)) = 0.4 - 0.5 * 0.3
    assert began_d_loss(t(0.3, 0.5), t(0.2, 0.4), 0.5).item() == pytest.approx(0.25, rel=1e-12)


# ------------------------------------------------------------------------------ networks
@pytest.mark.parametrize("res", [28, 32, 64])
def test_nets_any_resolution(res):
    shape = (1, res, res)
    x = SNGANGenerator(8, shape, 4)(torch.randn(3, 8))
    assert x.shape == (3,) + shape and x.abs().max() <= 1
    assert SNGANDiscriminator(shape, 4)(x).shape == (3,)
    recon, code = ConvAutoEncoder(shape, 4, 5).reconstruct(x)
    assert recon.shape == x.shape and code.shape == (3, 5)


def test_sngan_standard_cnn_layout():
    """Table 3 of the paper at width 64, 32x32: conv channels 64,64,128,128,256,256,512, kernels 3,4,...,3."""
    D = SNGANDiscriminator((3, 32, 32), 64)
    convs = [m for m in D.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 512]
    assert [c.kernel_size[0] for c in convs] == [3, 4, 3, 4, 3, 4, 3]
    assert [c.stride[0] for c in convs] == [1, 2, 1, 2, 1, 2, 1]
    assert D.fc.in_features == 512 * 4 * 4
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in D.modules())
    G = SNGANGenerator(128, (3, 32, 32), 64)
    deconvs = [m for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert G.fc.out_features == 4 * 4 * 512 and [d.out_channels for d in deconvs] == [256, 128, 64]


def test_energies_are_per_sample_reconstruction_errors():
    ae = MLPAutoEncoder((2,), 8, 2, 3)
    x = torch.randn(5, 2)
    r = ae(x)
    assert torch.allclose(Energy(ae, "l2")(x), (r - x).pow(2).mean(1))
    assert torch.allclose(Energy(ae, "l1")(x), (r - x).abs().mean(1))
    e, code = Energy(ae, "l2").energy_and_code(x)
    assert e.shape == (5,) and code.shape == (5, 3)


# ------------------------------------------------------------------------------ training steps
def _trainer(tmp_path, mnist_root, name, data, extra=()):
    cfg = resolve(name, [f"data={data}", f"data.root={mnist_root}", "data.size=64", "steps=1",
                         f"out={tmp_path / 'run'}"] + TINY + list(extra)
                  + ([] if name == "sngan" else ["model.code_dim=4"]))
    return Trainer(cfg, prepare_run_dir(cfg, False))


@pytest.mark.parametrize("name", ["sngan", "ebgan", "began"])
@pytest.mark.parametrize("data", ["ring8", "mnist"])
def test_one_step_changes_both_nets(tmp_path, mnist_root, name, data):
    tr = _trainer(tmp_path, mnist_root, name, data)
    before = {k: v.clone() for k, v in tr.gan.state_dict().items()}
    tr.train_step()
    after = tr.gan.state_dict()
    for net in ("G.", "D."):
        assert any(k.startswith(net) and not torch.equal(before[k], after[k]) for k in before), f"{net} unchanged"
    logs = tr.meter.pop_means()
    assert {"d_loss", "g_loss"} <= set(logs) and all(math.isfinite(v) for v in logs.values())
    if name == "ebgan":
        assert "pt" in logs and 0 <= logs["pt"] <= 1
    if name == "began":
        assert {"k", "M", "l_real", "l_fake"} <= set(logs)
    assert tr.gan.sample(3, seed=1).shape == (3,) + tuple(tr.info.shape)


def test_began_k_is_updated_from_the_d_step_and_is_a_buffer(tmp_path, mnist_root):
    tr = _trainer(tmp_path, mnist_root, "began", "ring8", ["model.k_init=0.5", "model.lambda_k=0.01", "model.gamma=0.5"])
    assert "k" in tr.gan.state_dict() and "k" in dict(tr.gan.named_buffers())
    assert tr.gan.k.item() == 0.5
    tr.train_step()
    logs = tr.meter.pop_means()
    expected = min(max(0.5 + 0.01 * (0.5 * logs["l_real"] - logs["l_fake"]), 0.0), 1.0)
    assert logs["k"] == 0.5  # the k the D loss used
    assert tr.gan.k.item() != 0.5 and tr.gan.k.item() == pytest.approx(expected, rel=1e-5)
    assert logs["M"] == pytest.approx(logs["l_real"] + abs(0.5 * logs["l_real"] - logs["l_fake"]), rel=1e-5)


def test_began_k_survives_a_checkpoint_round_trip(tmp_path):
    common = ["data=ring8", "data.size=256", "model.k_init=0.5", "model.lambda_k=0.01", "train.deterministic=true",
              "train.sample_every=0", "train.eval_every=0", "train.eval_samples=50", "train.checkpoint_every=1", "model.code_dim=4",
              "optim.g.schedule=constant", "optim.d.schedule=constant"] + TINY  # a linear schedule follows steps=
    full = gankit.train("began", *common, steps=5, out=str(tmp_path / "full"))
    gankit.train("began", *common, steps=3, out=str(tmp_path / "cut"))
    k3 = ckpt.load(ckpt.list_checkpoints(tmp_path / "cut" / "checkpoints")[-1])["gan"]["k"]
    assert k3.item() != 0.5
    resumed = gankit.train(resume=str(tmp_path / "cut"), steps=5)
    assert resumed.gan.k.item() != k3.item()
    assert torch.equal(resumed.gan.k, full.gan.k)  # k_3 was restored, not restarted from k_0


# ------------------------------------------------------------------------------ SNGAN
def test_sngan_normalises_every_d_layer_and_sigma_is_one(tmp_path, mnist_root):
    tr = _trainer(tmp_path, mnist_root, "sngan", "mnist")
    D = tr.gan.D
    weight_layers = [m for m in D.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    sn = {id(m) for _, m, _ in sn_layers(D)}
    assert weight_layers and all(id(m) in sn for m in weight_layers)
    x = tr.loader.next()[0]
    D.train()
    with torch.no_grad():
        for _ in range(30):
            D(x)
    for m in weight_layers:
        sigma = torch.linalg.svdvals(normalised_weight(m).reshape(m.weight.shape[0], -1).double())[0].item()
        assert abs(sigma - 1) < 1e-2, (m, sigma)


def test_sngan_on_points_uses_an_sn_mlp(tmp_path, mnist_root):
    tr = _trainer(tmp_path, mnist_root, "sngan", "grid25")
    linears = [m for m in tr.gan.D.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 4 and len(list(sn_layers(tr.gan.D))) == 4


def test_energy_gans_check_their_objective_and_arch():
    assert {"sngan", "ebgan", "began"} <= set(GANS.names())
    with pytest.raises(ConfigError, match="energy loss"):
        resolve("ebgan", ["objective=hinge"])
    with pytest.raises(ConfigError, match="energy loss"):
        resolve("began", ["objective=ebgan"])
    with pytest.raises(ConfigError, match="needs image data"):
        resolve("began", ["data=ring8", "model.arch=cnn"])
    with pytest.raises(ConfigError, match="gamma"):
        resolve("began", ["model.gamma=0"])
    cfg = resolve("sngan")
    assert cfg.objective == "hinge" and cfg.train.n_critic == 1 and cfg.optim["d"].betas == (0.5, 0.999)
    assert resolve("began").optim["d"].lr == 1e-4 and resolve("ebgan").model["pt_weight"] == 0.1



@pytest.mark.parametrize("norm, count", [("none", 0), ("batch", 2)])
def test_began_g_norm_puts_batch_norm_in_g_only(norm, count):
    """model.g_norm=batch adds batch norm to the hidden layers of BEGAN's decoder-shaped G (at 28x28:
    after the linear layer and after the one hidden deconvolution); D's auto-encoder keeps none."""
    from gankit.data import DataInfo
    cfg = resolve("began", ["model.g_width=4", "model.d_width=4", f"model.g_norm={norm}"])
    gan = GANS.get("began")(cfg, DataInfo("mnist", "images", (1, 28, 28), 10))
    bns = lambda net: sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())  # noqa: E731
    assert (bns(gan.G), bns(gan.D)) == (count, 0)
    with pytest.raises(ConfigError, match="g_norm"):
        resolve("began", ["model.g_norm=layer"])
