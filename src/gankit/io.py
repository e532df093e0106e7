"""Atomic file writes: a temp file in the same directory, fsync'ed, renamed over the target, and
the directory fsync'ed, so a crash leaves either the old file or the new one, never a torn one.

Every operating-system failure on the way (disk full, quota, read-only file system, no permission,
file too large, missing parent, ...) becomes one :class:`~gankit.errors.WriteError` line naming the
target file and the cause; the temp file is removed and the old target is left as it was.

A process killed (SIGKILL, power loss) in the middle of a write leaves its temp file behind, named
``.{target name}.{8 random characters}.tmp`` (:data:`TEMP_NAME`); :func:`remove_stale_temp` removes
such files.
"""
from __future__ import annotations

import errno
import io
import os
import re
import secrets
import stat
from pathlib import Path
from typing import List

from .errors import WriteError

__all__ = ["TEMP_NAME", "atomic_write", "atomic_write_text", "atomic_write_bytes", "remove_stale_temp"]

# The temp file's name: a dot, the target's name, a dot, _TOKEN_LEN characters of _TOKEN_CHARS, ".tmp".
# (The same alphabet and length as ``tempfile.mkstemp``, which earlier gankit versions used, so
# their leftovers match too.) atomic_write builds names with _temp_name; remove_stale_temp matches
# TEMP_NAME; both come from these constants.
_TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"
_TOKEN_LEN = 8
TEMP_NAME = re.compile(r"\.(?P<target>.+)\.[" + re.escape(_TOKEN_CHARS) + r"]{" + str(_TOKEN_LEN) + r"}\.tmp",
                       re.DOTALL)


def _temp_name(target_name: str) -> str:
    token = "".join(secrets.choice(_TOKEN_CHARS) for _ in range(_TOKEN_LEN))
    return f".{target_name}.{token}.tmp"


def _create_temp(path: Path):
    """Create and open a new temp file next to ``path``; return (fd, temp path)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(100):
        tmp = path.parent / _temp_name(path.name)
        try:
            # mode 0666 minus the umask: the file gets the user's usual permissions.
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no unused temp file name for '{path}'")


class _Sink(io.BufferedWriter):
    """The temp file handed to ``write_fn``; remembers an OSError from its own writes, so a
    write_fn that turns it into another exception (torch.save raises RuntimeError) is still
    reported as the write failure it is."""

    error = None

    def write(self, b):
        try:
            return super().write(b)
        except OSError as e:
            self.error = e
            raise

    def flush(self):
        try:
            return super().flush()
        except OSError as e:
            self.error = e
            raise


def _write_error(path: Path, e: OSError) -> WriteError:
    cause = os.strerror(e.errno) if e.errno else (str(e) or type(e).__name__)
    return WriteError(" ".join(f"cannot write '{path}': {cause}".split()), path=path)


def _discard(f, tmp) -> None:
    """Close the temp file without caring whether its buffer can still be written, and remove it."""
    if f is not None:
        try:
            f.close()  # closes the descriptor even when the final flush fails
        except Exception:
            pass
    if tmp is not None:
        try:
            os.unlink(tmp)
        except OSError:
            pass  # already gone, or EROFS/EACCES: the original error is the one to report


def _interrupt_behind(e: BaseException):
    """The KeyboardInterrupt an exception was raised while handling, if any (bounded walk)."""
    for _ in range(20):
        e = e.__context__
        if e is None:
            return None
        if isinstance(e, KeyboardInterrupt):
            return e
    return None


def atomic_write(path, write_fn) -> None:
    """Call ``write_fn(file_object)`` on a temp file, then atomically move it to ``path``.

    Raises :class:`~gankit.errors.WriteError` ("cannot write 'PATH': CAUSE") for any OSError while
    creating, writing, fsync'ing or renaming the temp file or fsync'ing the directory, including one
    raised by ``write_fn`` or by the file object's writes inside it; the temp file is removed and an
    existing ``path`` keeps its old content. Other exceptions (and KeyboardInterrupt) propagate
    unchanged, after removing the temp file.
    """
    path = Path(path)
    tmp = f = None
    try:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except FileExistsError:  # the parent exists but is a file
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path.parent)) from None
        fd, tmp = _create_temp(path)
        try:
            f = _Sink(io.FileIO(fd, "wb", closefd=True))
        except BaseException:
            os.close(fd)
            raise
        write_fn(f)
        f.flush()
        os.fsync(f.fileno())
        f.close()
        os.replace(tmp, path)
        tmp = None
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as e:
        _discard(f, tmp)
        raise _write_error(path, e) from e
    except Exception as e:
        _discard(f, tmp)
        interrupt = _interrupt_behind(e)
        if interrupt is not None:  # Ctrl-C inside write_fn, masked by its cleanup (torch.save's zip writer)
            raise interrupt
        if f is not None and f.error is not None:
            raise _write_error(path, f.error) from e
        raise
    except BaseException:
        _discard(f, tmp)
        raise


def atomic_write_text(path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode()))


def atomic_write_bytes(path, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def remove_stale_temp(directory, recursive: bool = True, target=None) -> List[Path]:
    """Remove the temp files interrupted atomic writes left under ``directory``; return them, sorted.

    Only regular files whose name matches :data:`TEMP_NAME` exactly are removed, in ``directory`` and
    (``recursive``) every sub-directory; symbolic links (to files or directories) are neither followed
    nor removed. ``target(name)``, if given, must also accept the name of the file the temp file was
    written for (e.g. only gankit's own files of a run directory).
    Call it only while no other process can be writing there (e.g. holding the run's lock): a temp
    file of a write in progress looks the same as a stale one. Best effort: a missing ``directory``
    gives ``[]``; unreadable directories and files that cannot be removed (read-only file system, no
    permission) are skipped and not returned; it never raises for them.
    """
    removed: List[Path] = []
    top = Path(directory)
    for root, _dirs, files in os.walk(top, followlinks=False):
        for name in files:
            m = TEMP_NAME.fullmatch(name)
            if not m or (target is not None and not target(m.group("target"))):
                continue
            p = Path(root) / name
            try:
                if not stat.S_ISREG(os.lstat(p).st_mode):
                    continue
                os.unlink(p)
            except OSError:  # gone meanwhile, or not removable (read-only file system, no permission): skip
                continue
            removed.append(p)
        if not recursive:
            break
    return sorted(removed)
