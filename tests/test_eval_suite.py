"""The image evaluation suite end to end: shipped reference classifiers, one-pass scoring with a
protocol record, the reference-statistics cache, stacked MNIST, class accuracy, and `gankit eval`
on a run, on a folder of images and on real data (the ceilings)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import gankit
from gankit.errors import GankitError
from gankit.metrics import METRICS, get_extractor, real_ceilings, reference_features, score_images
from gankit.metrics.reference import REQUIRED_ACCURACY, RECIPES, load_reference_classifier, reference_record
from gankit.metrics.suite import load_real_images


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    """Reference statistics go to a per-session temporary cache, never to ~/.cache."""
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path_factory.getbasetemp() / "gankit-cache"))


def gk(*args, cwd=None, data=None):
    env = dict(os.environ)
    if data is not None:
        env["GANKIT_DATA"] = str(data)
    return subprocess.run([sys.executable, "-m", "gankit.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env=env)


# ---------------------------------------------------------------- reference classifiers
@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
def test_shipped_classifier_reaches_its_accuracy(dataset, mnist_root):
    rec = reference_record(dataset)
    assert rec["recipe"] == RECIPES[dataset], "shipped weights were trained with another recipe"
    net = load_reference_classifier(dataset)  # checks the sha256 against the record
    x, y = load_real_images(dataset, "test", 10000, mnist_root)
    with torch.inference_mode():
        pred = torch.cat([net(x[i:i + 2000]).argmax(1) for i in range(0, 10000, 2000)])
    acc = (pred == y).double().mean().item()
    assert acc >= REQUIRED_ACCURACY[dataset]
    assert acc == pytest.approx(rec["test_accuracy"], abs=1e-4)  # the record states what the file does


def test_classifier_hash_is_checked(tmp_path):
    import shutil

    from gankit.metrics.reference import WEIGHTS_DIR

    for suffix in (".safetensors", ".json"):
        shutil.copy(WEIGHTS_DIR / f"mnist-classifier{suffix}", tmp_path / f"mnist-classifier{suffix}")
    blob = bytearray((tmp_path / "mnist-classifier.safetensors").read_bytes())
    blob[-1] ^= 1
    (tmp_path / "mnist-classifier.safetensors").write_bytes(bytes(blob))
    with pytest.raises(GankitError, match="does not match its record"):
        load_reference_classifier("mnist", weights_dir=tmp_path)
    with pytest.raises(GankitError, match="no reference classifier for dataset 'cifar10'"):
        load_reference_classifier("cifar10")


def test_classifier_recipe_is_deterministic(tmp_path, mnist_root):
    from gankit.metrics.reference import train_reference_classifier

    from safetensors.torch import load_file

    a = train_reference_classifier("mnist", mnist_root, tmp_path / "a", epochs=1, train_size=512, progress=False)
    b = train_reference_classifier("mnist", mnist_root, tmp_path / "b", epochs=1, train_size=512, progress=False)
    # Usually bitwise identical (same sha256); once, in a long pytest process, the first of the two
    # trainings differed in its bytes (oneDNN kernel choice is not pinned), so the check is on the values.
    wa = load_file(str(tmp_path / "a" / "mnist-classifier.safetensors"))
    wb = load_file(str(tmp_path / "b" / "mnist-classifier.safetensors"))
    assert wa.keys() == wb.keys()
    assert all(torch.allclose(wa[k].double(), wb[k].double(), rtol=1e-4, atol=1e-5) for k in wa)
    assert a["recipe"] == b["recipe"] and a["test_accuracy"] == pytest.approx(b["test_accuracy"], abs=2e-4)
    with pytest.raises(GankitError, match="already exists"):
        train_reference_classifier("mnist", mnist_root, tmp_path / "a", epochs=1, train_size=512, progress=False)


# ---------------------------------------------------------------- scoring
def test_real_test_images_against_themselves(mnist_root):
    x, y = load_real_images("mnist", "test", 1000, mnist_root)
    r = score_images(x, "mnist", num_real=1000, root=mnist_root, labels=y, kid_subset_size=500)
    assert abs(r["cfid"]) < 1e-6
    # the same images on both sides: subsets share samples, so the unbiased KID is slightly negative
    assert -0.02 < r["ckid"] < 0.0
    assert r["precision"] == 1.0 and r["recall"] == 1.0 and r["coverage"] == 1.0
    assert r["class_accuracy"] > 0.98
    assert 6.5 < r["cis"] <= 10.0  # label smoothing (0.05) keeps p(y|x) from one-hot: ~7.2 on test
    p = r["protocol"]
    assert p["features"]["name"] == "classifier-mnist"
    assert p["features"]["weights_sha256"] == reference_record("mnist")["sha256"]
    assert p["reference"]["split"] == "test" and p["reference"]["num_real"] == 1000
    assert p["num_fake"] == 1000 and p["seed"] == 0 and p["gankit"] == gankit.__version__
    assert set(p["metrics"]) == {"fid", "kid", "is", "precision_recall", "density_coverage", "class_balance",
                                 "class_accuracy"}
    # the test set's own class shares (MNIST test: 8.9 % fives ... 11.35 % ones)
    counts = torch.bincount(y, minlength=10).double() / len(y) * 100
    assert r["class_pct"] == pytest.approx(counts.tolist(), abs=2.5)
    assert min(r["class_pct"]) == pytest.approx(r["class_min_pct"], abs=0.01)
    assert max(r["class_pct"]) == pytest.approx(r["class_max_pct"], abs=0.01)
    assert 0 <= r["class_kl"] < 0.01


def test_scores_separate_good_from_bad_samples(mnist_root):
    x, _ = load_real_images("mnist", "train", 1000, mnist_root)
    good = score_images(x, "mnist", num_real=1000, root=mnist_root, kid_subset_size=500)
    noise = score_images(torch.rand_like(x) * 2 - 1, "mnist", num_real=1000, root=mnist_root, kid_subset_size=500)
    one_digit = score_images(x[:1].expand(1000, -1, -1, -1), "mnist", num_real=1000, root=mnist_root,
                             kid_subset_size=500)
    assert good["cfid"] < 0.1 * noise["cfid"] and good["ckid"] < noise["ckid"]
    assert noise["precision"] < 0.05 and good["precision"] > 0.7
    assert one_digit["cis"] < 1.5 < good["cis"]          # mode collapse -> IS ~ 1
    assert one_digit["recall"] < 0.05 < good["recall"]     # ... and no recall


def test_one_feature_pass_per_call(mnist_root, monkeypatch):
    x, _ = load_real_images("mnist", "test", 300, mnist_root)
    ext = get_extractor("classifier", "mnist")
    ref = reference_features(ext, "mnist", "test", 300, mnist_root)
    calls = []
    inner = ext.forward
    ext.forward = lambda t: (calls.append(len(t)), inner(t))[1]
    score_images(x, "mnist", extractor=ext, reference=ref, kid_subset_size=100)
    assert calls == [300]  # every metric shared one pass over the 300 images


def test_reference_stats_are_cached_by_protocol(mnist_root, tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path))
    ext = get_extractor("classifier", "mnist")
    a = reference_features(ext, "mnist", "test", 200, mnist_root)
    files = list((tmp_path / "refstats").iterdir())
    assert len(files) == 1 and a.key in files[0].name
    b = reference_features(ext, "mnist", "test", 200, mnist_root)
    assert torch.equal(a.features, b.features) and torch.equal(a.sigma, b.sigma)
    c = reference_features(ext, "mnist", "test", 300, mnist_root)  # another protocol, another entry
    assert c.key != a.key and len(list((tmp_path / "refstats").iterdir())) == 2
    files[0].write_bytes(b"not a safetensors file")  # damaged entry: recomputed, not trusted
    d = reference_features(ext, "mnist", "test", 200, mnist_root)
    assert torch.equal(a.features, d.features)


def test_score_errors_are_one_line(mnist_root):
    x, _ = load_real_images("mnist", "test", 10, mnist_root)
    with pytest.raises(GankitError, match="unknown image metric 'fdi'; did you mean 'fid'"):
        score_images(x, "mnist", metrics="fdi")
    with pytest.raises(GankitError, match="needs the labels"):
        score_images(x, "mnist", metrics=["class_accuracy"])
    with pytest.raises(GankitError, match="need 1-channel images"):
        score_images(x.repeat(1, 3, 1, 1), "mnist", metrics=["is"])
    with pytest.raises(GankitError, match="unknown dataset 'cifar10'"):  # named before any extractor is looked for
        score_images(x, "cifar10", features="classifier")
    with pytest.raises(GankitError, match="no reference classifier for dataset 'imagefolder'"):
        score_images(x, "imagefolder", features="classifier")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("GANKIT_INCEPTION_WEIGHTS", raising=False)
        with pytest.raises(GankitError, match="GANKIT_INCEPTION_WEIGHTS"):
            score_images(x, "mnist", features="inception")


def test_ceilings_use_train_against_test(mnist_root):
    c = real_ceilings("mnist", num_real=1000, root=mnist_root, kid_subset_size=500)
    assert 0 < c["cfid"] < 5 and c["precision"] > 0.7 and c["recall"] > 0.7
    assert c["test_accuracy"] > 0.98 and c["test_cis"] > 6.5
    assert c["protocol"]["fake_source"] == "mnist train[:1000]"


def test_stacked_mnist_mode_count_on_real_stacks(mnist_root):
    x, y, info = gankit.data.load_dataset("stacked-mnist", root=mnist_root, split="test", size=2000)
    assert x.shape == (2000, 3, 28, 28) and info.num_classes == 1000
    # every channel is an MNIST test digit and the label is 100 d_R + 10 d_G + d_B
    digits, dlabels = load_real_images("mnist", "test", 10000, mnist_root)
    d = torch.cdist(x[:20].reshape(60, -1), digits.reshape(10000, -1))
    assert bool((d.min(dim=1).values < 0.1).all())  # cdist round-off; other digits are ≥ 1 away
    channel_labels = dlabels[d.argmin(dim=1)].reshape(20, 3)
    assert torch.equal(y[:20], channel_labels[:, 0] * 100 + channel_labels[:, 1] * 10 + channel_labels[:, 2])
    again, y2, _ = gankit.data.load_dataset("stacked-mnist", root=mnist_root, split="test", size=2000)
    assert torch.equal(again, x) and torch.equal(y2, y)  # seeded: the same stacks every time
    r = score_images(x, "stacked-mnist", metrics=["stacked_mnist"])
    # 2,000 uniform draws over 1,000 modes cover 1000 * (1 - (1 - 1/1000)^2000) = 864.8 modes on average
    expected = 1000 * (1 - (1 - 1e-3) ** 2000)
    assert abs(r["stacked_modes"] - expected) < 30
    assert 0 < r["stacked_kl"] < 1.0
    collapsed = score_images(x[:1].expand(500, -1, -1, -1), "stacked-mnist", metrics=["stacked_mnist"])
    assert collapsed["stacked_modes"] == 1 and collapsed["stacked_kl"] == pytest.approx(np.log(1000))


def test_class_accuracy_follows_labels(mnist_root):
    x, y = load_real_images("mnist", "test", 500, mnist_root)
    right = score_images(x, "mnist", metrics=["class_accuracy"], labels=y)["class_accuracy"]
    wrong = score_images(x, "mnist", metrics=["class_accuracy"], labels=(y + 1) % 10)["class_accuracy"]
    assert right > 0.98 and wrong < 0.02


def test_psnr_ssim_through_the_suite():
    a = torch.rand(4, 1, 28, 28) * 2 - 1
    b = (a + 0.1).clamp(-1, 1)
    r = score_images(a, "mnist", metrics=["psnr", "ssim"], targets=b)
    mse = ((a - b) ** 2).mean(dim=(1, 2, 3))
    assert r["psnr"] == pytest.approx((10 * torch.log10(4 / mse)).mean().item(), rel=1e-5)
    assert 0 < r["ssim"] < 1


# ---------------------------------------------------------------- runs, the CLI and training
def test_eval_cli_on_a_run_a_folder_and_real_data(tmp_path, mnist_root):
    run = tmp_path / "run"
    r = gk("train", "dcgan", "data=mnist", "steps=3", "model.g_width=8", "model.d_width=8", "batch_size=16", f"out={run}",
           "train.eval_every=0", "--quiet", data=mnist_root)  # no end-of-run score: `gankit eval` writes eval.json here
    assert r.returncode == 0, r.stderr
    r = gk("eval", str(run), "--n", "300", "--num-real", "300", data=mnist_root)
    assert r.returncode == 0, r.stderr
    res = json.loads((run / "eval.json").read_text())
    assert res["protocol"]["num_fake"] == 300 and res["step"] == 3 and "cfid" in res and "cfid" in r.stdout
    assert "protocol: classifier-mnist" in r.stdout

    folder = tmp_path / "pngs"
    folder.mkdir()
    x, _ = load_real_images("mnist", "test", 200, mnist_root)
    for i, img in enumerate(x):
        Image.fromarray(((img[0] + 1) * 127.5).round().byte().numpy()).save(folder / f"{i:04d}.png")
    r = gk("eval", str(folder), "--real", "mnist", "--num-real", "200", "--metrics", "fid,kid", data=mnist_root)
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "pngs.eval.json").read_text())
    assert abs(res["cfid"]) < 1e-6  # the PNGs are the reference images, 8-bit exact
    r = gk("eval", str(folder), "--real", "mnist", "--num-real", "200", data=mnist_root)
    assert r.returncode == 2 and "already exists" in r.stderr and len(r.stderr.strip().splitlines()) == 1

    r = gk("eval", "--real", "mnist", "--num-real", "300", "--out", str(tmp_path / "c.json"), data=mnist_root)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "c.json").read_text())["test_accuracy"] > 0.98

    for argv, msg in ((["eval", str(folder)], "--real mnist"),
                      (["eval", str(folder), "--real", "mnist", "--features", "inception", "--out",
                        str(tmp_path / "i.json")], "GANKIT_INCEPTION_WEIGHTS"),
                      (["eval", str(tmp_path / "nope")], "does not exist"),
                      (["eval"], "--real DATASET"),
                      (["eval", "--real", "mnist", "--metrics", "fdi"], "did you mean 'fid'"),
                      (["classifier", "cifar10"], "no reference classifier for dataset 'cifar10'"),
                      (["classifier", "mnist"], "already exists; pass --overwrite")):
        r = gk(*argv, data=mnist_root, cwd=tmp_path)
        assert r.returncode == 2 and msg in r.stderr, (argv, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_periodic_eval_lands_in_the_logs(tmp_path, mnist_root):
    run = gankit.train("dcgan", "steps=4", "model.g_width=8", "model.d_width=8", "batch_size=16", f"out={tmp_path / 'r'}",
                       "train.eval_every=2", "train.eval_samples=200", "train.progress=false",
                       data="mnist", **{"data.root": str(mnist_root)})
    rows = [json.loads(line) for line in (run.dir / "metrics.jsonl").read_text().splitlines()]
    evals = [row for row in rows if "eval" in row]
    assert [row["step"] for row in evals] == [2, 4, 4]  # every 2 steps, plus the final one
    assert all("cfid" in row["eval"] and "protocol" in row["eval"] for row in evals)
    assert json.loads((run.dir / "eval.json").read_text())["step"] == 4


def test_periodic_eval_without_features_fails_before_training(tmp_path, mnist_root, monkeypatch):
    monkeypatch.delenv("GANKIT_INCEPTION_WEIGHTS", raising=False)
    with pytest.raises(GankitError, match="GANKIT_INCEPTION_WEIGHTS"):
        gankit.train("dcgan", "steps=4", f"out={tmp_path / 'r'}", "train.eval_every=2",
                     "train.eval_features=inception", data="mnist", **{"data.root": str(mnist_root)})
    assert not (tmp_path / "r" / "checkpoints").exists()


def test_image_metrics_are_listed():
    for name in ("fid", "kid", "is", "precision_recall", "density_coverage", "class_accuracy", "stacked_mnist",
                 "psnr", "ssim", "toy_modes"):
        assert name in METRICS
    r = gk("list")
    assert "precision_recall" in r.stdout and "stacked-mnist" in r.stdout


def test_inception_features_through_the_suite(tmp_path, mnist_root, one_thread):
    """The Inception path end to end (random weights stand in for the real file): FID/KID/IS named
    without the 'c', the weight file's hash in the protocol, and 1-channel MNIST accepted."""
    from gankit.metrics.inception import FIDInceptionV3, randomize_
    from gankit.metrics.reference import file_sha256

    weights = tmp_path / "pt_inception-random.pth"
    torch.save(randomize_(FIDInceptionV3(), seed=1).state_dict(), weights)
    x, _ = load_real_images("mnist", "train", 12, mnist_root)
    r = score_images(x, "mnist", features="inception", inception_weights=str(weights), num_real=12,
                     root=mnist_root, metrics="fid,kid,is,precision_recall", batch_size=6, kid_subset_size=12)
    assert {"fid", "kid", "is", "precision", "recall"} <= set(r) and "cfid" not in r
    assert r["fid"] > 0 and 1.0 <= r["is"]
    assert r["protocol"]["features"]["name"] == "inception-v3-fid"
    assert r["protocol"]["features"]["weights_sha256"] == file_sha256(weights)
    assert r["protocol"]["features"]["feature_dim"] == 2048
