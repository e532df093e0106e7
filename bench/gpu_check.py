"""Every GPU measurement the scale issue asks for, as one script (under 8 minutes on one H100/H200-class GPU):

1. **Settings** (``bench/throughput.py``'s settings mode): images/s of DCGAN (the ``dcgan`` preset, 28x28 grey) and
   of a BigGAN-128-size net (``biggan`` at 128x128 RGB with BigGAN-128's widths: ch 96, G's channels halving
   from 16 ch, D's doubling to 16 ch, attention at 64x64; batch 256), each with ``plain``, ``bf16``,
   ``channels_last``, ``compile`` and ``all``.
2. **bf16 peak fraction** of the BigGAN-size net: the FLOPs of one training step (``torch.utils.flop_counter``:
   matmuls and convolutions, forward and backward, every phase) times its steps/s under ``all``, over the device's
   dense bf16 tensor peak (H100/H200 SXM: 989.4 TFLOP/s, NVIDIA's H100 and H200 datasheets; A100: 312).
3. **Same losses**: 20 DCGAN steps with bf16 and with compile against the plain run: the largest relative
   difference of the logged losses (bf16 rounds every matmul: a loose, stated tolerance; compile: float32 rounding).
4. **Metrics speed** (``bench/metrics_speed.py``): Inception features + FID of 2 x 2000 images on the device,
   against torch-fidelity when it is installed (gankit alone otherwise).
5. **StudioGAN's CIFAR-10 sizes** (last, skipped first when time runs out): ``sngan-resnet``, ``sagan`` and
   ``biggan`` at the widths of StudioGAN's CIFAR-10 configs (G 256 / D 128 channels; BigGAN 384 / 192; attention
   at 16x16 for SAGAN and BigGAN; 5 D steps per step; batch 64, 32x32 RGB), ``plain`` and ``all``, to set beside
   the images/s of StudioGAN's published logs (``bench/external_speed.py``; one TITAN RTX, float32). gankit's
   SNGAN and SAGAN here are unconditional where StudioGAN's are projection-conditional.

The data are synthetic image folders written at start (random pixels: speed does not depend on them; the
machine needs no dataset). Results are written to ``OUT/gpu_check.json`` after every part, so a run stopped by
its time limit keeps what it measured. Test it on the CPU first::

    python bench/gpu_check.py --device cpu --tiny --out /tmp/gpu-check     # small nets, a few steps
    python bench/gpu_check.py --device cuda --out "$OUT"                   # on the device
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine_record  # noqa: E402

PEAK_BF16 = {"H200": 989.4e12, "H100": 989.4e12, "A100": 312e12}  # dense, SXM; NVIDIA datasheets
BIGGAN_128 = ["model.g_width=96", "model.d_width=96", "model.widen=true", "model.attention=64"]
#: StudioGAN's CIFAR-10 configs (src/configs/CIFAR10/{SNGAN,SAGAN,BigGAN}.json at its commit 70d2434): G's and D's
#: channels (4 x g_conv_dim, 2 x d_conv_dim), attention after G's 2nd and D's 1st block (16x16), 5 D steps
STUDIOGAN_CIFAR = {"sngan-resnet": ["model.g_width=256", "model.d_width=128"],
                   "sagan": ["model.g_width=256", "model.d_width=128", "model.attention=16"],
                   "biggan": ["model.g_width=384", "model.d_width=192", "model.attention=16"]}


def synthetic_folder(root: Path, n: int, res: int, channels: int, classes: int = 10) -> Path:
    """``n`` random images in ``classes`` class folders (PNG, ``res`` x ``res``)."""
    rng = np.random.default_rng(0)
    for i in range(n):
        d = root / f"c{i % classes}"
        d.mkdir(parents=True, exist_ok=True)
        shape = (res, res) if channels == 1 else (res, res, 3)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(d / f"{i:05d}.png")
    return root


def nets(a, tmp: Path):
    """``{label: (preset, overrides, batch, steps)}`` of the two measured nets."""
    grey = synthetic_folder(tmp / "grey", 512 if a.tiny else 2048, 28, 1)
    if a.tiny:
        rgb = synthetic_folder(tmp / "rgb", 64, 32, 3)
        big = ["model.g_width=8", "model.d_width=8", "model.widen=true", "model.attention=16"]
        return {"dcgan": ("dcgan", ["data=imagefolder", f"data.root={grey}", "data.channels=1",
                                    "model.g_width=4", "model.d_width=4"], 16, a.steps or 2),
                "biggan-128-size": ("biggan", ["data=imagefolder", f"data.root={rgb}", "data.resolution=32",
                                               "data.channels=3"] + big, 16, a.steps or 2)}
    rgb = synthetic_folder(tmp / "rgb", 1024, 128, 3)
    return {"dcgan": ("dcgan", ["data=imagefolder", f"data.root={grey}", "data.channels=1"], 256, a.steps or 200),
            "biggan-128-size": ("biggan", ["data=imagefolder", f"data.root={rgb}", "data.resolution=128",
                                           "data.channels=3"] + BIGGAN_128, 256, a.steps or 20)}


def step_flops(name: str, overrides, batch: int, device: torch.device, tmp: Path) -> float:
    """FLOPs of one training step (every phase, forward and backward) of preset ``name``."""
    from torch.utils.flop_counter import FlopCounterMode

    from gankit.config import resolve
    from gankit.train.loop import start

    cfg = resolve(name, overrides + [f"batch_size={batch}", f"device={device}", f"out={tmp / 'flops'}", "steps=2",
                                     "train.progress=false"])
    tr = start(cfg, overwrite=True)
    try:
        tr.train_step()  # warm-up (lazy init, spectral-norm buffers)
        with FlopCounterMode(display=False) as counter:
            tr.train_step()
        return float(counter.get_total_flops())
    finally:
        if tr.rundir is not None:
            tr.rundir.close()


def loss_agreement(device: torch.device, tmp: Path, steps: int, grey: Path) -> dict:
    """Largest relative difference of the logged losses of ``steps`` DCGAN steps, bf16 / compile vs plain."""
    from gankit.config import resolve
    from gankit.train.loop import Trainer, prepare_run_dir

    def run(extra):
        cfg = resolve("dcgan", ["data=imagefolder", f"data.root={grey}", "data.channels=1", "batch_size=64",
                                f"device={device}", f"out={tmp / ('agree-' + '-'.join(extra or ['plain']))}",
                                "train.progress=false"] + extra)
        tr = Trainer(cfg, prepare_run_dir(cfg, True))
        out = []
        for _ in range(steps):
            tr.train_step()
            out.append(tr.meter.pop_means())
        return out

    plain = run([])
    res = {}
    for label, extra in (("bf16", ["train.amp=true"]), ("compile", ["train.compile=true"])):
        other = run(extra)
        res[label] = max(abs(o[k] - p[k]) / max(1.0, abs(p[k])) for o, p in zip(other, plain) for k in p)
    return res


def metrics_part(a, device: torch.device, out: Path) -> dict:
    import metrics_speed

    n, batch = (50, 25) if a.tiny else (2000, 100)
    try:
        import torch_fidelity  # noqa: F401
    except ImportError:
        with tempfile.TemporaryDirectory() as tmp:
            w = Path(tmp) / "w.pth"
            metrics_speed.random_weights(w, 0)
            net = metrics_speed.load_inception(w, device=device)
        g = torch.Generator().manual_seed(0)
        sets = [torch.randint(0, 256, (n, 3, 28, 28), dtype=torch.uint8, generator=g).to(device) for _ in range(2)]
        metrics_speed.run_gankit(net, sets, batch, device)  # warm-up
        r = metrics_speed.run_gankit(net, sets, batch, device)
        return {"gankit_img_s": round(2 * n / r["total_s"], 2), "torch_fidelity": "not installed", **r}
    metrics_speed.main(["--device", str(device), "--n", str(n), "--batch-size", str(batch), "--repeats",
                        "1" if a.tiny else "3", "--out-dir", str(out)])
    tag = str(device).replace(":", "")
    return json.loads((out / f"metrics_speed-{tag}.json").read_text())["results"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--out", default=os.environ.get("OUT", "bench/results/gpu"))
    ap.add_argument("--tiny", action="store_true", help="tiny nets and a few steps (a CPU test of the script)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default 200 DCGAN, 20 BigGAN-size)")
    ap.add_argument("--settings", default="plain,bf16,channels_last,compile,all")
    ap.add_argument("--budget-s", type=float, default=450.0, help="skip what is left after this many seconds")
    a = ap.parse_args(argv)
    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu_check: CUDA is not available here; use --device cpu --tiny to test the script")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()
    report = {**machine_record("gpu-check", device), "tiny": a.tiny, "parts": {}, "skipped": [], "errors": {}}

    def save():
        (out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n")

    def part(key, fn):
        if time.monotonic() - t_start > a.budget_s:
            report["skipped"].append(key)
            save()
            return None
        t0 = time.monotonic()
        try:
            report["parts"][key] = fn()
        except Exception as e:  # keep going: one failing part must not lose the others
            report["errors"][key] = "".join(traceback.format_exception_only(type(e), e)).strip()[-1500:]
            traceback.print_exc()
        report.setdefault("seconds", {})[key] = round(time.monotonic() - t0, 1)
        save()
        print(f"gpu_check: {key} done in {time.monotonic() - t0:.1f} s", flush=True)
        return report["parts"].get(key)

    from throughput import SETTINGS, time_gankit

    with tempfile.TemporaryDirectory(prefix="gankit-gpu-check-") as tmp:
        tmp = Path(tmp)
        table = nets(a, tmp)
        warmup = 1 if a.tiny else 10
        for label, (name, extra, batch, steps) in table.items():
            for setting in [s for s in a.settings.split(",") if s]:
                part(f"{label}/{setting}", lambda: {
                    "img_s": round(steps * batch / time_gankit(batch, warmup, steps, device, tmp, name,
                                                               extra + SETTINGS[setting]), 2),
                    "batch": batch, "steps": steps})
        name, extra, batch, _ = table["biggan-128-size"]
        flops = part("biggan-128-size/flops_per_step", lambda: step_flops(name, extra, batch, device, tmp))
        peak = next((v for k, v in PEAK_BF16.items() if k in report["device_name"]), None)
        best = report["parts"].get("biggan-128-size/all") or report["parts"].get("biggan-128-size/bf16")
        if flops and best:
            achieved = flops * best["img_s"] / batch
            report["parts"]["biggan-128-size/bf16_peak_fraction"] = {
                "achieved_flop_s": achieved, "peak_flop_s": peak,
                "fraction": round(achieved / peak, 4) if peak else None,
                "peak_source": "NVIDIA H100/H200 SXM datasheets, dense BF16 tensor core" if peak else "unknown device"}
            save()
        part("loss_agreement", lambda: loss_agreement(device, tmp, 5 if a.tiny else 20, tmp / "grey"))
        part("metrics", lambda: metrics_part(a, device, out))
        rgb32 = synthetic_folder(tmp / "rgb32", 64 if a.tiny else 1024, 32, 3)
        for name, widths in STUDIOGAN_CIFAR.items():
            if a.tiny:
                widths = [w.split("=")[0] + "=8" if "width" in w else w for w in widths]
            extra = ["data=imagefolder", f"data.root={rgb32}", "data.resolution=32", "data.channels=3",
                     "train.n_critic=5", *widths]
            batch, steps = (16, a.steps or 2) if a.tiny else (64, a.steps or 50)
            for setting in ("plain", "all"):
                part(f"studiogan-cifar-size/{name}/{setting}", lambda: {
                    "img_s": round(steps * batch / time_gankit(batch, warmup, steps, device, tmp, name,
                                                               extra + SETTINGS[setting]), 2),
                    "batch": batch, "steps": steps})
    report["total_s"] = round(time.monotonic() - t_start, 1)
    save()
    bad = [k for k, v in report["parts"].items() if isinstance(v, dict) and any(
        isinstance(x, float) and not math.isfinite(x) for x in v.values())]
    print(json.dumps({k: report[k] for k in ("parts", "skipped", "errors", "total_s")}, indent=1, default=str)[:6000])
    return 1 if report["errors"] or bad else 0


if __name__ == "__main__":
    sys.exit(main())
