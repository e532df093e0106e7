"""Several processes with DistributedDataParallel (issue: scale), tested on the CPU with gloo and 2 processes.

One torchrun launch of tests/ddp_worker.py trains every job below on 2 ranks; the tests then read what each rank
saved. What is checked:

* **Equivalence.** DCGAN (batch norm in G and D, synchronised by default) on 2 processes ends with the weights and
  logged losses of the 1-process run with the same global batch, to float32 rounding: |dw| <= 1e-5 after 4 steps
  (measured: about 2e-8); with ``train.sync_bn=false`` each rank normalises its own half and the runs part.
* **Every GAN** takes a 2-process step: no unused-parameter error in any phase (several optimiser groups, gradient
  penalties' double backward, pre-trained parts), and both ranks hold the same weights afterwards.
* **Resume across world sizes.** A 1-process checkpoint continued on 2 processes, and a 2-process one continued on
  1 process (``gankit train --resume``), end where the 1-process run does.
* **A killed rank** stops the whole run with one line and a non-zero status; the run resumes from its checkpoint.
"""
import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gankit.config import resolve
from gankit.gans import GANS
from gankit.train.loop import start

pytestmark = pytest.mark.usefixtures("one_thread")
HERE = Path(__file__).resolve().parent
DCGAN = ["data=mnist", "data.size=256", "batch_size=16", "model.g_width=8", "model.d_width=8", "model.z_dim=8",
         "train.log_every=1", "train.checkpoint_every=2", "train.sample_every=0", "train.progress=false",
         "train.eval_every=0", "device=cpu"]
TINY = ["model.hidden=8", "model.z_dim=4", "model.g_width=4", "model.d_width=4"]


def sweep_overrides(name, root):
    """Tiny settings for one step of a named GAN on images (its translation set for a translator)."""
    keys = {f.name for f in dataclasses.fields(GANS.get(name).Params)}
    tiny = [t for t in TINY if t.split("=")[0][len("model."):] in keys]
    own = GANS.get(name).own_evaluation
    data = resolve(name).data.name if own else "mnist"
    few = ["data.labels=20"] if GANS.get(name).few_labels and resolve(name).data.label_fraction is None else []
    res = [f"data.resolution={resolve(name).data.resolution}"] if own else []
    return [f"data={data}", f"data.root={root}", "data.size=64", "batch_size=8", "steps=1", "train.progress=false",
            "train.sample_every=0", "train.eval_every=0", "train.grid_size=4", "device=cpu"] + tiny + few + res


def one_process(name, overrides, out, steps):
    cfg = resolve(name, overrides + [f"out={out}", f"steps={steps}"])
    tr = start(cfg, overwrite=True)
    tr.fit()
    return tr


def launch(args, env_extra=None, **kw):
    env = dict(os.environ, OMP_NUM_THREADS="1", LOGLEVEL="ERROR", **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
                          + args, env=env, capture_output=True, text=True, timeout=900, **kw)


def gankit(*args):
    return subprocess.run([sys.executable, "-m", "gankit", *args], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))


def losses(run):
    return [r for r in map(json.loads, (Path(run) / "metrics.jsonl").read_text().splitlines()) if "d_loss" in r]


def params(path):
    return torch.load(path, weights_only=True)


@pytest.fixture(scope="module")
def ddp(tmp_path_factory, request):
    from conftest import data_root

    root = data_root()
    if root is None:
        pytest.skip("MNIST not found: set GANKIT_DATA or provide ../shared/data (CI has it)")
    base = tmp_path_factory.mktemp("ddp")
    dc = DCGAN + [f"data.root={root}"]
    torch.set_num_threads(1)
    one_process("dcgan", dc, base / "one", 4)  # the reference
    one_process("dcgan", dc, base / "from-one", 2)  # to be continued on 2 processes
    jobs = [{"name": "dcgan", "overrides": dc + ["steps=4"], "out": str(base / "two")},
            {"name": "dcgan", "overrides": dc + ["steps=4", "train.sync_bn=false"], "out": str(base / "nosync")},
            {"name": "dcgan", "overrides": ["steps=4"], "out": str(base / "from-one"), "resume": True},
            {"name": "dcgan", "overrides": dc + ["steps=2"], "out": str(base / "to-one")}]
    names = GANS.names()
    jobs += [{"name": n, "overrides": sweep_overrides(n, root), "out": str(base / f"gan-{n}")} for n in names]
    (base / "jobs.json").write_text(json.dumps(jobs))
    proc = launch([str(HERE / "ddp_worker.py"), str(base / "jobs.json")], cwd=str(base))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"base": base, "root": root, "names": names, "dc": dc}


def test_two_processes_match_one_process_with_the_same_global_batch(ddp):
    base = ddp["base"]
    one, two = params(base / "one" / "checkpoints" / "step-00000004.pt"), params(base / "two" / "rank-0.pt")
    gan = one["gan"]
    assert set(gan) == set(two)
    worst = max((gan[k].float() - two[k].float()).abs().max().item() for k in gan)
    assert worst <= 1e-5, worst
    a, b = losses(base / "one"), losses(base / "two")
    assert [r["step"] for r in a] == [r["step"] for r in b] == [1, 2, 3, 4]
    for x, y in zip(a, b):  # rank 0 logs the losses averaged over the ranks: the global batch's
        for k in ("d_loss", "g_loss"):
            assert abs(x[k] - y[k]) <= 1e-5 * max(1.0, abs(x[k])), (k, x, y)


def test_batch_norm_is_synchronised_unless_turned_off(ddp):
    base = ddp["base"]
    one = params(base / "one" / "checkpoints" / "step-00000004.pt")["gan"]
    nosync = params(base / "nosync" / "rank-0.pt")
    assert max((one[k].float() - nosync[k].float()).abs().max().item() for k in one) > 1e-3
    r0, r1 = params(base / "nosync" / "rank-0.pt"), params(base / "nosync" / "rank-1.pt")
    weights = [k for k in r0 if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    assert all(torch.equal(r0[k], r1[k]) for k in weights)  # still one model: gradients are all-reduced


def test_resume_continues_across_world_sizes(ddp, tmp_path):
    """1 process -> 2 processes (the worker's resume job), and 2 -> 1 (the command line): both end at the
    1-process run's weights."""
    base = ddp["base"]
    ref = params(base / "one" / "checkpoints" / "step-00000004.pt")["gan"]
    up = params(base / "from-one" / "rank-0.pt")
    assert max((ref[k].float() - up[k].float()).abs().max().item() for k in ref) <= 1e-5
    r = gankit("train", "--resume", str(base / "to-one"), "steps=4", "--quiet")
    assert r.returncode == 0, r.stderr
    down = params(base / "to-one" / "checkpoints" / "step-00000004.pt")["gan"]
    assert max((ref[k].float() - down[k].float()).abs().max().item() for k in ref) <= 1e-5
    assert [x["step"] for x in losses(base / "to-one")] == [1, 2, 3, 4]


@pytest.mark.parametrize("name", GANS.names())
def test_every_gan_takes_a_two_process_step(ddp, name):
    out = ddp["base"] / f"gan-{name}"
    for r in (0, 1):
        err = out / f"rank-{r}.error"
        assert not err.exists(), err.read_text()[-2000:]
    r0, r1 = params(out / "rank-0.pt"), params(out / "rank-1.pt")
    weights = json.loads((out / "weights.json").read_text())
    assert weights
    differ = [k for k in weights if not torch.equal(r0[k], r1[k])]
    assert not differ, f"the ranks' weights differ: {differ[:5]}"
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    last = [v for k, v in rows[-1].items() if isinstance(v, float)]
    assert rows[-1]["step"] == 1 and last and all(map(math.isfinite, last)), rows[-1]


def rank1_pid(marker):
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            env = (p / "environ").read_bytes().split(b"\0")
            cmd = (p / "cmdline").read_bytes()
        except OSError:
            continue
        if b"RANK=1" in env and marker.encode() in cmd:
            return int(p.name)
    return None


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the rank's process through /proc (Linux)")
def test_a_killed_rank_stops_the_run_cleanly_and_it_resumes(ddp, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "gankit", "train", "dcgan", *ddp["dc"], "steps=100000", "train.log_every=5",
           f"out={out}", "--nproc", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    try:
        deadline = time.monotonic() + 300
        while not list((out / "checkpoints").glob("step-*.pt")) and time.monotonic() < deadline:
            time.sleep(0.2)
        pid = rank1_pid(str(out))
        assert pid is not None, "rank 1 not found"
        os.kill(pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, err
    lines = [l for l in err.splitlines() if l.strip()]
    assert "Traceback" not in err, err
    assert any("process 1 of 2 was killed by signal 9" in l and f"--resume {out}" in l for l in lines), err
    assert json.loads((out / "run.json").read_text())["status"] in ("failed", "interrupted")
    step = max(int(p.stem[5:]) for p in (out / "checkpoints").glob("step-*.pt"))
    r = gankit("train", "--resume", str(out), f"steps={step + 2}", "--quiet")
    assert r.returncode == 0, r.stderr
    assert json.loads((out / "run.json").read_text())["status"] == "finished"


def test_a_global_batch_that_does_not_split_is_one_error_line(ddp, tmp_path):
    r = gankit("train", "dcgan", *ddp["dc"], "batch_size=15", "steps=2", f"out={tmp_path / 'odd'}", "--nproc", "2")
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert "batch_size=15" in lines[0] and "multiple of 2" in lines[0]
    assert not (tmp_path / "odd").exists()


def test_resuming_a_run_another_process_holds_is_one_error_line_from_every_rank(ddp):
    """Rank 0 takes the run's lock and tells the other ranks (which only read the run) whether it could, so they stop
    with its line instead of being killed half-way (which printed their traceback)."""
    from gankit.train.rundir import RunLock

    run = ddp["base"] / "two"
    lock = RunLock(run).acquire()
    try:
        r = gankit("train", "--resume", str(run), "steps=6", "--nproc", "2")
    finally:
        lock.release()
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "in use by another gankit process" in lines[0], r.stderr
