"""Speed settings of the generic loop (issue: scale): ``train.compile`` and ``train.channels_last`` change how the
nets run, not what they compute -- the same losses and weights as the plain run, within float tolerance."""
import json
from pathlib import Path

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


@pytest.mark.parametrize("name,extra", [("dcgan", []), ("lsgan", []), ("wgan-gp", ["model.d_norm=layer"]),
                                        ("began", [])])
def test_bf16_gives_the_plain_runs_losses_within_bf16_rounding(tmp_path, mnist_root, name, extra):
    """bf16 keeps 8 bits of mantissa (relative rounding 4e-3 per operation); over 3 steps the logged losses stay
    within 1e-2 of the float32 run (measured on the CPU: at most 1.6e-3, LSGAN)."""
    _, want = run_steps(tmp_path / "a", name, mnist_root, 3, *extra)
    fast, got = run_steps(tmp_path / "b", name, mnist_root, 3, "train.amp=true", *extra)
    assert fast.cfg.train.amp
    assert close(got, want, 1e-2), (got, want)
    assert not close(got, want, 1e-7), "bf16 changed nothing: autocast did not run"


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


# ------------------------------------------------------------------ fused / foreach optimisers
def test_optimisers_use_fused_kernels_on_cuda_and_foreach_on_the_cpu():
    from gankit.config import OptimConfig
    from gankit.train.optim import kernel_options, make_optimizer

    cpu = [torch.nn.Parameter(torch.randn(3))]
    assert kernel_options(cpu) == {"foreach": True} and kernel_options([]) == {"foreach": True}
    assert make_optimizer(OptimConfig(), cpu).defaults["foreach"] is True
    with torch.device("meta"):  # not CUDA either
        assert kernel_options([torch.nn.Parameter(torch.empty(2))]) == {"foreach": True}


def test_the_fused_adam_kernel_takes_the_same_steps_as_foreach():
    """What ``fused=True`` changes on CUDA is the kernel, not the update (checked with the CPU fused kernel)."""
    torch.manual_seed(0)
    w0 = torch.randn(5, 4)
    grads = [torch.randn(5, 4) for _ in range(5)]
    out = []
    for kw in ({"foreach": True}, {"fused": True}):
        p = torch.nn.Parameter(w0.clone())
        opt = torch.optim.Adam([p], lr=1e-2, betas=(0.5, 0.999), **kw)
        for g in grads:
            p.grad = g.clone()
            opt.step()
        out.append(p.detach())
    assert torch.allclose(out[0], out[1], atol=1e-6)


# ------------------------------------------------------------------ multi-process parts, without processes
def test_each_rank_takes_its_slice_of_the_global_batch_and_the_state_is_the_global_one():
    from gankit.data.loader import DeviceLoader

    x = torch.arange(40.0).reshape(40, 1)
    whole = DeviceLoader(x, None, 8, "cpu", seed=3)
    ranks = [DeviceLoader(x, None, 8, "cpu", seed=3) for _ in range(2)]
    for r, ld in enumerate(ranks):
        ld.shard(r, 2)
    for _ in range(12):  # across epochs
        full = whole.next()[0]
        parts = [ld.next()[0] for ld in ranks]
        assert torch.equal(torch.cat(parts), full) and parts[0].shape[0] == 4
    s = [ld.state_dict() for ld in ranks]
    assert all(torch.equal(s[0][k], whole.state_dict()[k]) if isinstance(s[0][k], torch.Tensor)
               else s[0][k] == whole.state_dict()[k] for k in s[0])
    with pytest.raises(Exception, match="split evenly"):
        DeviceLoader(x, None, 8, "cpu", seed=3).shard(0, 3)


def test_few_label_and_unpaired_loaders_shard_every_stream():
    from gankit.data.fewlabels import FewLabelLoader

    x, y = torch.randn(100, 1, 2, 2), torch.arange(100) % 10
    whole = FewLabelLoader(x, y, 20, 10, 8, "cpu", seed=0)
    half = FewLabelLoader(x, y, 20, 10, 8, "cpu", seed=0)
    half.shard(1, 2)
    (xw, yw), (xh, yh) = whole.next(), half.next()
    assert torch.equal(xh, torch.cat([xw[4:8], xw[12:16]])) and torch.equal(yh, torch.cat([yw[4:8], yw[12:16]]))


def test_the_latent_stream_gives_each_rank_its_slice_of_the_global_draw():
    from gankit.train.distributed import Dist, LatentStream

    def draw(n, generator=None):
        return torch.randn(n, 3, generator=generator)

    torch.manual_seed(7)
    want = torch.cat([torch.randn(4, 3) for _ in range(2)])  # one process, global batch 4, two draws
    got = []
    for rank in (0, 1):
        torch.manual_seed(7)
        stream = LatentStream(Dist(rank, 2, rank, None), torch.device("cpu"))
        torch.manual_seed(1000 + rank)  # the rank's own draws, elsewhere in the step
        z = stream.wrap(draw)
        got.append([z(2), z(2)])
        assert torch.equal(z(2, torch.Generator().manual_seed(1)), draw(2, torch.Generator().manual_seed(1)))
    assert torch.equal(torch.cat([got[0][0], got[1][0]]), want[:4])
    assert torch.equal(torch.cat([got[0][1], got[1][1]]), want[4:])


def test_rank_seeds_differ_per_rank_and_step_and_are_reproducible():
    from gankit.train.distributed import step_seed

    seeds = {step_seed(0, s, r) for s in range(100) for r in range(8)}
    assert len(seeds) == 800 and all(0 <= x < 2 ** 63 for x in seeds)
    assert step_seed(3, 5, 1) == step_seed(3, 5, 1) != step_seed(4, 5, 1)


def test_sync_batchnorm_keeps_parameters_buffers_and_checkpoint_names():
    from gankit.train.distributed import SyncedBatchNorm, sync_batchnorm

    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4),
                              torch.nn.Sequential(torch.nn.Flatten(), torch.nn.BatchNorm1d(16)))
    params = list(net.parameters())
    keys = list(net.state_dict())
    x = torch.randn(6, 1, 4, 4)
    want = net(x)
    torch.nn.init.zeros_(net[1].running_mean)  # rewind what the forward moved
    torch.nn.init.ones_(net[1].running_var)
    net[1].num_batches_tracked.zero_()
    torch.nn.init.zeros_(net[2][1].running_mean)
    torch.nn.init.ones_(net[2][1].running_var)
    net[2][1].num_batches_tracked.zero_()
    assert sync_batchnorm(net) == 2
    assert isinstance(net[1], SyncedBatchNorm) and isinstance(net[2][1], SyncedBatchNorm)
    assert list(net.parameters()) == params and all(a is b for a, b in zip(net.parameters(), params))
    assert list(net.state_dict()) == keys
    assert torch.allclose(net(x), want)  # one process: plain batch norm


def test_nproc_mistakes_are_one_line_errors(tmp_path, monkeypatch):
    from gankit.cli import main

    assert main(["train", "gan", "--nproc", "0", f"out={tmp_path / 'r'}"]) == 2
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert main(["train", "gan", "--nproc", "2", f"out={tmp_path / 'r'}"]) == 2
    assert not (tmp_path / "r").exists()


def stopped_by(codes, first, said, out="runs/x"):
    """What ``gankit train --nproc 2`` ends with when its processes ended with ``codes``: (status, stderr)."""
    import argparse
    import contextlib
    import io

    from gankit.cli import _stopped_by
    from gankit.errors import GankitError

    err = io.StringIO()
    a = argparse.Namespace(nproc=2, resume=None)
    with contextlib.redirect_stderr(err):
        try:
            _stopped_by(codes, first, said, a, [f"out={out}"])
        except SystemExit as e:
            return e.code, err.getvalue()
        except GankitError as e:
            return "error", str(e)
    raise AssertionError("_stopped_by returned")


def test_the_nproc_launcher_says_one_line_for_the_process_that_stopped_the_run():
    user = "gankit: error: config: optim.g.lr must be a number, got 'abc'"
    # a user error: rank 0 said it; torchrun then stopped rank 1 (SIGTERM) -- nothing more to say
    assert stopped_by({0: 2, 1: -15}, 0, {0: user, 1: user}) == (2, "")
    # ... also when torchrun stopped rank 0 after it had printed
    assert stopped_by({0: -15, 1: 2}, 1, {0: user, 1: user}) == (2, "")
    # rank 0 stopped before it could say it: rank 1's line, once
    code, err = stopped_by({0: -15, 1: 2}, 1, {1: user})
    assert code == 2 and err.strip() == "gankit: process 1 of 2: error: config: optim.g.lr must be a number, got 'abc'"
    # SIGTERM to rank 1 alone: it stops as interrupted; rank 0 lost its peer (3) and is not the cause
    stop = "gankit: interrupted at step 125; `gankit train --resume runs/x` continues from its last checkpoint"
    code, err = stopped_by({0: 3, 1: 130}, 0, {1: stop})
    assert code == 130 and err.strip() == stop.replace("gankit: ", "gankit: process 1 of 2: ")
    # SIGTERM to rank 0: it said so; status 130
    assert stopped_by({0: 130, 1: -15}, 0, {0: stop}) == (130, "")
    # kill -9 of rank 1: named, even when torchrun's SIGTERM reached rank 0 first or rank 0 reported first
    for codes, first in (({0: 3, 1: -9}, 0), ({0: -15, 1: -9}, 0), ({0: -9, 1: 3}, 1)):
        kind, line = stopped_by(codes, first, {})
        rank = next(r for r, c in codes.items() if c == -9)
        assert kind == "error" and line.startswith(f"process {rank} of 2 was killed by signal 9"), (codes, line)
        assert "gankit train --resume runs/x" in line
    # a rank that failed with a status of its own (a crash) is the cause, not the one torchrun then stopped
    kind, line = stopped_by({0: -15, 1: 1}, 0, {})
    assert kind == "error" and line.startswith("process 1 of 2 exited with status 1")


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the ranks through /proc (Linux)")
def test_the_ranks_stop_when_the_nproc_launcher_is_killed(tmp_path, mnist_root):
    """kill -9 of ``gankit train --nproc 2``: its processes get SIGTERM (parent-death signal) and stop as
    interrupted, leaving a run that resumes, instead of training on as orphans that hold the run's lock."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "orphans"
    cmd = [sys.executable, "-m", "gankit", "train", "gan", "steps=100000", "train.checkpoint_every=20",
           "train.eval_every=0", "--quiet", f"out={out}", "--nproc", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))

    def ranks():
        found = []
        for p in Path("/proc").iterdir():
            try:
                if p.name.isdigit() and f"out={out}".encode() in (p / "cmdline").read_bytes() and int(p.name) != proc.pid:
                    found.append(int(p.name))
            except OSError:
                pass
        return found

    try:
        deadline = time.monotonic() + 300
        while not list((out / "checkpoints").glob("step-*.pt")) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(ranks()) == 2, "the two ranks were not found"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 120
        while ranks() and time.monotonic() < deadline:
            time.sleep(0.2)
        left = ranks()
    finally:
        for pid in ranks():
            os.kill(pid, signal.SIGKILL)
    assert not left, "the ranks trained on after their launcher died"
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"


def test_compile_leaves_a_spectral_norm_d_eager_and_takes_the_eager_steps(tmp_path, mnist_root):
    """SN's power iteration updates u / v in place on each of D's two calls in one loss, which the compiled backward
    cannot take (version-counter error): such a D runs eager, G (with SN too) is compiled."""
    extra = ["model.g_width=8", "model.d_width=8", "data.resolution=32"]
    plain, want = run_steps(tmp_path / "a", "biggan", mnist_root, 2, *extra)
    fast, got = run_steps(tmp_path / "b", "biggan", mnist_root, 2, "train.compile=true", *extra)
    assert fast.compiled == {"G": True, "D": False}
    assert close(got, want, 1e-4), (got, want)
