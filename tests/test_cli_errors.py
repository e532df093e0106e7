"""The CLI's user-error contract, end to end in subprocesses.

Every user mistake must give exactly ONE line on stderr starting with ``gankit: error:``, a
non-zero exit status and no Python traceback, and that line must name the offending key, value
or path. The same commands with valid inputs must succeed, so the error tests cannot pass
vacuously (e.g. because the CLI fails for every input).

Speed: every case is its own process (see "running the CLI" below for how they are started
cheaply). The module-scoped ``suite`` fixture launches all of them concurrently on a small thread
pool as soon as their inputs exist (two tiny training runs, A and B, are shared by the checkpoint
cases); each test then only waits for and checks its own result. Every case runs in its own empty
working directory so that what a failing command leaves behind can be inspected.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import pytest
import torch
from PIL import Image

CLI = [sys.executable, "-m", "gankit.cli"]
TIMEOUT_S = 240
TINY = ["model.hidden=16", "--quiet"]  # MLP width for every `gan` run here


# --------------------------------------------------------------------------- data root
def _data_root() -> Optional[Path]:
    """$GANKIT_DATA if set, else ../shared/data beside the checkout; None if neither exists."""
    env = os.environ.get("GANKIT_DATA")
    for cand in ([Path(env)] if env else []) + [Path(__file__).resolve().parents[2] / "shared" / "data"]:
        if cand.is_dir():
            return cand
    return None


DATA_ROOT = _data_root()


def _has_mnist(root: Optional[Path]) -> bool:
    if root is None:
        return False
    names = ("train-images-idx3-ubyte", "train-images-idx3-ubyte.gz")
    return any((d / n).is_file() for d in (root / "mnist", root / "MNIST" / "raw", root) for n in names)


# --------------------------------------------------------------------------- running the CLI
# Each case is its own OS process with its own working directory, environment, stdout, stderr and
# exit status. Starting ~40 fresh interpreters would spend ~2 s of CPU each on `import torch` (far
# over this file's time budget on two shared cores), so by default each case is a process forked
# from a small single-threaded fork server that has already imported gankit, torch and the modules
# the commands import lazily (a pure speed-up: the code that runs is the same). The forked child
# runs `gankit.cli` as __main__ exactly like `python -m gankit.cli` (gankit.cli itself is not
# preloaded) and ends like the interpreter does: SystemExit gives the exit status, an uncaught
# exception prints its traceback through sys.excepthook and exits 1. A few cases (`real=...`)
# always run as genuine `python -m gankit.cli` / console-script subprocesses, and
# GANKIT_TEST_CLI=subprocess runs every case that way (slow: minutes on two cores).
_USE_FORK = os.environ.get("GANKIT_TEST_CLI", "fork") != "subprocess" and hasattr(os, "fork")
_PRELOAD = ["gankit", "gankit.train.run", "gankit.viz", "torch._inductor.config", "torch.utils.tensorboard",
            "matplotlib.backends.backend_agg", "matplotlib.figure", "matplotlib.patches", "PIL.Image",
            "PIL.PngImagePlugin", "yaml", "tqdm.auto"]
_SERVER_CODE = r"""
import atexit, json, os, runpy, select, sys
for name in json.loads(sys.argv[1]):
    try:
        __import__(name)
    except Exception:
        pass
PROTO = os.dup(1)  # replies to the test process; children close it

def child(req):
    code = 1
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        for fd, path in ((1, req["out"]), (2, req["err"])):
            f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(f, fd)
            os.close(f)
        os.close(PROTO)
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        sys.argv = ["gankit"] + req["argv"]
        try:
            runpy.run_module("gankit.cli", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as e:
            if e.code is None:
                code = 0
            elif isinstance(e.code, int):
                code = e.code
            else:
                print(e.code, file=sys.stderr)
                code = 1
        except BaseException:
            sys.excepthook(*sys.exc_info())
            code = 1
        atexit._run_exitfuncs()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)

os.write(PROTO, b"ready\n")
buf, running, eof = b"", {}, False
while not eof or running:
    readable, _, _ = select.select([] if eof else [0], [], [], 0.02)
    if readable:
        data = os.read(0, 1 << 16)
        eof = not data
        buf += data
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            req = json.loads(line)
            pid = os.fork()
            if pid == 0:
                child(req)
            running[pid] = req["id"]
            os.write(PROTO, f"started {req['id']} {pid}\n".encode())
    while running:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            break
        os.write(PROTO, f"done {running.pop(pid)} {os.waitstatus_to_exitcode(status)}\n".encode())
"""


class _ForkServer:
    """Client of the fork server above: ``run(...)`` blocks until its child exits; thread-safe."""

    def __init__(self, workdir: Path, env: Dict[str, str]):
        workdir.mkdir(parents=True, exist_ok=True)
        self.log = workdir / "fork-server.log"
        self.proc = subprocess.Popen([sys.executable, "-c", _SERVER_CODE, json.dumps(_PRELOAD)], cwd=workdir,
                                     env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=open(self.log, "wb"))
        self.lock = threading.Lock()
        self.next_id = 0
        self.pending: Dict[str, Future] = {}
        self.pids: Dict[str, int] = {}
        first = self.proc.stdout.readline()
        if first != b"ready\n":
            raise RuntimeError(f"the fork server did not start: {first!r}\n{self.log.read_text()}")
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            kind, cid, value = raw.decode().split()
            with self.lock:
                if kind == "started":
                    self.pids[cid] = int(value)
                else:
                    self.pending.pop(cid).set_result(int(value))
        with self.lock:  # the server died: fail whatever is still waiting
            for fut in self.pending.values():
                fut.set_exception(RuntimeError(f"fork server exited:\n{self.log.read_text()}"))
            self.pending.clear()

    def run(self, argv: List[str], cwd: Path, env: Dict[str, str], out: Path, err: Path) -> int:
        fut: Future = Future()
        with self.lock:
            cid = str(self.next_id)
            self.next_id += 1
            self.pending[cid] = fut
            req = {"id": cid, "argv": argv, "cwd": str(cwd), "env": env, "out": str(out), "err": str(err)}
            self.proc.stdin.write((json.dumps(req) + "\n").encode())
            self.proc.stdin.flush()
        try:
            return fut.result(TIMEOUT_S)
        except FutureTimeout:
            with self.lock:
                pid = self.pids.get(cid)
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
            fut.result(30)
            return -999

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(10)


_SERVER: Optional[_ForkServer] = None


@dataclass
class Result:
    argv: List[str]
    cwd: Path
    rc: int
    stdout: str
    stderr: str
    how: str = ""

    def describe(self) -> str:
        return (f"$ gankit {' '.join(self.argv)}   (cwd {self.cwd}; {self.how})\nexit status {self.rc}\n"
                f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}")


def _env(with_data: bool) -> Dict[str, str]:
    env = dict(os.environ)
    env.pop("GANKIT_DATA", None)
    if with_data and DATA_ROOT is not None:
        env["GANKIT_DATA"] = str(DATA_ROOT)
    env.setdefault("OMP_NUM_THREADS", "1")  # many processes share two cores
    env.setdefault("MKL_NUM_THREADS", "1")
    return env


def _console_script() -> Optional[Path]:
    exe = Path(sys.executable).with_name("gankit.exe" if os.name == "nt" else "gankit")
    return exe if exe.is_file() else None


def _run_subprocess(argv: List[str], cwd: Path, env: Dict[str, str], script: bool) -> Result:
    exe = _console_script() if script else None
    cmd = [str(exe)] if exe else list(CLI)
    how = f"subprocess {' '.join(cmd)}"
    try:
        p = subprocess.run(cmd + argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        return Result(argv, cwd, -999, out, err + f"\n[test harness: timed out after {TIMEOUT_S} s]", how)
    return Result(argv, cwd, p.returncode, p.stdout, p.stderr, how)


def run_cli(argv: List[str], cwd: Path, with_data: bool = True, real: str = "") -> Result:
    """Run `gankit ARGV` in ``cwd`` (created if needed). ``real``: "module" (python -m gankit.cli) or
    "script" (the console script) forces a genuine subprocess; else a process from the fork server."""
    cwd.mkdir(parents=True, exist_ok=True)
    env = _env(with_data)
    if real or _SERVER is None:
        return _run_subprocess(argv, cwd, env, script=real == "script")
    logs = cwd.parent / f".{cwd.name}.logs"  # outside cwd: what a command leaves in cwd is checked
    logs.mkdir(parents=True, exist_ok=True)
    rc = _SERVER.run(argv, cwd, env, logs / "stdout", logs / "stderr")
    read = lambda p: p.read_text(errors="replace") if p.is_file() else ""  # noqa: E731
    note = f"\n[test harness: timed out after {TIMEOUT_S} s]" if rc == -999 else ""
    return Result(argv, cwd, rc, read(logs / "stdout"), read(logs / "stderr") + note, "forked from the fork server")


def assert_user_error(res: Result, must_mention: Tuple[str, ...] = (), any_of: Tuple[str, ...] = (),
                      suggest: str = "") -> str:
    """The contract: one `gankit: error:` line on stderr, non-zero exit, no traceback. Returns the line."""
    info = res.describe()
    assert "Traceback" not in res.stdout + res.stderr, f"a traceback leaked:\n{info}"
    assert res.rc != 0, f"expected a non-zero exit status:\n{info}"
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected exactly one line on stderr, got {len(lines)}:\n{info}"
    line = lines[0]
    assert line.startswith("gankit: error:"), f"stderr line must start with 'gankit: error:':\n{info}"
    control = sorted({c for c in line if (ord(c) < 32 and c != "\t") or ord(c) == 127})
    assert not control, f"the error line holds control characters {control!r} (e.g. ANSI colour codes):\n{line!r}"
    for s in must_mention:
        assert s in line, f"the error line should mention {s!r}:\n{line}"
    if suggest:
        assert re.search(rf"(?<![\w.]){re.escape(suggest)}(?![\w.])", line), \
            f"the error line should suggest {suggest!r}:\n{line}"
    if any_of:
        assert any(s.lower() in line.lower() for s in any_of), \
            f"the error line should mention one of {any_of}:\n{line}"
    return line


def assert_ok(res: Result) -> None:
    info = res.describe()
    assert res.rc == 0, f"valid command failed:\n{info}"
    assert "Traceback" not in res.stdout + res.stderr, f"a traceback leaked:\n{info}"
    assert "gankit: error:" not in res.stderr, f"valid command printed an error:\n{info}"


# --------------------------------------------------------------------------- fixtures' files
class _Evil:
    """Unpickling this runs ``open(marker, 'w')``: a safe loader must refuse it, not create the file."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _write_pngs(folder: Path, n: int, size=(40, 36)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        arr = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(arr, "RGB").save(folder / f"img{i}.png")


def _newest_checkpoint(run_dir: Path) -> Path:
    found = sorted((run_dir / "checkpoints").glob("step-*.pt"))
    assert found, f"{run_dir} has no checkpoints: {sorted(p.name for p in run_dir.rglob('*'))}"
    return found[-1]


# --------------------------------------------------------------------------- the cases
@dataclass
class Case:
    id: str
    argv: List[str]                  # '{name}' placeholders are replaced by Suite.paths[name]
    mention: Tuple[str, ...] = ()    # substrings the error line must contain (placeholders allowed)
    any_of: Tuple[str, ...] = ()     # at least one of these (case-insensitive)
    suggest: str = ""                # a name the line must contain as a whole word (the right choice)
    with_data: bool = True           # GANKIT_DATA set in the environment
    needs: Tuple[str, ...] = ()      # shared runs this case waits for: "A", "B"
    real: str = ""                   # "module" / "script": always a genuine subprocess


ERROR_CASES: List[Case] = [
    # 1-4: config keys, types, ranges
    Case("unknown-top-level-key", ["train", "gan", "stepz=10"], ("stepz",), suggest="steps", real="module"),
    Case("unknown-nested-key", ["train", "gan", "train.n_critc=2"], ("train.n_critc",), suggest="train.n_critic"),
    Case("wrong-type", ["train", "gan", "batch_size=abc"], ("batch_size", "abc")),
    Case("out-of-range-steps", ["train", "gan", "steps=-5"], ("steps", "-5")),
    Case("out-of-range-ema", ["train", "gan", "train.ema=1.5"], ("train.ema", "1.5")),
    # 5-7: names and data
    Case("unknown-gan", ["train", "dcgna"], ("dcgna",), suggest="dcgan"),
    Case("unknown-dataset", ["train", "gan", "data=mnsit"], ("mnsit",), suggest="mnist"),
    Case("missing-data-dir", ["train", "dcgan", "data=mnist", "data.root=/nonexistent/dir", "steps=1"],
         ("/nonexistent/dir", "GANKIT_DATA"), with_data=False),
    # 8: corrupt checkpoint (garbage bytes over the newest one)
    Case("corrupt-checkpoint-sample", ["sample", "{A_corrupt}", "--out", "s.png"],
         ("{A_corrupt_ckpt_name}",), ("corrupt", "unreadable", "damaged", "truncated"), needs=("A",)),
    Case("corrupt-checkpoint-resume", ["train", "--resume", "{A_corrupt}", "steps=8"],
         ("{A_corrupt_ckpt_name}",), ("corrupt", "unreadable", "damaged", "truncated"), needs=("A",)),
    # 9: a pickle of an arbitrary object must be refused by the weights_only loader
    Case("unsafe-pickle-checkpoint-sample", ["sample", "{A_unsafe}", "--out", "s.png"],
         ("{A_unsafe_ckpt_name}",), needs=("A",)),
    Case("unsafe-pickle-checkpoint-resume", ["train", "--resume", "{A_unsafe}", "steps=8"],
         ("{A_unsafe_ckpt_name}",), needs=("A",)),
    # 10: run A's checkpoint (model.hidden=16) as the newest one of run B (model.hidden=32)
    Case("foreign-checkpoint-sample", ["sample", "{B_foreign}", "--out", "s.png"],
         ("another config", "{B_foreign_ckpt_name}"), needs=("A", "B")),
    Case("foreign-checkpoint-resume", ["train", "--resume", "{B_foreign}", "steps=8"],
         ("another config", "{B_foreign_ckpt_name}"), needs=("A", "B")),
    # 11: resume of a finished run
    Case("resume-finished-run", ["train", "--resume", "{A}"], ("finished", "steps="), needs=("A",)),
    # 12: unwritable out
    Case("out-under-regular-file", ["train", "gan", "steps=1", "out={afile}/sub"] + TINY, ("{afile}/sub",)),
    Case("out-is-regular-file", ["train", "gan", "steps=1", "out={afile}"] + TINY, ("{afile}",)),
    # 13: a corrupt image in an imagefolder
    Case("corrupt-image", ["train", "dcgan", "data=imagefolder", "data.root={bad_images}",
                           "data.resolution=32", "steps=1"], ("bad.png",)),
    # 14: more out-of-range numbers
    Case("negative-steps", ["train", "gan", "steps=-1"], ("steps", "-1")),
    Case("zero-batch-size", ["train", "gan", "batch_size=0"], ("batch_size", "0")),
    # 15: an existing, non-empty out directory
    Case("existing-out-dir", ["train", "gan", "steps=1", "out={A}"] + TINY, ("--resume", "--overwrite"),
         needs=("A",)),
    # 16: sample / eval paths
    Case("sample-bad-extension", ["sample", "{A}", "--out", "x.jpg"], ("x.jpg",), needs=("A",)),
    Case("sample-missing-run", ["sample", "/no/such/run"], ("/no/such/run",)),
    Case("eval-missing-run", ["eval", "/no/such/run"], ("/no/such/run",)),
    # 17: YAML files
    Case("invalid-yaml", ["train", "{broken_yaml}"], ("broken.yaml",)),
    Case("missing-yaml", ["train", "{missing_yaml}"], ("missing.yaml",)),
    # 18: CUDA on a CPU-only machine
    Case("cuda-unavailable", ["train", "gan", "device=cuda", "steps=1"] + TINY, ("cuda",)),
    # beyond the list: a config section given a scalar instead of a mapping
    Case("model-not-a-mapping", ["train", "gan", "steps=1", "model=5"], ("model",)),
    Case("optim-not-a-mapping", ["train", "gan", "steps=1", "optim=5"] + TINY, ("optim",)),
    Case("optim-group-not-a-mapping", ["train", "gan", "steps=1", "optim.g=5"] + TINY, ("optim.g",)),
    # 19: argparse errors
    Case("argparse-missing-run-dir", ["sample"], ("run_dir",), real="module"),
]

# The same commands with valid inputs: they must succeed (exit 0).
OK_CASES: List[Case] = [
    # the CLI starts at all
    Case("ok-list", ["list"], real="script"),
    # 1-4, 14, 17, 18: a valid YAML file plus valid values of the keys above
    Case("ok-yaml-and-overrides", ["train", "{good_yaml}", "steps=2", "batch_size=32", "train.n_critic=2",
                                   "train.ema=0.9", "device=cpu", "out=yamlrun", "--quiet"]),
    # 5-7: dcgan on MNIST found through GANKIT_DATA
    Case("ok-dcgan-mnist", ["train", "dcgan", "data=mnist", "steps=1", "batch_size=8", "data.size=64",
                            "model.g_width=8", "model.d_width=8", "model.z_dim=8", "out=mnistrun", "--quiet"]),
    # 13: a folder of valid images
    Case("ok-imagefolder", ["train", "dcgan", "data=imagefolder", "data.root={good_images}",
                            "data.resolution=32", "steps=1", "batch_size=4", "model.g_width=8",
                            "model.d_width=8", "model.z_dim=8", "out=ifrun", "--quiet"]),
    # 8, 10, 16, 19: sampling a healthy run
    Case("ok-sample-png", ["sample", "{A}", "--out", "x.png", "--n", "16"], needs=("A",)),
    Case("ok-sample-npy", ["sample", "{A}", "--out", "x.npy", "--n", "16"], needs=("A",)),
    Case("ok-eval", ["eval", "{A_eval}", "--n", "200"], needs=("A",)),
    # 8, 11: resuming a finished run with more steps, as the error message advises
    Case("ok-resume-extend", ["train", "--resume", "{A_extend}", "steps=6", "--quiet"], needs=("A",)),
    # 15: --overwrite of an existing run directory
    Case("ok-overwrite", ["train", "gan", "steps=2", "out={A_over}", "--overwrite"] + TINY, needs=("A",)),
]

# Train commands that fail after argument parsing but before training: they must not leave a
# half-made run directory behind (else rerunning the fixed command with the same out= is refused
# as "not empty", and --resume finds no checkpoint).
NO_LEFTOVER_CASES = ["unknown-dataset", "missing-data-dir", "corrupt-image", "cuda-unavailable"]


# --------------------------------------------------------------------------- the suite fixture
@dataclass
class Suite:
    ws: Path
    paths: Dict[str, str] = field(default_factory=dict)
    futures: Dict[str, Future] = field(default_factory=dict)
    runs: Dict[str, Result] = field(default_factory=dict)
    setup_error: Dict[str, str] = field(default_factory=dict)

    def fmt(self, s: str) -> str:
        return s.format(**self.paths)

    def result(self, case_id: str) -> Result:
        if case_id in self.setup_error:
            pytest.fail(self.setup_error[case_id])
        return self.futures[case_id].result()

    def case_dir(self, case_id: str) -> Path:
        return self.ws / "cases" / case_id


def _train_shared_run(name: str, hidden: int, ws: Path) -> Result:
    return run_cli(["train", "gan", "steps=4", "train.checkpoint_every=2", f"model.hidden={hidden}",
                    f"out={ws / name}", "--quiet"], ws / "cases" / f"_run_{name}")


def _prepare_from_runs(s: Suite) -> None:
    """Derived run directories, made once A (and B) exist; every mutation works on a copy."""
    ws = s.ws
    a = ws / "A"
    for name in ("A_corrupt", "A_unsafe", "A_extend", "A_eval", "A_over"):
        shutil.copytree(a, ws / name)
    # 8: garbage bytes over the newest checkpoint
    ck = _newest_checkpoint(ws / "A_corrupt")
    ck.write_bytes(b"\x00garbage, not a torch checkpoint\xff" * 20)
    s.paths["A_corrupt_ckpt_name"] = ck.name
    # 9: a pickle of an arbitrary object, shaped like a gankit checkpoint
    ck = _newest_checkpoint(ws / "A_unsafe")
    torch.save({"format": "gankit-checkpoint/1", "step": 4, "x": _Evil(s.paths["evil_marker"])}, ck)
    s.paths["A_unsafe_ckpt_name"] = ck.name


def _prepare_foreign(s: Suite) -> None:
    ws = s.ws
    shutil.copytree(ws / "B", ws / "B_foreign")
    newest = _newest_checkpoint(ws / "B_foreign")
    step = int(newest.stem.split("-")[1]) + 95
    target = newest.with_name(f"step-{step:08d}.pt")
    shutil.copyfile(_newest_checkpoint(ws / "A"), target)
    assert _newest_checkpoint(ws / "B_foreign") == target
    s.paths["B_foreign_ckpt_name"] = target.name


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    ws = tmp_path_factory.mktemp("cli")
    s = Suite(ws)
    afile = ws / "afile"
    afile.write_text("a regular file, not a directory\n")
    (ws / "broken.yaml").write_text("gan: gan\nsteps: [1, 2\nmodel: {hidden: 16\n")
    (ws / "good.yaml").write_text("gan: gan\nsteps: 2\nmodel: {hidden: 16}\ntrain: {checkpoint_every: 1}\n")
    _write_pngs(ws / "good_images", 4)
    _write_pngs(ws / "bad_images", 3)
    (ws / "bad_images" / "bad.png").write_bytes(b"this is not a PNG file" * 10)
    s.paths.update({
        "ws": str(ws), "afile": str(afile), "broken_yaml": str(ws / "broken.yaml"),
        "missing_yaml": str(ws / "missing.yaml"), "good_yaml": str(ws / "good.yaml"),
        "good_images": str(ws / "good_images"), "bad_images": str(ws / "bad_images"),
        "evil_marker": str(ws / "EVIL_PICKLE_RAN"),
        **{k: str(ws / k) for k in ("A", "B", "A_corrupt", "A_unsafe", "A_extend", "A_eval", "A_over", "B_foreign")},
    })

    global _SERVER
    if _USE_FORK:
        _SERVER = _ForkServer(ws / "fork-server", _env(True))
    pool = ThreadPoolExecutor(max_workers=3)
    try:
        _launch(s, pool)
        yield s
    finally:
        pool.shutdown(wait=True)
        if _SERVER is not None:
            _SERVER.close()
            _SERVER = None


def _launch(s: Suite, pool: ThreadPoolExecutor) -> None:
    ws = s.ws
    run_a = pool.submit(_train_shared_run, "A", 16, ws)
    run_b = pool.submit(_train_shared_run, "B", 32, ws)

    def submit(case: Case) -> None:
        if case.id == "cuda-unavailable" and torch.cuda.is_available():
            return  # its test skips
        if case.id == "ok-dcgan-mnist" and not _has_mnist(DATA_ROOT):
            return  # its test skips
        argv = [s.fmt(x) for x in case.argv]
        s.futures[case.id] = pool.submit(run_cli, argv, s.case_dir(case.id), case.with_data, case.real)

    all_cases = ERROR_CASES + OK_CASES
    for case in all_cases:
        if not case.needs:
            submit(case)

    s.runs["A"], s.runs["B"] = run_a.result(), run_b.result()
    ready = {name for name, r in s.runs.items() if r.rc == 0}
    try:
        if "A" in ready:
            _prepare_from_runs(s)
        if {"A", "B"} <= ready:
            _prepare_foreign(s)
    except Exception as e:  # keep going: only the dependent cases fail
        ready = set()
        for case in all_cases:
            if case.needs:
                s.setup_error[case.id] = f"preparing the shared runs failed: {e!r}"
    for case in all_cases:
        if not case.needs or case.id in s.setup_error:
            continue
        missing = [n for n in case.needs if n not in ready]
        if missing:
            s.setup_error[case.id] = "shared run(s) failed:\n" + "\n".join(s.runs[n].describe() for n in missing)
        else:
            submit(case)


# --------------------------------------------------------------------------- tests
def test_shared_runs_train(suite):
    """The two tiny runs every checkpoint case builds on: exit 0, checkpoints at steps 2 and 4."""
    for name in ("A", "B"):
        assert_ok(suite.runs[name])
        assert [p.name for p in sorted((suite.ws / name / "checkpoints").glob("step-*.pt"))] == \
            ["step-00000002.pt", "step-00000004.pt"]


@pytest.mark.parametrize("case", ERROR_CASES, ids=lambda c: c.id)
def test_user_error(suite, case):
    if case.id == "cuda-unavailable" and torch.cuda.is_available():
        pytest.skip("CUDA is available here, so device=cuda is not a mistake")
    res = suite.result(case.id)
    assert_user_error(res, tuple(suite.fmt(m) for m in case.mention), case.any_of, case.suggest)
    if case.id.startswith("unsafe-pickle"):
        assert not Path(suite.paths["evil_marker"]).exists(), \
            "loading the checkpoint executed code from its pickle (weights_only not enforced)"


@pytest.mark.parametrize("case", OK_CASES, ids=lambda c: c.id)
def test_valid_command_succeeds(suite, case):
    if case.id == "ok-dcgan-mnist" and not _has_mnist(DATA_ROOT):
        pytest.skip("MNIST not found: set GANKIT_DATA or provide ../shared/data/mnist")
    res = suite.result(case.id)
    assert_ok(res)
    cwd, ws = res.cwd, suite.ws
    if case.id == "ok-sample-png":
        assert (cwd / "x.png").stat().st_size > 0
    elif case.id == "ok-list":
        assert re.search(r"^\s+dcgan\b", res.stdout, re.M), res.describe()
    elif case.id == "ok-sample-npy":
        assert np.load(cwd / "x.npy").shape == (16, 2)
    elif case.id == "ok-eval":
        assert (ws / "A_eval" / "eval.json").is_file()
    elif case.id == "ok-resume-extend":
        assert _newest_checkpoint(ws / "A_extend").name == "step-00000006.pt"
    elif case.id == "ok-overwrite":
        assert _newest_checkpoint(ws / "A_over").name == "step-00000002.pt"
    elif case.id == "ok-yaml-and-overrides":
        assert _newest_checkpoint(cwd / "yamlrun").name == "step-00000002.pt"
    elif case.id == "ok-dcgan-mnist":
        assert _newest_checkpoint(cwd / "mnistrun").name == "step-00000001.pt"
    elif case.id == "ok-imagefolder":
        assert _newest_checkpoint(cwd / "ifrun").name == "step-00000001.pt"


@pytest.mark.parametrize("case_id", NO_LEFTOVER_CASES)
def test_failed_train_leaves_no_run_dir(suite, case_id):
    """A train command refused for a user mistake must not leave a half-made run directory."""
    if case_id == "cuda-unavailable" and torch.cuda.is_available():
        pytest.skip("CUDA is available here, so device=cuda is not a mistake")
    res = suite.result(case_id)
    assert res.rc != 0, res.describe()
    left = sorted(str(p.relative_to(res.cwd)) for p in res.cwd.rglob("*"))
    assert not left, (f"`gankit {' '.join(res.argv)}` failed but left {left} behind; rerunning the "
                      f"corrected command with the same out= would be refused as 'not empty'")

