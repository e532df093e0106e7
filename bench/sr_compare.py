"""SR crops side by side (Ledig et al. 2016, arXiv 1609.04802, Fig. 2 / 6): for the first test images of a
super-resolution set, the x4 input (pixels repeated), its bicubic upsampling, an SRResNet run's output, an SRGAN
run's output and the original, one image per row.

    GANKIT_DATA=../shared/data python bench/sr_compare.py runs/srresnet-lowres2mnist runs/srgan-lowres2mnist \\
        --out docs/gans/translation/sr-compare-mnist.png

Both runs must be on the same SR set and resolution; ``--n`` rows (default 8) from the test split; ``--scale``
repeats every pixel so that 32 x 32 crops are visible (default 2).
"""
from __future__ import annotations

import argparse
import sys

import torch


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("srresnet_run")
    ap.add_argument("srgan_run")
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--scale", type=int, default=2)
    a = ap.parse_args(argv)
    import gankit
    from gankit.data.domains import bicubic_up, low_of, split_domains
    from gankit.viz.grid import save_image_grid

    mse, adv = gankit.load_run(a.srresnet_run), gankit.load_run(a.srgan_run)
    if mse.config.data.name != adv.config.data.name or mse.config.data.resolution != adv.config.data.resolution:
        print(f"sr_compare: the runs are on different data ({mse.config.data.name} vs {adv.config.data.name})",
              file=sys.stderr)
        return 2
    x, _ = mse.gan.task_data()
    low, high = split_domains(x[:a.n], mse.gan.info)
    cols = [low, bicubic_up(low_of(low)), mse.gan.translate(low, "ab"), adv.gan.translate(low, "ab"), high]
    cols = [c.cpu().float().clamp(-1, 1) for c in cols]
    rows = torch.stack(cols, 1).flatten(0, 1)  # image by image: input, bicubic, srresnet, srgan, original
    if a.scale > 1:
        rows = rows.repeat_interleave(a.scale, 2).repeat_interleave(a.scale, 3)
    save_image_grid(rows, a.out, nrow=len(cols))
    print(f"wrote {a.out}: columns input, bicubic, srresnet, srgan, original; {a.n} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
