"""bench/external_speed.py: the StudioGAN log reader and the loading of PyTorch-GAN's nets, on files written here
(in those projects' formats; none of their code or logs is in gankit)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
import external_speed  # noqa: E402  (the bench folder is not a package)


def step_line(step: int, elapsed: int) -> str:
    h, rest = divmod(elapsed, 3600)
    m, s = divmod(rest, 60)
    return (f"[INFO] 2020-09-15 13:24:04 > Step: {step:7d} Progress: 0.1% Elapsed: {h}:{m:02d}:{s:02d} "
            f"Discriminator_loss: 0.5 Generator_loss: 1.0")


def test_studiogan_rate_reads_runs_between_evaluations(tmp_path):
    lines = ["[INFO] x > {'batch_size': 32, 'd_steps_per_iter': 5, 'mixed_precision': False}"]
    t = 0
    for step in range(100, 2001, 100):  # 4 s per 100 steps
        t += 4
        lines.append(step_line(step, t))
    lines.append("[INFO] x > Start Evaluation (2000 Step)")  # an evaluation of 10 minutes: not a training rate
    t += 600
    for step in range(2100, 4001, 100):  # 5 s per 100 steps
        t += 5
        lines.append(step_line(step, t))
    lines.append("[INFO] x > Start Evaluation (4000 Step)")
    t += 600
    for step in range(4100, 6001, 100):  # 5 s per 100 steps
        t += 5
        lines.append(step_line(step, t))
    log = tmp_path / "SNGAN-train-2020_09_18_14_37_00.log"
    log.write_text("\n".join(lines) + "\n")
    r = external_speed.studiogan_rate(log)
    assert r["gan"] == "SNGAN" and r["batch_size"] == 32 and r["d_steps_per_iter"] == 5
    assert r["mixed_precision"] is False and r["runs"] == 3
    assert r["steps_per_s"] == pytest.approx(20.0)  # median of 25, 20, 20 steps/s
    assert r["img_per_s"] == pytest.approx(640.0)


def test_studiogan_rate_without_steps(tmp_path):
    log = tmp_path / "DCGAN-train-x.log"
    log.write_text("[INFO] x > Start training....\n")
    assert "error" in external_speed.studiogan_rate(log)


SCRIPT = '''
import argparse
import torch.nn as nn
raise SystemExit("the script's own statements must not run")
opt = None

def weights_init_normal(m):
    if isinstance(m, nn.Linear):
        nn.init.constant_(m.bias, 0.25)

class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(opt.latent_dim, opt.channels * opt.img_size ** 2)
    def forward(self, z):
        return self.l1(z).view(z.shape[0], opt.channels, opt.img_size, opt.img_size).tanh()

class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.adv_layer = nn.Sequential(nn.Linear(opt.channels * opt.img_size ** 2, 1), nn.Sigmoid())
    def forward(self, img):
        return self.adv_layer(img.flatten(1))

generator = Generator()
'''


def test_their_nets_run_only_definitions_and_give_logits(tmp_path):
    script = tmp_path / external_speed.DCGAN_SCRIPT
    script.parent.mkdir(parents=True)
    script.write_text(SCRIPT)
    G, D = external_speed.their_dcgan_nets(tmp_path)
    assert G.l1.in_features == 100 and G.l1.out_features == 32 * 32  # the script's defaults
    assert torch.all(G.l1.bias == 0.25)  # its weights_init_normal was applied
    assert not any(isinstance(m, nn.Sigmoid) for m in D.modules())  # logits for gankit's objectives
    x = G(torch.randn(3, 100))
    assert x.shape == (3, 1, 32, 32) and D(x).shape == (3, 1)


def test_their_nets_train_in_gankit(tmp_path, mnist_root):
    from gankit.gans import GANS

    script = tmp_path / "repo" / external_speed.DCGAN_SCRIPT
    script.parent.mkdir(parents=True)
    script.write_text(SCRIPT)
    name = external_speed.register_their_nets(tmp_path / "repo")
    try:
        train_two_steps(name, tmp_path, mnist_root)
    finally:  # other tests walk every registered GAN
        GANS._items.pop(name)
    assert name not in GANS.names()


def train_two_steps(name, tmp_path, mnist_root):
    from gankit.config import resolve
    from gankit.train.loop import start

    cfg = resolve("dcgan", [f"gan={name}", "data.resolution=32", "model.z_dim=100", "steps=2", "batch_size=8",
                            f"data.root={mnist_root}", f"out={tmp_path / 'run'}", "train.progress=false",
                            "train.sample_every=0", "train.checkpoint_every=0", "train.eval_every=0",
                            "train.ema=null", "train.grid_size=4"])
    tr = start(cfg)
    tr.fit()
    assert tr.step == 2
    assert isinstance(tr.gan.G.l1, nn.Linear) and tr.gan.G.l1.out_features == 32 * 32  # their G, not gankit's
