"""Strict JSON for everything gankit writes (eval.json, run.json, metrics.jsonl).

Python's ``json`` writes NaN and Infinity as bare words, which are not JSON: other tools refuse
the file. A score that is not finite is written as ``null`` instead (its key stays, so a reader
sees that it was computed and was undefined).
"""
from __future__ import annotations

import json
import math


def finite_or_none(x):
    """``x`` with every non-finite float (also inside dicts, lists, tuples) replaced by None."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: finite_or_none(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [finite_or_none(v) for v in x]
    return x


def dumps(obj, **kw) -> str:
    return json.dumps(finite_or_none(obj), allow_nan=False, **kw)
