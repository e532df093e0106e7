"""Every Div-family GAN at its own defaults on the 2-D mixtures: what `gankit train NAME data=ring8|grid25
seed=S` gives a user who sets nothing else.

Entries: each registered GAN whose preset has 2-D settings (``by_data.points`` in ``configs/<name>.yaml``),
run exactly as ``gankit.train(NAME, data=D, seed=S)`` -- the only other settings given are ones that do not
change what is trained (no progress bar, no periodic sample files; the config hash is checked to be
the defaults'); plus ``fgan`` with each of its divergences (``objective=fgan-<div>``), which may have
divergence-specific settings in fgan's ``by_objective`` sections (stated there).

Protocol: the VEEGAN/PacGAN mode metrics of :mod:`gankit.metrics.toy` on 2,500 samples of the final
generator drawn with the run's seed (HQ: within 3 sigma of the nearest mode; a mode is captured with at
least one HQ sample; reverse KL over modes on HQ samples). Seeds 0, 1, 2 by default. Runs go to
``--workers`` processes of one torch thread each (2 on the 2-core machine); wall s is one run's time.

Targets (issue 9): every GAN 8/8 ring modes at >= 90 % HQ and >= 24/25 grid modes at >= 85 % HQ
("target"); PacGAN level (Lin et al. 2018): ring 8/8 at >= 95 % HQ, grid >= 24.8/25 at >= 94 % HQ with
reverse KL <= 0.04 ("PacGAN"). Both are judged on the means over seeds, and only when every seed finished.

    python bench/toy_defaults.py                       # everything, ~40 min on 2 cores
    python bench/toy_defaults.py --gans gan,sngan --seeds 0 --gifs gan,sngan --merge   # with their GIFs
    python bench/toy_defaults.py --gans gan,lsgan --seeds 0 --datasets ring8
    python bench/toy_defaults.py --gans fgan-kl,fgan-tv --seeds 0 --merge   # add to the stored table
Outputs: ``bench/results/toy_defaults/toy_defaults.json`` (per run), ``docs/toy_defaults.md`` (the table)
and ``docs/toy_defaults/<dataset>-<entry>.png`` (seed 0: samples over D's score; runs of other seeds
write no pictures).
"""
from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import platform
import shutil
import sys
import tempfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from toy_modes import mean_std  # noqa: E402

import gankit  # noqa: E402
from gankit.config import preset, resolve  # noqa: E402
from gankit.errors import GankitError, TrainingDiverged  # noqa: E402

TARGET = {"ring8": (8, 90.0, None), "grid25": (24, 85.0, None)}
PACGAN = {"ring8": (8, 95.0, None), "grid25": (24.8, 94.0, 0.04)}
DIVERGENCES = ("tv", "kl", "reverse-kl", "pearson", "neyman", "hellinger", "jeffrey", "js", "gan")
QUIET = {"progress": False, "sample_every": 0}


def entries(gans=None) -> list:
    from gankit.gans import GANS

    names = [n for n in GANS.names() if "points" in preset(n).get("by_data", {})]
    out = [(n, n, []) for n in names if gans is None or n in gans]
    # fgan's other divergences (fgan-js is fgan's default): all of them by default, else those named
    out += [(f"fgan-{d}", "fgan", [f"objective=fgan-{d}"]) for d in DIVERGENCES
            if d != "js" and (gans is None or f"fgan-{d}" in gans)]
    return out


def run_job(job: dict) -> dict:
    import torch

    torch.set_num_threads(1)
    res = {k: job[k] for k in ("entry", "dataset", "seed")}
    t0 = time.perf_counter()
    out = Path(job["tmp"]) / f"{job['dataset']}-{job['entry']}-s{job['seed']}"
    try:
        args = [f"data={job['dataset']}", f"seed={job['seed']}"] + job["extra"]
        defaults = resolve(job["gan"], args)
        run = gankit.train(job["gan"], *args, out=str(out), overwrite=True, train=dict(QUIET))
        assert run.config.hash == defaults.hash, "benchmark settings changed what is trained"
        m = json.loads((out / "eval.json").read_text())
        res.update(status="ok", modes=m["modes_captured"], num_modes=m["num_modes"], hq=m["high_quality_pct"],
                   kl=m["reverse_kl"] if m["reverse_kl"] is not None and math.isfinite(m["reverse_kl"]) else None,
                   steps=m["step"], config=run.config.to_dict())
        if job["figure"]:
            Path(job["figure"]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(out / "samples" / "final.png", job["figure"])
            if job.get("gif") and (out / "samples" / "training.gif").is_file():  # about 1 MB each: asked for
                shutil.copyfile(out / "samples" / "training.gif", str(job["figure"])[:-4] + ".gif")
    except TrainingDiverged as e:
        res.update(status="diverged", error=str(e))
    except GankitError as e:
        res.update(status="error", error=str(e))
    except Exception as e:  # a bug: keep the benchmark going, record it
        res.update(status="error", error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
    finally:
        shutil.rmtree(out, ignore_errors=True)
    res["wall_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps({k: v for k, v in res.items() if k not in ("config", "traceback")}), flush=True)
    return res


def judge(runs: list, target) -> bool:
    ok = [r for r in runs if r["status"] == "ok"]
    if not ok or len(ok) < len(runs):
        return False
    modes, hq, kl = (mean_std([r[k] for r in ok])[0] for k in ("modes", "hq", "kl"))
    m_min, hq_min, kl_max = target
    return modes >= m_min - 1e-9 and hq >= hq_min and (kl_max is None or (kl is not None and kl <= kl_max))


def markdown(report: dict) -> str:
    lines = ["# The Div-family GANs at their defaults on the 2-D mixtures", "",
             "Generated by `bench/toy_defaults.py`; do not edit by hand. Every entry is `gankit train NAME "
             "data=DATASET seed=S` with nothing else set: the settings are the preset's `by_data.points` section "
             "(see `src/gankit/configs/NAME.yaml`, which says why). Metrics on 2,500 samples (VEEGAN/PacGAN "
             "protocol). Mean ± std over the seeds that finished.", "",
             f"gankit {report['gankit']}, torch {report['torch']}, CPU, {report['workers']} processes × 1 thread, "
             f"seeds {report['seeds']} (per entry: the seeds column), {report['date']}.", "",
             "target = issue 9's bar (ring 8/8 at ≥ 90 % HQ; grid ≥ 24/25 at ≥ 85 % HQ); PacGAN = ring 8/8 at ≥ 95 % "
             "HQ, grid ≥ 24.8/25 at ≥ 94 % HQ and reverse KL ≤ 0.04.", ""]
    for ds in report["datasets"]:
        lines += [f"## {ds}", "", "| GAN | seeds | modes | HQ % | reverse KL | steps | wall s | target | PacGAN | picture |",
                  "|---|---|---:|---:|---:|---:|---:|:-:|:-:|---|"]
        for name in sorted({r["entry"] for r in report["runs"] if r["dataset"] == ds}):
            runs = [r for r in report["runs"] if r["dataset"] == ds and r["entry"] == name]
            ok = [r for r in runs if r["status"] == "ok"]
            bad = [f"s{r['seed']} {r['status']}" for r in runs if r["status"] != "ok"]

            def f(key, digits):
                m, s = mean_std([r[key] for r in ok])
                return "—" if m is None else f"{m:.{digits}f} ± {s:.{digits}f}"

            pic = f"toy_defaults/{ds}-{name}.png"
            link = f"[png]({pic})" + (f" [gif]({pic[:-4]}.gif)" if (REPO / "docs" / (pic[:-4] + ".gif")).is_file() else "")
            nmodes = ok[0]["num_modes"] if ok else "?"
            seeds = ",".join(str(r["seed"]) for r in sorted(runs, key=lambda r: r["seed"]))
            lines.append(f"| `{name}`{' (' + ', '.join(bad) + ')' if bad else ''} | {seeds} | {f('modes', 2)} / {nmodes} | "
                         f"{f('hq', 1)} | {f('kl', 3)} | {ok[0]['steps'] if ok else '—'} | "
                         f"{mean_std([r['wall_s'] for r in runs])[0]:.0f} | {'✓' if judge(runs, TARGET[ds]) else ''} | "
                         f"{'✓' if judge(runs, PACGAN[ds]) else ''} | {link if (REPO / 'docs' / pic).is_file() else '—'} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gans", default=None, help="comma list of entries (default: every GAN with 2-D settings)")
    ap.add_argument("--datasets", default="ring8,grid25")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--results", default=str(HERE / "results" / "toy_defaults"))
    ap.add_argument("--docs", default=str(REPO / "docs"))
    ap.add_argument("--merge", action="store_true", help="keep stored runs of entries not re-run now")
    ap.add_argument("--gifs", default="", help="comma list of entries whose training GIF (seed 0) goes into docs "
                    "(about 1 MB each; default none)")
    a = ap.parse_args(argv)
    gans = a.gans.split(",") if a.gans else None
    datasets, seeds = a.datasets.split(","), [int(s) for s in a.seeds.split(",")]
    results, docs = Path(a.results), Path(a.docs)
    results.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="toy-defaults-") as tmp:
        jobs = [dict(entry=e, gan=g, extra=x, dataset=ds, seed=s, tmp=tmp,
                     figure=str(docs / "toy_defaults" / f"{ds}-{e}.png") if s == 0 else None,
                     gif=e in a.gifs.split(","))
                for e, g, x in entries(gans) for ds in datasets for s in seeds]
        jobs.sort(key=lambda j: (j["gan"] in ("wgan-gp", "dragan"), j["gan"] in ("ebgan", "began")), reverse=True)
        path = results / "toy_defaults.json"
        stored = json.loads(path.read_text())["runs"] if a.merge and path.is_file() else []
        runs: list = []
        with mp.get_context("spawn").Pool(a.workers) as pool:
            for r in pool.imap_unordered(run_job, jobs):  # the table is rewritten as each run ends
                runs.append(r)
                write(runs, stored, path, docs, a.workers, time.perf_counter() - t0)
    print(f"wrote {path} and {docs / 'toy_defaults.md'}")
    return 0 if all(r["status"] != "error" for r in runs) else 1


def write(runs: list, stored: list, path: Path, docs: Path, workers: int, wall_s: float) -> None:
    import torch

    done = {(r["entry"], r["dataset"], r["seed"]) for r in runs}
    runs = runs + [r for r in stored if (r["entry"], r["dataset"], r["seed"]) not in done]
    report = {"gankit": gankit.__version__, "torch": torch.__version__, "python": platform.python_version(),
              "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "workers": workers,
              "seeds": sorted({r["seed"] for r in runs}),
              "datasets": [d for d in ("ring8", "grid25") if any(r["dataset"] == d for r in runs)],
              "wall_s": round(wall_s, 1), "runs": runs}
    path.write_text(json.dumps(report, indent=1) + "\n")
    (docs / "toy_defaults.md").write_text(markdown(report))


if __name__ == "__main__":
    sys.exit(main())
