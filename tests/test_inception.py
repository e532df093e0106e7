"""FID Inception-v3 (gankit.metrics.inception) against torch-fidelity's implementation.

Both networks get the same seeded random weights (written by our ``state_dict()`` and read by
torch-fidelity's strict loader, which also proves the key layout of the standard weights file).
Tolerances are absolute: with these weights the pool features are O(1) (max ~5) and the logits
O(1), so 1e-4 is ~2e-5 of the feature scale. The unfused network is bit-identical to
torch-fidelity; the fused one (BatchNorm folded, channels-last) differs by float32 rounding only.
"""
import pytest
import torch

tf_inception = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3")
tf_interp = pytest.importorskip("torch_fidelity.interpolate_compat_tensorflow")

import gankit.metrics.inception as inc  # noqa: E402
from gankit.errors import GankitError  # noqa: E402
from gankit.metrics.inception import (  # noqa: E402
    WEIGHTS_ENV, FIDInceptionV3, load_inception, resize_bilinear_tf1, to_inception_input)
from gankit.metrics.reference import file_sha256  # noqa: E402

TOL = 1e-4


def randomize(model: FIDInceptionV3, seed: int = 0) -> FIDInceptionV3:
    return inc.randomize_(model, seed)


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("inception") / "random-inception.pth"
    torch.save(randomize(FIDInceptionV3()).state_dict(), path)
    return path


@pytest.fixture(scope="module")
def reference(weights_file):
    return tf_inception.FeatureExtractorInceptionV3(
        "inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=str(weights_file))


@pytest.fixture(scope="module")
def ours(weights_file):
    return load_inception(weights_file)


def images(n, h, w, seed):
    return torch.randint(0, 256, (n, 3, h, w), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def small_batch(reference):
    """Two 28x28 images and torch-fidelity's (pool, logits_unbiased) for them."""
    x = images(2, 28, 28, seed=28)
    with torch.no_grad():
        return (x, *reference(x))


def test_state_dict_layout_matches_torch_fidelity(reference):
    ours_sd, ref_sd = FIDInceptionV3().state_dict(), reference.state_dict()
    assert list(ours_sd) == list(ref_sd)
    assert all(ours_sd[k].shape == ref_sd[k].shape for k in ours_sd)
    assert ours_sd["fc.weight"].shape == (1008, 2048)


@pytest.mark.parametrize("size", [(28, 28), (64, 64), (299, 299)])
def test_features_and_logits_match_torch_fidelity(ours, reference, small_batch, size):
    if size == (28, 28):
        x, ref_pool, ref_logits = small_batch
    else:
        x = images(2, *size, seed=size[0])
        with torch.no_grad():
            ref_pool, ref_logits = reference(x)
    pool, logits = ours(x)
    assert ours.fused and pool.shape == (2, 2048) and logits.shape == (2, 1008)
    assert pool.dtype == logits.dtype == torch.float32
    assert ref_pool.abs().max() > 1.0  # the features are not trivially small
    assert (pool - ref_pool).abs().max() < TOL
    assert (logits - ref_logits).abs().max() < TOL
    # float images with the same values are the same network input
    assert torch.equal(ours.preprocess(x.float()), ours.preprocess(x))


def test_unfused_and_fallback_paths(weights_file, small_batch, monkeypatch):
    x, ref_pool, ref_logits = small_batch
    plain = FIDInceptionV3()
    plain.load_state_dict(torch.load(weights_file, weights_only=True))
    pool, logits = plain(x)  # conv -> BN -> ReLU, same ops as torch-fidelity: bit-identical
    assert torch.equal(pool, ref_pool) and torch.equal(logits, ref_logits)
    monkeypatch.setattr(inc, "_FUSED_CONV_RELU", None)  # folded weights, plain conv2d + relu kernels
    for channels_last in (True, False):
        plain.fuse(channels_last=channels_last)
        pool, logits = plain(x)
        assert (pool - ref_pool).abs().max() < TOL and (logits - ref_logits).abs().max() < TOL


def test_extract_batches(ours, small_batch):
    x, ref_pool, ref_logits = small_batch
    pool, logits = ours.extract(x, batch_size=1)
    assert pool.shape == (2, 2048) and logits.shape == (2, 1008)
    assert (pool - ref_pool).abs().max() < TOL and (logits - ref_logits).abs().max() < TOL


@pytest.mark.parametrize("src,dst", [((28, 28), (299, 299)), ((64, 48), (299, 299)), ((350, 420), (299, 299)),
                                     ((700, 640), (299, 299)), ((17, 33), (40, 20))])
def test_resize_matches_tensorflow1x_interpolation(src, dst):
    x = torch.rand(2, 3, *src, generator=torch.Generator().manual_seed(src[0])) * 255
    ref = tf_interp.interpolate_bilinear_2d_like_tensorflow1x(x, size=dst, align_corners=False)
    out = resize_bilinear_tf1(x.clone(), dst)
    assert out.shape == ref.shape
    assert torch.equal(out, ref)  # same float32 operations in the same order: bit-identical


def test_to_inception_input():
    x = torch.tensor([-1.0, -0.996, 0.0, 0.5, 1.0, 1.7, -3.0, 0.99]).view(1, 1, 2, 4)
    out = to_inception_input(x)
    assert out.dtype == torch.uint8 and out.shape == (1, 3, 2, 4)
    # round((x + 1) * 127.5): 0, round(0.51)=1, round(127.5)=128 (half to even), round(191.25)=191,
    # 255, clamped 255, clamped 0, round(253.725)=254
    assert out[0, 0].flatten().tolist() == [0, 1, 128, 191, 255, 255, 0, 254]
    assert torch.equal(out[0, 0], out[0, 1]) and torch.equal(out[0, 0], out[0, 2])
    rgb = torch.rand(2, 3, 5, 5) * 2 - 1
    assert torch.equal(to_inception_input(rgb), ((rgb + 1) * 127.5).round().to(torch.uint8))
    for bad in (torch.zeros(1, 2, 4, 4), torch.zeros(3, 4, 4), torch.zeros(1, 3, 4, 4, dtype=torch.uint8),
                torch.tensor([float("nan")]).view(1, 1, 1, 1)):
        with pytest.raises(GankitError):
            to_inception_input(bad)


def one_line_error(fn) -> str:
    with pytest.raises(GankitError) as e:
        fn()
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_load_inception_missing(tmp_path, monkeypatch):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    msg = one_line_error(lambda: load_inception())
    assert WEIGHTS_ENV in msg and "pt_inception-2015-12-05-6726825d.pth" in msg and "--inception-weights" in msg
    missing = tmp_path / "nope.pth"
    msg = one_line_error(lambda: load_inception(missing))
    assert str(missing) in msg and WEIGHTS_ENV in msg
    monkeypatch.setenv(WEIGHTS_ENV, str(missing))
    msg = one_line_error(lambda: load_inception())
    assert str(missing) in msg and f"from {WEIGHTS_ENV}" in msg


def test_load_inception_from_env(weights_file, monkeypatch):
    monkeypatch.setenv(WEIGHTS_ENV, str(weights_file))
    model = load_inception()
    assert model.weights_sha256 == file_sha256(weights_file)
    assert not model.training and model.fused
    assert model.state_dict()["fc.weight"].shape == (1008, 2048)  # fusion adds nothing to the state dict
    assert len(model.state_dict()) == len(FIDInceptionV3().state_dict())


def test_load_inception_without_batch_counters(weights_file, tmp_path):
    """Files converted by older PyTorch have no ``bn.num_batches_tracked``; they load all the same."""
    state = torch.load(weights_file, weights_only=True)
    old = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}  # plain dict: no metadata
    path = tmp_path / "old.pth"
    torch.save(old, path)
    model = load_inception(path)
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in old.items())
    assert loaded["Mixed_7c.branch_pool.bn.num_batches_tracked"].item() == 0


def test_load_inception_bad_files(tmp_path):
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"this is not a checkpoint\n" * 10)
    assert WEIGHTS_ENV in one_line_error(lambda: load_inception(garbage))
    not_a_dict = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], not_a_dict)
    assert "state dict" in one_line_error(lambda: load_inception(not_a_dict))
    wrong = tmp_path / "wrong.pth"
    torch.save({"conv.weight": torch.zeros(1)}, wrong)
    assert "missing keys" in one_line_error(lambda: load_inception(wrong))
    sd = FIDInceptionV3().state_dict()
    sd["fc.weight"] = torch.zeros(1000, 2048)  # torchvision's 1000 classes, not the FID graph's 1008
    shape = tmp_path / "shape.pth"
    torch.save(sd, shape)
    assert "fc.weight" in one_line_error(lambda: load_inception(shape))


@pytest.fixture(scope="module", autouse=True)
def _few_threads():
    """One thread for the whole module (it replaces conftest's per-test setting): Inception at
    299x299 is conv-bound, and on a shared 2-core machine a second thread waiting for a busy core
    makes every convolution several times slower. Module scope, so that the cached reference
    outputs and every test use the same thread count (the unfused network is compared bit for bit)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
