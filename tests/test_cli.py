"""The command line end to end in a subprocess: tiny train -> sample -> eval, and the Python API mirror."""
import json
import subprocess
import sys

import numpy as np

import gankit

TINY = ["model.hidden=16", "model.z_dim=4", "batch_size=64", "steps=30", "train.checkpoint_every=10",
        "train.sample_every=10", "train.eval_every=10", "train.eval_samples=500", "data.size=2000"]


def gk(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "gankit.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_list_shows_every_registry():
    r = gk("list")
    assert r.returncode == 0
    for word in ("GANs:", "gan", "dcgan", "objectives:", "nonsaturating", "minimax", "penalties:", "r1",
                 "datasets:", "ring8", "grid25", "mnist", "fashion-mnist", "imagefolder", "metrics:", "toy_modes"):
        assert word in r.stdout


def test_train_sample_eval_on_toy_data(tmp_path):
    run = tmp_path / "run"
    r = gk("train", "gan", *TINY, f"out={run}", "--quiet")
    assert r.returncode == 0, r.stderr
    for f in ("config.yaml", "run.json", "metrics.jsonl", "eval.json", "samples/final.png",
              "checkpoints/step-00000030.pt"):
        assert (run / f).is_file(), f
    assert list((run / "tb").iterdir()), "no TensorBoard events"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("d_loss" in row for row in rows) and any("eval" in row for row in rows)
    assert json.loads((run / "run.json").read_text())["status"] == "finished"
    assert "hash" in (run / "config.yaml").read_text().splitlines()[0]

    r = gk("sample", str(run), "--n", "100", "--seed", "7", "--out", str(tmp_path / "s.npy"))
    assert r.returncode == 0, r.stderr
    x = np.load(tmp_path / "s.npy")
    assert x.shape == (100, 2)
    gk("sample", str(run), "--n", "100", "--seed", "7", "--out", str(tmp_path / "t.npy"))
    assert np.array_equal(x, np.load(tmp_path / "t.npy"))
    gk("sample", str(run), "--n", "100", "--seed", "8", "--out", str(tmp_path / "u.npy"))
    assert not np.array_equal(x, np.load(tmp_path / "u.npy"))
    assert gk("sample", str(run), "--out", str(tmp_path / "s.png")).returncode == 0

    r = gk("eval", str(run))  # training wrote eval.json: kept unless asked
    assert r.returncode == 2 and "--overwrite" in r.stderr, r.stderr
    r = gk("eval", str(run), "--overwrite")
    assert r.returncode == 0, r.stderr
    result = json.loads((run / "eval.json").read_text())
    assert {"modes_captured", "high_quality_pct", "reverse_kl", "protocol"} <= set(result)
    assert "modes_captured" in r.stdout and (run / "eval_scatter.png").is_file()

    # the Python API reads the same run and gives the same samples
    api = gankit.load_run(run)
    assert np.array_equal(api.sample(100, seed=7).numpy(), x)


def test_train_dcgan_on_mnist_images(tmp_path, mnist_root):
    run = tmp_path / "d"
    r = gk("train", "dcgan", "data=mnist", "--data-root", str(mnist_root), "data.size=256", "steps=3",
           "batch_size=16", "model.g_width=4", "model.d_width=4", "train.sample_every=1", f"out={run}", "--quiet")
    assert r.returncode == 0, r.stderr
    assert (run / "samples" / "final.png").is_file()
    r = gk("sample", str(run), "--n", "4", "--out", str(tmp_path / "x.npy"))
    assert r.returncode == 0 and np.load(tmp_path / "x.npy").shape == (4, 1, 28, 28)


def test_default_out_dirs_never_collide(tmp_path):
    for _ in range(2):
        assert gk("train", "gan", "model.hidden=8", "steps=2", "batch_size=64", "data.size=500", "--quiet", cwd=tmp_path).returncode == 0
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["gan-ring8", "gan-ring8-1"]


def test_python_api_train_and_resume_extends(tmp_path):
    run = gankit.train("gan", *TINY, out=str(tmp_path / "api"), train={"progress": False})
    assert run.step == 30
    longer = gankit.train(resume=str(run.dir), steps=40)
    assert longer.step == 40 and longer.config.steps == 40
