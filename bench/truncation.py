"""The truncation curve of a class-conditional run with a Gaussian latent (BigGAN, Brock et al. 2018, arXiv
1809.11096, Sec. 3.1 and Fig. 4): the same run scored with its z drawn from N(0, I) and from the normal truncated
at each threshold T (``gankit eval RUN --truncation T``). As T falls, samples move towards each class's mode:
fidelity (cIS, precision, class accuracy) should rise and variety (recall, coverage) fall.

    GANKIT_DATA=../shared/data python bench/truncation.py runs/biggan-fashion-mnist
    python bench/truncation.py RUN --thresholds 2,1,0.7,0.5,0.4,0.2 --n 10000 --out-dir bench/results

Writes ``<out-dir>/truncation-<run name>.json`` and ``.md`` (a table) and ``.png`` (cIS and cFID, recall and
coverage against T; "none" is plotted at the right end). Each point: ``--n`` samples (noise seed 0) against the
first 10,000 test images in the reference classifier's feature space, the suite's default metrics.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine_record, write_report  # noqa: E402

KEYS = [("cis", "cIS ↑"), ("cfid", "cFID ↓"), ("precision", "precision ↑"), ("recall", "recall ↑"),
        ("coverage", "coverage ↑"), ("class_accuracy", "class acc. ↑")]


def plot(rows: list, path: Path) -> None:
    from matplotlib.figure import Figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    ts = [r["truncation"] for r in rows]
    top = max(t for t in ts if t is not None) * 1.25 if any(t is not None for t in ts) else 1.0
    xs = [top if t is None else t for t in ts]
    fig = Figure(figsize=(9, 3.4))
    FigureCanvasAgg(fig)
    left = fig.add_subplot(1, 2, 1)
    twin = left.twinx()  # cIS (about 1-10) and cFID (0-100) on their own scales
    for ax, k, colour in ((left, "cis", "tab:blue"), (twin, "cfid", "tab:orange")):
        if all(k in r for r in rows):
            ax.plot(xs, [r[k] for r in rows], marker="o", color=colour, label=dict(KEYS)[k])
            ax.set_ylabel(dict(KEYS)[k], color=colour)
    left.set_xlabel("truncation threshold T (right end: none)")
    left.grid(alpha=0.3)
    ax = fig.add_subplot(1, 2, 2)
    for k in ("recall", "coverage", "precision", "class_accuracy"):
        if all(k in r for r in rows):
            ax.plot(xs, [r[k] for r in rows], marker="o", label=dict(KEYS)[k])
    ax.set_xlabel("truncation threshold T (right end: none)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    path.write_bytes(buf.getvalue())


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--thresholds", default="2,1,0.7,0.5,0.4,0.2")
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--out-dir", default=str(Path(__file__).resolve().parent / "results"))
    a = ap.parse_args(argv)
    import gankit

    run = gankit.load_run(a.run)
    rows = []
    for t in [None] + [float(v) for v in a.thresholds.split(",")]:
        r = run.evaluate(n=a.n, seed=0, write=False, truncation=t)
        rows.append({"truncation": t, **{k: r[k] for k, _ in KEYS if k in r}})
        print(json.dumps(rows[-1]), flush=True)
    name = Path(a.run).name
    header = "| T | " + " | ".join(h for k, h in KEYS if k in rows[0]) + " |\n"
    header += "| --- " * (1 + sum(k in rows[0] for k, _ in KEYS)) + "|\n"
    body = "".join("| " + ("none" if r["truncation"] is None else f"{r['truncation']:g}") + " | "
                   + " | ".join(f"{r[k]:.3f}" for k, _ in KEYS if k in r) + " |\n" for r in rows)
    md = (f"# Truncation curve of {name} ({run.config.gan} on {run.info.name}, step {run.step})\n\n"
          f"{a.n:,} samples per row, noise seed 0, against the first 10,000 test images (reference classifier "
          f"features).\n\n" + header + body)
    report = {**machine_record("truncation", run.device), "run": str(a.run), "gan": run.config.gan,
              "step": run.step, "n": a.n, "rows": rows}
    write_report(a.out_dir, f"truncation-{name}", report, md)
    plot(rows, Path(a.out_dir) / f"truncation-{name}.png")


if __name__ == "__main__":
    main()
