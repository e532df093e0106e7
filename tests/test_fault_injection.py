"""Fault injection: SIGKILL at seeded points of training and of checkpoint writing, then --resume.

A tiny `gan` run (12 steps, a checkpoint after every step) is killed with SIGKILL at one point per
case: inside a training step, part-way through writing a checkpoint's temporary file (after B
bytes), after the write but before its fsync, after the fsync but before the rename, after the
rename (before the directory fsync and the pruning), while pruning old checkpoints, and during the
final samples / evaluation after the last checkpoint. After each kill:

(a) the newest ``checkpoints/step-*.pt`` (if there is one) loads with ``gankit.train.checkpoint.load``;
(b) ``gankit train --resume RUN`` exits 0 -- also when the kill came before the first checkpoint
    (the run restarts from step 0) or after the last one (it finishes the missing final samples and
    evaluation) -- and the lock of the killed process does not stand in its way;
(c) after the resume no stale temporary file (``.*.tmp``) is left anywhere in RUN;
(d) the resumed run ends bitwise identical to an uninterrupted reference run: the final step, every
    tensor of the final checkpoint's ``gan`` state dict and every optimiser state; its final
    evaluation (eval.json) is the same, its final samples exist and run.json says the same status.

The fault is installed by Python code that the harness runs in the forked child before the CLI
(``run_cli(..., pre=CODE)``): it wraps ``Trainer.train_step``, ``torch.save`` (the checkpoint's
file object, to cut the write after B bytes), ``os.fsync``/``os.fdatasync``, ``os.replace``/``os.rename``,
``os.unlink``/``os.remove``, ``gankit.train.checkpoint.prune``, ``Trainer.save_samples`` and
``Trainer.evaluate``, and calls ``os.kill(os.getpid(), SIGKILL)`` at the chosen point. Every case
first checks that it was really killed (exit status -9), so a fault that never fires fails loudly.

The points are drawn with ``random.Random(SEED)`` from the space below (plus a few fixed edge
points), so the same seed always gives the same points; GANKIT_FAULT_SEED=N draws another set.
All cases run concurrently on a small thread pool, each in its own fresh directory.
"""
from __future__ import annotations

import json
import os
import random
import signal
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import pytest
import torch

from cli_harness import TINY, Result, run_cli, start_server, stop_server
from gankit.train import checkpoint as ckpt

SEED = int(os.environ.get("GANKIT_FAULT_SEED", "20250611"))
STEPS = 12
KEEP = 3  # train.keep_last: prune removes one old checkpoint per save from the 4th save on
WORKERS = 3
TRAIN = ["train", "gan", f"steps={STEPS}", "train.checkpoint_every=1", "train.log_every=1",
         "train.sample_every=0", "train.eval_every=0", f"train.keep_last={KEEP}", "train.eval_samples=200",
         "train.ema=0.9", "train.deterministic=true", "data.size=2000", "batch_size=32", "device=cpu",
         *TINY, "out=RUN"]
RESUME = ["train", "--resume", "RUN", "--quiet"]
KILLED = -signal.SIGKILL  # the exit status the harness reports for a child killed by SIGKILL


# --------------------------------------------------------------------------- the points
@dataclass(frozen=True)
class Point:
    kind: str          # see _FAULT_CODE
    n: int = 0         # step-*: the k-th training step; ckpt-*/prune-*: the n-th checkpoint save
    frac: float = -1.0  # ckpt-bytes: cut after round(frac * size) bytes (clamped to 1 .. size - 1)

    @property
    def id(self) -> str:
        if self.kind == "ckpt-bytes":
            return f"{self.kind}-{self.n:02d}-at-{self.frac:.3f}"
        return f"{self.kind}-{self.n:02d}" if self.n else self.kind

    def cut_at(self, size: int) -> int:
        return min(max(1, round(self.frac * size)), size - 1)

    def spec(self, ckpt_size: int) -> dict:
        s = {"kind": self.kind, "n": self.n}
        if self.kind == "ckpt-bytes":
            s["bytes"] = self.cut_at(ckpt_size)
        return s

    @property
    def leaves_tmp(self) -> bool:
        """The kill comes after the checkpoint's temp file exists and before it is renamed."""
        return self.kind in ("ckpt-bytes", "ckpt-before-fsync", "ckpt-after-fsync")


# Fixed edge points: before the first checkpoint (spec: restart from step 0), a torn first and last
# checkpoint, and every stage after the final checkpoint (spec: --resume finishes the final parts).
EDGE = [
    Point("step-mid", 1),
    Point("ckpt-bytes", 1, 0.0),
    Point("ckpt-bytes", STEPS, 1.0),
    Point("ckpt-after-replace", STEPS),
    Point("prune-enter", STEPS),
    Point("final-samples-enter"),
    Point("final-samples-exit"),
    Point("final-eval-enter"),
    Point("final-eval-json-replaced"),
]
# The random part: (kind, how many, the n it may take)
SPACE = [
    ("step-enter", 1, range(1, STEPS + 1)),
    ("step-mid", 3, range(1, STEPS + 1)),
    ("step-exit", 1, range(1, STEPS + 1)),
    ("ckpt-bytes", 5, range(1, STEPS + 1)),
    ("ckpt-before-fsync", 3, range(1, STEPS + 1)),
    ("ckpt-after-fsync", 3, range(1, STEPS + 1)),
    ("ckpt-after-replace", 3, range(1, STEPS + 1)),
    ("prune-enter", 2, range(1, STEPS + 1)),
    ("prune-after-unlink", 2, range(KEEP + 1, STEPS + 1)),  # the first KEEP prunes remove nothing
]


def draw_points(seed: int) -> List[Point]:
    rng = random.Random(seed)
    points = list(EDGE)
    taken = {(p.kind, p.n) for p in points}
    for kind, count, ns in SPACE:
        free = [n for n in ns if (kind, n) not in taken]
        for n in sorted(rng.sample(free, count)):
            frac = round(rng.random(), 3) if kind == "ckpt-bytes" else -1.0
            points.append(Point(kind, n, frac))
            taken.add((kind, n))
    return points


POINTS = draw_points(SEED)


# --------------------------------------------------------------------------- the fault (child code)
# Run in the forked child before `gankit.cli` (SPEC = {"kind", "n", "bytes"} is prepended). Counters
# are per process; the killed command is a fresh run, so the k-th train_step call is step k and the
# n-th torch.save of a training state is the checkpoint of step n.
_FAULT_CODE = r'''
import os, signal, stat, sys
import torch
from gankit.train import checkpoint as _ckpt  # (the attribute gankit.train is a function)
from gankit.train.loop import Trainer

KIND, N = SPEC["kind"], SPEC["n"]
_st = {"steps": 0, "saves": 0, "armed": False, "in_prune": False, "fd": None}


def _die():
    for s in (sys.stdout, sys.stderr):
        try:
            s.flush()
        except Exception:
            pass
    os.kill(os.getpid(), signal.SIGKILL)


def _patch(owner, name, make):
    setattr(owner, name, make(getattr(owner, name)))


# ---- inside a training step: at its start, after its first optimiser update, at its end
def _train_step(orig):
    def train_step(self, *a, **k):
        _st["steps"] += 1
        if KIND.startswith("step-") and _st["steps"] == N:
            if KIND == "step-enter":
                _die()
            if KIND == "step-mid":
                for opt in self.optims.values():
                    prev = opt.step
                    opt.step = lambda *a, _prev=prev, **k: (_prev(*a, **k), _die())
        out = orig(self, *a, **k)
        if KIND == "step-exit" and _st["steps"] == N:
            _die()
        return out
    return train_step


_patch(Trainer, "train_step", _train_step)


# ---- the checkpoint's bytes: torch.save of the N-th training state; cut after SPEC["bytes"]
class _Cut:
    def __init__(self, f, left):
        self._f, self._left = f, left

    def write(self, data):
        b = memoryview(data).cast("B")
        if len(b) >= self._left:
            self._f.write(b[: self._left])
            self._f.flush()
            _die()
        self._left -= len(b)
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)


def _save(orig):
    def save(obj, f, *a, **k):
        if isinstance(obj, dict) and "gan" in obj and "optim" in obj:
            _st["saves"] += 1
            if _st["saves"] == N and KIND.startswith(("ckpt-", "prune-")):
                try:
                    _st["fd"] = f.fileno()  # the fsync stages below wait for the fsync of this file
                except Exception:
                    pass
                if KIND == "ckpt-bytes":
                    f = _Cut(f, SPEC["bytes"])
                out = orig(obj, f, *a, **k)
                _st["armed"] = True  # the N-th checkpoint's bytes are written: the stages below fire
                return out
        return orig(obj, f, *a, **k)
    return save


_patch(torch, "save", _save)


# ---- its fsync: just before / just after the fsync of the checkpoint's file once armed (of the
# first regular file if torch.save was given no real file)
def _fsync(orig):
    def fsync(fd):
        if _st["armed"] and KIND in ("ckpt-before-fsync", "ckpt-after-fsync"):
            num = fd if isinstance(fd, int) else fd.fileno()
            if num == _st["fd"] if _st["fd"] is not None else stat.S_ISREG(os.fstat(num).st_mode):
                if KIND == "ckpt-before-fsync":
                    _die()
                orig(fd)
                _die()
        return orig(fd)
    return fsync


for _name in ("fsync", "fdatasync"):
    if hasattr(os, _name):
        _patch(os, _name, _fsync)


# ---- its rename (and eval.json's): just after it, before the directory fsync
def _replace(orig):
    def replace(src, dst, *a, **k):
        out = orig(src, dst, *a, **k)
        name = os.path.basename(os.fsencode(dst)).decode(errors="replace")
        if KIND == "ckpt-after-replace" and _st["armed"] and name.startswith("step-"):
            _die()
        if KIND == "final-eval-json-replaced" and name == "eval.json":
            _die()
        return out
    return replace


for _name in ("replace", "rename"):
    _patch(os, _name, _replace)


# ---- pruning after the N-th checkpoint: on entry, or just after its first unlink
def _prune(orig):
    def prune(*a, **k):
        if KIND == "prune-enter" and _st["armed"]:
            _die()
        _st["in_prune"] = True
        try:
            return orig(*a, **k)
        finally:
            _st["in_prune"] = False
    return prune


_patch(_ckpt, "prune", _prune)


def _unlink(orig):
    def unlink(path, *a, **k):
        out = orig(path, *a, **k)
        if KIND == "prune-after-unlink" and _st["armed"] and _st["in_prune"]:
            _die()
        return out
    return unlink


for _name in ("unlink", "remove"):
    _patch(os, _name, _unlink)


# ---- after the last checkpoint: the final samples (train.sample_every=0: the only ones) and eval
def _samples(orig):
    def save_samples(self, *a, **k):
        if KIND == "final-samples-enter":
            _die()
        out = orig(self, *a, **k)
        if KIND == "final-samples-exit":
            _die()
        return out
    return save_samples


def _evaluate(orig):
    def evaluate(self, *a, **k):
        if KIND == "final-eval-enter":
            _die()
        return orig(self, *a, **k)
    return evaluate


_patch(Trainer, "save_samples", _samples)
_patch(Trainer, "evaluate", _evaluate)
'''


def fault_code(spec: dict) -> str:
    return f"SPEC = {json.dumps(spec)}\n" + _FAULT_CODE


# --------------------------------------------------------------------------- helpers
def _newest(run: Path) -> Optional[Path]:
    found = []
    for p in (run / "checkpoints").glob("step-*.pt"):
        try:
            found.append((int(p.stem.split("-", 1)[1]), p))
        except ValueError:
            pass
    return max(found)[1] if found else None


def _listing(run: Path) -> List[str]:
    if not run.is_dir():
        return []
    return sorted(str(p.relative_to(run)) + ("/" if p.is_dir() else f" ({p.stat().st_size} B)")
                  for p in run.rglob("*"))


def _tmp_files(run: Path) -> List[str]:
    return sorted(str(p.relative_to(run)) for p in run.rglob(".*.tmp")) if run.is_dir() else []


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.detach().cpu().contiguous().reshape(-1).view(torch.uint8)


def _diff(a, b, path: str, out: List[str]) -> List[str]:
    """Every place where ``b`` differs from ``a``; tensors compared bit for bit (dtype, shape, bytes)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
            out.append(f"{path}: {type(a).__name__} vs {type(b).__name__}")
        elif a.dtype != b.dtype or a.shape != b.shape:
            out.append(f"{path}: {a.dtype}{list(a.shape)} vs {b.dtype}{list(b.shape)}")
        elif not torch.equal(_bits(a), _bits(b)):
            try:
                how = f"max |diff| {(a.double() - b.double()).abs().nan_to_num(float('inf')).max().item():.3g}"
            except (RuntimeError, TypeError):
                how = "bytes differ"
            out.append(f"{path}: values differ ({how})")
    elif isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            out.append(f"{path}: keys {sorted(map(str, set(a) ^ set(b)))} not in both")
        for k in a:
            if k in b:
                _diff(a[k], b[k], f"{path}/{k}", out)
    elif isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            out.append(f"{path}: length {len(a)} vs {len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            _diff(x, y, f"{path}/{i}", out)
    elif isinstance(a, float) and isinstance(b, float):
        if not (a == b or (a != a and b != b)):
            out.append(f"{path}: {a!r} vs {b!r}")
    elif type(a) is not type(b) or a != b:
        out.append(f"{path}: {a!r} vs {b!r}")
    return out


def _load(path: Optional[Path]):
    """(state, None) or (None, error text)."""
    if path is None:
        return None, "no checkpoint"
    try:
        return ckpt.load(path), None
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        return None, f"{type(e).__name__}: {e}"


def _read(path: Path) -> Optional[str]:
    return path.read_text() if path.is_file() else None


def _status(run: Path) -> Optional[str]:
    """run.json's "status" (None if there is no run.json)."""
    text = _read(run / "run.json")
    if text is None:
        return None
    try:
        return json.loads(text).get("status")
    except (ValueError, AttributeError) as e:
        return f"<unreadable run.json: {e}>"


# --------------------------------------------------------------------------- one case
@dataclass
class Outcome:
    point: Point
    spec: dict
    killed: Result
    after_kill: List[str] = field(default_factory=list)       # RUN's files right after the kill
    tmp_after_kill: List[str] = field(default_factory=list)
    newest_after_kill: Optional[str] = None
    load_error: Optional[str] = None                           # (a): loading the newest checkpoint
    resumed: Optional[Result] = None
    after_resume: List[str] = field(default_factory=list)
    tmp_after_resume: List[str] = field(default_factory=list)
    final_name: Optional[str] = None
    final: Optional[dict] = None
    final_error: Optional[str] = None
    eval_json: Optional[str] = None
    run_status: Optional[str] = None
    has_final_samples: bool = False
    seconds: float = 0.0

    def describe(self) -> str:
        lines = [f"fault point {self.point.id}: {self.spec}  (GANKIT_FAULT_SEED={SEED}; {self.seconds:.1f} s)",
                 "", "== the killed run ==", self.killed.describe(),
                 "", "RUN right after the kill:", *("  " + f for f in self.after_kill),
                 f"newest checkpoint: {self.newest_after_kill}; loading it: {self.load_error or 'ok'}"
                 if self.newest_after_kill else "newest checkpoint: none"]
        if self.resumed is not None:
            lines += ["", "== the resume ==", self.resumed.describe(),
                      "", "RUN after the resume:", *("  " + f for f in self.after_resume)]
        return "\n".join(lines)


def run_point(p: Point, ws: Path, ckpt_size: int) -> Outcome:
    t0 = time.perf_counter()
    cwd = ws / p.id
    run = cwd / "RUN"
    spec = p.spec(ckpt_size)
    o = Outcome(p, spec, run_cli(TRAIN, cwd, pre=fault_code(spec)))
    o.after_kill, o.tmp_after_kill = _listing(run), _tmp_files(run)
    newest = _newest(run)
    if newest is not None:
        o.newest_after_kill = newest.name
        o.load_error = _load(newest)[1]
    if o.killed.rc == KILLED:
        o.resumed = run_cli(RESUME, cwd)
        o.after_resume, o.tmp_after_resume = _listing(run), _tmp_files(run)
        final = _newest(run)
        o.final_name = final.name if final else None
        o.final, o.final_error = _load(final)
        o.eval_json = _read(run / "eval.json")
        o.run_status = _status(run)
        o.has_final_samples = (run / "samples" / "final.png").is_file()
    o.seconds = time.perf_counter() - t0
    return o


# --------------------------------------------------------------------------- the fixture
@dataclass
class Reference:
    result: Result
    final_name: Optional[str] = None
    final: Optional[dict] = None
    error: Optional[str] = None
    eval_json: Optional[str] = None
    run_status: Optional[str] = None
    size: int = 0


@dataclass
class Faults:
    ref: Reference
    futures: Dict[str, Future]
    started: float

    def outcome(self, p: Point) -> Outcome:
        return self.futures[p.id].result()


def _reference(ws: Path) -> Reference:
    cwd = ws / "_reference"
    res = run_cli(TRAIN, cwd)
    ref = Reference(res)
    run = cwd / "RUN"
    final = _newest(run)
    if res.rc != 0 or final is None:
        ref.error = "the uninterrupted reference run failed:\n" + res.describe()
        return ref
    ref.final_name, ref.size = final.name, final.stat().st_size
    ref.final, err = _load(final)
    if err:
        ref.error = f"the reference run's final checkpoint does not load: {err}"
    ref.eval_json = _read(run / "eval.json")
    ref.run_status = _status(run)
    return ref


@pytest.fixture(scope="module")
def faults(tmp_path_factory):
    ws = tmp_path_factory.mktemp("faults")
    started = time.perf_counter()
    start_server(ws / "_fork-server")
    pool = ThreadPoolExecutor(max_workers=WORKERS)
    try:
        ref_future = pool.submit(_reference, ws)
        futures: Dict[str, Future] = {}
        for p in POINTS:  # the points that need no checkpoint size start at once
            if p.kind != "ckpt-bytes":
                futures[p.id] = pool.submit(run_point, p, ws, 0)
        ref = ref_future.result()
        for p in POINTS:
            if p.kind == "ckpt-bytes":
                if ref.size > 1:
                    futures[p.id] = pool.submit(run_point, p, ws, ref.size)
                else:
                    futures[p.id] = Future()
                    futures[p.id].set_exception(RuntimeError(ref.error or "no reference checkpoint size"))
        yield Faults(ref, futures, started)
    finally:
        pool.shutdown(wait=True)
        stop_server()
        print(f"\n[fault injection: {len(POINTS)} points, seed {SEED}, "
              f"{time.perf_counter() - started:.1f} s with {WORKERS} workers; cases in {ws}]")


# --------------------------------------------------------------------------- tests
def test_points_are_seeded_and_cover_every_stage():
    assert draw_points(SEED) == POINTS, "the same seed must give the same points"
    assert len({p.id for p in POINTS}) == len(POINTS)
    assert 30 <= len(POINTS) <= 40
    kinds = {p.kind for p in POINTS}
    assert kinds >= {k for k, _, _ in SPACE} | {p.kind for p in EDGE}
    assert any(p.kind.startswith("step-") and p.n == 1 for p in POINTS)  # before the first checkpoint
    assert any(p.kind == "ckpt-bytes" and p.n == 1 for p in POINTS)


def test_reference_run(faults):
    ref = faults.ref
    assert ref.error is None, ref.error
    assert ref.final["step"] == STEPS and ref.final_name == f"step-{STEPS:08d}.pt", ref.result.describe()
    assert ref.eval_json is not None, "the reference run wrote no eval.json:\n" + ref.result.describe()


def _problems(o: Outcome, ref: Reference) -> List[str]:
    """What went wrong at this point (all of it, so one run of the test tells the whole story)."""
    if o.killed.rc != KILLED:
        return [f"the fault did not fire: the run exited with status {o.killed.rc}, expected {KILLED} (SIGKILL)"]
    found = []
    if o.load_error:  # (a)
        found.append(f"(a) the newest checkpoint {o.newest_after_kill} does not load: {o.load_error}")
    if o.point.leaves_tmp and not o.tmp_after_kill:  # else (c) would check nothing
        found.append("the kill left no temporary .*.tmp file behind (did the point hit the temp file?)")
    res = o.resumed
    err = [ln for ln in res.stderr.splitlines() if ln.strip()]
    if res.rc != 0:  # (b)
        found.append(f"(b) `gankit train --resume RUN` exited with status {res.rc}: {err[-1] if err else '(no stderr)'}")
    elif "Traceback" in res.stdout + res.stderr:
        found.append("(b) the resume printed a traceback")
    if o.tmp_after_resume:  # (c)
        found.append(f"(c) stale temporary files after the resume: {o.tmp_after_resume}")
    if res.rc != 0:
        return found
    # (d) the same end as the uninterrupted run, bit for bit
    if o.final_error:
        found.append(f"(d) the resumed run's final checkpoint {o.final_name}: {o.final_error}")
        return found
    if o.final_name != ref.final_name or o.final["step"] != ref.final["step"]:
        found.append(f"(d) the resumed run ended at {o.final_name} (step {o.final['step']}), "
                     f"not at {ref.final_name} (step {ref.final['step']})")
    diffs: List[str] = []
    _diff(ref.final["gan"], o.final["gan"], "gan", diffs)
    _diff(ref.final["optim"], o.final["optim"], "optim", diffs)
    if diffs:
        found.append(f"(d) the final checkpoint differs from the uninterrupted run's in {len(diffs)} place(s): "
                     + "; ".join(diffs[:10]) + (" ..." if len(diffs) > 10 else ""))
    if not o.has_final_samples:
        found.append("(d) the resumed run has no final samples (samples/final.png)")
    if o.eval_json != ref.eval_json:
        found.append(f"(d) eval.json differs from the uninterrupted run's:\n{o.eval_json}\nvs\n{ref.eval_json}")
    if o.run_status != ref.run_status:
        found.append(f"(d) run.json status {o.run_status!r}, the uninterrupted run's is {ref.run_status!r}")
    return found


@pytest.mark.parametrize("point", POINTS, ids=[p.id for p in POINTS])
def test_sigkill_then_resume(faults, point):
    """Kill at POINT; then (a) the newest checkpoint loads, (b) --resume exits 0, (c) leaves no .*.tmp,
    (d) ends bitwise identical to the uninterrupted run."""
    ref = faults.ref
    if ref.error:
        pytest.fail(ref.error, pytrace=False)
    o = faults.outcome(point)
    found = _problems(o, ref)
    if found:
        pytest.fail(f"SIGKILL at {point.id}:\n  " + "\n  ".join(found) + "\n\n" + o.describe(), pytrace=False)
