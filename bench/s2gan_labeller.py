"""How good are S2GAN's labels? The test error of the classifier that labels the unlabelled images (Lucic et al.
2019, arXiv 1903.02271, Sec. 3.1), trained as ``gankit train s2gan`` trains it before the GAN, against C trained on
the labelled images alone:

* ``selfsup``: 2,000 steps of rotation prediction on the unlabelled images, then 1,000 steps of a linear
  classifier on those features from the labelled ones (the s2gan preset, ``S2GAN.pretrain``);
* ``selfsup-kmeans``: the same pre-training, then k-means (50 clusters) voted by the labelled images;
* ``supervised``: C on the labelled images only, 4,000 steps (what ``model.c_selfsup=0`` trains alongside the GAN).

    GANKIT_DATA=../shared/data OMP_NUM_THREADS=1 python bench/s2gan_labeller.py --fractions 0.1,0.2

Writes ``<out-dir>/s2gan-labeller.json`` and ``.md``: per labeller and label fraction, the test error on the 10,000
Fashion-MNIST test images (32 x 32) and the CPU seconds its training took.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine_record, write_report  # noqa: E402

MODES = {"selfsup": ["model.c_selfsup=2000", "model.c_probe=1000"],
         "selfsup-kmeans": ["model.c_selfsup=2000", "model.c_head=kmeans"],
         "supervised": ["model.c_selfsup=0"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fractions", default="0.1,0.2")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out-dir", default="bench/results")
    a = ap.parse_args(argv)
    import torch

    from gankit.config import resolve
    from gankit.data import load_dataset, make_loader
    from gankit.gans import GANS
    from gankit.train.optim import make_optimizer

    x, y, info = load_dataset("fashion-mnist", resolution=32, split="train")
    xt, yt, _ = load_dataset("fashion-mnist", resolution=32, split="test")
    rows = []
    for frac in [float(f) for f in a.fractions.split(",")]:
        for mode in a.modes.split(","):
            cfg = resolve("s2gan", [f"data.label_fraction={frac}", f"seed={a.seed}"] + MODES[mode])
            loader = make_loader(x, y, info, cfg.batch_size, "cpu", a.seed, label_fraction=frac)
            torch.manual_seed(a.seed)
            gan = GANS.get("s2gan")(cfg, info)
            t = time.process_time()
            if mode == "supervised":
                opt = make_optimizer(cfg.optim["c"], gan.C.parameters())
                for _ in range(4000):
                    loss, _ = gan.c_step(*loader.next())
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                logs = {}
            else:
                logs = gan.pretrain(loader)
            seconds = time.process_time() - t
            error = 1 - float((gan.classify(xt).argmax(1) == yt).float().mean())
            rows.append({"labeller": mode, "label_fraction": frac, "test_error": round(error, 4),
                         "cpu_seconds": round(seconds, 1), **{k: round(v, 4) for k, v in logs.items()}})
            print(rows[-1], flush=True)
    md = ["| labeller | labels | test error | CPU s |", "| --- | ---: | ---: | ---: |"]
    md += [f"| {r['labeller']} | {r['label_fraction']:.0%} | {r['test_error']:.1%} | {r['cpu_seconds']:.0f} |"
           for r in rows]
    report = {**machine_record("s2gan-labeller", torch.device("cpu")), "seed": a.seed, "rows": rows}
    write_report(a.out_dir, "s2gan-labeller", report, "\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
