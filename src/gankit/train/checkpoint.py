"""Checkpoints: one state per file (DESIGN principle 7), written atomically, loaded safely.

A checkpoint holds every network (including the EMA generator and adaptive buffers), every
optimiser and scheduler, the data loader's position, all RNG states, the step, and the config with
its hash. It is written to a temporary file in the same directory, fsync'ed, renamed over the
target and the directory fsync'ed, so a crash at any moment leaves either the old or the new file,
never a torn one. It is read with ``torch.load(weights_only=True)``: no arbitrary unpickling.
"""
from __future__ import annotations

import pickletools
import random
import re
import warnings
import zipfile
from pathlib import Path
from typing import List, Optional

import numpy as np
import torch

from ..errors import CheckpointError, shorten as _short
from ..io import atomic_write, atomic_write_bytes, atomic_write_text  # noqa: F401  (re-exported)

FORMAT = "gankit-checkpoint/1"
_NAME = re.compile(r"^step-(\d+)\.pt$")


def save(state: dict, path) -> None:
    atomic_write(path, lambda f: torch.save({"format": FORMAT, **state}, f))


def load(path, expected_hash: Optional[str] = None) -> dict:
    """Load a checkpoint safely; one clear :class:`CheckpointError` for every failure.

    The file is read with ``torch.load(weights_only=True)``, so nothing in it is executed. A file that
    loader refuses is then inspected, without unpickling, for the Python globals its pickle references:
    one outside the weights-only allowlist means the file holds arbitrary Python objects; otherwise it
    is unreadable or corrupt. A loaded file must be a complete gankit checkpoint (:data:`REQUIRED`).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint '{path}' does not exist")
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the error below says it all
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt, truncated, foreign or unsafe pickle
        raise _load_error(path, e) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint '{path}' is not a gankit checkpoint (expected format {FORMAT})")
    _check_complete(path, state)
    if expected_hash is not None and state["config_hash"] != expected_hash:
        raise CheckpointError(
            f"checkpoint '{path}' was written by another config (hash {state['config_hash']}, "
            f"this run's config.yaml has {expected_hash})"
        )
    return state


# ------------------------------------------------------------------ completeness
def _is_step(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _is_tensor_dict(v) -> bool:
    return isinstance(v, dict) and all(isinstance(k, str) and isinstance(t, torch.Tensor) for k, t in v.items())


# Every key Trainer.state_dict writes (gankit_version aside), with the check its value must pass.
REQUIRED = {
    "step": (_is_step, "an integer >= 0"),
    "config": (lambda v: isinstance(v, str), "a string"),
    "config_hash": (lambda v: isinstance(v, str), "a string"),
    "data_info": (lambda v: isinstance(v, dict), "a dict"),
    "gan": (_is_tensor_dict, "a dict of tensors"),
    "optim": (lambda v: isinstance(v, dict), "a dict"),
    "sched": (lambda v: isinstance(v, dict), "a dict"),
    "loader": (lambda v: isinstance(v, dict), "a dict"),
    "rng": (lambda v: isinstance(v, dict), "a dict"),
}


def _check_complete(path: Path, state: dict) -> None:
    missing = [k for k in REQUIRED if k not in state]
    if missing:
        names = ", ".join(f"'{k}'" for k in missing)
        raise CheckpointError(f"checkpoint '{path}' is missing {names} (not a complete gankit checkpoint)")
    for key, (ok, expected) in REQUIRED.items():
        if not ok(state[key]):
            raise CheckpointError(f"checkpoint '{path}' has a bad '{key}' (expected {expected}, got "
                                  f"{_describe(state[key])}; not a complete gankit checkpoint)")


def _describe(v) -> str:
    if isinstance(v, dict):
        bad = next(((k, t) for k, t in v.items() if not (isinstance(k, str) and isinstance(t, torch.Tensor))), None)
        if bad is not None:
            return f"a dict whose entry {_short(repr(bad[0]), 40)} is {type(bad[1]).__name__}"
    if isinstance(v, (bool, int, float)):
        return f"{type(v).__name__} {v!r}"
    if isinstance(v, str):
        return f"str {_short(repr(v), 40)}"
    return type(v).__name__


# ------------------------------------------------------------------ why a file did not load
_MAX_MESSAGE = 300


def _load_error(path: Path, e: Exception) -> CheckpointError:
    unsafe = [g for g in _pickle_globals(path) if g not in _allowed_globals()]
    if unsafe:
        names = ", ".join(unsafe[:3]) + (f" and {len(unsafe) - 3} more" if len(unsafe) > 3 else "")
        return CheckpointError(f"checkpoint '{path}' holds arbitrary Python objects ({names}); gankit refuses to "
                               f"unpickle them (torch.load weights_only=True) — load only checkpoints you trust")
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", str(e))
    if "WeightsUnpickler error:" in text:  # torch wraps the cause in advice about weights_only; keep the cause
        text = text.split("WeightsUnpickler error:", 1)[1].split("Check the documentation")[0]
    text = " ".join(text.split())
    first = re.split(r"(?<=[a-z0-9)])\. (?=[A-Z])", text, maxsplit=1)[0]  # the first sentence names the cause
    text = first if len(first) >= 10 else text
    head = f"checkpoint '{path}' is unreadable or corrupt ("
    detail = _short(text, max(40, _MAX_MESSAGE - len(head) - 1)) or type(e).__name__
    return CheckpointError(f"{head}{detail})")


def _allowed_globals() -> set:
    """Names ("module.qualname") of the globals torch's weights-only unpickler accepts."""
    names = set()
    try:
        from torch import _weights_only_unpickler as wou

        names.update(wou._get_allowed_globals())
        names.update(wou._get_user_allowed_globals())
        return names
    except Exception:  # another torch version: public API plus what torch.save writes for plain tensors
        pass
    for g in getattr(torch.serialization, "get_safe_globals", lambda: [])():
        if isinstance(g, tuple) and len(g) == 2:
            names.add(g[1])
        else:
            names.add(f"{getattr(g, '__module__', '')}.{getattr(g, '__qualname__', '')}")
    names.update({
        "collections.OrderedDict", "builtins.set", "builtins.complex", "builtins.bytearray", "_codecs.encode",
        "torch.Size", "torch.device", "torch.Tensor", "torch.nn.parameter.Parameter",
        "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3",
        "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
        "torch._tensor._rebuild_from_type_v2", "torch.serialization._get_layout",
    })
    for attr in dir(torch):
        if attr.endswith("Storage") or isinstance(getattr(torch, attr, None), torch.dtype):
            names.add(f"torch.{attr}")
    return names


_IDENT = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_STRING_OPS = {"STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8"}
_PUT_OPS = {"PUT", "BINPUT", "LONG_BINPUT"}
_GET_OPS = {"GET", "BINGET", "LONG_BINGET"}


def _pickle_globals(path: Path) -> List[str]:
    """The globals ("module.name") the checkpoint's pickle references, in order of first use; read with
    :func:`pickletools.genops`, never unpickled. A torch zip file's ``*/data.pkl`` is read; any other
    file as a sequence of pickles (torch's legacy format writes several). Damaged data ends the scan."""
    found: List[str] = []
    try:
        with open(path, "rb") as fh:
            zipped = fh.read(4) == b"PK\x03\x04"
            if not zipped:
                fh.seek(0)
                for _ in range(8):
                    if not fh.peek(1):  # end of file
                        break
                    if not _scan_pickle(fh, found):
                        break
                return found
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                if name == "data.pkl" or name.endswith("/data.pkl"):
                    with z.open(name) as member:
                        _scan_pickle(member, found)
    except (OSError, zipfile.BadZipFile, RuntimeError, ValueError, EOFError):
        pass  # unreadable or not a zip after all: what was found so far stands
    return found


def _scan_pickle(fh, found: List[str]) -> bool:
    """Add the globals one pickle in ``fh`` references to ``found``; False when the pickle is damaged.

    GLOBAL and INST name theirs; STACK_GLOBAL takes the two strings pushed before it (directly or from
    the memo), tracked here approximately: only the last pushed values matter."""
    recent: list = []  # the most recently pushed values: a str for a string push, None for anything else
    memo: dict = {}
    protocol = 0

    def add(name: str) -> None:
        if name not in found:
            found.append(name)

    try:
        for op, arg, _pos in pickletools.genops(fh):
            kind = op.name
            if kind == "PROTO":
                protocol = arg
            elif kind == "FRAME":
                pass
            elif kind in ("GLOBAL", "INST"):
                module, _, qual = str(arg).partition(" ")
                if _IDENT.fullmatch(module) and _IDENT.fullmatch(qual):
                    add(f"{module}.{qual}")
                recent.append(None)
            elif kind == "STACK_GLOBAL":
                qual = recent.pop() if recent else None
                module = recent.pop() if recent else None
                if isinstance(module, str) and isinstance(qual, str):
                    add(f"{module}.{qual}")
                elif protocol >= 4:
                    add("<a global named by computed strings>")
                recent.append(None)
            elif kind == "MEMOIZE":
                memo[len(memo)] = recent[-1] if recent else None
            elif kind in _PUT_OPS:
                memo[arg] = recent[-1] if recent else None
            elif kind in _GET_OPS:
                recent.append(memo.get(arg))
            elif kind in _STRING_OPS:
                recent.append(arg if isinstance(arg, str) else None)
            else:
                recent.append(None)
            del recent[:-2]
    except Exception:  # damaged or not a pickle: genops raises ValueError, EOFError, UnicodeDecodeError, ...
        return False
    return True


def list_checkpoints(directory) -> List[Path]:
    """Checkpoints in ``directory`` sorted by step (oldest first): regular files named ``step-N.pt``
    (a directory or symbolic link of that name is not gankit's: never loaded, never pruned)."""
    d = Path(directory)
    if not d.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in d.iterdir()
             if (m := _NAME.match(p.name)) and p.is_file() and not p.is_symlink()]
    return [p for _, p in sorted(found)]


def checkpoint_path(directory, step: int) -> Path:
    return Path(directory) / f"step-{step:08d}.pt"


def prune(directory, keep: int) -> None:
    for p in list_checkpoints(directory)[:-keep]:
        p.unlink(missing_ok=True)


# ------------------------------------------------------------------ RNG states
def rng_state() -> dict:
    py = random.getstate()
    np_state = np.random.get_state()
    state = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]),
                  int(np_state[3]), float(np_state[4])],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), n[2], n[3], n[4]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
