"""Checkpoints: one state per file (DESIGN principle 7), written atomically, loaded safely.

A checkpoint holds every network (including the EMA generator and adaptive buffers), every
optimiser and scheduler, the data loader's position, all RNG states, the step, and the config with
its hash. It is written to a temporary file in the same directory, fsync'ed, renamed over the
target and the directory fsync'ed, so a crash at any moment leaves either the old or the new file,
never a torn one. It is read with ``torch.load(weights_only=True)``: no arbitrary unpickling.
"""
from __future__ import annotations

import random
import re
from pathlib import Path
from typing import List, Optional

import numpy as np
import torch

from ..errors import CheckpointError
from ..io import atomic_write, atomic_write_text  # noqa: F401  (re-exported)

FORMAT = "gankit-checkpoint/1"
_NAME = re.compile(r"^step-(\d+)\.pt$")


def save(state: dict, path) -> None:
    atomic_write(path, lambda f: torch.save({"format": FORMAT, **state}, f))


def load(path, expected_hash: Optional[str] = None) -> dict:
    """Load a checkpoint safely; one clear :class:`CheckpointError` for every failure."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint '{path}' does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt, truncated, foreign or unsafe pickle
        text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", str(e))
        if "Unsupported global" in text:
            g = re.search(r"GLOBAL (\S+)", text)
            raise CheckpointError(f"checkpoint '{path}' holds arbitrary Python objects"
                                  f"{' (' + g.group(1) + ')' if g else ''}; gankit refuses to unpickle them "
                                  f"(torch.load weights_only=True)") from None
        if "WeightsUnpickler error" in text:
            detail = " ".join(text.split("WeightsUnpickler error:", 1)[1].split("Check the documentation")[0].split())
        else:
            detail = " ".join(text.split())
        msg = detail[:120] or type(e).__name__
        raise CheckpointError(f"checkpoint '{path}' is unreadable or corrupt ({msg})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint '{path}' is not a gankit checkpoint (expected format {FORMAT})")
    if expected_hash is not None and state.get("config_hash") != expected_hash:
        raise CheckpointError(
            f"checkpoint '{path}' was written by another config (hash {state.get('config_hash')}, "
            f"this run's config.yaml has {expected_hash})"
        )
    return state


def list_checkpoints(directory) -> List[Path]:
    """Checkpoints in ``directory`` sorted by step (oldest first)."""
    d = Path(directory)
    if not d.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in d.iterdir() if (m := _NAME.match(p.name))]
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
