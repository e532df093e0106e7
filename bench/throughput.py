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
  step W the callback calls ``trainer.log()`` once, so the one-off TensorBoard writer creation
  happens in the warm-up, not in the window.
* hand: fresh nets and optimisers, W warm-up steps, then N timed steps (synchronised on CUDA);
  it reads its losses back with ``.item()`` every ``log_every`` steps, as gankit's logging does.

A run's rate is N * B / seconds (images of the generator steps' real batches per second). The
report gives the median over the R repeats of each side and ratio = gankit median / hand median.
``torch`` threads are left at their defaults and recorded. Results go to
``<out-dir>/throughput-<device>.json`` and ``.md``.

    python bench/throughput.py                    # device auto, batch 64 and 128, 5 repeats
    python bench/throughput.py --device cuda --steps 500
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
def time_gankit(batch: int, warmup: int, steps: int, device: torch.device, data_root: Path) -> float:
    """Seconds for steps W+1 .. W+N of a real ``Trainer.fit()``."""
    sync, marks = sync_fn(device), {}

    def clock(trainer, s):
        if s == warmup:
            trainer.log()  # opens the TensorBoard writer (one-off) outside the window
            sync()
            marks["t0"] = time.perf_counter()
        elif s == warmup + steps:
            sync()
            marks["t1"] = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="gankit-bench-") as tmp:
        cfg = resolve("dcgan", [
            f"batch_size={batch}", f"steps={warmup + steps + 1}", f"device={device}",
            f"data.root={data_root}", f"out={Path(tmp) / 'run'}",
            "train.progress=false", "train.sample_every=0", "train.checkpoint_every=0",
            f"train.log_every={LOG_EVERY}",
        ])
        start(cfg, callbacks=[clock]).fit()
    return marks["t1"] - marks["t0"]


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
