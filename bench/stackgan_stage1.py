"""How well StackGAN's Stage-I follows the caption's class, with and without conditioning augmentation's parts.

Stage-I alone (the stackgan preset's nets and losses, MNIST, seed 0) is trained for ``--steps`` D/G updates with
Adam(2e-4, beta1 0.5), batch 64; every 1,000 steps the reference classifier scores 1,000 Stage-I samples (enlarged
to 28 x 28, captions with classes in turn) against their caption's class. ``--kl-weight`` sets model.kl_weight;
``--no-eps`` sets the conditioning augmentation's eps to 0 (c = mu). Prints one line per check and writes nothing.

    OMP_NUM_THREADS=1 python bench/stackgan_stage1.py --steps 3000
    OMP_NUM_THREADS=1 python bench/stackgan_stage1.py --steps 3000 --kl-weight 0
    OMP_NUM_THREADS=1 python bench/stackgan_stage1.py --steps 3000 --kl-weight 0 --no-eps
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from gankit.config import resolve
from gankit.data import DeviceLoader, load_dataset
from gankit.gans import GANS
from gankit.metrics.reference import accuracy, load_reference_classifier
from gankit.nn import eval_mode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--kl-weight", type=float, default=1.0)
    ap.add_argument("--no-eps", action="store_true", help="c = mu: no conditioning-augmentation noise")
    a = ap.parse_args()
    torch.set_num_threads(1)
    x, y, info = load_dataset("mnist")
    torch.manual_seed(0)
    gan = GANS.get("stackgan")(resolve("stackgan", [f"steps={2 * a.steps}", f"model.kl_weight={a.kl_weight}"]), info)
    if a.no_eps:
        ca = gan.G.ca1
        forward = ca.forward
        ca.forward = lambda phi, eps: forward(phi, torch.zeros_like(eps))
    opt_g = torch.optim.Adam(gan.G.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(gan.D.parameters(), 2e-4, betas=(0.5, 0.999))
    loader = DeviceLoader(x, y, 64, "cpu", seed=0)
    clf = load_reference_classifier("mnist")
    labels = torch.arange(1000) % 10
    rows = gan.captioner.random_rows(labels, torch.Generator().manual_seed(0))
    t0 = time.perf_counter()
    for step in range(1, a.steps + 1):  # gan.stage stays 0: its step counter only moves in the trainer
        for opt, fn in ((opt_d, gan.d_step), (opt_g, gan.g_step)):
            real, lab = loader.next()
            opt.zero_grad()
            fn(real, lab)[0].backward()
            opt.step()
        if step % 1000 == 0:
            with torch.no_grad(), eval_mode(gan.G):
                z = gan.sample_z(1000, generator=torch.Generator().manual_seed(1))
                low = gan.G.stage_one(z, gan.captioner.embed(rows))[0]
                acc = accuracy(clf, F.interpolate(low, size=(28, 28), mode="nearest"), labels)
            print(f"step {step}: Stage-I class accuracy {acc:.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
