"""Running the ``gankit`` CLI from tests: each case its own process, cheaply (a fork server).

Shared by the CLI error-contract tests, the reliability tests and the fault-injection test. Also
records every checked case (``GANKIT_CASE_LOG=FILE``) so ``bench/bad_inputs.py`` can regenerate
the bad-input table in docs/results.md from what the tests actually saw.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
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
            if req.get("pre"):
                exec(compile(req["pre"], "<test pre-code>", "exec"), {"__name__": "__pre__"})
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

    def run(self, argv: List[str], cwd: Path, env: Dict[str, str], out: Path, err: Path, pre: str = "") -> int:
        fut: Future = Future()
        with self.lock:
            cid = str(self.next_id)
            self.next_id += 1
            self.pending[cid] = fut
            req = {"id": cid, "argv": argv, "cwd": str(cwd), "env": env, "out": str(out), "err": str(err),
                   "pre": pre}
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


_SERVER: Optional["_ForkServer"] = None


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


_PRE_MAIN = ("import runpy, sys; exec(compile(sys.argv.pop(1), '<test pre-code>', 'exec'), {'__name__': '__pre__'}); "
             "sys.argv[0] = 'gankit'; runpy.run_module('gankit.cli', run_name='__main__', alter_sys=True)")


def _run_subprocess(argv: List[str], cwd: Path, env: Dict[str, str], script: bool, pre: str = "") -> Result:
    exe = _console_script() if script and not pre else None
    cmd = [str(exe)] if exe else list(CLI)
    if pre:
        cmd = [sys.executable, "-c", _PRE_MAIN, pre]
    how = f"subprocess {' '.join(cmd)}"
    try:
        p = subprocess.run(cmd + argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        return Result(argv, cwd, -999, out, err + f"\n[test harness: timed out after {TIMEOUT_S} s]", how)
    return Result(argv, cwd, p.returncode, p.stdout, p.stderr, how)


def run_cli(argv: List[str], cwd: Path, with_data: bool = True, real: str = "", pre: str = "",
            env_extra: Optional[Dict[str, str]] = None) -> Result:
    """Run `gankit ARGV` in ``cwd`` (created if needed). ``real``: "module" (python -m gankit.cli) or
    "script" (the console script) forces a genuine subprocess; else a process from the fork server.
    ``pre``: Python code run in the child just before the CLI (fault injection, resource limits)."""
    cwd.mkdir(parents=True, exist_ok=True)
    env = _env(with_data)
    env.update(env_extra or {})
    if real or _SERVER is None:
        return _run_subprocess(argv, cwd, env, script=real == "script", pre=pre)
    logs = cwd.parent / f".{cwd.name}.logs"  # outside cwd: what a command leaves in cwd is checked
    logs.mkdir(parents=True, exist_ok=True)
    rc = _SERVER.run(argv, cwd, env, logs / "stdout", logs / "stderr", pre=pre)
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
class Evil:
    """Unpickling this runs ``open(marker, 'w')``: a safe loader must refuse it, not create the file."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def write_pngs(folder: Path, n: int, size=(40, 36)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        arr = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(arr, "RGB").save(folder / f"img{i}.png")


def newest_checkpoint(run_dir: Path) -> Path:
    found = sorted((run_dir / "checkpoints").glob("step-*.pt"))
    assert found, f"{run_dir} has no checkpoints: {sorted(p.name for p in run_dir.rglob('*'))}"
    return found[-1]




# --------------------------------------------------------------------------- the fork server's life
def start_server(workdir: Path) -> None:
    """Start the fork server (if forking is in use); run_cli uses it until stop_server()."""
    global _SERVER
    if _USE_FORK and _SERVER is None:
        _SERVER = _ForkServer(workdir, _env(True))


def stop_server() -> None:
    global _SERVER
    if _SERVER is not None:
        _SERVER.close()
        _SERVER = None


# --------------------------------------------------------------------------- the case log
_LOG_LOCK = threading.Lock()


def log_case(cause: str, case_id: str, res: Result, expect: str = "error") -> None:
    """Append what a case did to $GANKIT_CASE_LOG (if set): the source of docs/results.md's table."""
    path = os.environ.get("GANKIT_CASE_LOG")
    if not path:
        return
    err = [ln for ln in res.stderr.splitlines() if ln.strip()]
    row = {"cause": cause, "id": case_id, "expect": expect, "argv": res.argv, "rc": res.rc,
           "stderr_lines": len(err), "line": err[0] if err else "",
           "traceback": "Traceback" in res.stdout + res.stderr}
    with _LOG_LOCK, open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
