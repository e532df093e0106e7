"""Reliability, end to end through the CLI (issue 8): no user data lost, no dead ends, one clear
line for every bad input.

Each test is named after the cause it covers (``test_c01_...`` .. ``test_c15_...``). Every command
runs as its own process (forked from the shared fork server of ``cli_harness``; ``pre`` code injects
faults such as SIGKILL, Ctrl-C or a full disk at a chosen point). Every checked command is recorded
with ``log_case`` so ``bench/bad_inputs.py`` can regenerate the table in docs/results.md.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from cli_harness import Result, assert_ok, assert_user_error, log_case, newest_checkpoint, run_cli, start_server, \
    stop_server

TINY = ["model.hidden=16", "--quiet"]
RUN4 = ["train", "gan", "steps=4", "train.checkpoint_every=2", "train.eval_samples=200"] + TINY


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    ws = tmp_path_factory.mktemp("reliability")
    start_server(ws / "fork-server")
    yield ws
    stop_server()


@pytest.fixture(scope="module")
def base_run(ws):
    """One finished tiny run (checkpoints at steps 2 and 4); tests work on copies of it."""
    res = run_cli(RUN4 + [f"out={ws / 'base'}"], ws / "cases" / "_base")
    assert_ok(res)
    return ws / "base"


def copy_run(base: Path, where: Path) -> Path:
    shutil.copytree(base, where)
    return where


def err(cause: str, case: str, res: Result, *mention: str, any_of=(), rc: int = 2) -> str:
    """The contract for a user mistake: exactly one `gankit: error:` line, status ``rc`` (an
    interrupt, status 130: one `gankit: interrupted ...` line)."""
    if rc == 130:
        assert "Traceback" not in res.stdout + res.stderr, res.describe()
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("gankit: interrupted"), res.describe()
        line = lines[0]
        assert all(m in line for m in mention), res.describe()
    else:
        line = assert_user_error(res, tuple(mention), tuple(any_of))
    assert res.rc == rc, res.describe()
    log_case(cause, case, res)
    return line


def ok(cause: str, case: str, res: Result) -> None:
    assert_ok(res)
    log_case(cause, case, res, expect="ok")


def tree(path: Path) -> dict:
    """Every file under ``path`` with its bytes (to prove nothing changed); the lock file, which
    records the pid of its last holder, is left out."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file() and p.name != ".lock"}


KILL_AT_STEP = """
import os, signal
from gankit.train import loop
_orig = loop.Trainer.train_step
def _step(self):
    if self.step == {step}:
        os.kill(os.getpid(), signal.{sig})
    _orig(self)
loop.Trainer.train_step = _step
"""

KILL_AT_FINAL_SAMPLES = """
import os, signal
from gankit.train import loop
_orig = loop.Trainer.save_samples
def _save(self, name):
    if name == "final":
        os.kill(os.getpid(), signal.SIGKILL)
    return _orig(self, name)
loop.Trainer.save_samples = _save
"""

INTERRUPT_AT_STEP = """
from gankit.train import loop
_orig = loop.Trainer.train_step
def _step(self):
    if self.step == {step}:
        raise KeyboardInterrupt
    _orig(self)
loop.Trainer.train_step = _step
"""

# a full disk from the 3rd checkpoint on: fsync of the temp file fails with ENOSPC, as on a full disk
DISK_FULL_AT_CHECKPOINT = """
import errno, os
from gankit.train import checkpoint
_orig, _n = checkpoint.save, [0]
def _save(state, path):
    _n[0] += 1
    if _n[0] >= {n}:
        real_fsync = os.fsync
        def full(fd):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        os.fsync = full
        try:
            return _orig(state, path)
        finally:
            os.fsync = real_fsync
    return _orig(state, path)
checkpoint.save = _save
"""

# Ctrl-C while the command is still importing its modules (`import gankit` for the console script,
# torch, the trainer, ...): the child forgets the preloaded gankit, and importing its config raises
CTRL_C_AT_IMPORT = """
import sys
for name in [m for m in sys.modules if m == "gankit" or m.startswith("gankit.")]:
    del sys.modules[name]
class _CtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == "gankit.config":
            raise KeyboardInterrupt
        return None
sys.meta_path.insert(0, _CtrlC())
"""


# ----------------------------------------------------------------------- 1: --overwrite data loss
def test_c01_overwrite_never_removes_user_files(ws):
    proj = ws / "c01" / "userproj"
    (proj / "src").mkdir(parents=True)
    (proj / "thesis.tex").write_text("\\chapter{mine}\n")
    (proj / "src" / "a.py").write_text("print('mine')\n")
    (proj / "config.yaml").write_text("my: own config\n")
    before = tree(proj)
    res = run_cli(["train", "gan", "steps=2", f"out={proj}", "--overwrite"] + TINY, ws / "c01" / "cwd1")
    err("1", "overwrite-user-folder-with-config.yaml", res, str(proj), "not a gankit run directory")
    assert tree(proj) == before

    here = ws / "c01" / "here"
    here.mkdir()
    (here / "notes.txt").write_text("mine\n")
    res = run_cli(["train", "gan", "steps=2", "out=.", "--overwrite"] + TINY, here)
    err("1", "overwrite-current-directory", res, "not a gankit run directory")
    assert (here / "notes.txt").read_text() == "mine\n"


def test_c01_overwrite_keeps_foreign_files_and_refuses_cwd(ws, base_run):
    run = copy_run(base_run, ws / "c01b" / "run")
    (run / "notes.txt").write_text("my notes\n")
    (run / "checkpoints" / "my-best.pt").write_bytes(b"mine")
    res = run_cli(["train", "gan", "steps=2", f"out={run}", "--overwrite"] + TINY, ws / "c01b" / "cwd")
    ok("1", "overwrite-run-with-user-files", res)
    assert (run / "notes.txt").read_text() == "my notes\n"
    assert (run / "checkpoints" / "my-best.pt").read_bytes() == b"mine"
    assert [p.name for p in sorted((run / "checkpoints").glob("step-*.pt"))] == ["step-00000002.pt"]

    res = run_cli(["train", "gan", "steps=2", "out=.", "--overwrite"] + TINY, run)
    err("1", "overwrite-run-that-is-the-cwd", res, "current directory")
    sub = run / "analysis"
    sub.mkdir()
    res = run_cli(["train", "gan", "steps=2", "out=..", "--overwrite"] + TINY, sub)
    err("1", "overwrite-parent-of-cwd", res, "current directory")
    assert (run / "notes.txt").is_file() and newest_checkpoint(run).name == "step-00000002.pt"


def test_c01_overwrite_refuses_a_symlink(ws, base_run):
    run = copy_run(base_run, ws / "c01c" / "run")
    link = ws / "c01c" / "link"
    link.symlink_to(run)
    before = tree(run)
    res = run_cli(["train", "gan", "steps=2", f"out={link}", "--overwrite"] + TINY, ws / "c01c" / "cwd")
    err("8", "overwrite-symlink", res, str(link), "symbolic link")
    assert tree(run) == before and link.is_symlink()


# ----------------------------------------------------------------------- 2, 15: failed resume changes nothing
def test_c02_failed_resume_changes_nothing(ws, base_run):
    run = copy_run(base_run, ws / "c02" / "run")
    (run / "checkpoints" / "step-00000002.pt").unlink()
    newest = run / "checkpoints" / "step-00000004.pt"
    good = newest.read_bytes()
    newest.write_bytes(b"garbage" * 50)
    before = tree(run)
    res = run_cli(["train", "--resume", str(run), "steps=8", "--quiet"], ws / "c02" / "cwd1")
    err("2", "resume-corrupt-checkpoint-with-steps", res, "step-00000004.pt")
    assert tree(run) == before, "a failed --resume changed the run directory"
    newest.write_bytes(good)
    res = run_cli(["train", "--resume", str(run), "steps=6", "--quiet"], ws / "c02" / "cwd2")
    ok("2", "resume-after-repair", res)
    assert newest_checkpoint(run).name == "step-00000006.pt"
    assert "steps: 6" in (run / "config.yaml").read_text()


def test_c02_corrupt_newest_names_the_previous_checkpoint(ws, base_run):
    run = copy_run(base_run, ws / "c02b" / "run")
    (run / "checkpoints" / "step-00000004.pt").write_bytes(b"\x00" * 10)
    res = run_cli(["train", "--resume", str(run), "steps=8", "--quiet"], ws / "c02b" / "cwd")
    err("4", "resume-corrupt-newest-names-previous", res, "step-00000002.pt")


def test_c02_checkpoint_that_loads_but_does_not_fit_changes_nothing(ws, base_run):
    """The checkpoint reads fine (right format and hash) but its tensors do not fit the networks: the
    failure comes from building the trainer, after the checkpoint loaded; config.yaml must not change."""
    import torch

    run = copy_run(base_run, ws / "c02c" / "run")
    newest = run / "checkpoints" / "step-00000004.pt"
    state = torch.load(newest, weights_only=True)
    key = next(k for k, v in state["gan"].items() if v.dim() == 2)
    state["gan"][key] = torch.zeros(3, 3)
    torch.save(state, newest)
    before = tree(run)
    res = run_cli(["train", "--resume", str(run), "steps=8", "--quiet"], ws / "c02c" / "cwd")
    err("2", "resume-checkpoint-does-not-fit", res, "checkpoint")
    assert tree(run) == before, "a failed --resume changed the run directory"


def test_c15_resume_names_the_changed_setting(ws, base_run):
    run = copy_run(base_run, ws / "c15" / "run")
    before = tree(run)
    res = run_cli(["train", "--resume", str(run), "model.hidden=32", "steps=8", "--quiet"], ws / "c15" / "cwd")
    err("15", "resume-changed-setting", res, "model.hidden", "16", "32")
    assert tree(run) == before


# ----------------------------------------------------------------------- 3: one process per run directory
def _wait_for(cond, what: str, timeout: float = 120.0) -> None:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_c03_live_run_is_locked_and_a_dead_ones_lock_is_taken_over(ws):
    run = ws / "c03" / "run"
    box = {}
    long_run = ["train", "gan", "steps=100000000", "train.checkpoint_every=200", "train.log_every=50",
                "train.sample_every=0", f"out={run}"] + TINY
    th = threading.Thread(target=lambda: box.update(res=run_cli(long_run, ws / "c03" / "cwd0")))
    th.start()
    try:
        _wait_for(lambda: any((run / "checkpoints").glob("step-*.pt")), "the live run's first checkpoint")
        pid = json.loads((run / ".lock").read_text())["pid"]
        res = run_cli(["train", "--resume", str(run), "--quiet"], ws / "c03" / "cwd1")
        err("3", "resume-live-run", res, str(run), f"pid {pid}")
        res = run_cli(["train", "gan", "steps=2", f"out={run}", "--overwrite"] + TINY, ws / "c03" / "cwd2")
        err("3", "overwrite-live-run", res, str(run), f"pid {pid}")
        res = run_cli(["eval", str(run), "--n", "200"], ws / "c03" / "cwd4")
        err("13", "eval-live-run-default-output", res, "still training", "--out")
        res = run_cli(["sample", str(run), "--out", "x.npy"], ws / "c03" / "cwd5")
        ok("3", "sample-live-run", res)
        assert (run / "config.yaml").is_file() and any((run / "checkpoints").glob("step-*.pt"))
    finally:
        pid = json.loads((run / ".lock").read_text())["pid"] if (run / ".lock").is_file() else None
        if pid:
            os.kill(pid, signal.SIGKILL)
        th.join(60)
    assert box["res"].rc == -signal.SIGKILL
    # the dead process's lock is taken over; the run continues from its newest checkpoint
    step = int(newest_checkpoint(run).stem.split("-")[1])
    res = run_cli(["train", "--resume", str(run), f"steps={step + 3}", "--quiet"], ws / "c03" / "cwd3")
    ok("3", "resume-after-holder-died", res)
    rows = [json.loads(r) for r in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in rows if "eval" not in r]
    assert steps == sorted(steps) and len(steps) == len(set(steps)), steps


def test_c03_api_refuses_a_locked_run(tmp_path):
    import gankit
    from gankit.errors import RunLocked
    from gankit.train.rundir import RunLock

    run = gankit.train("gan", steps=2, model={"hidden": 16}, out=str(tmp_path / "r"),
                       train={"progress": False, "eval_samples": 100})
    lock = RunLock(run.dir).acquire()
    try:
        with pytest.raises(RunLocked, match=f"pid {os.getpid()}"):
            gankit.train(resume=str(run.dir), steps=4)
    finally:
        lock.release()
    assert gankit.train(resume=str(run.dir), steps=4).step == 4


# ----------------------------------------------------------------------- 4: every state has a way forward
def test_c04_killed_before_first_checkpoint(ws):
    run = ws / "c04" / "run"
    res = run_cli(["train", "gan", "steps=5", "train.checkpoint_every=100", f"out={run}"] + TINY,
                  ws / "c04" / "cwd0", pre=KILL_AT_STEP.format(step=3, sig="SIGKILL"))
    assert res.rc == -signal.SIGKILL, res.describe()
    res = run_cli(["train", "gan", "steps=5", f"out={run}"] + TINY, ws / "c04" / "cwd1")
    err("4", "new-train-into-unfinished-run", res, f"--resume {run}")
    res = run_cli(["train", "--resume", str(run), "--quiet"], ws / "c04" / "cwd2")
    ok("4", "resume-without-checkpoint", res)
    assert newest_checkpoint(run).name == "step-00000005.pt"
    assert json.loads((run / "run.json").read_text())["status"] == "finished"


def test_c04_killed_after_final_checkpoint(ws):
    run = ws / "c04b" / "run"
    res = run_cli(RUN4 + [f"out={run}"], ws / "c04b" / "cwd0", pre=KILL_AT_FINAL_SAMPLES)
    assert res.rc == -signal.SIGKILL, res.describe()
    assert not (run / "eval.json").exists()
    res = run_cli(["train", "--resume", str(run), "--quiet"], ws / "c04b" / "cwd1")
    ok("4", "resume-finishes-final-samples", res)
    assert (run / "samples" / "final.png").is_file() and (run / "eval.json").is_file()
    assert json.loads((run / "run.json").read_text())["status"] == "finished"
    res = run_cli(["train", "--resume", str(run), "--quiet"], ws / "c04b" / "cwd2")
    err("4", "resume-finished-run", res, "already finished", "steps=")


def test_c04_c15_ctrl_c_names_the_run_and_resume_works(ws):
    run = ws / "c04c" / "run"
    res = run_cli(RUN4 + [f"out={run}"], ws / "c04c" / "cwd0", pre=INTERRUPT_AT_STEP.format(step=3))
    line = err("15", "ctrl-c-during-training", res, f"--resume {run}", "step 3", rc=130)
    assert "RUN_DIR" not in line
    assert json.loads((run / "run.json").read_text())["status"] == "interrupted"
    res = run_cli(["train", "--resume", str(run), "--quiet"], ws / "c04c" / "cwd1")
    ok("4", "resume-after-ctrl-c", res)
    assert newest_checkpoint(run).name == "step-00000004.pt"


def test_c04_killed_before_config_was_written(ws):
    run = ws / "c04d" / "run"
    run.mkdir(parents=True)
    (run / ".gankit-run").write_text('{"gankit_run": 1}\n')
    res = run_cli(["train", "--resume", str(run)], ws / "c04d" / "cwd0")
    err("4", "resume-before-config-written", res, "--overwrite")
    res = run_cli(["train", "gan", "steps=2", f"out={run}", "--overwrite"] + TINY, ws / "c04d" / "cwd1")
    ok("4", "overwrite-run-without-config", res)


# ----------------------------------------------------------------------- 5, 7, 10: config inputs
def _bomb(levels: int = 9) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines)


def test_c05_yaml_alias_bomb(ws):
    f = ws / "c05" / "bomb.yaml"
    f.parent.mkdir(parents=True)
    f.write_text("gan: gan\nmodel:\n  " + _bomb().replace("\n", "\n  ") + "\n")
    res = run_cli(["train", str(f)], ws / "c05" / "cwd1")
    line = err("5", "yaml-alias-bomb-file", res, "bomb.yaml")
    assert len(line) < 500
    inline = "{" + _bomb(7).replace("\n", ", ") + "}"
    res = run_cli(["train", "gan", f"model.x={inline}"], ws / "c05" / "cwd2")
    line = err("5", "yaml-alias-bomb-override", res, "model")
    assert len(line) < 500


@pytest.mark.parametrize("argv,mention", [
    (["train=5", "train.log_every=3"], "train"),
    (["train.log_every=3", "train=5"], "train"),
    (["train.ema=0.9", "train=5", "train.log_every=3"], "train"),
    (["steps.x=3"], "steps"),
], ids=["scalar-then-key", "key-then-scalar", "key-scalar-key", "key-under-scalar"])
def test_c07_scalar_and_mapping_conflict(ws, argv, mention):
    res = run_cli(["train", "gan"] + argv + TINY, ws / "c07" / "_".join(argv).replace("=", "-").replace(".", "-"))
    err("7", "conflict " + " ".join(argv), res, mention)


@pytest.mark.parametrize("value,key", [
    ("optim.g.lr=.inf", "optim.g.lr"), ("optim.g.lr=1e400", "optim.g.lr"), ("penalties.gp=.nan", "penalties.gp"),
    ("optim.d.lr=-.inf", "optim.d.lr"),
])
def test_c10_non_finite_floats(ws, value, key):
    res = run_cli(["train", "gan", value] + TINY, ws / "c10" / value.replace("=", "-"))
    err("10", value, res, key)


# ----------------------------------------------------------------------- 6: disk full
def test_c06_disk_full_is_one_line_and_keeps_the_last_good_checkpoint(ws):
    run = ws / "c06" / "run"
    res = run_cli(["train", "gan", "steps=6", "train.checkpoint_every=1", f"out={run}"] + TINY, ws / "c06" / "cwd0",
                  pre=DISK_FULL_AT_CHECKPOINT.format(n=3))
    line = err("6", "disk-full-during-checkpoint", res, "step-00000003.pt", "No space left on device",
               "step-00000002.pt")
    assert "last good checkpoint" in line
    from gankit.train import checkpoint as ckpt

    assert ckpt.load(newest_checkpoint(run))["step"] == 2
    assert not list(run.rglob("*.tmp"))
    res = run_cli(["train", "--resume", str(run), "--quiet"], ws / "c06" / "cwd1")
    ok("6", "resume-after-disk-full", res)


RLIMIT_FSIZE = """
import resource, signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (2000, resource.RLIM_INFINITY))
"""


def test_c06_c08_unwritable_outputs(ws, base_run):
    run = copy_run(base_run, ws / "c08w" / "run")
    res = run_cli(["sample", str(run), "--n", "2000", "--out", "big.npy"], ws / "c08w" / "cwd1", pre=RLIMIT_FSIZE)
    err("6", "sample-file-too-large", res, "big.npy", any_of=("too large", "written"))
    res = run_cli(["sample", str(run), "--out", "/sys/gankit-x.png"], ws / "c08w" / "cwd2")
    err("8", "sample-to-read-only-place", res, "/sys/gankit-x.png")
    res = run_cli(["eval", str(run), "--n", "100", "--out", "/sys/gankit-x.json"], ws / "c08w" / "cwd3")
    err("8", "eval-to-read-only-place", res, "/sys/gankit-x.json")


# ----------------------------------------------------------------------- 8: tracebacks for user mistakes
@pytest.mark.parametrize("argv,mention", [
    (["train", "gan", "optim.g.betas=[1.5,0.9]"], ("optim.g.betas",)),
    (["train", "gan", "optim.d.betas=[.nan,0.9]"], ("optim.d.betas",)),
    (["train", "gan", "seed=4294967296"], ("seed",)),
    (["classifier", "mnist", "--epochs", "0"], ("--epochs",)),
    (["classifier", "mnist", "--threads", "0"], ("--threads",)),
], ids=["betas-above-1", "betas-nan", "train-seed-2^32", "classifier-epochs-0", "classifier-threads-0"])
def test_c08_bad_numbers(ws, argv, mention):
    res = run_cli(argv + (["--quiet"] if argv[0] == "train" else []), ws / "c08" / "-".join(argv)[:60])
    err("8", " ".join(argv), res, *mention)


def test_c08_bad_numbers_on_a_run(ws, base_run):
    res = run_cli(["sample", str(base_run), "--seed", str(2 ** 32), "--out", "x.png"], ws / "c08r" / "a")
    err("8", "sample-seed-2^32", res, "--seed")
    res = run_cli(["eval", str(base_run), "--batch-size", "0"], ws / "c08r" / "b")
    err("8", "eval-batch-size-0", res, "--batch-size")


def test_c08_config_file_not_utf8_and_forged_checkpoint(ws, base_run):
    f = ws / "c08f" / "latin1.yaml"
    f.parent.mkdir(parents=True)
    f.write_bytes("gan: gan\n# r\xe9sum\xe9\n".encode("latin-1"))
    res = run_cli(["train", str(f)], ws / "c08f" / "cwd1")
    err("8", "config-not-utf8", res, "latin1.yaml", "UTF-8")
    run = copy_run(base_run, ws / "c08f" / "run")
    import torch

    torch.save({"format": "gankit-checkpoint/1", "step": 4}, run / "checkpoints" / "step-00000004.pt")
    res = run_cli(["sample", str(run), "--out", "x.png"], ws / "c08f" / "cwd2")
    err("8", "forged-checkpoint-sample", res, "step-00000004.pt")
    res = run_cli(["train", "--resume", str(run), "steps=8"], ws / "c08f" / "cwd3")
    err("8", "forged-checkpoint-resume", res, "step-00000004.pt")


def test_c08_broken_pipe_is_quiet(ws):
    exe = Path(sys.executable).with_name("gankit")
    cmd = f"'{exe}' list | head -3; echo \"status=${{PIPESTATUS[0]}}\" >&2"
    p = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert "Traceback" not in p.stderr and "Exception ignored" not in p.stderr, p.stderr
    assert len(p.stdout.splitlines()) == 3
    status = int(p.stderr.strip().splitlines()[-1].split("=")[1])
    assert status in (0, 141), p.stderr
    log_case("8", "list-into-closed-pipe", Result(["list", "|", "head", "-3"], ws, status, p.stdout, ""), "ok")


def test_c08_ctrl_c_during_start_up(ws):
    res = run_cli(["train", "gan", "steps=2"] + TINY, ws / "c08c" / "cwd", pre=CTRL_C_AT_IMPORT)
    line = err("8", "ctrl-c-during-start-up", res, rc=130)
    assert "interrupted" in line
    assert not any((ws / "c08c" / "cwd").iterdir()), "Ctrl-C at start-up left files behind"


# ----------------------------------------------------------------------- 9: sizes
@pytest.mark.parametrize("argv,mention", [
    (["train", "gan", "model.hidden=100000000"], ("model",)),
    (["train", "gan", "model.hidden=300000"], ("model",)),
    (["train", "gan", "train.eval_samples=1000000000"], ("train.eval_samples",)),
    (["train", "gan", "train.grid_size=100000000"], ("train.grid_size",)),
], ids=["width-1e8", "width-3e5", "eval-samples-1e9", "grid-size-1e8"])
def test_c09_sizes_refused_before_allocating(ws, argv, mention):
    res = run_cli(argv + ["--quiet"], ws / "c09" / argv[2].replace("=", "-"))
    err("9", " ".join(argv), res, *mention)
    assert not any((ws / "c09" / argv[2].replace("=", "-")).iterdir())


def test_c09_sample_count_and_image_resolution(ws, base_run):
    res = run_cli(["sample", str(base_run), "--n", "1000000000000", "--out", "x.npy"], ws / "c09b" / "a")
    err("9", "sample-n-1e12", res, "--n")
    imgs = ws / "c09b" / "imgs"
    from cli_harness import write_pngs

    write_pngs(imgs, 2)
    res = run_cli(["train", "dcgan", "data=imagefolder", f"data.root={imgs}", "data.resolution=100000",
                   "--quiet"], ws / "c09b" / "b")
    err("9", "imagefolder-resolution-1e5", res, "data.resolution")


# ----------------------------------------------------------------------- 11: unsafe pickle
def test_c11_unsafe_pickle_message(ws, base_run):
    import torch
    from cli_harness import Evil

    run = copy_run(base_run, ws / "c11" / "run")
    marker = ws / "c11" / "PWNED"
    torch.save({"format": "gankit-checkpoint/1", "step": 4, "x": Evil(str(marker))},
               run / "checkpoints" / "step-00000004.pt")
    res = run_cli(["sample", str(run), "--out", "x.png"], ws / "c11" / "cwd")
    line = err("11", "unsafe-pickle", res, "step-00000004.pt", "arbitrary Python objects")
    assert not marker.exists()
    assert "…" not in line or line.rstrip().endswith("…")


# ----------------------------------------------------------------------- 12, 13: eval arguments and outputs
def test_c12_eval_arguments(ws, base_run):
    run = copy_run(base_run, ws / "c12" / "run")
    res = run_cli(["eval", str(run), "--real", "nosuchdata"], ws / "c12" / "a")
    err("12", "eval-unknown-real-dataset", res, "nosuchdata")
    res = run_cli(["eval", str(run), "--metrics", "fidd", "--overwrite"], ws / "c12" / "b")
    err("12", "eval-unknown-metric-2d", res, "fidd")
    res = run_cli(["eval", str(run), "--metrics", "fid", "--overwrite"], ws / "c12" / "c")
    err("12", "eval-image-metric-on-2d", res, "fid")


NAN_TOY_METRICS = """
import gankit.metrics
_orig = gankit.metrics.toy_mode_metrics
def _nan(*a, **k):
    r = _orig(*a, **k)
    r["reverse_kl"] = float("nan")
    return r
gankit.metrics.toy_mode_metrics = _nan
"""

SCORING_MARKER = """
import pathlib
from gankit.train import run as _run
_orig = _run.evaluate_gan
def _eval(*a, **k):
    pathlib.Path("SCORED").write_text("")
    return _orig(*a, **k)
_run.evaluate_gan = _eval
"""


def test_c12_eval_json_is_strict_json(ws, base_run):
    run = copy_run(base_run, ws / "c12b" / "run")
    res = run_cli(["eval", str(run), "--n", "200", "--out", "e.json"], ws / "c12b" / "cwd", pre=NAN_TOY_METRICS)
    ok("12", "eval-json-with-nan-score", res)

    def bare(token):
        raise AssertionError(f"eval.json holds the bare token {token}, which is not JSON")

    data = json.loads((ws / "c12b" / "cwd" / "e.json").read_text(), parse_constant=bare)
    assert data["reverse_kl"] is None


def test_c13_outputs_checked_before_work(ws, base_run):
    run = copy_run(base_run, ws / "c13" / "run")
    cwd = ws / "c13" / "cwd"
    cwd.mkdir(parents=True)
    (cwd / "mine.json").write_text("mine\n")
    res = run_cli(["eval", str(run), "--out", "mine.json"], cwd, pre=SCORING_MARKER)
    err("13", "eval-out-exists", res, "mine.json", "--overwrite")
    assert not (cwd / "SCORED").exists(), "eval scored before refusing"
    assert (cwd / "mine.json").read_text() == "mine\n"
    before = (run / "eval.json").read_bytes()
    res = run_cli(["eval", str(run), "--n", "200"], cwd, pre=SCORING_MARKER)
    err("13", "eval-run-keeps-training-eval.json", res, "eval.json", "--overwrite")
    assert (run / "eval.json").read_bytes() == before and not (cwd / "SCORED").exists()
    res = run_cli(["eval", str(run), "--n", "200", "--overwrite"], cwd)
    ok("13", "eval-run-overwrite", res)
    assert json.loads((run / "eval.json").read_text())["step"] == 4


# ----------------------------------------------------------------------- 14: stale temp files
def test_c14_stale_temp_files_removed_on_resume(ws, base_run):
    run = copy_run(base_run, ws / "c14" / "run")
    stale = [run / "checkpoints" / ".step-00000006.pt.x1y2z3w4.tmp", run / ".run.json.abcd_123.tmp",
             run / "samples" / ".final.png.q9q9q9q9.tmp"]
    for p in stale:
        p.write_bytes(b"half")
    (run / "checkpoints" / "keep.tmp").write_bytes(b"not gankit's pattern")
    res = run_cli(["train", "--resume", str(run), "steps=6", "--quiet"], ws / "c14" / "cwd")
    ok("14", "resume-cleans-stale-temp-files", res)
    assert not any(p.exists() for p in stale)
    assert (run / "checkpoints" / "keep.tmp").is_file()


# ----------------------------------------------------------------------- 15: wording
def test_c15_a_file_is_not_reported_as_missing(ws):
    f = ws / "c15b" / "afile"
    f.parent.mkdir(parents=True)
    f.write_text("x\n")
    for cmd, case in ((["sample", str(f)], "sample-path-is-a-file"), (["eval", str(f)], "eval-path-is-a-file"),
                      (["train", "--resume", str(f)], "resume-path-is-a-file")):
        res = run_cli(cmd, ws / "c15b" / case)
        line = err("15", case, res, str(f), "is a file")
        assert "does not exist" not in line


def test_c04_sigterm_stops_like_ctrl_c(ws):
    run = ws / "c04e" / "run"
    res = run_cli(RUN4 + [f"out={run}"], ws / "c04e" / "cwd0", pre=KILL_AT_STEP.format(step=3, sig="SIGTERM"))
    err("4", "sigterm-during-training", res, f"--resume {run}", rc=130)
    assert json.loads((run / "run.json").read_text())["status"] == "interrupted"
    res = run_cli(["train", "--resume", str(run), "--quiet"], ws / "c04e" / "cwd1")
    ok("4", "resume-after-sigterm", res)


# ----------------------------------------------------------------------- found by the hostile probe
def test_c01_no_writes_or_deletes_through_links_inside_a_run(ws, base_run):
    """A run whose own entries are symbolic links is refused: gankit would write or prune through them."""
    outside = ws / "c01d" / "outside"
    outside.mkdir(parents=True)
    precious = outside / "precious.txt"
    precious.write_text("mine\n")
    run = copy_run(base_run, ws / "c01d" / "run1")
    (run / ".lock").unlink(missing_ok=True)
    (run / ".lock").symlink_to(precious)
    res = run_cli(["train", "--resume", str(run), "steps=6", "--quiet"], ws / "c01d" / "cwd1")
    err("1", "resume-with-.lock-a-symlink", res, ".lock", "symbolic link")
    assert precious.read_text() == "mine\n"

    userck = outside / "userck"
    userck.mkdir()
    (userck / "step-00000001.pt").write_bytes(b"my checkpoint")
    run = copy_run(base_run, ws / "c01d" / "run2")
    shutil.rmtree(run / "checkpoints")
    (run / "checkpoints").symlink_to(userck)
    res = run_cli(["train", "gan", "steps=4", "train.keep_last=1", f"out={run}", "--overwrite"] + TINY,
                  ws / "c01d" / "cwd2")
    err("1", "overwrite-with-checkpoints-a-symlink", res, "checkpoints", "symbolic link")
    assert sorted(p.name for p in userck.iterdir()) == ["step-00000001.pt"]


def test_c01_overwrite_needs_the_marker_and_keeps_look_alike_files(ws, base_run):
    legacy = ws / "c01e" / "legacy"
    legacy.mkdir(parents=True)
    shutil.copyfile(base_run / "config.yaml", legacy / "config.yaml")  # gankit's header, but no marker
    (legacy / "samples").mkdir()
    (legacy / "samples" / "figure1.png").write_bytes(b"my figure")
    (legacy / "run.json").write_text("{}\n")
    before = tree(legacy)
    res = run_cli(["train", "gan", "steps=2", f"out={legacy}", "--overwrite"] + TINY, ws / "c01e" / "cwd1")
    err("1", "overwrite-unmarked-folder-with-gankit-config", res, "not a gankit run directory")
    assert tree(legacy) == before

    run = copy_run(base_run, ws / "c01e" / "run")
    mine = {".mynotes.tmp": b"notes", "samples-seed1.npy": b"data", "samples/figure1.png": b"fig"}
    for name, data in mine.items():
        (run / name).write_bytes(data)
    res = run_cli(["train", "gan", "steps=2", f"out={run}", "--overwrite"] + TINY, ws / "c01e" / "cwd2")
    ok("1", "overwrite-keeps-look-alike-user-files", res)
    assert {n: (run / n).read_bytes() for n in mine} == mine


# ----------------------------------------------------------------------- found by the second probe
@pytest.mark.parametrize("entry,kind", [("samples", "file"), ("checkpoints", "file"), ("run.json", "dir"),
                                        ("samples", "link")])
def test_c01_overwrite_checks_gankits_entries_before_removing_anything(ws, base_run, entry, kind):
    run = copy_run(base_run, ws / "c01f" / f"{entry}-{kind}")
    target = run / entry
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    if kind == "file":
        target.write_text("mine\n")
    elif kind == "dir":
        target.mkdir()
    else:
        (ws / "c01f" / f"elsewhere-{kind}").mkdir(exist_ok=True)
        target.symlink_to(ws / "c01f" / f"elsewhere-{kind}")
    before = tree(run)
    res = run_cli(["train", "gan", "steps=2", f"out={run}", "--overwrite"] + TINY, ws / "c01f" / f"cwd-{entry}-{kind}")
    err("1", f"overwrite-with-{entry}-a-{kind}", res, entry)
    assert tree(run) == before, "the refusal came after deleting"


def test_c01_checkpoint_look_alikes_are_never_loaded_or_pruned(ws, base_run):
    run = copy_run(base_run, ws / "c01g" / "run")
    (run / "checkpoints" / "step-00000099.pt").mkdir()
    (run / "checkpoints" / "step-00000099.pt" / "mine.txt").write_text("mine\n")
    res = run_cli(["train", "gan", "steps=6", "train.checkpoint_every=2", "train.keep_last=1", f"out={run}",
                   "--overwrite"] + TINY, ws / "c01g" / "cwd")
    ok("1", "overwrite-with-a-folder-named-like-a-checkpoint", res)
    assert (run / "checkpoints" / "step-00000099.pt" / "mine.txt").read_text() == "mine\n"
    assert newest_checkpoint(run).name == "step-00000099.pt"  # the glob sees it; gankit does not:
    from gankit.train import checkpoint as ckpt

    assert [p.name for p in ckpt.list_checkpoints(run / "checkpoints")] == ["step-00000006.pt"]


def test_c14_only_gankits_own_temp_files_are_removed_and_only_after_success(ws, base_run):
    run = copy_run(base_run, ws / "c14b" / "run")
    users = [run / ".backup.20240101.tmp", run / "mynotes" / ".x.abcdefgh.tmp", run / ".notes.12345678.tmp"]
    (run / "mynotes").mkdir()
    for f in users:
        f.write_text("mine\n")
    ours = run / "checkpoints" / ".step-00000006.pt.abcdefgh.tmp"
    ours.write_bytes(b"half")
    res = run_cli(["train", "--resume", str(run), "model.hidden=99"], ws / "c14b" / "cwd1")
    err("14", "refused-resume-changes-nothing", res, "model.hidden")
    assert ours.exists() and all(f.exists() for f in users)
    res = run_cli(["train", "--resume", str(run), "steps=6", "--quiet"], ws / "c14b" / "cwd2")
    ok("14", "resume-removes-only-gankits-temp-files", res)
    assert not ours.exists() and all(f.read_text() == "mine\n" for f in users)


def test_c02_resume_keeps_foreign_log_lines(ws, base_run):
    run = copy_run(base_run, ws / "c02d" / "run")
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 1e999}\n# my note\n')
    res = run_cli(["train", "--resume", str(run), "steps=6", "--quiet"], ws / "c02d" / "cwd")
    ok("2", "resume-with-odd-log-rows", res)
    assert "# my note" in (run / "metrics.jsonl").read_text()


INTERRUPT_IN_CHECKPOINT_WRITE = """
from gankit.train import checkpoint
_orig, _n = checkpoint.torch.save, [0]
class _Interrupting:
    def __init__(self, f):
        self.f, self.n = f, 0
    def write(self, b):
        self.n += len(b)
        if self.n > 1000:
            raise KeyboardInterrupt
        return self.f.write(b)
    def flush(self):
        return self.f.flush()
def _save(obj, f, *a, **k):
    _n[0] += 1
    return _orig(obj, _Interrupting(f) if _n[0] == 2 else f, *a, **k)
checkpoint.torch.save = _save
"""


def test_c08_ctrl_c_inside_a_checkpoint_write(ws):
    run = ws / "c08k" / "run"
    res = run_cli(RUN4 + [f"out={run}"], ws / "c08k" / "cwd0", pre=INTERRUPT_IN_CHECKPOINT_WRITE)
    err("8", "ctrl-c-inside-checkpoint-write", res, f"--resume {run}", rc=130)
    assert json.loads((run / "run.json").read_text())["status"] == "interrupted"
    res = run_cli(["train", "--resume", str(run), "--quiet"], ws / "c08k" / "cwd1")
    ok("8", "resume-after-ctrl-c-in-checkpoint-write", res)
    assert not list(run.rglob("*.tmp"))
