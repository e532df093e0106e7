"""Checkpoints: round trip, atomic writes, safe loading, exact resume (in-process and after SIGKILL)."""
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import gankit
from gankit.errors import CheckpointError, GankitError, WriteError
from gankit.train import checkpoint as ckpt

TINY = ["model.hidden=16", "model.z_dim=4", "batch_size=32", "train.progress=false", "train.deterministic=true",
        "train.sample_every=0", "train.eval_every=0", "train.eval_samples=100", "data.size=2000"]


def _state(run_dir):
    return ckpt.load(ckpt.list_checkpoints(Path(run_dir) / "checkpoints")[-1])


def _assert_identical(a, b):
    assert a["step"] == b["step"]
    for part in ("gan", "optim", "sched", "loader"):
        fa, fb = _flatten(a[part]), _flatten(b[part])
        assert fa.keys() == fb.keys()
        for k in fa:
            if isinstance(fa[k], torch.Tensor):
                assert torch.equal(fa[k], fb[k]), f"{part}/{k} differs"
            else:
                assert fa[k] == fb[k], f"{part}/{k} differs"


def _flatten(x, prefix=""):
    if isinstance(x, dict):
        out = {}
        for k, v in x.items():
            out.update(_flatten(v, f"{prefix}{k}/"))
        return out
    if isinstance(x, (list, tuple)):
        out = {}
        for i, v in enumerate(x):
            out.update(_flatten(v, f"{prefix}{i}/"))
        return out
    return {prefix: x}


def test_atomic_write_survives_a_crash_mid_write(tmp_path, monkeypatch):
    target = tmp_path / "step-00000001.pt"
    ckpt.save({"step": 1, "w": torch.ones(3)}, target)

    def crash(obj, f):
        f.write(b"partial garbage")
        raise OSError("disk died")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(WriteError, match=f"^cannot write '{re.escape(str(target))}': disk died$"):
        ckpt.save({"step": 2, "w": torch.zeros(3)}, target)
    monkeypatch.undo()
    state = ckpt.load(target)
    assert state["step"] == 1 and torch.equal(state["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temp file left behind


def test_loader_refuses_foreign_pickles_and_garbage(tmp_path):
    bad = tmp_path / "x.pt"
    bad.write_bytes(b"\x00not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        ckpt.load(bad)
    torch.save({"obj": GankitError("arbitrary object")}, bad)
    with pytest.raises(CheckpointError, match="arbitrary Python objects"):
        ckpt.load(bad)  # weights_only refuses to unpickle arbitrary classes
    torch.save({"just": "a dict"}, bad)
    with pytest.raises(CheckpointError, match="not a gankit checkpoint"):
        ckpt.load(bad)


def test_round_trip_and_rotation(tmp_path):
    run = gankit.train("gan", *TINY, "steps=12", "train.checkpoint_every=3", "train.keep_last=2", out=str(tmp_path / "r"))
    files = ckpt.list_checkpoints(run.dir / "checkpoints")
    assert [f.name for f in files] == ["step-00000009.pt", "step-00000012.pt"]
    state = ckpt.load(files[-1], expected_hash=run.config.hash)
    assert state["step"] == 12 and set(state["rng"]) >= {"python", "numpy", "torch"}
    again = gankit.load_run(run.dir)
    assert torch.equal(again.sample(10, seed=4), run.sample(10, seed=4))
    with pytest.raises(CheckpointError, match="another config"):
        ckpt.load(files[-1], expected_hash="0" * 16)


class _Stop(Exception):
    pass


def test_resume_after_crash_is_bitwise_identical(tmp_path):
    total = ["steps=40", "train.checkpoint_every=10", "train.ema=0.9", "optim.g.schedule=linear"]
    ref = gankit.train("gan", *TINY, *total, out=str(tmp_path / "ref"))

    def crash_at_27(trainer, step):
        if step == 27:
            raise _Stop

    with pytest.raises(_Stop):
        gankit.train("gan", *TINY, *total, out=str(tmp_path / "cut"), callbacks=[crash_at_27])
    assert _state(tmp_path / "cut")["step"] == 20
    gankit.train(resume=str(tmp_path / "cut"))
    _assert_identical(_state(ref.dir), _state(tmp_path / "cut"))
    with pytest.raises(GankitError, match="already finished"):
        gankit.train(resume=str(tmp_path / "cut"))


def _gankit(*args):
    return [sys.executable, "-m", "gankit.cli", *args]


@pytest.mark.parametrize("kill_after_checkpoints", [1, 3])
def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path, kill_after_checkpoints):
    args = [*TINY, "steps=400", "train.checkpoint_every=25", "train.log_every=25"]
    ref = tmp_path / "ref"
    subprocess.run(_gankit("train", "gan", *args, f"out={ref}"), check=True, capture_output=True)
    cut = tmp_path / "cut"
    proc = subprocess.Popen(_gankit("train", "gan", *args, f"out={cut}"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(ckpt.list_checkpoints(cut / "checkpoints")) < kill_after_checkpoints and time.time() < deadline:
        if proc.poll() is not None:
            break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    last = ckpt.list_checkpoints(cut / "checkpoints")
    assert last and ckpt.load(last[-1])["step"] < 400, "the run finished before it could be killed"
    r = subprocess.run(_gankit("train", "--resume", str(cut)), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    _assert_identical(_state(ref), _state(cut))
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    subprocess.run(_gankit("sample", str(ref), "--seed", "3", "--n", "50", "--out", str(a)), check=True)
    subprocess.run(_gankit("sample", str(cut), "--seed", "3", "--n", "50", "--out", str(b)), check=True)
    assert a.read_bytes() == b.read_bytes()


def test_nan_guard_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    from gankit.errors import TrainingDiverged

    def poison(trainer, step):
        if step == 13:
            with torch.no_grad():
                next(trainer.gan.D.parameters()).fill_(float("nan"))

    with pytest.raises(TrainingDiverged) as e:
        gankit.train("gan", *TINY, "steps=40", "train.checkpoint_every=10", "train.log_every=5",
                     out=str(tmp_path / "nan"), callbacks=[poison])
    msg = str(e.value)
    assert "\n" not in msg and "step 15" in msg and "step-00000010.pt" in msg
    files = ckpt.list_checkpoints(tmp_path / "nan" / "checkpoints")
    assert [f.name for f in files] == ["step-00000010.pt"]
    state = ckpt.load(files[-1])
    assert all(torch.isfinite(v).all() for v in state["gan"].values() if v.is_floating_point())
    assert '"diverged"' in (tmp_path / "nan" / "run.json").read_text()
