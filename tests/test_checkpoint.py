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


def _complete(step=1, **over):
    """The smallest state ``ckpt.load`` accepts: every key Trainer.state_dict writes."""
    state = {"step": step, "config": "gan: gan\n", "config_hash": "0123456789abcdef", "data_info": {"kind": "toy"},
             "gan": {"G.w": torch.ones(3)}, "optim": {}, "sched": {}, "loader": {}, "rng": {}}
    state.update(over)
    return state


def test_atomic_write_survives_a_crash_mid_write(tmp_path, monkeypatch):
    target = tmp_path / "step-00000001.pt"
    ckpt.save(_complete(1, w=torch.ones(3)), target)

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


# ------------------------------------------------------------------ unsafe, corrupt and forged files
class _Opens:
    """Unpickling this would create ``marker`` (via open())."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


class _Runs:
    """Unpickling this would run a shell command creating ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def _unsafe_message(path, names):
    return (f"checkpoint '{path}' holds arbitrary Python objects ({names}); gankit refuses to unpickle them "
            f"(torch.load weights_only=True) — load only checkpoints you trust")


_OPEN = f"{open.__module__}.open"            # io.open
_SYSTEM = f"{os.system.__module__}.system"   # posix.system


def _write_zip(obj, path):
    torch.save({"format": ckpt.FORMAT, "step": 4, "x": obj}, path)


def _write_plain(obj, path):
    import pickle

    with open(path, "wb") as f:
        pickle.dump({"format": ckpt.FORMAT, "step": 4, "x": obj}, f)


def _write_legacy(obj, path):
    torch.save({"format": ckpt.FORMAT, "step": 4, "w": torch.ones(2), "x": obj}, path,
               _use_new_zipfile_serialization=False)


@pytest.mark.parametrize("writer", [_write_zip, _write_plain, _write_legacy])
@pytest.mark.parametrize("cls, name", [(_Opens, _OPEN), (_Runs, _SYSTEM)], ids=["open", "os.system"])
@pytest.mark.parametrize("torch_says", [None, "weights only load failed: some global is not allowed"],
                         ids=["torch-wording", "other-wording"])
def test_unsafe_pickles_are_refused_unrun_and_named(tmp_path, monkeypatch, writer, cls, name, torch_says):
    marker = tmp_path / "marker"
    bad = tmp_path / "step-00000004.pt"
    writer(cls(marker), bad)
    if torch_says:  # the verdict must come from the pickle itself, whatever torch's wording
        def refuse(*a, **k):
            raise RuntimeError(torch_says)
        monkeypatch.setattr(torch, "load", refuse)
    with pytest.raises(CheckpointError) as e:
        ckpt.load(bad)
    assert str(e.value) == _unsafe_message(bad, name)
    assert not marker.exists(), "loading the checkpoint ran code from its pickle"


def test_unsafe_globals_behind_stack_global_and_memo_are_found(tmp_path):
    """A hand-made protocol-4 pickle naming its globals by STACK_GLOBAL, re-using memoised strings."""
    def s(text):
        b = text.encode()
        return b"\x8c" + bytes([len(b)]) + b + b"\x94"  # SHORT_BINUNICODE + MEMOIZE

    body = (s("builtins") + s("getattr") + b"\x93\x94"           # memo 0, 1, 2: builtins.getattr
            + b"h\x00" + s("exec") + b"\x93\x94"                 # BINGET 0 'builtins', 'exec' -> builtins.exec
            + s("os") + s("remove") + b"\x93\x94"                # os.remove
            + s("shutil") + s("rmtree") + b"\x93"                # shutil.rmtree
            + b"\x86\x86\x86.")                                  # TUPLE2 x3, STOP
    bad = tmp_path / "handmade.pt"
    bad.write_bytes(b"\x80\x04" + body)
    with pytest.raises(CheckpointError) as e:
        ckpt.load(bad)
    assert str(e.value) == _unsafe_message(bad, "builtins.getattr, builtins.exec, os.remove and 1 more")


def test_safe_globals_only_means_corrupt_not_unsafe(tmp_path, monkeypatch):
    good = tmp_path / "step-00000001.pt"
    ckpt.save(_complete(), good)

    def fails(*a, **k):
        raise RuntimeError("unsupported global something\n" + "quite long explanation " * 40)

    monkeypatch.setattr(torch, "load", fails)
    with pytest.raises(CheckpointError) as e:
        ckpt.load(good)
    msg = str(e.value)
    assert msg.startswith(f"checkpoint '{good}' is unreadable or corrupt (unsupported global something quite long")
    assert msg.endswith("…)") and "\n" not in msg and len(msg) <= 300
    words = msg[len(f"checkpoint '{good}' is unreadable or corrupt ("):-2].split()
    assert words[-1] in ("long", "explanation", "quite"), "cut in the middle of a word"


def _corrupt_files(tmp_path):
    good = tmp_path / "good.pt"
    ckpt.save(_complete(), good)
    data = good.read_bytes()
    files = {"truncated-zip": data[: len(data) // 2], "random-bytes": os.urandom(4096),
             "zip-without-pickle": data[:30] + b"\x00" * 200, "empty": b"", "text": b"hello world\n" * 50}
    for name, blob in files.items():
        (tmp_path / name).write_bytes(blob)
    return [tmp_path / n for n in files]


def test_corrupt_files_give_one_short_line(tmp_path):
    torch.manual_seed(0)
    for bad in _corrupt_files(tmp_path):
        with pytest.raises(CheckpointError) as e:
            ckpt.load(bad)
        msg = str(e.value)
        assert msg.startswith(f"checkpoint '{bad}' is unreadable or corrupt ("), msg
        assert msg.endswith(")") and "\n" not in msg and len(msg) <= 300, msg
        assert "\x1b" not in msg


@pytest.mark.parametrize("state, expected", [
    ({"step": 4}, "is missing 'config', 'config_hash', 'data_info', 'gan', 'optim', 'sched', 'loader', 'rng' "
                  "(not a complete gankit checkpoint)"),
    ("no-gan", "is missing 'gan' (not a complete gankit checkpoint)"),
    ("no-rng", "is missing 'rng' (not a complete gankit checkpoint)"),
    (_complete(step="4"), "has a bad 'step' (expected an integer >= 0, got str '4'; not a complete gankit checkpoint)"),
    (_complete(step=-1), "has a bad 'step' (expected an integer >= 0, got int -1; not a complete gankit checkpoint)"),
    (_complete(step=True), "has a bad 'step' (expected an integer >= 0, got bool True; not a complete gankit "
                           "checkpoint)"),
    (_complete(gan=[torch.ones(1)]), "has a bad 'gan' (expected a dict of tensors, got list; not a complete gankit "
                                     "checkpoint)"),
    (_complete(gan={"G.w": torch.ones(1), "k": 0.5}), "has a bad 'gan' (expected a dict of tensors, got a dict "
                                                      "whose entry 'k' is float; not a complete gankit checkpoint)"),
    (_complete(config_hash=7), "has a bad 'config_hash' (expected a string, got int 7; not a complete gankit "
                               "checkpoint)"),
    (_complete(data_info="toy"), "has a bad 'data_info' (expected a dict, got str 'toy'; not a complete gankit "
                                 "checkpoint)"),
    (_complete(optim=None), "has a bad 'optim' (expected a dict, got NoneType; not a complete gankit checkpoint)"),
])
def test_forged_checkpoints_are_refused_with_the_key(tmp_path, state, expected):
    if state == "no-gan":
        state = {k: v for k, v in _complete().items() if k != "gan"}
    elif state == "no-rng":
        state = {k: v for k, v in _complete().items() if k != "rng"}
    bad = tmp_path / "step-00000004.pt"
    ckpt.save(state, bad)
    with pytest.raises(CheckpointError) as e:
        ckpt.load(bad, expected_hash="0123456789abcdef")
    assert str(e.value) == f"checkpoint '{bad}' {expected}"
    ckpt.save(_complete(), bad)
    assert ckpt.load(bad, expected_hash="0123456789abcdef")["step"] == 1


def test_forged_checkpoint_in_a_run_gives_checkpoint_error_on_sample_and_resume(tmp_path):
    run = gankit.train("gan", *TINY, "steps=4", "train.checkpoint_every=2", out=str(tmp_path / "r"))
    newest = ckpt.list_checkpoints(run.dir / "checkpoints")[-1]
    torch.save({"format": ckpt.FORMAT, "step": 4, "config_hash": run.config.hash}, newest)
    with pytest.raises(CheckpointError, match="is missing 'config', 'data_info', 'gan'"):
        gankit.load_run(run.dir)
    with pytest.raises(CheckpointError, match="is missing 'config', 'data_info', 'gan'"):
        gankit.train(resume=str(run.dir))
