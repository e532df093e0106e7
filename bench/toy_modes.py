"""Mode coverage on the 2-D toy mixtures: every objective (and the main penalty/constraint
combinations) on ``ring8`` and ``grid25``, several seeds, the same MLP nets and budget for all.

Entries (built at run time from the registries, so new objectives join automatically):

* one entry per registered objective (``gankit.objectives.OBJECTIVES``), trained as the ``gan`` GAN
  with ``objective=<name>`` and nothing else: no penalty, no constraint. ``wgan`` alone is a
  critic without a Lipschitz constraint and is expected to do badly; it is listed as a baseline.
  The energy objectives ``ebgan`` and ``began`` need a D that outputs energies (an auto-encoder),
  not logits. They run only as their own GANs (below), and are listed as skipped while those are
  not registered;
* combinations: ``wgan+clip`` (``model.d_clip=0.01``, WGAN), ``wgan+gp`` (``penalties.gp=10``,
  WGAN-GP), ``nonsaturating+dragan`` (``penalties.dragan=10``), ``nonsaturating+r1``
  (``penalties.r1=1``: gamma 1, the middle of the 0.1-10 range in docs/penalties.md) and
  ``hinge+sn`` (``model.d_sn=true``, SNGAN-style spectral norm on every D layer);
* the ``ebgan``, ``began`` and ``sngan`` GANs, each with its own nets, objective and penalties
  from its preset, if it is registered in ``GANS`` when the benchmark runs. Of the net settings
  below, the ones its ``Params`` has are set to the common values (``model.arch=mlp``, ``hidden``,
  ``g_depth``, ``d_depth``, ``z_dim``). The JSON records which keys that was.

Protocol (the same for every entry, dataset and seed):

* nets, optimiser and batch size come from the tuned toy preset ``configs/gan.yaml``: MLP G and D,
  ``hidden`` 128, 3 hidden layers each, ``z_dim`` from the preset (2), no norm layers, Adam(2e-3, betas (0.5, 0.999))
  for G and D, decayed linearly to 0 over the run, batch 512. The budget is ``--steps`` generator
  steps, 2,000 by default, which is a quarter of the preset's 8,000 (see bench/README.md). Every
  entry gets the same optimiser. The papers' own optimisers (e.g. RMSProp 5e-5 for WGAN with
  clipping) were set for image GANs and many more updates, and are not expected to converge at
  this budget. ``--paper-optim`` switches the
  entries that have a paper preset (``wgan+clip``: ``wgan``, ``wgan+gp``: ``wgan-gp``,
  ``nonsaturating+dragan``: ``dragan``, and the ebgan/began/sngan GANs: their own) to the
  optimiser of that preset;
* ``n_critic`` is 1 for every entry: the budget is counted in generator steps, each with one D
  update. ``--n-critic-wgan 5`` gives the entries with the ``wgan`` objective 5 critic updates per
  generator step, as in the WGAN papers. This costs about 3x the time for those entries;
* training runs with ``train.progress=false``, ``train.sample_every=0``,
  ``train.checkpoint_every=0`` (fit still writes the final checkpoint) and ``train.eval_every=0``,
  on ``--device`` (cpu by default). Each run is a scratch run directory
  ``<out-dir>/runs/<dataset>/<entry>/seed<k>``, written with overwrite=True. These are deleted at
  the end unless ``--keep-runs`` is given;
* evaluation: ``Run.evaluate`` on 2,500 samples drawn with the run's seed, using the VEEGAN/PacGAN
  protocol of :mod:`gankit.metrics.toy`. A sample is high quality (HQ) if it lies within
  3 sigma of its nearest mode. A mode is captured if it has at least 1 HQ sample. Reverse KL is
  taken over modes, on HQ samples only;
* a run that diverges (gankit raises ``TrainingDiverged``) is recorded as diverged and does not
  stop the benchmark. The same holds for any other error, which is recorded with its message
  (the script then exits with status 1). Means and standard deviations are over the seeds that
  finished. Std is the sample std (n - 1), or 0 for one seed. An entry meets the PacGAN level
  (✓) only when every seed finished and the means reach it. For ring8 that is 8/8 modes and
  >= 95 % HQ. For grid25 it is >= 24.8/25 modes, >= 94 % HQ and reverse KL <= 0.04;
* one scatter figure per entry and dataset: the first seed's 2,500 evaluation samples.

Runs go to ``--workers`` parallel processes, each with ``torch.set_num_threads(1)``. Before
starting, the script times one short calibration run per cost class (plain, each penalty,
spectral norm, clipping, n_critic) and prints the estimated total. It refuses to start when
the estimate exceeds ``--budget-minutes``, unless ``--force`` is given. Results:
``<out-dir>/toy_modes.json``, ``<out-dir>/toy_modes.md``, ``<out-dir>/figures/*.png`` and
``<out-dir>/runs.jsonl`` (one line per finished run, written as runs end). ``--publish`` copies the
table and the figures to ``--docs-dir``.

    python bench/toy_modes.py                                   # the default budget, 2 workers
    python bench/toy_modes.py --estimate-only                   # calibrate, print the estimate
    python bench/toy_modes.py --datasets ring8 --seeds 0 --steps 200 --entries nonsaturating,wgan --workers 1
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

# One thread per process. Setting the environment before torch is imported covers OpenMP/MKL pools.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
_T_IMPORT = time.perf_counter()  # a worker process pays these imports once: part of the estimate

import torch  # noqa: E402

import gankit  # noqa: E402
from gankit.config import resolve  # noqa: E402
from gankit.errors import GankitError, TrainingDiverged  # noqa: E402
from gankit.gans import GANS  # noqa: E402
from gankit.metrics.toy import PROTOCOL_NUM_SAMPLES  # noqa: E402
from gankit.objectives import OBJECTIVES  # noqa: E402

IMPORT_S = time.perf_counter() - _T_IMPORT

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BASE_PRESET = "gan"                 # the tuned toy setting: nets, optimiser, steps, batch
NET_KEYS = ("arch", "z_dim", "hidden", "g_depth", "d_depth")
EXTRA_GANS = ("ebgan", "began", "sngan")
# Objectives whose D output is an energy (a reconstruction error), not a logit: with the `gan` MLP D
# they are unbounded below. They run as their own GAN (an auto-encoder D) when it is registered.
ENERGY_OBJECTIVES = {"ebgan": "ebgan", "began": "began"}
R1_GAMMA = 1.0
# PacGAN's level (Lin et al. 2018, arXiv 1712.04086), as the issue states it.
PACGAN_TARGET = {
    "ring8": {"modes_min": 8.0, "hq_min": 95.0, "kl_max": None},
    "grid25": {"modes_min": 24.8, "hq_min": 94.0, "kl_max": 0.04},
}
CALIB_WARMUP, CALIB_STEPS = 10, 40
# The default budget: 2,000 generator steps (a quarter of the gan preset's 8,000) at the preset's
# batch 512, 3 seeds, both datasets. bench/README.md explains how that was sized for about 30 min with
# 2 workers on 2 CPU cores. The calibration at start-up gives the real estimate for the machine.
DEFAULT_STEPS = 2000


# ------------------------------------------------------------------ entries
@dataclasses.dataclass
class Entry:
    name: str
    source: str                   # GAN / preset name given to gankit.train
    overrides: list               # entry-specific KEY=VALUE overrides (after the common ones)
    doc: str
    paper_preset: str | None = None   # preset whose optimiser --paper-optim uses
    net_keys: tuple = NET_KEYS        # model.* keys of the common nets this entry takes
    wgan: bool = False                # gets --n-critic-wgan
    skipped: str | None = None        # reason, if it cannot run


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", name)


def all_entries() -> list:
    entries = []
    for obj in OBJECTIVES.names():
        if obj in ENERGY_OBJECTIVES:  # energies, not logits: only meaningful with their GAN's auto-encoder D
            if ENERGY_OBJECTIVES[obj] not in GANS:
                entries.append(Entry(obj, BASE_PRESET, [f"objective={obj}"], f"objective `{obj}`",
                                     skipped=f"needs an auto-encoder D that outputs energies; the "
                                             f"`{ENERGY_OBJECTIVES[obj]}` GAN is not registered"))
            continue  # else the GAN entry below covers it
        entries.append(Entry(obj, BASE_PRESET, [f"objective={obj}"], f"`gan` nets, objective `{obj}`",
                             wgan=obj == "wgan"))
    entries += [
        Entry("wgan+clip", BASE_PRESET, ["objective=wgan", "model.d_clip=0.01"],
              "WGAN: critic weights clipped to ±0.01", paper_preset="wgan", wgan=True),
        Entry("wgan+gp", BASE_PRESET, ["objective=wgan", "penalties.gp=10"],
              "WGAN-GP: gradient penalty λ = 10", paper_preset="wgan-gp", wgan=True),
        Entry("nonsaturating+dragan", BASE_PRESET, ["objective=nonsaturating", "penalties.dragan=10"],
              "DRAGAN penalty λ = 10", paper_preset="dragan"),
        Entry("nonsaturating+r1", BASE_PRESET, ["objective=nonsaturating", f"penalties.r1={R1_GAMMA:g}"],
              f"R1 penalty γ = {R1_GAMMA:g}"),
        Entry("hinge+sn", BASE_PRESET, ["objective=hinge", "model.d_sn=true"],
              "hinge loss, spectral norm on every D layer (SNGAN-style)"),
    ]
    taken = {e.name for e in entries}
    for g in EXTRA_GANS:
        if g not in GANS:
            continue
        cls = GANS.get(g)
        params = getattr(cls, "Params", None)
        fields = {f.name for f in dataclasses.fields(params)} if dataclasses.is_dataclass(params) else set()
        keys = tuple(k for k in NET_KEYS if k in fields)
        name = g if g not in taken else f"{g}-gan"
        entries.append(Entry(name, g, [], f"the `{g}` GAN, its own nets/objective/penalties "
                             f"(common net keys set: {', '.join(keys) or 'none'})", paper_preset=g, net_keys=keys))
    return entries


def select(entries: list, spec: str | None) -> list:
    """Comma list; a token matches every entry whose name contains it ('=name' for an exact name)."""
    if not spec:
        return entries
    tokens = [t.strip() for t in spec.split(",") if t.strip()]
    out = [e for e in entries if any(e.name == t[1:] if t.startswith("=") else t in e.name for t in tokens)]
    if not out:
        sys.exit(f"toy_modes: --entries {spec!r} matches no entry (entries: {', '.join(e.name for e in entries)})")
    return out


# ------------------------------------------------------------------ configs
def common_settings(a) -> dict:
    """The shared protocol: nets and optimiser of the base preset, our steps/batch."""
    base = resolve(BASE_PRESET)
    return {
        "steps": a.steps if a.steps is not None else DEFAULT_STEPS,
        "batch_size": a.batch_size if a.batch_size is not None else base.batch_size,
        "model": {"arch": "mlp", **{k: base.model[k] for k in NET_KEYS if k != "arch"}},
        "optim": dataclasses.asdict(base.optim["g"]),
        "optim_d": dataclasses.asdict(base.optim["d"]),
    }


def _yaml(v) -> str:
    return json.dumps(list(v) if isinstance(v, tuple) else v)


def optim_overrides(group: str, o: dict) -> list:
    return [f"optim.{group}.{k}={_yaml(v)}" for k, v in o.items()]


def overrides_for(e: Entry, dataset: str, seed: int, common: dict, a, out: Path) -> list:
    """Every override of one run: the common protocol first, then the entry's own."""
    ov = [f"seed={seed}", f"steps={common['steps']}", f"batch_size={common['batch_size']}",
          f"data.name={dataset}", f"device={a.device}", f"out={out}",
          "train.progress=false", "train.sample_every=0", "train.checkpoint_every=0", "train.eval_every=0",
          f"train.eval_samples={PROTOCOL_NUM_SAMPLES}",
          f"train.n_critic={a.n_critic_wgan if e.wgan else 1}"]
    ov += [f"model.{k}={_yaml(common['model'][k])}" for k in e.net_keys]
    groups = GANS.get(e.source).optim_group_names
    if a.paper_optim and e.paper_preset:
        paper = resolve(e.paper_preset).optim
        for g in groups:
            ov += optim_overrides(g, dataclasses.asdict(paper[g]))
    else:
        for g in groups:
            ov += optim_overrides(g, common["optim_d"] if g == "d" else common["optim"])
    return ov + list(e.overrides)


def check_entries(entries: list, common: dict, a) -> None:
    """Resolve every entry's config up front; an entry that cannot be configured is skipped."""
    for e in entries:
        if e.skipped:
            continue
        try:
            resolve(e.source, overrides_for(e, "ring8", 0, common, a, Path("unused")))
        except GankitError as err:
            e.skipped = str(err)


def cost_class(e: Entry, common: dict, a) -> str:
    """What decides the time per step: GAN class, penalties, constraints, n_critic, extra D pass."""
    cfg = resolve(e.source, overrides_for(e, "ring8", 0, common, a, Path("unused")))
    obj = OBJECTIVES.get(cfg.objective or GANS.get(cfg.gan).default_objective)
    parts = [cfg.gan] + [f"+{k}" for k, w in sorted(cfg.penalties.items()) if w]
    parts += ["sn"] if cfg.model.get("d_sn") else []
    parts += ["clip"] if cfg.model.get("d_clip") is not None else []
    parts += [f"n_critic={cfg.train.n_critic}"] if cfg.train.n_critic != 1 else []
    parts += ["g_needs_real"] if obj.g_needs_real else []
    return " ".join(parts)


# ------------------------------------------------------------------ one run
def worker_init() -> None:
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or parallel work already started in this process
        pass


def run_job(job: dict) -> dict:
    """Train, evaluate and (optionally) plot one entry x dataset x seed. Never raises."""
    res = {k: job[k] for k in ("entry", "dataset", "seed")}
    t0 = time.perf_counter()
    marks = {}

    def clock(trainer, s):  # step-time window for calibration runs
        if s == job.get("mark_from"):
            marks["t0"] = time.perf_counter()
        elif s == job.get("mark_to"):
            marks["t1"] = time.perf_counter()

    try:
        run = gankit.train(job["source"], *job["overrides"], overwrite=True,
                           callbacks=[clock] if job.get("mark_to") else ())
        m = run.evaluate(n=PROTOCOL_NUM_SAMPLES, seed=job["seed"], write=False)
        res.update(status="ok", modes_captured=m["modes_captured"], num_modes=m["num_modes"],
                   high_quality_pct=m["high_quality_pct"],
                   reverse_kl=m["reverse_kl"] if math.isfinite(m["reverse_kl"]) else None,
                   hq_counts=m["hq_counts"], protocol=m["protocol"], step=m["step"])
        if job.get("figure"):
            from gankit.viz import save_scatter

            modes = run.info.modes
            lim = 1.3 * float(modes.abs().max()) if modes is not None else None
            save_scatter(run.sample(PROTOCOL_NUM_SAMPLES, seed=job["seed"]), job["figure"], modes=modes,
                         sigma=run.info.sigma, lim=lim,
                         title=f"{job['entry']} on {job['dataset']} (seed {job['seed']}): "
                               f"{m['modes_captured']}/{m['num_modes']} modes, {m['high_quality_pct']:.1f}% HQ")
            res["figure"] = Path(job["figure"]).name
    except TrainingDiverged as err:
        res.update(status="diverged", error=str(err))
    except GankitError as err:
        res.update(status="error", error=str(err))
    except Exception as err:  # a bug: record it with its traceback, keep the benchmark going
        res.update(status="error", error=f"{type(err).__name__}: {err}", traceback=traceback.format_exc())
    res["wall_s"] = round(time.perf_counter() - t0, 3)
    if "t1" in marks:
        res["step_s"] = (marks["t1"] - marks["t0"]) / (job["mark_to"] - job["mark_from"])
    return res


# ------------------------------------------------------------------ calibration
def calibrate(classes: dict, common: dict, a) -> dict:
    """Seconds per generator step for each cost class, and the fixed cost of a run (setup, final
    checkpoint and sample plot, evaluation, figure), from short runs in this process."""
    out = {"warmup": CALIB_WARMUP, "steps": CALIB_STEPS, "step_s": {}, "overhead_s": None, "worker_startup_s": 0.0}
    with tempfile.TemporaryDirectory(prefix="gankit-toy-calib-") as tmp:
        for i, (cls, e) in enumerate(classes.items()):
            steps = CALIB_WARMUP + CALIB_STEPS
            c = dict(common, steps=steps)
            job = {"entry": e.name, "dataset": "ring8", "seed": 0, "source": e.source,
                   "overrides": overrides_for(e, "ring8", 0, c, a, Path(tmp) / f"run{i}"),
                   "mark_from": CALIB_WARMUP, "mark_to": steps,
                   "figure": Path(tmp) / f"fig{i}.png" if i == 0 else None}
            if i == 0:  # untimed warm-up of imports and first calls (tensorboard, matplotlib, autograd)
                first = run_job(dict(job, mark_to=None))
            r = run_job(job)
            if i == 0:  # what a fresh worker process pays once: imports and the first run's extra
                out["worker_startup_s"] = IMPORT_S + max(0.0, first["wall_s"] - r["wall_s"])
            if "step_s" not in r:  # e.g. diverged within the calibration steps: estimated below
                print(f"  calibration {cls:<28s} ({e.name}) failed: {r.get('error', '').splitlines()[0][:120]}",
                      flush=True)
                out["step_s"][cls] = None
                continue
            out["step_s"][cls] = r["step_s"]
            if i == 0:  # whole run minus its steps = the fixed cost of a run
                out["overhead_s"] = max(0.0, r["wall_s"] - steps * r["step_s"])
            print(f"  calibration {cls:<28s} ({e.name}) {1000 * r['step_s']:6.2f} ms/step", flush=True)
    known = [v for v in out["step_s"].values() if v is not None]
    if not known:
        sys.exit("toy_modes: every calibration run failed; see the messages above")
    for cls, v in out["step_s"].items():
        if v is None:
            out["step_s"][cls] = max(known)  # the slowest class measured: a cautious stand-in
            out.setdefault("failed", []).append(cls)
    if out["overhead_s"] is None:
        out["overhead_s"] = 1.0
    return out


def estimate(jobs: list, calib: dict, workers: int, steps: int) -> float:
    """Seconds of wall time: total work split over the workers (longest jobs first)."""
    loads = [calib["worker_startup_s"] if workers > 1 else 0.0] * max(1, workers)
    for j in sorted(jobs, key=lambda j: -calib["step_s"][j["cost_class"]]):
        i = loads.index(min(loads))
        loads[i] += calib["overhead_s"] + steps * calib["step_s"][j["cost_class"]]
    return max(loads)


# ------------------------------------------------------------------ aggregation
def mean_std(xs: list):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None, None
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def aggregate(runs: list, dataset: str) -> dict:
    ok = [r for r in runs if r["status"] == "ok"]
    agg = {"n_seeds": len(runs), "n_ok": len(ok),
           "n_diverged": sum(r["status"] == "diverged" for r in runs),
           "n_error": sum(r["status"] == "error" for r in runs),
           "wall_s_total": round(sum(r["wall_s"] for r in runs), 2),
           "wall_s_mean": round(statistics.fmean(r["wall_s"] for r in runs), 2) if runs else None}
    for key, field in (("modes", "modes_captured"), ("hq", "high_quality_pct"), ("kl", "reverse_kl")):
        m, s = mean_std([r[field] for r in ok])
        agg[f"{key}_mean"], agg[f"{key}_std"] = m, s
    agg["kl_n"] = sum(r["reverse_kl"] is not None for r in ok)  # KL is undefined with no HQ sample
    agg["num_modes"] = ok[0]["num_modes"] if ok else None
    t = PACGAN_TARGET.get(dataset)
    agg["meets_pacgan"] = bool(
        t and ok and len(ok) == len(runs) and agg["kl_n"] == len(ok)
        and agg["modes_mean"] >= t["modes_min"] - 1e-9 and agg["hq_mean"] >= t["hq_min"]
        and (t["kl_max"] is None or agg["kl_mean"] <= t["kl_max"]))
    return agg


def fmt(m, s, digits: int) -> str:
    return "—" if m is None else f"{m:.{digits}f} ± {s:.{digits}f}"


def markdown(report: dict) -> str:
    p = report["protocol"]
    nets = p["nets"]
    o = p["optimiser"]
    nc_wgan = f" ({p['n_critic_wgan']} for the wgan-objective entries)" if p["n_critic_wgan"] != 1 else ""
    lines = [
        "# Mode coverage on the 2-D toy mixtures",
        "",
        f"gankit {report['gankit']}, torch {report['torch']}, {p['device']}, {report['workers']} worker process(es) "
        f"× {report['threads_per_worker']} thread; {report['date']}; total wall time "
        f"{report['wall_s_total'] / 60:.1f} min.",
        "",
        f"Every entry: MLP G and D (hidden {nets['hidden']}, G/D depth {nets['g_depth']}/{nets['d_depth']}, "
        f"z_dim {nets['z_dim']}), {p['steps']} generator steps at batch {p['batch_size']}, "
        + ("the optimiser of the paper preset where one exists, else " if p["paper_optim"] else "")
        + f"{o['name']}(lr {o['lr']:g}, betas {tuple(o['betas'])}, schedule {o['schedule']}) for G and D, "
        f"n_critic 1{nc_wgan}; seeds {', '.join(map(str, p['seeds']))}.",
        f"Metrics on {PROTOCOL_NUM_SAMPLES} samples (VEEGAN/PacGAN protocol): HQ = within 3σ of the nearest "
        "mode; a mode is captured with ≥ 1 HQ sample; reverse KL over modes on HQ samples. "
        "Mean ± sample std over the seeds that finished.",
        "✓ = PacGAN level with every seed finished: ring8 8/8 modes and ≥ 95 % HQ; "
        "grid25 ≥ 24.8/25 modes, ≥ 94 % HQ and reverse KL ≤ 0.04. wall s = mean per seed (one thread).",
        "",
    ]
    for ds in sorted(report["datasets"]):
        lines += [f"## {ds}", "", "| entry | modes | HQ % | reverse KL | wall s | PacGAN | figure | notes |",
                  "|---|---:|---:|---:|---:|:-:|---|---|"]
        for name in sorted(report["entries"]):
            e = report["entries"][name]
            if e.get("skipped"):
                lines.append(f"| {name} | — | — | — | — |  |  | skipped: {e['skipped'].replace('|', '/')} |")
                continue
            d = e["results"].get(ds)
            if d is None:
                continue
            g = d["aggregate"]
            notes = []
            if g["n_diverged"]:
                notes.append(f"{g['n_diverged']}/{g['n_seeds']} diverged")
            if g["n_error"]:
                errs = {r["error"].splitlines()[0][:80] for r in d["runs"] if r["status"] == "error"}
                notes.append(f"{g['n_error']}/{g['n_seeds']} error: {'; '.join(sorted(errs))}")
            if g["n_ok"] and g["kl_n"] < g["n_ok"]:
                notes.append(f"KL undefined (no HQ sample) for {g['n_ok'] - g['kl_n']} seed(s)")
            notes_s = ", ".join(notes).replace("|", "/")
            if not g["n_ok"]:
                status = "diverged" if g["n_diverged"] else "error"
                lines.append(f"| {name} | {status} | — | — | {g['wall_s_mean']:.1f} |  |  | {notes_s} |")
                continue
            modes = f"{fmt(g['modes_mean'], g['modes_std'], 2)} / {g['num_modes']}"
            fig = f"[png](figures/{d['figure']})" if d.get("figure") else ""
            lines.append(f"| {name} | {modes} | {fmt(g['hq_mean'], g['hq_std'], 1)} | "
                         f"{fmt(g['kl_mean'], g['kl_std'], 3)} | {g['wall_s_mean']:.1f} | "
                         f"{'✓' if g['meets_pacgan'] else ''} | {fig} | {notes_s} |")
        lines.append("")
    lines += ["Protocol and per-seed numbers: `toy_modes.json`; script: `bench/toy_modes.py`.", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------ driver
def parse_list(s: str, cast, what: str) -> list:
    try:
        out = [cast(x.strip()) for x in s.split(",") if x.strip()]
    except ValueError:
        sys.exit(f"toy_modes: --{what} must be a comma-separated list, got {s!r}")
    if not out:
        sys.exit(f"toy_modes: --{what} is empty")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default="ring8,grid25", help="comma list (default ring8,grid25)")
    ap.add_argument("--seeds", default="0,1,2", help="comma list (default 0,1,2)")
    ap.add_argument("--steps", type=int, default=None, help=f"generator steps per run (default {DEFAULT_STEPS})")
    ap.add_argument("--batch-size", type=int, default=None, help="default: the gan preset's")
    ap.add_argument("--entries", default=None,
                    help="comma list of name substrings ('=name' for an exact name); default all")
    ap.add_argument("--list", action="store_true", help="print the entries and exit")
    ap.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N")
    ap.add_argument("--workers", type=int, default=2, help="parallel processes, one thread each (default 2)")
    ap.add_argument("--paper-optim", action="store_true",
                    help="entries with a paper preset (wgan, wgan-gp, dragan, ebgan/began/sngan) use its optimiser")
    ap.add_argument("--n-critic-wgan", type=int, default=1, help="critic steps per G step for wgan-objective entries")
    ap.add_argument("--budget-minutes", type=float, default=30.0,
                    help="refuse to start above this estimate (default 30)")
    ap.add_argument("--force", action="store_true", help="start even if the estimate exceeds the budget")
    ap.add_argument("--estimate-only", action="store_true", help="calibrate, print the estimate and exit")
    ap.add_argument("--out-dir", default=str(HERE / "results" / "toy_modes"), help="default bench/results/toy_modes")
    ap.add_argument("--docs-dir", default=str(REPO / "docs" / "toy_modes"), help="default docs/toy_modes")
    ap.add_argument("--publish", action="store_true", help="copy the table and figures to --docs-dir")
    ap.add_argument("--keep-runs", action="store_true", help="keep the scratch run directories")
    a = ap.parse_args(argv)

    worker_init()
    datasets = parse_list(a.datasets, str, "datasets")
    seeds = parse_list(a.seeds, int, "seeds")
    for ds in datasets:
        if ds not in PACGAN_TARGET:
            sys.exit(f"toy_modes: --datasets takes ring8 and/or grid25, got {ds!r}")
    if len(set(seeds)) != len(seeds) or min(seeds) < 0:
        sys.exit("toy_modes: --seeds must be distinct non-negative integers")
    if (a.steps is not None and a.steps < 1) or (a.batch_size is not None and a.batch_size < 1) \
            or a.workers < 1 or a.n_critic_wgan < 1:
        sys.exit("toy_modes: --steps, --batch-size, --workers and --n-critic-wgan must be positive")
    try:
        from gankit.train.loop import resolve_device

        resolve_device(a.device)
        common = common_settings(a)
        entries = select(all_entries(), a.entries)
        check_entries(entries, common, a)
    except GankitError as err:
        sys.exit(f"toy_modes: {err}")
    if a.list:
        for e in entries:
            print(f"{e.name:<22s} {e.source:<6s} {' '.join(e.overrides):<45s} {e.skipped or ''}")
        return 0
    runnable = [e for e in entries if not e.skipped]
    for e in entries:
        if e.skipped:
            print(f"toy_modes: skipping '{e.name}': {e.skipped}", file=sys.stderr)
    if not runnable:
        sys.exit("toy_modes: no runnable entry")

    out = Path(a.out_dir)
    fig_dir = out / "figures"
    runs_dir = out / "runs"
    classes = {}
    for e in runnable:
        classes.setdefault(cost_class(e, common, a), e)
    jobs = []
    for e in runnable:
        cls = cost_class(e, common, a)
        for ds in datasets:
            for i, seed in enumerate(seeds):
                run_dir = runs_dir / ds / slug(e.name) / f"seed{seed}"
                jobs.append({"entry": e.name, "dataset": ds, "seed": seed, "source": e.source,
                             "overrides": overrides_for(e, ds, seed, common, a, run_dir),
                             "figure": str(fig_dir / f"{ds}-{slug(e.name)}.png") if i == 0 else None,
                             "cost_class": cls})

    print(f"toy_modes: {len(runnable)} entries x {len(datasets)} datasets x {len(seeds)} seeds = {len(jobs)} runs "
          f"of {common['steps']} steps at batch {common['batch_size']}; calibrating {len(classes)} cost classes "
          f"({CALIB_WARMUP}+{CALIB_STEPS} steps each, 1 thread) ...", flush=True)
    calib = calibrate(classes, common, a)
    est = estimate(jobs, calib, a.workers, common["steps"])
    print(f"toy_modes: estimated {est / 60:.1f} min on {a.workers} worker(s) "
          f"(fixed cost {calib['overhead_s']:.2f} s per run; budget {a.budget_minutes:g} min)", flush=True)
    if a.estimate_only:
        return 0
    if est > 60 * a.budget_minutes and not a.force:
        print(f"toy_modes: the estimate ({est / 60:.1f} min) exceeds --budget-minutes {a.budget_minutes:g}; "
              f"lower --steps/--seeds/--entries/--datasets, raise --workers, or pass --force", file=sys.stderr)
        return 2

    fig_dir.mkdir(parents=True, exist_ok=True)
    log_path = out / "runs.jsonl"
    log_path.write_text("")
    jobs.sort(key=lambda j: -calib["step_s"][j["cost_class"]])  # long ones first: better packing
    results = []
    t_start = time.perf_counter()

    def done(r):
        results.append(r)
        with open(log_path, "a") as f:
            f.write(json.dumps(r) + "\n")
        if r["status"] == "ok":
            kl = "n/a" if r["reverse_kl"] is None else f"{r['reverse_kl']:.3f}"
            what = (f"{r['modes_captured']}/{r['num_modes']} modes, {r['high_quality_pct']:.1f}% HQ, KL {kl}")
        else:
            what = f"{r['status'].upper()}: {r['error'].splitlines()[0][:160]}"
        print(f"[{len(results)}/{len(jobs)}] {r['dataset']} {r['entry']} seed {r['seed']}: {what} "
              f"({r['wall_s']:.1f} s)", flush=True)

    if a.workers == 1:
        for j in jobs:
            done(run_job(j))
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(a.workers, mp_context=mp.get_context("spawn"), initializer=worker_init) as pool:
            futures = {pool.submit(run_job, j): j for j in jobs}
            try:
                for f in as_completed(futures):
                    try:
                        r = f.result()
                    except Exception as err:  # the worker process itself died (e.g. killed for memory)
                        j = futures[f]
                        r = {"entry": j["entry"], "dataset": j["dataset"], "seed": j["seed"], "status": "error",
                             "error": f"worker process failed: {type(err).__name__}: {err}", "wall_s": 0.0}
                    done(r)
            except KeyboardInterrupt:
                for f in futures:
                    f.cancel()
                raise
    wall = time.perf_counter() - t_start

    # ---------------------------------------------------------------- report
    by_entry = {}
    for e in entries:
        rec = {"gan": e.source, "overrides": e.overrides, "doc": e.doc, "net_keys": list(e.net_keys),
               "n_critic": a.n_critic_wgan if e.wgan else 1,
               "optimiser": (f"paper preset '{e.paper_preset}'" if a.paper_optim and e.paper_preset else "common")}
        if e.skipped:
            rec["skipped"] = e.skipped
        else:
            rec["results"] = {}
            for ds in datasets:
                runs = sorted((r for r in results if r["entry"] == e.name and r["dataset"] == ds),
                              key=lambda r: seeds.index(r["seed"]))
                fig = next((r.get("figure") for r in runs if r.get("figure")), None)
                rec["results"][ds] = {"aggregate": aggregate(runs, ds), "figure": fig,
                                      "runs": [{k: v for k, v in r.items() if k not in ("entry", "dataset", "protocol")}
                                               for r in runs]}
        by_entry[e.name] = rec
    metric_protocol = {}
    for r in results:
        if r["status"] == "ok":
            metric_protocol.setdefault(r["dataset"], r["protocol"])
    report = {
        "benchmark": "toy-modes",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "gankit": gankit.__version__, "torch": torch.__version__, "python": platform.python_version(),
        "cpu_count": os.cpu_count(), "workers": a.workers, "threads_per_worker": 1,
        "loadavg_at_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "wall_s_total": round(wall, 1), "estimate_s": round(est, 1), "calibration": calib,
        "datasets": datasets,
        "protocol": {
            "base_preset": BASE_PRESET, "steps": common["steps"], "batch_size": common["batch_size"],
            "seeds": seeds, "nets": common["model"], "optimiser": common["optim"], "optimiser_d": common["optim_d"],
            "paper_optim": a.paper_optim, "n_critic": 1, "n_critic_wgan": a.n_critic_wgan, "device": a.device,
            "eval_samples": PROTOCOL_NUM_SAMPLES, "eval_seed": "the run's seed", "metric": metric_protocol,
            "pacgan_target": PACGAN_TARGET,
            "aggregate": "mean and sample std (n-1; 0 for one seed) over the seeds that finished; "
                         "reverse KL over the seeds where it is defined",
        },
        "entries": by_entry,
    }
    (out / "toy_modes.json").write_text(json.dumps(report, indent=2) + "\n")
    md = markdown(report)
    (out / "toy_modes.md").write_text(md)
    print(md)
    if not a.keep_runs:
        shutil.rmtree(runs_dir, ignore_errors=True)
    if a.publish:
        docs = Path(a.docs_dir)
        (docs / "figures").mkdir(parents=True, exist_ok=True)
        shutil.copy2(out / "toy_modes.md", docs / "toy_modes.md")
        for r in results:
            if r.get("figure"):
                shutil.copy2(fig_dir / r["figure"], docs / "figures" / r["figure"])
        print(f"toy_modes: table and figures copied to {docs}")
    print(f"toy_modes: wrote {out / 'toy_modes.json'} and {out / 'toy_modes.md'} "
          f"({wall / 60:.1f} min; estimate was {est / 60:.1f} min)")
    return 1 if any(r["status"] == "error" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
