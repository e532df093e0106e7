"""The run directory as its own part: create, recognise, lock, overwrite, clean, report status.

Rules (what keeps a user's files safe):

* A run directory is recognised by gankit's own marker file ``.gankit-run``. A folder that merely
  holds some ``config.yaml`` is not a run directory. Runs made before the marker existed
  (:func:`is_legacy_run`: gankit's config header, gankit's ``run.json`` and a checkpoint) can be
  read, sampled, evaluated and resumed (which marks them), never overwritten unmarked.
* ``--overwrite`` removes only what gankit writes into a run directory (:data:`OWNED_FILES`,
  :data:`OWNED_DIRS`) and keeps everything else; it never touches a symbolic link, the current
  directory or a parent of it, or a run that another live process holds.
* gankit never writes through a symbolic link inside a run directory: a run whose own entries
  (``checkpoints/``, ``samples/``, ``.lock``, ``metrics.jsonl`` ...) are links is refused.
* One process per run directory: an exclusive ``flock`` on ``.lock``, which the operating system
  releases when the process ends however it ends (so a SIGKILLed run's lock is simply taken over).
  The holder's pid is written into the file so a refused second process can name it. Where
  ``fcntl`` does not exist, an ``O_EXCL`` pid file with a liveness check does the same job.
* Stale temporary files of interrupted atomic writes are removed once the lock is held.
"""
from __future__ import annotations

import errno
import fnmatch
import json
import os
import re
import socket
from pathlib import Path
from typing import List, Optional

from ..errors import GankitError, RunLocked

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

MARKER = ".gankit-run"
TEMP = "<temp>"  # stands for io.TEMP_NAME: the exact names of atomic_write's temp files
LOCK = ".lock"
_LEGACY_HEADER = re.compile(r"^# gankit \S+ resolved config; hash [0-9a-f]{16}$")

#: what gankit writes in a run directory: top-level names (globs), and for each sub-directory it
#: owns, the names inside it that are gankit's. Nothing else is ever removed by ``--overwrite``.
OWNED_FILES = (MARKER, LOCK, "config.yaml", "run.json", "metrics.jsonl", "eval.json", "eval_scatter.png",
               "samples-seed*.png", TEMP)
OWNED_DIRS = {"checkpoints": ("step-*.pt", TEMP),
              "samples": ("step-*.png", "final.png", "training.gif", TEMP),
              "frames": ("step-*.png", TEMP),
              "tb": ("events.out.tfevents.*",)}

#: the run directory this process is training (for the interrupt message), or None
_active: Optional[Path] = None


def active() -> Optional[Path]:
    return _active


# ---------------------------------------------------------------- recognising
def is_run_dir(path, legacy: bool = True) -> bool:
    """True if ``path`` is a directory gankit made: its marker (or, with ``legacy``, an old run)."""
    p = Path(path)
    marker = p / MARKER
    if marker.is_file() and not marker.is_symlink():
        return True
    return legacy and is_legacy_run(p)


def _owned(name: str, patterns) -> bool:
    from ..io import TEMP_NAME

    m = TEMP_NAME.fullmatch(name)
    if m and TEMP in patterns:  # a temp file of one of gankit's own files (not any '.x.12345678.tmp')
        return _owned(m.group("target"), [p for p in patterns if p != TEMP])
    return any(fnmatch.fnmatchcase(name, pat) for pat in patterns if pat != TEMP)


def is_legacy_run(path) -> bool:
    """A run made before the marker existed: gankit's config header, gankit's run.json and a checkpoint."""
    p = Path(path)
    try:
        with open(p / "config.yaml", encoding="utf-8", errors="replace") as f:
            first = f.readline(200).rstrip("\n")
        meta = json.loads((p / "run.json").read_text()[:100000])
    except (OSError, ValueError):
        return False
    return (bool(_LEGACY_HEADER.match(first)) and isinstance(meta, dict) and "gankit_version" in meta
            and any((p / "checkpoints").glob("step-*.pt")))


def check_entries(run_dir: Path) -> None:
    """Refuse a run directory whose own entries are not what gankit keeps there: a symbolic link
    (gankit would write or delete through it), a file where gankit keeps a folder or the reverse.
    Checked before anything in the run changes."""
    p = Path(run_dir)
    fixed = [n for n in OWNED_FILES if "*" not in n and n != TEMP]
    for name in list(OWNED_DIRS) + fixed:
        e = p / name
        if e.is_symlink():
            what = "a symbolic link"
        elif not e.exists():
            continue
        elif name in OWNED_DIRS and not e.is_dir():
            what = "not a folder"
        elif name not in OWNED_DIRS and not e.is_file():
            what = "not a regular file"
        else:
            continue
        raise GankitError(f"run directory '{run_dir}' holds '{name}', which is {what}: not what gankit keeps "
                          f"there, so gankit will not write or delete through it; move it away or choose "
                          f"another out=")


def _is_cwd_or_parent(p: Path) -> bool:
    try:
        here, target = Path.cwd().resolve(), p.resolve()
    except OSError:
        return False
    return target == here or target in here.parents


def unique_dir(base: Path) -> Path:
    """``base``, or the first of ``base-1``, ``base-2``, ... that does not exist yet."""
    p, i = base, 1
    while p.exists() or p.is_symlink():
        p, i = base.with_name(f"{base.name}-{i}"), i + 1
    return p


# ---------------------------------------------------------------- locking
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _holder(lock_path: Path) -> str:
    try:
        info = json.loads(lock_path.read_text()[:1000])
        return f"pid {int(info['pid'])}" + (f" on {info['host']}" if info.get("host") else "")
    except (OSError, ValueError, KeyError, TypeError):
        return "unknown pid"


class RunLock:
    """An exclusive lock on a run directory, held until :meth:`release` or the process ends."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK
        self.fd: Optional[int] = None

    def acquire(self) -> "RunLock":
        try:
            if fcntl is not None:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
                             | getattr(os, "O_NOFOLLOW", 0), 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    raise self._refusal() from None
            else:  # pragma: no cover - no flock: pid file, taken over when its pid is dead
                fd = self._acquire_pid_file()
            if os.fstat(fd).st_nlink > 1:  # a hard link to some other file: never write into it
                os.close(fd)
                raise OSError(errno.EMLINK, "'.lock' is a hard link to another file")
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode())
        except OSError as e:
            why = ("'.lock' is a symbolic link" if self.path.is_symlink() else
                   "'.lock' is not a regular file" if self.path.exists() and not self.path.is_file() else
                   (e.strerror or str(e)))
            raise GankitError(f"cannot lock run directory '{self.path.parent}': {why}; if no gankit process "
                              f"uses this run, remove '{self.path}' and try again") from None
        self.fd = fd
        return self

    def _acquire_pid_file(self) -> int:  # pragma: no cover - used only without fcntl
        for _ in range(2):
            try:
                return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                try:
                    pid = int(json.loads(self.path.read_text())["pid"])
                except (OSError, ValueError, KeyError, TypeError):
                    pid = -1
                if pid > 0 and _pid_alive(pid):
                    raise self._refusal() from None
                self.path.unlink(missing_ok=True)  # stale: its process is gone
        raise self._refusal()

    def _refusal(self) -> RunLocked:
        return RunLocked(f"run directory '{self.path.parent}' is in use by another gankit process "
                         f"({_holder(self.path)}); wait for it to finish or stop it, then try again")

    def release(self) -> None:
        if self.fd is not None:
            if fcntl is None:  # pragma: no cover
                self.path.unlink(missing_ok=True)
            os.close(self.fd)
            self.fd = None

    @property
    def held(self) -> bool:
        return self.fd is not None


def is_locked(run_dir) -> bool:
    """Whether a live process holds ``run_dir`` (probes without taking the lock for long)."""
    p = Path(run_dir) / LOCK
    if not p.is_file():
        return False
    if fcntl is None:  # pragma: no cover
        try:
            return _pid_alive(int(json.loads(p.read_text())["pid"]))
        except (OSError, ValueError, KeyError, TypeError):
            return False
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def read_status(run_dir) -> str:
    """The status ``run.json`` records ("running", "finished", ...), or "unknown"."""
    try:
        s = json.loads((Path(run_dir) / "run.json").read_text())["status"]
        return s if isinstance(s, str) else "unknown"
    except (OSError, ValueError, KeyError, TypeError):
        return "unknown"


def status(run_dir) -> str:
    """``run.json``'s status, with a "running" run whose process is gone reported as "interrupted"."""
    s = read_status(run_dir)
    if s == "running" and not is_locked(run_dir):
        return "interrupted"
    return s


# ---------------------------------------------------------------- the directory
class RunDir:
    """A run directory held by this process (locked)."""

    def __init__(self, path: Path, lock: RunLock):
        self.path, self.lock = Path(path), lock

    # ------------------------------------------------------------ new runs
    @staticmethod
    def check_new(out: Path, overwrite: bool) -> None:
        """Every check of :meth:`create` that needs no side effect (run before any work starts)."""
        if out.is_symlink():
            if overwrite:
                raise GankitError(f"refusing to overwrite '{out}': it is a symbolic link; give the directory "
                                  f"it points to ({os.path.realpath(out)}) or another out=")
        if out.exists() and not out.is_dir():
            raise GankitError(f"out '{out}' is a file, not a directory; choose another out=")
        if out.is_dir() and any(out.iterdir()):
            run = is_run_dir(out, legacy=False)
            if not overwrite:
                if run or is_legacy_run(out):
                    raise GankitError(
                        f"out directory '{out}' already holds a gankit run; continue it with "
                        f"`gankit train --resume {out}`, choose another out=..., or pass --overwrite")
                raise GankitError(f"out directory '{out}' is not empty and is not a gankit run directory; "
                                  f"choose another out=... (gankit never writes into your folders)")
            if not run:
                old = (" (an older gankit run without the marker: `gankit train --resume` marks it)"
                       if is_legacy_run(out) else "")
                raise GankitError(f"refusing to overwrite '{out}': it is not a gankit run directory "
                                  f"(no {MARKER} marker){old}; choose another out=...")
            if _is_cwd_or_parent(out):
                raise GankitError(f"refusing to overwrite '{out}': it is the current directory or a parent of it; "
                                  f"run from elsewhere or choose another out=...")
            if is_locked(out):
                raise RunLocked(f"refusing to overwrite '{out}': it is in use by another gankit process "
                                f"({_holder(out / LOCK)}); stop it first")
            check_entries(out)  # before anything is removed
        parent = out.absolute().parent
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir():
            raise GankitError(f"cannot write run directory '{out}': '{parent}' is a file, not a directory")

    @classmethod
    def create(cls, out: Path, overwrite: bool, auto: bool = False) -> "RunDir":
        """Make (or, with ``overwrite``, clear gankit's files from) ``out``, lock it and mark it.
        ``auto``: ``out`` was chosen by gankit (``runs/<gan>-<data>``): if another process takes it
        first, the next free name is used instead."""
        global _active
        out = Path(out)
        cls.check_new(out, overwrite)
        base = out
        while auto:  # reserve a fresh directory atomically: another process may take the name first
            try:
                out.mkdir(parents=True)
                break
            except FileExistsError:
                out = unique_dir(base)
            except OSError as e:
                raise GankitError(f"cannot create run directory '{out}': {e.strerror or e}") from None
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise GankitError(f"cannot create run directory '{out}': {e.strerror or e}") from None
        lock = RunLock(out).acquire()
        _active = out  # from here on, an interrupt has touched this directory
        try:
            if overwrite:
                remove_owned(out)
            elif any(p.name != LOCK for p in out.iterdir()):  # someone filled it since check_new
                raise GankitError(f"out directory '{out}' is not empty; choose another out=... or pass --overwrite")
            check_entries(out)
            from ..io import atomic_write_text

            (out / "checkpoints").mkdir(exist_ok=True)
            atomic_write_text(out / MARKER, json.dumps({"gankit_run": 1}) + "\n")
        except BaseException:
            lock.release()
            raise
        return cls(out, lock).activate()

    # ------------------------------------------------------------ existing runs
    @classmethod
    def open(cls, path, action: str = "resume") -> "RunDir":
        """Lock an existing run directory for ``action``; nothing in it changes (see :meth:`tidy`)."""
        p = Path(path)
        if not p.exists():
            raise GankitError(f"cannot {action} '{p}': no such run directory")
        if not p.is_dir():
            raise GankitError(f"cannot {action} '{p}': it is a file, not a run directory")
        if not is_run_dir(p):
            raise GankitError(f"cannot {action} '{p}': it is not a gankit run directory (no {MARKER} marker)")
        check_entries(p)
        return cls(p, RunLock(p).acquire()).activate()

    def tidy(self) -> None:
        """Once a resume has succeeded: remove stale temp files of gankit's own writes and mark an
        older run (made before the marker existed) as gankit's."""
        from ..io import atomic_write_text, remove_stale_temp

        for folder, patterns in [(self.path, OWNED_FILES)] + [(self.path / d, p) for d, p in OWNED_DIRS.items()]:
            if folder.is_dir() and not folder.is_symlink():
                remove_stale_temp(folder, recursive=False, target=lambda name, p=patterns: _owned(name, p))
        if not (self.path / MARKER).is_file():
            atomic_write_text(self.path / MARKER, json.dumps({"gankit_run": 1}) + "\n")

    def activate(self) -> "RunDir":
        global _active
        _active = self.path
        return self

    def close(self) -> None:
        global _active
        if _active == self.path:
            _active = None
        self.lock.release()


def remove_owned(run_dir: Path) -> List[Path]:
    """Remove what gankit wrote in ``run_dir`` (never the lock we hold); return what was kept."""
    kept: List[Path] = []
    for entry in sorted(Path(run_dir).iterdir()):
        name = entry.name
        if name in (LOCK, MARKER):  # the lock is ours now; the marker stays until the new run replaces it
            continue
        if entry.is_symlink():
            kept.append(entry)
        elif entry.is_dir() and name in OWNED_DIRS:
            inner_kept = [f for f in entry.iterdir() if f.is_symlink() or f.is_dir()
                          or not _owned(f.name, OWNED_DIRS[name])]
            for f in entry.iterdir():
                if f not in inner_kept:
                    f.unlink()
            if inner_kept:
                kept.extend(inner_kept)
            else:
                entry.rmdir()
        elif entry.is_file() and _owned(name, OWNED_FILES):
            entry.unlink()
        else:
            kept.append(entry)
    return kept
