"""gankit's training speed beside other GAN code: PyTorch-GAN measured here, StudioGAN's published logs.

Neither project's code is part of gankit: this script reads a checkout the user gives it, at run time.

**PyTorch-GAN** (Linder-Norén, github.com/eriklindernoren/PyTorch-GAN), ``--pytorch-gan DIR``: its DCGAN script
``implementations/dcgan/dcgan.py`` at its defaults (MNIST resized to 32x32, batch 64, Adam 2e-4 (0.5, 0.999)), on
this machine, three ways:

* ``their script``: the unmodified script run with ``python -u`` in a scratch directory whose ``../../data/mnist``
  holds MNIST unpacked from ``--data-root`` (so its ``download=True`` finds the files and downloads nothing). It
  prints one line per batch; the clock is read when batch W's line arrives and when batch W + N's does. This is
  their whole loop: a ``DataLoader`` resizing every image with PIL in the main process, the G step first, D on
  G's same batch (one G forward per step), a loss read back with ``.item()`` every step, a PNG every 400 batches.
* ``their nets in gankit``: the same ``Generator`` / ``Discriminator`` classes (executed from their file: its
  imports, ``weights_init_normal`` and the two classes, with ``opt`` set to the script's defaults; nothing else of
  the script runs) trained by gankit's ``Trainer.fit()`` as the ``dcgan`` GAN (data on the device, D step then G
  step each with a fresh G forward, losses read every 100 steps). D's last ``Sigmoid`` is dropped because gankit's
  objectives take logits (softplus of the logit = their ``BCELoss`` of the sigmoid).
* ``gankit dcgan``: gankit's own ``dcgan`` preset at the paper's widths (64), 32x32, lr 2e-4, no EMA, for
  reference: a different net (transposed convolutions, Radford et al. 2015).

Rate = timed G steps x 64 / seconds, median of ``--repeats``; bench/throughput.py's gankit window.

**StudioGAN** (Kang et al., github.com/POSTECH-CVLab/PyTorch-StudioGAN), ``--studiogan-logs DIR``: the training
logs StudioGAN publishes for its CIFAR-10 benchmark (``logs/CIFAR10/*-train-*.log``, removed from the repository in
later versions; commit 70d2434 has them; its README: one TITAN RTX). Each log prints ``Step: S ... Elapsed:
H:MM:SS`` every 100 steps; runs of such lines not interrupted by an evaluation give steps/s (median over the
runs; the one-second resolution of ``Elapsed`` is under 2 % of a run). Rate = steps/s x the log's batch size (its
``d_steps_per_iter`` is reported beside it: a step holds that many D updates). These are GPU numbers; compare
them with a GPU run of bench/throughput.py, not with the CPU rows.

    python bench/external_speed.py --pytorch-gan ~/src/PyTorch-GAN --studiogan-logs ~/src/StudioGAN-logs/CIFAR10

Results: ``<out-dir>/external-speed-<device>.json`` and ``.md``.
"""
from __future__ import annotations

import argparse
import ast
import gzip
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import torch
from torch import nn

from _report import machine_record, write_report
from throughput import DEFAULT_DATA, time_gankit

from gankit.gans import GANS

DCGAN_SCRIPT = Path("implementations") / "dcgan" / "dcgan.py"
BATCH = 64
MNIST_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
               "t10k-labels-idx1-ubyte"]


# ------------------------------------------------------------------ PyTorch-GAN: their script
def mnist_for_torchvision(data_root: Path, into: Path) -> None:
    """``into/MNIST/raw/*`` unpacked from gankit's data root (torchvision's layout: nothing to download)."""
    raw = into / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name in MNIST_FILES:
        gz = data_root / "mnist" / f"{name}.gz"
        if not gz.is_file():
            sys.exit(f"external_speed: {gz} not found; give --data-root the folder holding mnist/")
        with gzip.open(gz, "rb") as f, open(raw / name, "wb") as g:
            shutil.copyfileobj(f, g)


def time_their_script(repo: Path, data_root: Path, warmup: int, steps: int) -> float:
    """Seconds between the printed lines of batch ``warmup`` and batch ``warmup + steps`` of their script."""
    with tempfile.TemporaryDirectory(prefix="gankit-ext-") as tmp:
        work = Path(tmp) / "implementations" / "dcgan"
        work.mkdir(parents=True)
        mnist_for_torchvision(data_root, Path(tmp) / "data" / "mnist")
        cmd = [sys.executable, "-u", str(repo / DCGAN_SCRIPT), "--n_epochs", "1"]
        proc = subprocess.Popen(cmd, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        marks, tail = {}, []
        try:
            for line in proc.stdout:
                tail = (tail + [line])[-20:]
                m = re.search(r"\[Batch (\d+)/", line)
                if not m:
                    continue
                b = int(m.group(1))
                if b == warmup:
                    marks["t0"] = time.perf_counter()
                elif b == warmup + steps:
                    marks["t1"] = time.perf_counter()
                    break
        finally:
            proc.kill()
            proc.wait()
        if "t1" not in marks:
            sys.exit("external_speed: their script stopped before the timed batches:\n" + "".join(tail))
        return marks["t1"] - marks["t0"]


# ------------------------------------------------------------------ PyTorch-GAN: their nets in gankit
def their_dcgan_nets(repo: Path):
    """``Generator`` and ``Discriminator`` of their DCGAN script, built at the script's defaults and initialised
    by its ``weights_init_normal``; only the imports, that function and the two classes of the file run."""
    path = repo / DCGAN_SCRIPT
    tree = ast.parse(path.read_text(), filename=str(path))
    keep = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))
            or (isinstance(n, (ast.FunctionDef, ast.ClassDef))
                and n.name in ("weights_init_normal", "Generator", "Discriminator"))]
    ns = {"opt": types.SimpleNamespace(latent_dim=100, img_size=32, channels=1), "__name__": "pytorch_gan_dcgan"}
    exec(compile(ast.Module(body=keep, type_ignores=[]), str(path), "exec"), ns)
    G, D = ns["Generator"](), ns["Discriminator"]()
    G.apply(ns["weights_init_normal"])
    D.apply(ns["weights_init_normal"])
    last = D.adv_layer[-1]
    if not isinstance(last, nn.Sigmoid):
        sys.exit(f"external_speed: {path}: Discriminator.adv_layer no longer ends with Sigmoid; update this bench")
    D.adv_layer = D.adv_layer[:-1]  # logits for gankit's objectives
    return G, D


def register_their_nets(repo: Path) -> str:
    """A GAN named ``pytorch-gan-dcgan``: gankit's ``dcgan`` with their nets (build overridden, nothing else)."""
    name = "pytorch-gan-dcgan"
    if name not in GANS.names():
        base = GANS.get("dcgan")
        GANS.add(name, type("PyTorchGANDCGAN", (base,), {"build": lambda self, info: their_dcgan_nets(repo)}))
    return name


# ------------------------------------------------------------------ StudioGAN: published logs
STEP_LINE = re.compile(r"Step:\s+(\d+) .*Elapsed: (\d+):(\d\d):(\d\d)")


def studiogan_rate(log: Path) -> dict:
    """steps/s from one StudioGAN training log (runs of step lines between evaluations)."""
    text = log.read_text(errors="replace")
    batch = re.search(r"'batch_size': (\d+)", text)
    n_dis = re.search(r"'d_steps_per_iter': (\d+)", text)
    amp = re.search(r"'mixed_precision': (True|False)", text)
    runs, run = [], []
    for line in text.splitlines():
        m = STEP_LINE.search(line)
        if m:
            h, mi, s = (int(x) for x in m.group(2, 3, 4))
            run.append((int(m.group(1)), 3600 * h + 60 * mi + s))
        elif line.startswith("[INFO]") and run:
            runs.append(run)
            run = []
    runs.append(run)
    rates = [(r[-1][0] - r[0][0]) / (r[-1][1] - r[0][1]) for r in runs if len(r) >= 10 and r[-1][1] > r[0][1]]
    if not rates or not batch:
        return {"log": log.name, "error": "no timed steps found"}
    sps = statistics.median(rates)
    return {"log": log.name, "gan": log.name.split("-train-")[0], "batch_size": int(batch.group(1)),
            "d_steps_per_iter": int(n_dis.group(1)) if n_dis else None,
            "mixed_precision": amp.group(1) == "True" if amp else None, "runs": len(rates),
            "steps_per_s": round(sps, 3), "img_per_s": round(sps * int(batch.group(1)), 1)}


# ------------------------------------------------------------------ report
def markdown(report: dict) -> str:
    lines = [f"# gankit beside other GAN code: {report['device']} ({report['device_name']})", "",
             f"torch {report['torch']}, gankit {report['gankit']}, {report['threads']} threads; {report['date']}.", ""]
    pg = report.get("pytorch_gan")
    if pg:
        c = pg["config"]
        lines += [f"## PyTorch-GAN's DCGAN (MNIST 32x32, batch {BATCH}; {c['steps']} timed steps after {c['warmup']}, "
                  f"median of {c['repeats']})", "", f"checkout: `{c['repo']}` ({c.get('commit') or 'commit unknown'})",
                  "", "| what | net | images/s | vs their script |", "|---|---|---:|---:|"]
        ref = pg["their_script"]["img_per_s"]
        for key, label, net in (("their_script", "their script (unmodified)", "theirs"),
                                ("their_nets_in_gankit", "gankit `Trainer` with their nets", "theirs"),
                                ("gankit_dcgan", "gankit `dcgan`, widths 64", "gankit's (Radford et al.)")):
            r = pg[key]
            lines.append(f"| {label} | {net} | {r['img_per_s']:.0f} | {r['img_per_s'] / ref:.2f} |")
        lines.append("")
    sg = report.get("studiogan")
    if sg:
        lines += ["## StudioGAN's published CIFAR-10 training logs (their GPU: one TITAN RTX)", "",
                  f"logs: `{sg['dir']}`", "", "| GAN | batch | D steps per step | mixed precision | steps/s | images/s |",
                  "|---|---:|---:|---|---:|---:|"]
        for r in sg["logs"]:
            if "error" in r:
                lines.append(f"| {r['log']} | {r['error']} | | | | |")
            else:
                lines.append(f"| {r['gan']} | {r['batch_size']} | {r['d_steps_per_iter']} | "
                             f"{'yes' if r['mixed_precision'] else 'no'} | {r['steps_per_s']:.2f} | {r['img_per_s']:.0f} |")
        lines.append("")
    lines += ["Protocol: bench/external_speed.py's docstring.", ""]
    return "\n".join(lines)


def git_commit(repo: Path):
    try:
        return subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip() or None
    except (OSError, subprocess.CalledProcessError):
        return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pytorch-gan", type=Path, help="a checkout of eriklindernoren/PyTorch-GAN")
    ap.add_argument("--studiogan-logs", type=Path, help="StudioGAN's logs/CIFAR10 folder (its commit 70d2434)")
    ap.add_argument("--gans", default="DCGAN,SNGAN,SAGAN,BigGAN", help="StudioGAN logs to read (name before -train-)")
    ap.add_argument("--data-root", type=Path, default=Path(os.environ.get("GANKIT_DATA", DEFAULT_DATA)))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out-dir", default="bench/results")
    a = ap.parse_args(argv)
    if not a.pytorch_gan and not a.studiogan_logs:
        ap.error("give --pytorch-gan DIR and/or --studiogan-logs DIR")
    if a.warmup < 1 or a.steps < 1 or a.repeats < 1:
        ap.error("--warmup, --steps and --repeats must be at least 1")
    try:
        device = torch.device(a.device)
    except RuntimeError as e:
        sys.exit(f"external_speed: bad --device ({e})")
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit(f"external_speed: --device {a.device} requested but CUDA is not available")
    if a.pytorch_gan:
        if not (a.pytorch_gan / DCGAN_SCRIPT).is_file():
            sys.exit(f"external_speed: {a.pytorch_gan / DCGAN_SCRIPT} not found (is --pytorch-gan a PyTorch-GAN checkout?)")
        if device.type != "cpu":
            sys.exit("external_speed: their script picks CUDA by itself when it sees it; run this part with --device cpu "
                     "on a CPU machine, or time it by hand")
    if a.studiogan_logs and not a.studiogan_logs.is_dir():
        sys.exit(f"external_speed: --studiogan-logs {a.studiogan_logs} is not a folder")
    wanted = [g for g in a.gans.split(",") if g]
    if a.studiogan_logs and not wanted:
        sys.exit("external_speed: --gans names no StudioGAN run")
    report = machine_record("external-speed", device)
    if a.pytorch_gan:
        name = register_their_nets(a.pytorch_gan)
        common = ["data.resolution=32", "model.z_dim=100", "optim.g.lr=2e-4", "optim.d.lr=2e-4", "train.ema=null"]
        sides = {
            "their_script": lambda: time_their_script(a.pytorch_gan, a.data_root, a.warmup, a.steps),
            "their_nets_in_gankit": lambda: time_gankit(BATCH, a.warmup, a.steps, device, a.data_root, "dcgan",
                                                        [f"gan={name}", *common]),
            "gankit_dcgan": lambda: time_gankit(BATCH, a.warmup, a.steps, device, a.data_root, "dcgan",
                                                ["model.g_width=64", "model.d_width=64", *common]),
        }
        runs = {k: [] for k in sides}
        for _ in range(a.repeats):  # interleaved, so drift on a shared machine hits every side alike
            for key, fn in sides.items():
                runs[key].append(fn())
                print(f"{key}: {a.steps * BATCH / runs[key][-1]:.0f} img/s", flush=True)
        report["pytorch_gan"] = {
            "config": {"repo": str(a.pytorch_gan), "commit": git_commit(a.pytorch_gan), "warmup": a.warmup,
                       "steps": a.steps, "repeats": a.repeats, "batch_size": BATCH},
            **{k: {"seconds": [round(x, 4) for x in v], "img_per_s": round(a.steps * BATCH / statistics.median(v), 1)}
               for k, v in runs.items()}}
    if a.studiogan_logs:
        logs = []
        for g in wanted:
            found = sorted(p for p in a.studiogan_logs.glob(f"{g}-train-*.log") if p.is_file())
            if not found:
                sys.exit(f"external_speed: no {g}-train-*.log in {a.studiogan_logs}")
            logs.append(studiogan_rate(found[-1]))
        report["studiogan"] = {"dir": str(a.studiogan_logs), "logs": logs}
    try:
        write_report(a.out_dir, f"external-speed-{str(device).replace(':', '')}", report, markdown(report))
    except OSError as e:
        sys.exit(f"external_speed: cannot write the report to {a.out_dir}: {e.strerror or e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
