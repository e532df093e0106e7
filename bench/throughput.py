"""DCGAN-on-MNIST training throughput: gankit's Trainer vs a hand-written PyTorch loop.

Both sides train the same networks (gankit's ``DCGANGenerator`` / ``DCGANDiscriminator`` built
from the ``dcgan`` GAN itself (same build and init), Adam(2e-4, betas=(0.5, 0.999))) on the
whole MNIST train set held on the device, with the same algorithm (gankit's ``GAN.phases``):
per step one D update on a fresh real batch and fresh noise (G under ``no_grad``, softplus
losses on D(real) and D(fake)), then one G update with fresh noise and the non-saturating loss,
D frozen; each phase draws its own real batch from a per-epoch ``randperm``.

Protocol, for each batch size B and each of R repeats (the gankit/hand order alternates
between repeats so drift on a shared machine hits both sides alike):

* gankit: ``start(resolve("dcgan", [...]))`` in a temporary run directory, then the real
  ``Trainer.fit()`` with ``steps = W + N + 1`` and a callback that reads the clock after step W
  and after step W + N (with ``torch.cuda.synchronize()`` on CUDA). The timed window is
  therefore fit's own per-step loop (train_step, progress bar, logging every
  ``train.log_every`` = 100 steps as the preset does), without the one-off setup (data load,
  model build) and without the end-of-run checkpoint and sample grid of step W + N + 1. At
  step W the callback opens the TensorBoard writer, so its one-off creation happens in the
  warm-up, not in the window.
* hand: fresh nets and optimisers, W warm-up steps, then N timed steps (synchronised on CUDA);
  it reads its losses back with ``.item()`` every ``log_every`` steps, as gankit's logging does.

A run's rate is N * B / seconds (images of the generator steps' real batches per second). The
report gives the median over the R repeats of each side and ratio = gankit median / hand median.
``torch`` threads are left at their defaults and recorded. Results go to
``<out-dir>/throughput-<device>.json`` and ``.md``.

    python bench/throughput.py                    # device auto, batch 64 and 128, 5 repeats
    python bench/throughput.py --device cuda --steps 500

**Settings and processes** (``--nets``): the same timed ``Trainer.fit()`` window for the nets of other GANs (each
preset's own nets and data: ``dcgan``, ``sngan-resnet``, ``sagan``, ``biggan``; ``NAME:KEY=VALUE;...`` changes a
preset, e.g. a BigGAN-128-size net), once per speed setting of the generic loop (``--settings``: ``plain``,
``bf16`` = ``train.amp``, ``channels_last``, ``compile`` (the compile happens in the warm-up), ``all`` = the three
together) and, with ``--ddp N``, on N processes through torchrun (gloo on the CPU, NCCL on GPUs; same global
batch, one torch thread per CPU process against the one-process run's default threads, so both use the same
cores). Rate = timed steps x global batch / seconds, median over the repeats; written to
``throughput-settings-<device>.json`` and ``.md``.

    python bench/throughput.py --nets dcgan,sngan-resnet,sagan,biggan --settings plain --ddp 2 --steps 20
    python bench/throughput.py --device cuda --nets dcgan,biggan --settings plain,bf16,channels_last,compile,all
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from _report import machine_record, write_report
from gankit.config import resolve
from gankit.data import DataInfo, load_dataset
from gankit.data.mnist import find_split
from gankit.gans import GANS
from gankit.train.loop import start

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
LOG_EVERY = 100  # the dcgan preset's train.log_every


def sync_fn(device: torch.device):
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


# ------------------------------------------------------------------ gankit side
def time_gankit(batch: int, warmup: int, steps: int, device: torch.device, data_root: Path, name: str = "dcgan",
                extra=()) -> float:
    """Seconds for steps W+1 .. W+N of a real ``Trainer.fit()`` of preset ``name`` (``extra``: more overrides)."""
    sync, marks = sync_fn(device), {}

    def clock(trainer, s):
        if s == warmup:
            trainer._tensorboard()  # opens the TensorBoard writer (one-off) outside the window
            sync()
            marks["t0"] = time.perf_counter()
        elif s == warmup + steps:
            sync()
            marks["t1"] = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="gankit-bench-") as tmp:
        cfg = resolve(name, [
            f"batch_size={batch}", f"steps={warmup + steps + 1}", f"device={device}",
            f"data.root={data_root}", f"out={Path(tmp) / 'run'}",
            "train.progress=false", "train.sample_every=0", "train.checkpoint_every=0",
            f"train.log_every={LOG_EVERY}", "train.eval_every=0", "train.grid_size=4", *extra,
        ])
        tr = start(cfg, callbacks=[clock])
        tr.fit()
    return marks["t1"] - marks["t0"] if tr.writer else float("nan")


# ------------------------------------------------------------------ settings and processes
SETTINGS = {"plain": [], "bf16": ["train.amp=true"], "channels_last": ["train.channels_last=true"],
            "compile": ["train.compile=true"],
            "all": ["train.amp=true", "train.channels_last=true", "train.compile=true"]}


def parse_net(spec: str):
    """``NAME`` or ``NAME:KEY=VALUE;KEY=VALUE`` -> (label, preset, overrides)."""
    name, _, rest = spec.partition(":")
    return spec, name, [o for o in rest.split(";") if o]


def time_ddp(nproc: int, spec: str, batch: int, warmup: int, steps: int, device: torch.device, root: Path) -> float:
    """Seconds of the same window on ``nproc`` processes (torchrun; rank 0's clock)."""
    import json
    import subprocess

    with tempfile.TemporaryDirectory(prefix="gankit-bench-ddp-") as tmp:
        out = Path(tmp) / "seconds.json"
        env = dict(os.environ, LOGLEVEL="ERROR")
        if device.type == "cpu":
            env["OMP_NUM_THREADS"] = "1"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               __file__, "--ddp-worker", str(out), "--nets", spec, "--batch-sizes", str(batch),
               "--warmup", str(warmup), "--steps", str(steps), "--device", device.type, "--data-root", str(root)]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{nproc}-process run of {spec} failed:\n{r.stderr[-2000:]}")
        return json.loads(out.read_text())["seconds"]


def ddp_worker(a, root: Path) -> int:
    """One rank of :func:`time_ddp` (under torchrun)."""
    import json

    from gankit.train import distributed

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    _, name, extra = parse_net(a.nets)
    device = torch.device(a.device)
    secs = time_gankit(int(a.batch_sizes), a.warmup, a.steps, device, root, name, extra)
    if distributed.is_writer():
        Path(a.ddp_worker).write_text(json.dumps({"seconds": secs}))
    distributed.shutdown()
    return 0


def settings_markdown(report: dict) -> str:
    c = report["config"]
    cols = list(c["settings"]) + ([f"ddp{c['ddp']}"] if c["ddp"] else [])
    lines = [f"# gankit throughput by setting: {report['device']} ({report['device_name']})", "",
             f"torch {report['torch']}, gankit {report['gankit']}, {report['threads']} threads in one process; "
             f"global batch {c['batch_size']}, {c['steps']} timed steps after {c['warmup']} warm-up, median of "
             f"{c['repeats']} repeats; images/s; {report['date']}.", "",
             "| net | " + " | ".join(cols) + (" | ddp / plain |" if c["ddp"] else " |"),
             "|---|" + "---:|" * (len(cols) + (1 if c["ddp"] else 0))]
    for r in report["results"]:
        row = [f"{r[k]:.1f}" if isinstance(r.get(k), float) else "n/a" for k in cols]
        if c["ddp"]:
            ratio = r.get(f"ddp{c['ddp']}") / r["plain"] if r.get("plain") and r.get(f"ddp{c['ddp']}") else None
            row.append(f"{ratio:.2f}" if ratio else "n/a")
        lines.append(f"| {r['net']} | " + " | ".join(row) + " |")
    lines += ["", "Protocol: bench/throughput.py's docstring (settings and processes).", ""]
    return "\n".join(lines)


def run_settings(a, device: torch.device, root: Path) -> int:
    batch = int(a.batch_sizes.split(",")[0])
    settings = [x for x in a.settings.split(",") if x]
    bad = [x for x in settings if x not in SETTINGS]
    if bad:
        sys.exit(f"throughput: unknown --settings {', '.join(bad)}; choose from {', '.join(SETTINGS)}")
    if a.ddp and "plain" not in settings:
        settings.insert(0, "plain")  # the ratio's reference
    steps = a.steps if a.steps is not None else (200 if device.type == "cuda" else 20)
    results = []
    for spec in [x for x in a.nets.split(",") if x]:
        label, name, extra = parse_net(spec)
        row = {"net": label, "runs": {}}
        for setting in settings:
            secs = [time_gankit(batch, a.warmup, steps, device, root, name, extra + SETTINGS[setting])
                    for _ in range(a.repeats)]
            row["runs"][setting] = [round(x, 4) for x in secs]
            row[setting] = round(steps * batch / statistics.median(secs), 2)
            print(f"{label} {setting}: {row[setting]:.1f} img/s", flush=True)
        if a.ddp:
            secs = [time_ddp(a.ddp, spec, batch, a.warmup, steps, device, root) for _ in range(a.repeats)]
            row["runs"][f"ddp{a.ddp}"] = [round(x, 4) for x in secs]
            row[f"ddp{a.ddp}"] = round(steps * batch / statistics.median(secs), 2)
            print(f"{label} {a.ddp} processes: {row[f'ddp{a.ddp}']:.1f} img/s", flush=True)
        results.append(row)
    tag = str(device).replace(":", "")
    report = {**machine_record("throughput-settings", device),
              "config": {"steps": steps, "warmup": a.warmup, "repeats": a.repeats, "batch_size": batch,
                         "settings": settings, "ddp": a.ddp, "data_root": str(root),
                         "rate": "timed steps * global batch / seconds (median over repeats)"},
              "results": results}
    write_report(a.out_dir, f"throughput-settings-{tag}", report, settings_markdown(report))
    return 0


# ------------------------------------------------------------------ hand-written side
def time_hand(x: torch.Tensor, batch: int, warmup: int, steps: int, device: torch.device, model: dict) -> float:
    """Seconds for N steps of a minimal PyTorch loop, after W warm-up steps."""
    sync = sync_fn(device)
    torch.manual_seed(0)
    z_dim, shape = model["z_dim"], tuple(x.shape[1:])
    # exactly the nets (and init) gankit's DCGAN builds; only the loop around them is hand-written
    info = DataInfo("mnist", "images", shape, 10)
    gan = GANS.get("dcgan")(resolve("dcgan"), info)
    G, D = gan.G.to(device), gan.D.to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))

    n = x.shape[0]
    perm, pos = torch.randperm(n, device=device), 0

    def next_batch():
        nonlocal perm, pos
        if pos + batch > n:
            perm, pos = torch.randperm(n, device=device), 0
        idx = perm[pos:pos + batch]
        pos += batch
        return x[idx]

    history = []
    for step in range(1, warmup + steps + 1):
        if step == warmup + 1:
            sync()
            t0 = time.perf_counter()
        # D step
        real = next_batch()
        with torch.no_grad():
            fake = G(torch.randn(batch, z_dim, device=device))
        d_loss = F.softplus(-D(real)).mean() + F.softplus(D(fake)).mean()
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        # G step: fresh noise, D frozen (gankit's phases freeze the other group too)
        next_batch()  # gankit draws a real batch for every phase; the non-saturating G loss ignores it
        D.requires_grad_(False)
        g_loss = F.softplus(-D(G(torch.randn(batch, z_dim, device=device)))).mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        D.requires_grad_(True)
        if step % LOG_EVERY == 0:
            history.append((d_loss.item(), g_loss.item()))
    sync()
    return time.perf_counter() - t0


# ------------------------------------------------------------------ driver
def markdown(report: dict) -> str:
    c = report["config"]
    lines = [
        f"# gankit throughput: DCGAN on MNIST, {report['device']} ({report['device_name']})",
        "",
        f"torch {report['torch']}, gankit {report['gankit']}, {report['threads']} threads, "
        f"{c['steps']} timed steps after {c['warmup']} warm-up, median of {c['repeats']} repeats; "
        f"{report['date']}.",
        "",
        "| batch | gankit img/s | hand img/s | ratio |",
        "|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        lines.append(f"| {r['batch_size']} | {r['gankit_median']:.1f} | {r['hand_median']:.1f} | {r['ratio']:.3f} |")
    lines += ["", "ratio = gankit median / hand median; protocol in bench/throughput.py's docstring.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per run (default 60 on CPU, 500 on CUDA)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps before each run (default 5)")
    ap.add_argument("--repeats", type=int, default=5, help="runs per side and batch size (default 5)")
    ap.add_argument("--batch-sizes", default="64,128", help="comma-separated (default 64,128)")
    ap.add_argument("--data-root", default=None, help="MNIST root (default $GANKIT_DATA, else ../shared/data)")
    ap.add_argument("--out-dir", default=str(Path(__file__).resolve().parent / "results"), help="default bench/results")
    ap.add_argument("--nets", default=None, help="settings mode: comma-separated presets (NAME or "
                    "NAME:KEY=VALUE;...), e.g. dcgan,sngan-resnet,sagan,biggan")
    ap.add_argument("--settings", default="plain", help=f"settings mode: comma-separated, of {', '.join(SETTINGS)}")
    ap.add_argument("--ddp", type=int, default=0, metavar="N", help="settings mode: also time N processes")
    ap.add_argument("--ddp-worker", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)

    if a.device == "auto":
        a.device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(a.device)
        batches = [int(b) for b in a.batch_sizes.split(",") if b.strip()]
    except (RuntimeError, ValueError) as e:
        sys.exit(f"throughput: bad --device or --batch-sizes ({e})")
    if device.type not in ("cpu", "cuda"):
        sys.exit(f"throughput: --device must be cpu, cuda, cuda:N or auto, got {a.device}")
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit(f"throughput: --device {a.device} requested but CUDA is not available")
    steps = a.steps if a.steps is not None else (500 if device.type == "cuda" else 60)
    if steps < 1 or a.warmup < 1 or a.repeats < 1 or not batches or min(batches) < 1:
        sys.exit("throughput: --steps, --warmup, --repeats and batch sizes must be positive")
    root = Path(a.data_root or os.environ.get("GANKIT_DATA") or DEFAULT_DATA).expanduser()
    if find_split(root, "mnist", "train") is None:
        sys.exit(f"throughput: MNIST train files not found under {root}; pass --data-root DIR or set GANKIT_DATA")
    if a.ddp_worker:
        return ddp_worker(a, root)
    if a.nets:
        return run_settings(a, device, root)

    model = resolve("dcgan").model
    x = load_dataset("mnist", root=str(root))[0].to(device)
    results = []
    for b in batches:
        runs = []
        for r in range(a.repeats):
            order = ("gankit", "hand") if r % 2 == 0 else ("hand", "gankit")
            secs = {}
            for side in order:
                secs[side] = (time_gankit(b, a.warmup, steps, device, root) if side == "gankit"
                              else time_hand(x, b, a.warmup, steps, device, model))
            run = {"repeat": r, "order": list(order), **{f"{s}_s": round(secs[s], 4) for s in order},
                   **{f"{s}_img_s": round(steps * b / secs[s], 2) for s in order}}
            runs.append(run)
            print(f"batch {b} repeat {r} ({order[0]} first): gankit {run['gankit_img_s']:.1f} img/s, "
                  f"hand {run['hand_img_s']:.1f} img/s", flush=True)
        g = round(statistics.median(run["gankit_img_s"] for run in runs), 2)
        h = round(statistics.median(run["hand_img_s"] for run in runs), 2)
        paired = statistics.median(run["gankit_img_s"] / run["hand_img_s"] for run in runs)
        results.append({"batch_size": b, "gankit_median": g, "hand_median": h, "ratio": round(g / h, 4),
                        "within_5pct": g / h >= 0.95, "paired_ratio_median": round(paired, 4), "runs": runs})

    tag = str(device).replace(":", "")
    report = {
        **machine_record("dcgan-mnist-throughput", device),
        "config": {"steps": steps, "warmup": a.warmup, "repeats": a.repeats, "batch_sizes": batches,
                   "log_every": LOG_EVERY, "data_root": str(root), "model": model,
                   "rate": "timed steps * batch size / seconds", "ratio": "gankit median / hand median",
                   "paired_ratio_median": "median over repeats of gankit / hand within the repeat"},
        "results": results,
    }
    write_report(a.out_dir, f"throughput-{tag}", report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
