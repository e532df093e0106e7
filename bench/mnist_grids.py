"""Every named GAN on MNIST for the same number of generator steps, with its paper preset.

For each GAN in ``gankit list``: ``gankit train NAME data=mnist steps=N`` (the preset's objective,
penalties, optimiser and n_critic), then record whether it finished without a NaN/Inf (gankit's
guard stops a diverged run), its final logged losses and wall time, and copy its sample grid
(64 fixed noise vectors, seed 0) to ``docs/gans/grids/NAME.png``. Writes JSON and a Markdown page.

    GANKIT_DATA=../shared/data python bench/mnist_grids.py --steps 500
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch

import gankit
from gankit.errors import GankitError, TrainingDiverged
from gankit.gans import GANS


def last_losses(run_dir: Path) -> dict:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "eval" not in r]
    return {k: v for k, v in rows[-1].items() if k not in ("step", "steps_per_s")} if rows else {}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--gans", default=",".join(GANS.names()), help="comma list (default: all)")
    ap.add_argument("--data", default="mnist")
    ap.add_argument("--out", default="docs/gans")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    out = Path(a.out)
    (out / "grids").mkdir(parents=True, exist_ok=True)
    results = []
    for name in a.gans.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            entry = {"gan": name, "steps": a.steps, "data": a.data}
            try:
                run = gankit.train(name, f"data={a.data}", f"steps={a.steps}", f"seed={a.seed}", f"out={tmp}/run",
                                   "train.progress=false", "train.sample_every=0", "train.checkpoint_every=0")
                entry.update(status="finished", losses=last_losses(run.dir), config=run.config.to_dict())
                shutil.copy(run.dir / "samples" / "final.png", out / "grids" / f"{name}.png")
            except TrainingDiverged as e:
                entry.update(status="diverged", error=str(e))
            except GankitError as e:
                entry.update(status="error", error=str(e))
            entry["wall_s"] = round(time.perf_counter() - t0, 1)
        print(json.dumps({k: v for k, v in entry.items() if k != "config"}), flush=True)
        results.append(entry)
    meta = {"torch": torch.__version__, "gankit": gankit.__version__, "threads": torch.get_num_threads()}
    (out / "mnist_grids.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    lines = [f"# Every named GAN on {a.data}, {a.steps} generator steps, paper presets", "",
             f"Command: `GANKIT_DATA=../shared/data python bench/mnist_grids.py --steps {a.steps}` "
             f"(torch {meta['torch']}, CPU, {meta['threads']} threads). Each GAN uses its preset "
             "(`configs/<name>.yaml`): objective, penalties, optimiser, n_critic. 'finished' means no "
             "NaN/Inf (gankit's guard would have stopped the run). Grids: 64 fixed noise vectors, seed 0.", "",
             "| GAN | objective | penalties | n_critic | status | final losses | wall s | samples |",
             "| --- | --- | --- | ---: | --- | --- | ---: | --- |"]
    for r in results:
        c = r.get("config", {})
        losses = ", ".join(f"{k} {v:.3g}" for k, v in r.get("losses", {}).items())
        img = f"![{r['gan']}](grids/{r['gan']}.png)" if r["status"] == "finished" else r.get("error", "")
        lines.append(f"| `{r['gan']}` | {c.get('objective', '')} | {c.get('penalties', '') or ''} | "
                     f"{c.get('train', {}).get('n_critic', '')} | {r['status']} | {losses} | {r['wall_s']} | {img} |")
    (out / "mnist_grids.md").write_text("\n".join(lines) + "\n")
    return 0 if all(r["status"] == "finished" for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
