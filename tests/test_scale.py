"""Speed settings of the generic loop (issue: scale): ``train.compile`` and ``train.channels_last`` change how the
nets run, not what they compute -- the same losses and weights as the plain run, within float tolerance."""
import pytest
import torch

from gankit.config import resolve
from gankit.train.loop import Trainer, prepare_run_dir

pytestmark = pytest.mark.usefixtures("one_thread")


def run_steps(tmp_path, name, root, steps, *extra):
    cfg = resolve(name, [f"data.root={root}", "data=mnist", "data.size=64", "batch_size=8", "model.g_width=8",
                         "model.d_width=8", "model.z_dim=8", "train.progress=false", f"out={tmp_path / name}",
                         "train.eval_every=0", "train.sample_every=0"] + list(extra))
    tr = Trainer(cfg, prepare_run_dir(cfg, True))
    losses = []
    for _ in range(steps):
        tr.train_step()
        losses.append({k: float(v) for k, v in tr.meter.pop_means().items()})
    return tr, losses


def close(a, b, tol):
    return all(abs(x[k] - y[k]) <= tol * max(1.0, abs(y[k])) for x, y in zip(a, b) for k in y)


def test_channels_last_gives_the_plain_runs_losses_and_weights(tmp_path, mnist_root):
    plain, want = run_steps(tmp_path / "a", "dcgan", mnist_root, 3)
    fast, got = run_steps(tmp_path / "b", "dcgan", mnist_root, 3, "train.channels_last=true")
    conv = next(m for m in fast.gan.D.modules() if isinstance(m, torch.nn.Conv2d) and m.in_channels > 1)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) and not conv.weight.is_contiguous()
    assert close(got, want, 1e-4), (got, want)
    for (k, v), (_, w) in zip(plain.gan.state_dict().items(), fast.gan.state_dict().items()):
        assert torch.allclose(v, w, atol=1e-4), k


def test_compile_gives_the_plain_runs_losses_and_keeps_checkpoint_names(tmp_path, mnist_root):
    plain, want = run_steps(tmp_path / "a", "dcgan", mnist_root, 2)
    fast, got = run_steps(tmp_path / "b", "dcgan", mnist_root, 2, "train.compile=true")
    assert fast.compiled == {"G": True, "D": True} and fast.gan.G._compiled_call_impl is not None
    assert close(got, want, 1e-4), (got, want)
    assert list(fast.gan.state_dict()) == list(plain.gan.state_dict())  # no _orig_mod. prefixes
    assert fast.cfg.hash == plain.cfg.hash  # a speed setting: the run's identity is unchanged


def test_compile_leaves_d_eager_under_a_gradient_penalty(tmp_path, mnist_root):
    tr, losses = run_steps(tmp_path, "wgan-gp", mnist_root, 1, "train.compile=true", "model.d_norm=layer")
    assert tr.compiled == {"G": True, "D": False} and "gp" in losses[0]


def test_every_objective_computes_its_losses_in_float32_from_bf16_scores():
    """Under train.amp D's scores come in bfloat16; every objective upcasts them, so its loss is the float32 loss
    of the same (rounded) scores, not a bf16 computation."""
    from gankit.objectives import OBJECTIVES

    g = torch.Generator().manual_seed(0)
    r, f = torch.randn(64, generator=g).abs() + 0.1, torch.randn(64, generator=g).abs() + 0.1  # energies are >= 0
    rb, fb = r.bfloat16(), f.bfloat16()
    for name in OBJECTIVES.names():
        obj = OBJECTIVES.get(name)
        d = obj.d_loss(rb, fb)
        g_ = obj.g_loss(fb, rb if obj.g_needs_real else None)
        assert d.dtype == torch.float32 and g_.dtype == torch.float32, name
        assert torch.equal(d, obj.d_loss(rb.float(), fb.float())), name
        assert torch.equal(g_, obj.g_loss(fb.float(), rb.float() if obj.g_needs_real else None)), name


def test_gradient_penalties_are_computed_in_float32_under_autocast():
    """The penalty's forward and double backward run with autocast off: the same value with and without bf16
    autocast around it (D's own loss does change)."""
    from gankit.penalties import PENALTIES

    torch.manual_seed(0)
    D = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.LeakyReLU(0.2), torch.nn.Flatten(),
                            torch.nn.Linear(4 * 6 * 6, 1))
    real, fake = torch.randn(8, 1, 8, 8), torch.randn(8, 1, 8, 8)
    for name in ("gp", "r1", "r2", "dragan"):
        torch.manual_seed(1)
        plain = PENALTIES.get(name)(D, real, fake)
        torch.manual_seed(1)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = PENALTIES.get(name)(D, real, fake)
            assert D(real).dtype == torch.bfloat16  # autocast is on around it
        assert mixed.dtype == torch.float32 and torch.equal(mixed, plain), name
