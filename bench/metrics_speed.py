"""Inception metrics speed: gankit vs torch-fidelity, same inputs, same weights, same device.

The work timed on each side is one FID evaluation between two image sets A and B of N random
uint8 images each (``--size`` pixels square, 28 by default, so every image is upscaled to 299x299):

1. Inception-v3 features of all 2N images in batches of ``--batch-size`` (the batch is on the
   device; the features come back to the CPU, as both libraries' pipelines do);
2. mean and covariance of each set's 2048-d pool features;
3. the Fréchet distance between the two Gaussians.

* **gankit**: ``load_inception`` (BatchNorm folded, channels-last on CPU), ``FIDInceptionV3.extract``
  (pool features and the 1008 unbiased logits from one pass), then
  ``gankit.metrics.frechet.feature_statistics`` and ``frechet_distance``.
* **torch-fidelity**: ``FeatureExtractorInceptionV3`` asked for ``2048`` and ``logits_unbiased``
  (the same outputs), called batch by batch under ``torch.no_grad`` as its own extraction loop
  does, then its ``fid_features_to_statistics`` and ``fid_statistics_to_metric``.

Both networks load the same weights file: seeded random weights (``--seed``) written in the
layout of ``pt_inception-2015-12-05-6726825d.pth``, or that file itself with ``--weights``. Loading
is outside the timed window (reported separately). Every repeat times both sides; the order
alternates between repeats so drift on a shared machine hits both alike. One warm-up batch per side
runs first. A side's rate is 2N / seconds; the report gives the median over the repeats and
ratio = gankit median / torch-fidelity median (> 1: gankit is faster), plus the median time of each
stage and both FID values (they must agree). Results go to ``<out-dir>/metrics_speed-<device>.json``
and ``.md`` (``metrics_speed-<device>-t<threads>.*`` when ``--threads`` is given).

    python bench/metrics_speed.py                         # CPU, N=500 per set, batch 50, 3 repeats
    python bench/metrics_speed.py --n 50 --batch-size 25 --repeats 3
    python bench/metrics_speed.py --device cuda --n 2000 --batch-size 100
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from _report import machine_record, write_report
from gankit.metrics.inception import FIDInceptionV3, load_inception, randomize_


def sync_fn(device: torch.device):
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def random_weights(path: Path, seed: int) -> None:
    """Seeded weights in the standard file's layout: He-scaled convolutions, BatchNorms with
    non-trivial affine parameters and running statistics (activations stay O(1))."""
    model = randomize_(FIDInceptionV3(), seed)
    torch.save(model.state_dict(), path)


# ------------------------------------------------------------------ the two sides
def run_gankit(model, sets, batch: int, device: torch.device) -> dict:
    from gankit.metrics.frechet import feature_statistics, frechet_distance

    sync, t = sync_fn(device), {}
    sync()
    t0 = time.perf_counter()
    feats = [model.extract(x, batch_size=batch)[0] for x in sets]
    t1 = time.perf_counter()
    (mu1, s1), (mu2, s2) = (feature_statistics(f) for f in feats)
    t2 = time.perf_counter()
    fid = frechet_distance(mu1, s1, mu2, s2)
    t3 = time.perf_counter()
    t.update(extract_s=t1 - t0, stats_s=t2 - t1, fid_s=t3 - t2, total_s=t3 - t0, fid=fid)
    return t


def run_fidelity(fe, sets, batch: int, device: torch.device) -> dict:
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric

    sync, t = sync_fn(device), {}
    sync()
    t0 = time.perf_counter()
    feats = []
    with torch.no_grad():
        for x in sets:
            out = [fe(x[i:i + batch].to(device))[0].cpu() for i in range(0, x.shape[0], batch)]
            feats.append(torch.cat(out))
    t1 = time.perf_counter()
    st1, st2 = (fid_features_to_statistics(f) for f in feats)
    t2 = time.perf_counter()
    fid = fid_statistics_to_metric(st1, st2, verbose=False)[KEY_METRIC_FID]
    t3 = time.perf_counter()
    t.update(extract_s=t1 - t0, stats_s=t2 - t1, fid_s=t3 - t2, total_s=t3 - t0, fid=fid)
    return t


# ------------------------------------------------------------------ driver
def markdown(report: dict) -> str:
    c, r = report["config"], report["results"]
    lines = [
        f"# gankit metrics speed: Inception features + statistics + FID, {report['device']} "
        f"({report['device_name']})",
        "",
        f"torch {report['torch']}, torch-fidelity {report['torch_fidelity']}, gankit {report['gankit']}, "
        f"{report['threads']} threads; 2 x {c['n']} images of {c['size']}x{c['size']} (upscaled to 299), "
        f"batch {c['batch_size']}, {c['weights']} weights; median of {c['repeats']} repeats; {report['date']}.",
        "",
        "| side | img/s | total s | features s | statistics s | FID s | FID |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for side, label in (("gankit", "gankit"), ("fidelity", "torch-fidelity")):
        m = r[side]
        lines.append(f"| {label} | {m['img_s']:.2f} | {m['total_s']:.2f} | {m['extract_s']:.2f} | "
                     f"{m['stats_s']:.3f} | {m['fid_s']:.3f} | {m['fid']:.6g} |")
    lines += [
        "",
        f"ratio (gankit img/s / torch-fidelity img/s, medians) = **{r['ratio']:.3f}**; "
        f"paired per-repeat median {r['paired_ratio_median']:.3f}. Model load (untimed above): "
        f"gankit {r['load_s']['gankit']:.2f} s, torch-fidelity {r['load_s']['fidelity']:.2f} s. "
        f"|FID difference| = {r['fid_abs_diff']:.3g}.",
        "",
        "Protocol in bench/metrics_speed.py's docstring.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=500, help="images per set; two sets are compared (default 500)")
    ap.add_argument("--batch-size", type=int, default=50, help="Inception batch size, both sides (default 50)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per side (default 3)")
    ap.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's default)")
    ap.add_argument("--size", type=int, default=28, help="side of the random input images (default 28)")
    ap.add_argument("--weights", default=None, help="a real pt_inception-2015-12-05-6726825d.pth "
                    "(default: seeded random weights in its layout)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the images and random weights (default 0)")
    ap.add_argument("--out-dir", default=str(Path(__file__).resolve().parent / "results"), help="default bench/results")
    a = ap.parse_args(argv)

    try:
        device = torch.device(a.device)
    except RuntimeError as e:
        sys.exit(f"metrics_speed: bad --device ({e})")
    if device.type not in ("cpu", "cuda"):
        sys.exit(f"metrics_speed: --device must be cpu, cuda or cuda:N, got {a.device}")
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit(f"metrics_speed: --device {a.device} requested but CUDA is not available")
    if min(a.n, a.batch_size, a.repeats, a.size) < 1 or a.n < 2:
        sys.exit("metrics_speed: --n (>= 2), --batch-size, --repeats and --size must be positive")
    if a.threads is not None:
        if a.threads < 1:
            sys.exit("metrics_speed: --threads must be positive")
        torch.set_num_threads(a.threads)
    try:
        from torch_fidelity import __version__ as tf_version
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    except ImportError:
        sys.exit("metrics_speed: torch-fidelity is not installed (pip install torch-fidelity)")

    g = torch.Generator().manual_seed(a.seed)
    sets = [torch.randint(0, 256, (a.n, 3, a.size, a.size), dtype=torch.uint8, generator=g) for _ in range(2)]
    if device.type == "cuda":  # inputs live on the device for both sides
        sets = [x.to(device) for x in sets]

    with tempfile.TemporaryDirectory(prefix="gankit-bench-") as tmp:
        if a.weights:
            weights, kind = Path(a.weights).expanduser(), "real"
        else:
            weights, kind = Path(tmp) / "random-inception.pth", f"seeded random (seed {a.seed})"
            random_weights(weights, a.seed)
        t0 = time.perf_counter()
        ours = load_inception(weights, device=device)
        t1 = time.perf_counter()
        fe = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                         feature_extractor_weights_path=str(weights)).to(device)
        t2 = time.perf_counter()
    load_s = {"gankit": round(t1 - t0, 3), "fidelity": round(t2 - t1, 3)}

    warm = sets[0][:a.batch_size]
    ours(warm)
    with torch.no_grad():
        fe(warm)

    runs = []
    for r in range(a.repeats):
        order = ("gankit", "fidelity") if r % 2 == 0 else ("fidelity", "gankit")
        res = {}
        for side in order:
            res[side] = (run_gankit(ours, sets, a.batch_size, device) if side == "gankit"
                         else run_fidelity(fe, sets, a.batch_size, device))
            res[side]["img_s"] = 2 * a.n / res[side]["total_s"]
        runs.append({"repeat": r, "order": list(order),
                     **{s: {k: round(v, 4) if k != "fid" else v for k, v in res[s].items()} for s in order}})
        print(f"repeat {r} ({order[0]} first): gankit {res['gankit']['img_s']:.2f} img/s, "
              f"torch-fidelity {res['fidelity']['img_s']:.2f} img/s", flush=True)

    def med(side, key):
        return statistics.median(run[side][key] for run in runs)

    results = {s: {k: round(med(s, k), 4) for k in ("img_s", "total_s", "extract_s", "stats_s", "fid_s")}
               for s in ("gankit", "fidelity")}
    for s in ("gankit", "fidelity"):
        results[s]["fid"] = runs[-1][s]["fid"]
    results["ratio"] = round(results["gankit"]["img_s"] / results["fidelity"]["img_s"], 4)
    results["paired_ratio_median"] = round(statistics.median(
        run["gankit"]["img_s"] / run["fidelity"]["img_s"] for run in runs), 4)
    results["fid_abs_diff"] = abs(results["gankit"]["fid"] - results["fidelity"]["fid"])
    results["load_s"] = load_s
    results["runs"] = runs

    tag = str(device).replace(":", "") + (f"-t{a.threads}" if a.threads is not None else "")
    report = {
        **machine_record("inception-fid-speed", device, torch_fidelity=tf_version),
        "config": {"n": a.n, "size": a.size, "batch_size": a.batch_size, "repeats": a.repeats, "seed": a.seed,
                   "weights": kind, "gankit_fused": ours.fused,
                   "rate": "2 * n images / seconds for features + statistics + FID",
                   "ratio": "gankit median img/s / torch-fidelity median img/s"},
        "results": results,
    }
    write_report(a.out_dir, f"metrics_speed-{tag}", report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
