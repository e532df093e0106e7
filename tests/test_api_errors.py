"""The Python API's side of the reliability contract: a user mistake is a GankitError with one line,
checked before any work, and nothing a user has is replaced without being asked."""
import json

import pytest
import torch

import gankit
from gankit.errors import GankitError

TINY = dict(steps=2, model={"hidden": 16}, train={"progress": False, "eval_samples": 100})


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return gankit.train("gan", out=str(tmp_path_factory.mktemp("api") / "run"), **TINY)


def _one_line(e):
    assert "\n" not in str(e) and len(str(e)) < 400, str(e)


def test_save_samples_keeps_existing_files(run, tmp_path):
    for name in ("mine.npy", "mine.png"):
        f = tmp_path / name
        f.write_bytes(b"mine")
        with pytest.raises(GankitError, match="already exists") as e:
            run.save_samples(f, n=4)
        _one_line(e.value)
        assert f.read_bytes() == b"mine"
        run.save_samples(f, n=4, overwrite=True)
        assert f.read_bytes() != b"mine"


def test_bad_arguments_are_one_line_errors_before_work(run, tmp_path):
    out = tmp_path / "never"
    with pytest.raises(GankitError, match="callbacks") as e:
        gankit.train("gan", out=str(out), callbacks=[1], **TINY)
    _one_line(e.value)
    assert not out.exists(), "a refused call created the run directory"
    for bad in (5, None):
        with pytest.raises(GankitError, match="path"):
            gankit.load_run(bad)
    with pytest.raises(GankitError, match="unknown argument 'foo'"):
        run.evaluate(foo=1, out=tmp_path / "e.json")
    with pytest.raises(GankitError, match="n must be"):
        run.evaluate(n=1, out=tmp_path / "e.json")
    (tmp_path / "evdir").mkdir()
    with pytest.raises(GankitError, match="is a directory"):
        run.evaluate(out=tmp_path / "evdir", overwrite=True)
    assert not (tmp_path / "e.json").exists()


def test_unknown_dataset_is_named_not_a_missing_weights_file():
    for call in (lambda: gankit.metrics.score_images(torch.zeros(4, 1, 28, 28), "foo"),
                 lambda: gankit.metrics.real_ceilings("foo")):
        with pytest.raises(GankitError, match="unknown dataset 'foo'") as e:
            call()
        _one_line(e.value)


def test_evaluate_writes_strict_json(run, tmp_path, monkeypatch):
    import gankit.metrics

    orig = gankit.metrics.toy_mode_metrics
    monkeypatch.setattr(gankit.metrics, "toy_mode_metrics", lambda *a, **k: {**orig(*a, **k), "reverse_kl": float("inf")})
    run.evaluate(n=100, out=tmp_path / "e.json")
    text = (tmp_path / "e.json").read_text()
    assert json.loads(text, parse_constant=lambda t: pytest.fail(f"bare {t} in eval.json"))["reverse_kl"] is None


def test_a_failing_callback_marks_the_run_failed_and_releases_it(tmp_path):
    from gankit.train.rundir import is_locked, status

    def boom(trainer, step):
        raise ValueError("my callback")

    with pytest.raises(ValueError, match="my callback"):
        gankit.train("gan", out=str(tmp_path / "r"), callbacks=[boom], **TINY)
    assert status(tmp_path / "r") == "failed" and not is_locked(tmp_path / "r")
    assert torch.are_deterministic_algorithms_enabled() is False


def test_an_automatic_run_name_taken_meanwhile_moves_on(tmp_path, monkeypatch):
    from gankit.train.rundir import RunDir

    taken = tmp_path / "runs" / "gan-ring8"
    taken.mkdir(parents=True)
    (taken / "other.txt").write_text("another process got here first\n")
    monkeypatch.setattr(RunDir, "check_new", staticmethod(lambda out, overwrite: None))  # the race window
    rd = RunDir.create(taken, overwrite=False, auto=True)
    try:
        assert rd.path.name == "gan-ring8-1" and (taken / "other.txt").is_file()
    finally:
        rd.close()
