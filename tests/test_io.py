"""Atomic writes: every OS failure is one WriteError line naming the target; no temp file is left;
the old file survives. Stale temp files of killed writers are found and removed."""
import errno
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from gankit import io as gio
from gankit.errors import GankitError, WriteError

ERRNOS = [errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG, errno.ENOENT,
          errno.ENOTDIR]


def _old_target(tmp_path):
    target = tmp_path / "out.bin"
    gio.atomic_write_bytes(target, b"old content")
    return target


def _check(exc_info, target, err):
    e = exc_info.value
    assert isinstance(e, GankitError)
    assert str(e) == f"cannot write '{target}': {os.strerror(err)}"
    assert "\n" not in str(e) and e.path == target


def _fail_on(monkeypatch, name, err, call=1):
    """Make os.<name> raise OSError(err) on its ``call``-th call (earlier calls run normally)."""
    real = getattr(os, name)
    calls = []

    def fake(*a, **k):
        calls.append(a)
        if len(calls) == call:
            raise OSError(err, os.strerror(err))
        return real(*a, **k)

    monkeypatch.setattr(os, name, fake)


@pytest.mark.parametrize("err", ERRNOS, ids=errno.errorcode.get)
@pytest.mark.parametrize("where", ["create", "write_fn", "fsync", "rename"])
def test_os_errors_become_one_write_error_line_and_keep_the_old_file(tmp_path, monkeypatch, where, err):
    target = _old_target(tmp_path)

    def write_fn(f):
        f.write(b"new content " * 1000)
        if where == "write_fn":
            raise OSError(err, os.strerror(err))

    if where == "create":
        _fail_on(monkeypatch, "open", err)
    elif where == "fsync":
        _fail_on(monkeypatch, "fsync", err)
    elif where == "rename":
        _fail_on(monkeypatch, "replace", err)
    with pytest.raises(WriteError) as exc_info:
        gio.atomic_write(target, write_fn)
    monkeypatch.undo()
    _check(exc_info, target, err)
    assert target.read_bytes() == b"old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]  # the temp file is gone


def test_directory_fsync_failure_is_a_write_error(tmp_path, monkeypatch):
    target = _old_target(tmp_path)
    _fail_on(monkeypatch, "fsync", errno.EIO, call=2)  # 1: the file, 2: the directory
    with pytest.raises(WriteError) as exc_info:
        gio.atomic_write_bytes(target, b"new")
    monkeypatch.undo()
    _check(exc_info, target, errno.EIO)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_parent_that_is_a_file(tmp_path):
    (tmp_path / "afile").write_text("x")
    target = tmp_path / "afile" / "out.bin"
    with pytest.raises(WriteError) as exc_info:
        gio.atomic_write_bytes(target, b"new")
    _check(exc_info, target, errno.ENOTDIR)
    target = tmp_path / "afile" / "sub" / "out.bin"
    with pytest.raises(WriteError) as exc_info:
        gio.atomic_write_bytes(target, b"new")
    _check(exc_info, target, errno.ENOTDIR)
    assert (tmp_path / "afile").read_text() == "x"


def test_oserror_without_errno_from_write_fn(tmp_path):
    target = _old_target(tmp_path)

    def write_fn(f):
        f.write(b"partial")
        raise OSError("disk died\n  (details)")

    with pytest.raises(WriteError) as exc_info:
        gio.atomic_write(target, write_fn)
    assert str(exc_info.value) == f"cannot write '{target}': disk died (details)"
    assert target.read_bytes() == b"old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


@pytest.mark.parametrize("exc", [KeyboardInterrupt, ValueError, RuntimeError])
def test_other_exceptions_pass_through_after_removing_the_temp_file(tmp_path, exc):
    target = _old_target(tmp_path)

    def write_fn(f):
        f.write(b"partial" * 10000)
        raise exc("stop")

    with pytest.raises(exc):
        gio.atomic_write(target, write_fn)
    assert target.read_bytes() == b"old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_success_mode_and_content(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    gio.atomic_write_text(target, "héllo")
    assert target.read_text() == "héllo"
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


# A writer whose writes really fail: RLIMIT_FSIZE with SIGXFSZ ignored makes write() return EFBIG.
_FSIZE_CHILD = textwrap.dedent("""
    import json, resource, signal, sys
    import torch
    from gankit.errors import WriteError
    from gankit.io import atomic_write_bytes
    from gankit.train import checkpoint as ckpt
    from gankit.viz import save_image_grid
    d = sys.argv[1]
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    out = {}
    for name, write in [
        ("bytes.bin", lambda p: atomic_write_bytes(p, b"x" * 100000)),
        ("step-00000001.pt", lambda p: ckpt.save({"step": 1, "w": torch.zeros(100000)}, p)),
        ("grid.png", lambda p: save_image_grid(torch.rand(64, 3, 32, 32) * 2 - 1, p)),
    ]:
        try:
            write(f"{d}/{name}")
            out[name] = None
        except WriteError as e:
            out[name] = [str(e), str(e.path)]
    print(json.dumps(out))
""")


def test_real_write_failure_file_too_large(tmp_path):
    names = ["bytes.bin", "step-00000001.pt", "grid.png"]
    for n in names:
        (tmp_path / n).write_bytes(b"old " + n.encode())
    r = subprocess.run([sys.executable, "-c", _FSIZE_CHILD, str(tmp_path)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    for n in names:
        target = tmp_path / n
        assert out[n] == [f"cannot write '{target}': {os.strerror(errno.EFBIG)}", str(target)], n
        assert target.read_bytes() == b"old " + n.encode()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)  # no temp file left


def test_viz_writes_are_atomic_and_report_write_errors(tmp_path, monkeypatch):
    from gankit.viz import save_image_grid, save_scatter

    grid, scatter = tmp_path / "grid.png", tmp_path / "scatter.png"
    grid.write_bytes(b"old grid")
    scatter.write_bytes(b"old scatter")
    _fail_on(monkeypatch, "fsync", errno.ENOSPC)
    with pytest.raises(WriteError) as exc_info:
        save_image_grid(torch.zeros(4, 1, 8, 8), grid)
    _check(exc_info, grid, errno.ENOSPC)
    _fail_on(monkeypatch, "fsync", errno.ENOSPC)
    with pytest.raises(WriteError) as exc_info:
        save_scatter(torch.zeros(10, 2), scatter)
    _check(exc_info, scatter, errno.ENOSPC)
    monkeypatch.undo()
    assert grid.read_bytes() == b"old grid" and scatter.read_bytes() == b"old scatter"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.png", "scatter.png"]


# ------------------------------------------------------------------ stale temp files
def test_atomic_write_temp_names_match_the_cleaner_pattern(tmp_path):
    seen = []

    def write_fn(f):
        seen.extend(p.name for p in tmp_path.iterdir() if p.name != "out.bin")
        f.write(b"x")

    for _ in range(20):
        gio.atomic_write(tmp_path / "out.bin", write_fn)
    assert len(seen) == 20
    for name in seen:
        m = gio.TEMP_NAME.fullmatch(name)
        assert m and m.group("target") == "out.bin", name


def test_remove_stale_temp_removes_only_temp_files(tmp_path):
    root = tmp_path / "run"
    (root / "checkpoints" / "deep").mkdir(parents=True)
    stale = [root / ".run.json.abc_12xy.tmp", root / "checkpoints" / ".step-00000010.pt.q0w9e8r7.tmp",
             root / "checkpoints" / "deep" / ".a.b.c.________.tmp"]
    keep = [root / "run.json", root / ".run.json.tmp", root / "run.json.abcdefgh.tmp",
            root / ".run.json.abcdefg.tmp", root / ".run.json.abcdefghi.tmp", root / ".run.json.ABCDEFGH.tmp",
            root / ".run.json.abcdefgh.tmp.bak", root / "..abcdefgh.tmp", root / "checkpoints" / "step-00000010.pt"]
    for p in stale + keep:
        p.write_bytes(b"data")
    # a directory with a temp-like name, a symlink with one, and a symlinked directory holding one
    (root / ".dir.abcdefgh.tmp").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / ".x.abcdefgh.tmp").write_bytes(b"not ours")
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / ".lnk.abcdefgh.tmp").symlink_to(outside / ".x.abcdefgh.tmp")

    removed = gio.remove_stale_temp(root)
    assert removed == sorted(stale)
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in keep)
    assert (root / ".dir.abcdefgh.tmp").is_dir() and (root / ".lnk.abcdefgh.tmp").is_symlink()
    assert (outside / ".x.abcdefgh.tmp").read_bytes() == b"not ours"
    assert gio.remove_stale_temp(root) == []
    assert gio.remove_stale_temp(tmp_path / "missing") == []


def test_remove_stale_temp_skips_what_it_cannot_remove(tmp_path, monkeypatch):
    a, b = tmp_path / ".a.abcdefgh.tmp", tmp_path / ".b.abcdefgh.tmp"
    a.write_bytes(b"")
    b.write_bytes(b"")
    real = os.unlink

    def unlink(p, *args, **kw):
        if str(p) == str(a):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real(p, *args, **kw)

    monkeypatch.setattr(os, "unlink", unlink)
    assert gio.remove_stale_temp(tmp_path) == [b]
    assert a.exists() and not b.exists()


_KILLED_CHILD = textwrap.dedent("""
    import os, signal, sys
    from gankit.io import atomic_write
    def write_fn(f):
        f.write(b"half of the new content")
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    atomic_write(sys.argv[1], write_fn)
""")


def test_sigkill_mid_write_leaves_a_temp_file_that_the_cleaner_removes(tmp_path):
    target = tmp_path / "run.json"
    target.write_text("old")
    for _ in range(2):
        r = subprocess.run([sys.executable, "-c", _KILLED_CHILD, str(target)], capture_output=True, timeout=120)
        assert r.returncode == -signal.SIGKILL
    left = sorted(p for p in tmp_path.iterdir() if p != target)
    assert len(left) == 2 and all(p.read_bytes() == b"half of the new content" for p in left)
    assert gio.remove_stale_temp(tmp_path) == left
    assert sorted(tmp_path.iterdir()) == [target] and target.read_text() == "old"


def test_ctrl_c_inside_torch_save_stays_a_keyboard_interrupt(tmp_path):
    """torch.save's zip writer turns an interrupt in a write into RuntimeError('unexpected pos') on
    its way out; atomic_write must re-raise the interrupt (the CLI then says one line, status 130)."""
    import torch

    from gankit.io import atomic_write

    class Interrupting:
        def __init__(self, f):
            self.f, self.n = f, 0

        def write(self, b):
            self.n += len(b)
            if self.n > 1000:
                raise KeyboardInterrupt
            return self.f.write(b)

        def flush(self):
            return self.f.flush()

    target = tmp_path / "step-00000001.pt"
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, lambda f: torch.save({"w": torch.zeros(10000)}, Interrupting(f)))
    assert list(tmp_path.iterdir()) == []
