"""Matching an unsupervised categorical code to classes: the best one-to-one assignment.

InfoGAN (Chen et al. 2016, arXiv 1606.03657, Sec. 7.1) reports how well its 10-way categorical code,
learnt without labels, recovers MNIST's digit classes: each code value is matched to one class and
the accuracy is the share of samples whose class (here the reference classifier's prediction) is the
class matched to their code. The matching that maximises that share is a linear assignment problem,
solved here by the Hungarian method with potentials (Kuhn 1955; Munkres 1957), O(n^2 m) for an
n x m cost matrix, in plain Python (the matrices are 10 x 10; no SciPy needed at run time).
"""
from __future__ import annotations

import math
from typing import List, Sequence

import torch

__all__ = ["linear_assignment", "confusion_counts", "matched_accuracy"]


def linear_assignment(cost: Sequence[Sequence[float]]) -> List[int]:
    """For an ``n x m`` cost matrix with ``n <= m``: ``cols`` with ``cols[i]`` the column given to row
    ``i``, all distinct, minimising ``sum(cost[i][cols[i]])``.

    Shortest augmenting paths with row and column potentials: rows are added one at a time, and each
    is joined to the matching along a path of least reduced cost (a Dijkstra search over the
    columns), after which the potentials are updated so that all reduced costs stay non-negative."""
    n = len(cost)
    m = len(cost[0]) if n else 0
    if n == 0:
        return []
    if any(len(r) != m for r in cost):
        raise ValueError("cost must be a rectangular matrix")
    if n > m:
        raise ValueError(f"cost has more rows ({n}) than columns ({m}); transpose it")
    a = [[float(v) for v in r] for r in cost]
    if not all(math.isfinite(v) for r in a for v in r):
        raise ValueError("cost must be finite")
    u = [0.0] * (n + 1)          # row potentials (1-based; index 0 is the virtual start)
    v = [0.0] * (m + 1)          # column potentials
    owner = [0] * (m + 1)        # owner[j]: the row matched to column j (0: free)
    for i in range(1, n + 1):
        owner[0] = i
        j0 = 0
        best = [math.inf] * (m + 1)   # least reduced cost of reaching each column
        prev = [0] * (m + 1)          # the column before it on that path
        done = [False] * (m + 1)
        while True:
            done[j0] = True
            i0, delta, j1 = owner[j0], math.inf, 0
            for j in range(1, m + 1):
                if done[j]:
                    continue
                reduced = a[i0 - 1][j - 1] - u[i0] - v[j]
                if reduced < best[j]:
                    best[j], prev[j] = reduced, j0
                if best[j] < delta:
                    delta, j1 = best[j], j
            for j in range(m + 1):
                if done[j]:
                    u[owner[j]] += delta
                    v[j] -= delta
                else:
                    best[j] -= delta
            j0 = j1
            if owner[j0] == 0:
                break
        while j0:  # flip the path
            j1 = prev[j0]
            owner[j0] = owner[j1]
            j0 = j1
    cols = [0] * n
    for j in range(1, m + 1):
        if owner[j]:
            cols[owner[j] - 1] = j - 1
    return cols


def confusion_counts(codes: torch.Tensor, classes: torch.Tensor, num_codes: int, num_classes: int) -> torch.Tensor:
    """``(num_codes, num_classes)`` int64 counts: entry ``[k, c]`` is how many samples have code ``k``
    and class ``c``."""
    codes, classes = codes.long().flatten().cpu(), classes.long().flatten().cpu()
    if codes.shape != classes.shape:
        raise ValueError(f"{len(codes)} codes for {len(classes)} classes")
    idx = codes * num_classes + classes
    return torch.bincount(idx, minlength=num_codes * num_classes).view(num_codes, num_classes)


def matched_accuracy(codes: torch.Tensor, classes: torch.Tensor, num_codes: int, num_classes: int) -> dict:
    """The accuracy of the best one-to-one matching of code values to classes: ``{"accuracy": float,
    "matching": [class of code 0, class of code 1, ...]}`` (a code value with no class left, when there
    are more code values than classes, is matched to -1 and counts as wrong)."""
    counts = confusion_counts(codes, classes, num_codes, num_classes)
    total = int(counts.sum())
    if total == 0:
        raise ValueError("no samples to match")
    rows = counts.tolist()
    if num_codes <= num_classes:
        matching = linear_assignment([[-c for c in r] for r in rows])
    else:  # more code values than classes: assign classes to codes instead
        by_class = linear_assignment([[-rows[k][c] for k in range(num_codes)] for c in range(num_classes)])
        matching = [-1] * num_codes
        for c, k in enumerate(by_class):
            matching[k] = c
    hits = sum(rows[k][c] for k, c in enumerate(matching) if c >= 0)
    return {"accuracy": hits / total, "matching": matching}
