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


def test_python_dash_m_gankit_is_the_command_line():
    """``python -m gankit`` (what ``torchrun -m gankit`` runs) is the same entry point, exit codes included."""
    r = subprocess.run([sys.executable, "-m", "gankit", "list"], capture_output=True, text=True)
    assert r.returncode == 0 and "GANs:" in r.stdout and "combogan" in r.stdout and "mnist-colours" in r.stdout
    r = subprocess.run([sys.executable, "-m", "gankit", "train", "nosuchgan"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith("gankit: error:") and len(r.stderr.strip().splitlines()) == 1


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


def test_sample_npz_with_class_and_code_and_their_errors(tmp_path, mnist_root):
    """`gankit sample --out FILE.npz` writes x (N x C x H x W, float32 in [-1, 1]) and y (int64 labels or
    InfoGAN codes; no y for an unconditional run), the same arrays as the Python API; --class / --code
    fix the label / code; misuse is one `gankit: error:` line with exit status 2."""
    from cli_harness import assert_user_error, run_cli, start_server, stop_server

    tiny = ["data=mnist", f"data.root={mnist_root}", "data.size=64", "batch_size=8", "steps=1", "train.progress=false",
            "model.g_width=4", "model.d_width=4"]
    runs = {name: gankit.train(name, *tiny, *(["model.q_hidden=8"] if name == "infogan" else []),
                               out=str(tmp_path / name))
            for name in ("infogan", "cgan", "dcgan")}
    start_server(tmp_path / "fork-server")
    try:
        def cli(*args):
            return run_cli(["sample", *args], cwd=tmp_path / "cwd")

        def npz(name):
            with np.load(tmp_path / "cwd" / name) as f:
                return {k: f[k] for k in f.files}

        # InfoGAN: the categorical code fixed, or all values in turn
        r = cli(str(runs["infogan"].dir), "--n", "7", "--seed", "2", "--code", "c=3", "--out", "a.npz")
        assert r.rc == 0, r.describe()
        a = npz("a.npz")
        assert a["x"].shape == (7, 1, 28, 28) and a["x"].dtype == np.float32 and a["y"].dtype == np.int64
        assert a["y"].tolist() == [3] * 7 and -1 <= a["x"].min() and a["x"].max() <= 1
        x, y = runs["infogan"].sample_with_labels(7, seed=2, label=3)
        # the same arrays as the API (up to float rounding: the CLI process may use other torch threads)
        assert np.allclose(a["x"], x.numpy(), rtol=0, atol=1e-5) and np.array_equal(a["y"], y.numpy())
        assert cli(str(runs["infogan"].dir), "--n", "12", "--out", "b.npz").rc == 0
        assert npz("b.npz")["y"].tolist() == [i % 10 for i in range(12)]
        # never overwrites without --overwrite
        line = assert_user_error(cli(str(runs["infogan"].dir), "--n", "7", "--out", "a.npz"), ("already exists", "--overwrite"))
        assert cli(str(runs["infogan"].dir), "--n", "5", "--code", "c=1", "--out", "a.npz", "--overwrite").rc == 0
        assert npz("a.npz")["y"].tolist() == [1] * 5
        # a class-conditional run: --class
        r = cli(str(runs["cgan"].dir), "--n", "4", "--class", "6", "--out", "c.npz")
        assert r.rc == 0, r.describe()
        c = npz("c.npz")
        assert c["y"].tolist() == [6] * 4
        assert np.allclose(c["x"], runs["cgan"].sample(4, seed=0, label=6).numpy(), rtol=0, atol=1e-5)
        # the truncation trick (a Gaussian z): the API's samples; refused for InfoGAN's uniform codes
        r = cli(str(runs["cgan"].dir), "--n", "4", "--class", "6", "--truncation", "0.5", "--out", "t.npz")
        assert r.rc == 0, r.describe()
        t = npz("t.npz")["x"]
        assert np.allclose(t, runs["cgan"].sample(4, seed=0, label=6, truncation=0.5).numpy(), rtol=0, atol=1e-5)
        assert not np.allclose(t, c["x"])
        # an unconditional run: x only
        assert cli(str(runs["dcgan"].dir), "--n", "3", "--out", "u.npz").rc == 0
        u = npz("u.npz")
        assert sorted(u) == ["x"] and np.allclose(u["x"], runs["dcgan"].sample(3).numpy(), rtol=0, atol=1e-5)
        # misuse: one line, exit status 2
        for args, words in [
            ((runs["infogan"].dir, "--class", "3"), ("--code c=K",)),
            ((runs["infogan"].dir, "--code", "c=10"), ("--code", "between 0 and 9")),
            ((runs["infogan"].dir, "--code", "c=-1"), ("between 0 and 9",)),
            ((runs["infogan"].dir, "--code", "z=1"), ("--code must be c=K",)),
            ((runs["infogan"].dir, "--code", "c=two"), ("integer",)),
            ((runs["cgan"].dir, "--class", "10"), ("--class", "between 0 and 9")),
            ((runs["cgan"].dir, "--code", "c=1"), ("--code", "--class")),
            ((runs["dcgan"].dir, "--class", "0"), ("--class", "unconditional")),
            ((runs["dcgan"].dir, "--code", "c=0"), ("--code", "dcgan")),
            ((runs["cgan"].dir, "--class", "1", "--code", "c=1"), ("not both",)),
            ((runs["cgan"].dir, "--class", "one"), ("--class",)),
            ((runs["cgan"].dir, "--out", "x.npx"), (".npz",)),
            ((runs["infogan"].dir, "--truncation", "0.5"), ("--truncation", "Gaussian")),
            ((runs["cgan"].dir, "--truncation", "0"), ("--truncation", "> 0")),
            ((runs["cgan"].dir, "--truncation", "nan"), ("--truncation", "> 0")),
        ]:
            r = cli(str(args[0]), *args[1:], "--out", "err.npz") if "--out" not in args else cli(str(args[0]), *args[1:])
            assert r.rc == 2, r.describe()
            assert_user_error(r, words)
        assert not (tmp_path / "cwd" / "err.npz").exists()
        # gankit eval --truncation T scores truncated samples and says so in the result
        r = run_cli(["eval", str(runs["cgan"].dir), "--n", "50", "--num-real", "50", "--metrics", "class_accuracy",
                     "--truncation", "0.5", "--out", "e.json"], cwd=tmp_path / "cwd")
        assert r.rc == 0, r.describe()
        result = json.loads((tmp_path / "cwd" / "e.json").read_text())
        assert "truncation 0.5" in json.dumps(result) and "class_accuracy" in result
    finally:
        stop_server()
    assert line.startswith("gankit: error:")
