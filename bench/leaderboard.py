"""The leaderboard: every GAN gankit has, trained for the same wall-clock budget on MNIST and
Fashion-MNIST, scored under one protocol, next to the real-data ceilings.

Protocol (recorded in every entry): each GAN trains with its own defaults for the dataset
(`gankit train NAME data=DATASET seed=S`: its preset, `configs/<gan>.yaml`, with the image settings)
for the same **wall-clock budget** (`--minutes`, default 5; `train.max_minutes`, which counts training
time only and stops cleanly), one run at a time with `--threads` torch threads (default 2, the whole
2-core machine), so GANs with different per-step costs (n_critic 5, gradient penalties, wider nets) get
equal compute; the steps each reached are reported. Then 10,000 samples of its (EMA) generator, noise
seed = training seed, are scored in the feature space of gankit's reference classifier for that dataset
against the first 10,000 test images: cFID, cKID (100 subsets of 1,000), cIS (10 splits),
precision/recall (k=3), density/coverage (k=5), and class accuracy for conditional GANs.

Each entry is written to `bench/results/leaderboard/<dataset>/<gan>-s<seed>.json` as soon as it is done;
a rerun skips entries that exist for the same budget (delete them, or pass `--redo`, to re-measure), so
the table stays runnable as GANs are added. Several processes may share the work (each claims an entry
with a `.lock` file next to it; delete stale locks left by a killed process), but then they share the
CPU too: for equal compute run one process, or one process per core with `--threads 1` and say so with
`--how` (the published 1-seed table: `--datasets mnist` and `--datasets fashion-mnist` side by side, one per
core, about 80 minutes in all). Outputs: `bench/results/leaderboard.json`,
`docs/leaderboard.md` and one sample grid per entry (seed 0) in `docs/leaderboard/`.

    GANKIT_DATA=../shared/data python bench/leaderboard.py                  # 1 seed: about 2.5 hours
    GANKIT_DATA=../shared/data python bench/leaderboard.py --seeds 0,1,2    # the published table
    GANKIT_DATA=../shared/data python bench/leaderboard.py --gans dcgan --datasets mnist --minutes 1
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

import gankit
from gankit.errors import GankitError, TrainingDiverged
from gankit.gans import GANS
from gankit.io import atomic_write_text
from gankit.metrics import real_ceilings

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = [("cfid", "cFID ↓", 1.0, 2), ("ckid", "cKID ↓", 1.0, 4), ("cis", "cIS ↑", 1.0, 2),
           ("precision", "precision ↑", 1.0, 3), ("recall", "recall ↑", 1.0, 3),
           ("density", "density", 1.0, 3), ("coverage", "coverage ↑", 1.0, 3),
           ("class_accuracy", "class acc. ↑", 1.0, 3), ("code_accuracy", "code acc. ↑", 1.0, 3),
           ("classifier_error", "D's test error ↓", 1.0, 4), ("linear_probe_accuracy", "E probe acc. ↑", 1.0, 3),
           ("nn_accuracy", "E 1-NN acc. ↑", 1.0, 3)]


#: presets with rows of their own besides the GANs' (a paper's setting built from another GAN's parts)
EXTRA_PRESETS = ("sagan-conditional",)


def image_gans() -> list:
    """Every registered GAN scored by the sample metrics (not the translators and CoGAN, whose task metrics are
    in docs/gans/translation.md), and :data:`EXTRA_PRESETS`."""
    return [n for n in GANS.names() if not GANS.get(n).own_evaluation] + list(EXTRA_PRESETS)


MAX_STEPS = 10**7  # the time budget ends every run first
#: settings a time-budgeted run needs besides the preset: StackGAN's Stage-I / Stage-II boundary is counted in G
#: steps (the preset's default, half of `steps`, would never come with steps=MAX_STEPS). 1,500 Stage-I steps take
#: about a quarter of 5 minutes on one thread, the share of time Stage-I gets in the preset's 6,000-step run.
BUDGET_SETTINGS = {"stackgan": ["model.stage1_steps=1500"]}


def run_entry(gan: str, dataset: str, seed: int, minutes: float, n: int, runs_dir: Path, grid_dir: Path) -> dict:
    entry = {"gan": gan, "dataset": dataset, "seed": seed, "minutes": minutes, "threads": torch.get_num_threads()}
    out = runs_dir / f"{dataset}-{gan}-s{seed}"
    t0 = time.perf_counter()
    try:
        run = gankit.train(gan, *BUDGET_SETTINGS.get(gan, []), f"data={dataset}", f"steps={MAX_STEPS}",
                           f"seed={seed}", f"out={out}", f"train.max_minutes={minutes}", "train.progress=false", "train.sample_every=0",
                           "train.checkpoint_every=0", overwrite=True)
        entry["train_s"] = round(time.perf_counter() - t0, 1)
        meta = json.loads((out / "run.json").read_text())
        entry["steps"], entry["train_seconds"] = meta["step"], meta.get("train_seconds")
        t1 = time.perf_counter()
        result = run.evaluate(n=n, seed=seed, write=False)
        entry["eval_s"] = round(time.perf_counter() - t1, 1)
        entry["status"] = "finished"
        entry["metrics"] = {k: v for k, v in result.items() if isinstance(v, (int, float))}
        entry["protocol"] = result["protocol"]
        entry["config"] = run.config.to_dict()
        if seed == 0:
            run.save_samples(grid_dir / f"{dataset}-{gan}.png", n=64, seed=0, overwrite=True)
    except TrainingDiverged as e:
        entry.update(status="diverged", error=str(e), train_s=round(time.perf_counter() - t0, 1))
    except GankitError as e:
        entry.update(status="error", error=str(e), train_s=round(time.perf_counter() - t0, 1))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return entry


def mean_std(values):
    v = [x for x in values if x is not None and math.isfinite(x)]
    if not v:
        return None, None
    m = sum(v) / len(v)
    s = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return m, s


def fmt(m, s, scale, digits):
    if m is None:
        return "—"
    return f"{m * scale:.{digits}f} ± {s * scale:.{digits}f}" if s is not None else f"{m * scale:.{digits}f}"


def markdown(board: dict, meta: dict) -> str:
    lines = ["# Leaderboard", "",
             "Generated by `bench/leaderboard.py`; do not edit by hand. " + meta["protocol_text"], "",
             f"Budget: **{meta['minutes']:g} minutes of training** per run (`train.max_minutes`), each GAN with its "
             f"own defaults for the dataset, seeds {meta['seeds']}, {meta['device']} ({meta['threads']} torch "
             f"thread(s) per run; {meta.get('how') or 'one run at a time'}), torch {meta['torch']}, gankit "
             f"{meta['gankit']}. Values: mean ± std over seeds. `steps`: generator steps reached in the budget (mean). "
             f"A resolution after a GAN's name: its preset trains at that size (the others at the data's 28×28); "
             f"samples are scored at 28×28 like the rest. Besides its preset, a run gets only what a time budget needs: "
             + ", ".join(f"`{g}`: `{' '.join(v)}`" for g, v in BUDGET_SETTINGS.items())
             + " (its stage boundary is counted in steps).", ""]
    for dataset, d in board.items():
        entries, ceil = d["entries"], d.get("ceiling")
        lines += [f"## {dataset}", ""]
        cols = [c for c in COLUMNS if any(c[0] in (e.get("metrics") or {}) for es in entries.values() for e in es)
                or (ceil and c[0] in ceil)]
        lines.append("| GAN | " + " | ".join(c[1] for c in cols) + " | seeds ok | steps | samples (seed 0) |")
        lines.append("| --- | " + " | ".join("---:" for _ in cols) + " | ---: | ---: | --- |")
        if ceil:
            row = [fmt(ceil.get(c[0]), None, c[2], c[3]) if c[0] != "cis" else
                   fmt(ceil.get("test_cis"), None, 1.0, 2) for c in cols]
            if "class_accuracy" in [c[0] for c in cols]:
                row[[c[0] for c in cols].index("class_accuracy")] = fmt(ceil.get("test_accuracy"), None, 1.0, 4)
            lines.append("| **real data** (train-10k vs test-10k; cIS of test) | " + " | ".join(row) + " | — | — | — |")
        order = sorted(entries, key=lambda g: mean_std([e.get("metrics", {}).get("cfid") for e in entries[g]])[0]
                       or float("inf"))
        for gan in order:
            es = entries[gan]
            ok = [e for e in es if e.get("status") == "finished"]
            row = [fmt(*mean_std([e["metrics"].get(c[0]) for e in ok]), c[2], c[3]) for c in cols]
            ts = mean_std([e.get("steps") for e in ok])[0]
            grid = f"docs/leaderboard/{dataset}-{gan}.png"
            img = f"![{gan}](leaderboard/{dataset}-{gan}.png)" if (ROOT / grid).is_file() else "—"
            bad = [f"s{e['seed']} {e['status']}" for e in es if e.get("status") != "finished"]
            res = {(e.get("config") or {}).get("data", {}).get("resolution") for e in es} - {None, 28}
            where = f" ({', '.join(f'{r}×{r}' for r in sorted(res))})" if res else ""  # not the data's native 28
            lines.append(f"| `{gan}`{where} | " + " | ".join(row) + f" | {len(ok)}/{len(es)}{' (' + ', '.join(bad) + ')' if bad else ''}"
                         f" | {ts or 0:.0f} | {img} |")
        same = {}
        for gan in order:
            key = json.dumps([sorted(e.get("metrics", {}).items()) for e in entries[gan]])
            same.setdefault(key, []).append(gan)
        for group in (g for g in same.values() if len(g) > 1):
            lines += ["", f"{' and '.join(f'`{g}`' for g in group)} give identical numbers: same networks and seeds, "
                      "and losses equal up to constants (e.g. f-GAN with the JS divergence is the GAN objective "
                      "up to constants, Nowozin et al. 2016)."]
        lines.append("")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=5.0, help="training minutes per run (default 5)")
    ap.add_argument("--gans", default=None, help="comma list (default: every registered GAN)")
    ap.add_argument("--datasets", default="mnist,fashion-mnist")
    ap.add_argument("--seeds", default="0", help="comma list (default 0; the published table: 0,1,2)")
    ap.add_argument("--n", type=int, default=10000, help="generated samples scored per run")
    ap.add_argument("--redo", action="store_true", help="re-measure entries that already exist")
    ap.add_argument("--table-only", action="store_true", help="only rebuild the table from stored entries")
    ap.add_argument("--threads", type=int, default=2, help="torch threads per run (default 2)")
    ap.add_argument("--how", default=None, help="how the entries were run, when not one at a time (printed in the "
                    "table), e.g. 'two runs at a time, one per core'")
    ap.add_argument("--results", default=str(ROOT / "bench" / "results" / "leaderboard"))
    ap.add_argument("--docs", default=str(ROOT / "docs"))
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    gans = a.gans.split(",") if a.gans else image_gans()
    datasets = a.datasets.split(",")
    seeds = [int(s) for s in a.seeds.split(",")]
    results, docs = Path(a.results), Path(a.docs)
    grid_dir = docs / "leaderboard"
    grid_dir.mkdir(parents=True, exist_ok=True)
    board = {}
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in datasets:
            (results / dataset).mkdir(parents=True, exist_ok=True)
            cpath = results / dataset / "ceiling.json"
            if cpath.is_file() and not a.redo:
                ceiling = json.loads(cpath.read_text())
            elif a.table_only:
                ceiling = None
            else:
                ceiling = real_ceilings(dataset)
                atomic_write_text(cpath, json.dumps(ceiling, indent=2) + "\n")
                print(f"[{dataset}] ceiling cFID {ceiling['cfid']:.3f} test cIS {ceiling['test_cis']:.3f}", flush=True)
            entries = {}
            for gan in gans:
                for seed in seeds:
                    path = results / dataset / f"{gan}-s{seed}.json"
                    lock = path.with_suffix(".lock")
                    stored = json.loads(path.read_text()) if path.is_file() else None
                    if stored is not None and stored.get("minutes") != a.minutes and not a.table_only:
                        stored = None  # measured at another budget: measure again
                    if stored is not None and not a.redo:
                        e = stored
                    elif a.table_only:
                        continue
                    else:
                        try:  # another leaderboard process may be measuring this entry right now
                            os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                        except FileExistsError:
                            print(f"[{dataset}] {gan} seed {seed}: taken by another process ({lock})", flush=True)
                            continue
                        try:
                            e = run_entry(gan, dataset, seed, a.minutes, a.n, Path(tmp), grid_dir)
                            atomic_write_text(path, json.dumps(e, indent=2) + "\n")
                        finally:
                            lock.unlink(missing_ok=True)
                        m = e.get("metrics", {})
                        print(f"[{dataset}] {gan} seed {seed}: {e['status']} cFID {m.get('cfid', float('nan')):.3f} "
                              f"cIS {m.get('cis', float('nan')):.3f} steps {e.get('steps')} train {e.get('train_s')} s "
                              f"eval {e.get('eval_s')} s", flush=True)
                    entries.setdefault(gan, []).append(e)
            board[dataset] = {"ceiling": {k: v for k, v in (ceiling or {}).items() if isinstance(v, (int, float))},
                              "entries": entries}
    names = sorted({e["protocol"]["features"]["name"] for d in board.values() for es in d["entries"].values()
                    for e in es if "protocol" in e})
    protocol_text = ("Protocol: 10,000 samples per run scored with gankit's reference classifier of the dataset "
                     f"({', '.join(f'`{n}`' for n in names) or 'classifier'}) against the first 10,000 test images; "
                     "cFID / cKID (100 subsets × 1,000, cubic kernel) / cIS (10 splits) / precision-recall (k = 3) / "
                     "density-coverage (k = 5). Real-data row: the first 10,000 training images scored the same way.")
    threads = sorted({e.get("threads") for d in board.values() for es in d["entries"].values() for e in es
                      if e.get("threads")}) or [torch.get_num_threads()]
    meta = {"minutes": a.minutes, "seeds": seeds, "device": "CPU", "threads": "/".join(map(str, threads)),
            "torch": torch.__version__, "gankit": gankit.__version__, "protocol_text": protocol_text, "how": a.how}
    atomic_write_text(ROOT / "bench" / "results" / "leaderboard.json",
                      json.dumps({"meta": meta, "board": board}, indent=2) + "\n")
    atomic_write_text(docs / "leaderboard.md", markdown(board, meta))
    print(f"wrote {docs / 'leaderboard.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
