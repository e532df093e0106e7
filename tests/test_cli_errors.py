"""The CLI's user-error contract, end to end in subprocesses.

Every user mistake must give exactly ONE line on stderr starting with ``gankit: error:``, a
non-zero exit status and no Python traceback, and that line must name the offending key, value
or path. The same commands with valid inputs must succeed, so the error tests cannot pass
vacuously (e.g. because the CLI fails for every input).

Speed: every case is its own process (see "running the CLI" below for how they are started
cheaply). The module-scoped ``suite`` fixture launches all of them concurrently on a small thread
pool as soon as their inputs exist (two tiny training runs, A and B, are shared by the checkpoint
cases); each test then only waits for and checks its own result. Every case runs in its own empty
working directory so that what a failing command leaves behind can be inspected.
"""
from __future__ import annotations

import re
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import pytest
import torch

from cli_harness import (DATA_ROOT, TINY, Evil, Result, _has_mnist, assert_ok, assert_user_error, log_case,
                         newest_checkpoint as _newest_checkpoint, run_cli, start_server, stop_server,
                         write_pngs as _write_pngs)

_Evil = Evil

# --------------------------------------------------------------------------- the cases
@dataclass
class Case:
    id: str
    argv: List[str]                  # '{name}' placeholders are replaced by Suite.paths[name]
    mention: Tuple[str, ...] = ()    # substrings the error line must contain (placeholders allowed)
    any_of: Tuple[str, ...] = ()     # at least one of these (case-insensitive)
    suggest: str = ""                # a name the line must contain as a whole word (the right choice)
    with_data: bool = True           # GANKIT_DATA set in the environment
    needs: Tuple[str, ...] = ()      # shared runs this case waits for: "A", "B"
    real: str = ""                   # "module" / "script": always a genuine subprocess


ERROR_CASES: List[Case] = [
    # 1-4: config keys, types, ranges
    Case("unknown-top-level-key", ["train", "gan", "stepz=10"], ("stepz",), suggest="steps", real="module"),
    Case("unknown-nested-key", ["train", "gan", "train.n_critc=2"], ("train.n_critc",), suggest="train.n_critic"),
    Case("wrong-type", ["train", "gan", "batch_size=abc"], ("batch_size", "abc")),
    Case("out-of-range-steps", ["train", "gan", "steps=-5"], ("steps", "-5")),
    Case("out-of-range-ema", ["train", "gan", "train.ema=1.5"], ("train.ema", "1.5")),
    # 5-7: names and data
    Case("unknown-gan", ["train", "dcgna"], ("dcgna",), suggest="dcgan"),
    Case("unknown-dataset", ["train", "gan", "data=mnsit"], ("mnsit",), suggest="mnist"),
    Case("missing-data-dir", ["train", "dcgan", "data=mnist", "data.root=/nonexistent/dir", "steps=1"],
         ("/nonexistent/dir", "GANKIT_DATA"), with_data=False),
    # 8: corrupt checkpoint (garbage bytes over the newest one)
    Case("corrupt-checkpoint-sample", ["sample", "{A_corrupt}", "--out", "s.png"],
         ("{A_corrupt_ckpt_name}",), ("corrupt", "unreadable", "damaged", "truncated"), needs=("A",)),
    Case("corrupt-checkpoint-resume", ["train", "--resume", "{A_corrupt}", "steps=8"],
         ("{A_corrupt_ckpt_name}",), ("corrupt", "unreadable", "damaged", "truncated"), needs=("A",)),
    # 9: a pickle of an arbitrary object must be refused by the weights_only loader
    Case("unsafe-pickle-checkpoint-sample", ["sample", "{A_unsafe}", "--out", "s.png"],
         ("{A_unsafe_ckpt_name}",), needs=("A",)),
    Case("unsafe-pickle-checkpoint-resume", ["train", "--resume", "{A_unsafe}", "steps=8"],
         ("{A_unsafe_ckpt_name}",), needs=("A",)),
    # 10: run A's checkpoint (model.hidden=16) as the newest one of run B (model.hidden=32)
    Case("foreign-checkpoint-sample", ["sample", "{B_foreign}", "--out", "s.png"],
         ("another config", "{B_foreign_ckpt_name}"), needs=("A", "B")),
    Case("foreign-checkpoint-resume", ["train", "--resume", "{B_foreign}", "steps=8"],
         ("another config", "{B_foreign_ckpt_name}"), needs=("A", "B")),
    # 11: resume of a finished run
    Case("resume-finished-run", ["train", "--resume", "{A}"], ("finished", "steps="), needs=("A",)),
    # 12: unwritable out
    Case("out-under-regular-file", ["train", "gan", "steps=1", "out={afile}/sub"] + TINY, ("{afile}/sub",)),
    Case("out-is-regular-file", ["train", "gan", "steps=1", "out={afile}"] + TINY, ("{afile}",)),
    # 13: a corrupt image in an imagefolder
    Case("corrupt-image", ["train", "dcgan", "data=imagefolder", "data.root={bad_images}",
                           "data.resolution=32", "steps=1"], ("bad.png",)),
    # 14: more out-of-range numbers
    Case("negative-steps", ["train", "gan", "steps=-1"], ("steps", "-1")),
    Case("zero-batch-size", ["train", "gan", "batch_size=0"], ("batch_size", "0")),
    # 15: an existing, non-empty out directory
    Case("existing-out-dir", ["train", "gan", "steps=1", "out={A}"] + TINY, ("--resume", "--overwrite"),
         needs=("A",)),
    # 16: sample / eval paths
    Case("sample-bad-extension", ["sample", "{A}", "--out", "x.jpg"], ("x.jpg",), needs=("A",)),
    Case("sample-missing-run", ["sample", "/no/such/run"], ("/no/such/run",)),
    Case("eval-missing-run", ["eval", "/no/such/run"], ("/no/such/run",)),
    # 17: YAML files
    Case("invalid-yaml", ["train", "{broken_yaml}"], ("broken.yaml",)),
    Case("missing-yaml", ["train", "{missing_yaml}"], ("missing.yaml",)),
    # 18: CUDA on a CPU-only machine
    Case("cuda-unavailable", ["train", "gan", "device=cuda", "steps=1"] + TINY, ("cuda",)),
    # beyond the list: a config section given a scalar instead of a mapping
    Case("model-not-a-mapping", ["train", "gan", "steps=1", "model=5"], ("model",)),
    Case("optim-not-a-mapping", ["train", "gan", "steps=1", "optim=5"] + TINY, ("optim",)),
    Case("optim-group-not-a-mapping", ["train", "gan", "steps=1", "optim.g=5"] + TINY, ("optim.g",)),
    # 19: argparse errors
    Case("argparse-missing-run-dir", ["sample"], ("run_dir",), real="module"),
]

# The same commands with valid inputs: they must succeed (exit 0).
OK_CASES: List[Case] = [
    # the CLI starts at all
    Case("ok-list", ["list"], real="script"),
    # 1-4, 14, 17, 18: a valid YAML file plus valid values of the keys above
    Case("ok-yaml-and-overrides", ["train", "{good_yaml}", "steps=2", "batch_size=32", "train.n_critic=2",
                                   "train.ema=0.9", "device=cpu", "out=yamlrun", "--quiet"]),
    # 5-7: dcgan on MNIST found through GANKIT_DATA
    Case("ok-dcgan-mnist", ["train", "dcgan", "data=mnist", "steps=1", "batch_size=8", "data.size=64",
                            "model.g_width=8", "model.d_width=8", "model.z_dim=8", "out=mnistrun", "--quiet"]),
    # 13: a folder of valid images
    Case("ok-imagefolder", ["train", "dcgan", "data=imagefolder", "data.root={good_images}",
                            "data.resolution=32", "steps=1", "batch_size=4", "model.g_width=8",
                            "model.d_width=8", "model.z_dim=8", "out=ifrun", "--quiet"]),
    # 8, 10, 16, 19: sampling a healthy run
    Case("ok-sample-png", ["sample", "{A}", "--out", "x.png", "--n", "16"], needs=("A",)),
    Case("ok-sample-npy", ["sample", "{A}", "--out", "x.npy", "--n", "16"], needs=("A",)),
    Case("ok-eval", ["eval", "{A_eval}", "--n", "200", "--overwrite"], needs=("A",)),  # training wrote eval.json
    # 8, 11: resuming a finished run with more steps, as the error message advises
    Case("ok-resume-extend", ["train", "--resume", "{A_extend}", "steps=6", "--quiet"], needs=("A",)),
    # 15: --overwrite of an existing run directory
    Case("ok-overwrite", ["train", "gan", "steps=2", "out={A_over}", "--overwrite"] + TINY, needs=("A",)),
]

# Train commands that fail after argument parsing but before training: they must not leave a
# half-made run directory behind (else rerunning the fixed command with the same out= is refused
# as "not empty", and --resume finds no checkpoint).
NO_LEFTOVER_CASES = ["unknown-dataset", "missing-data-dir", "corrupt-image", "cuda-unavailable"]


# --------------------------------------------------------------------------- the suite fixture
@dataclass
class Suite:
    ws: Path
    paths: Dict[str, str] = field(default_factory=dict)
    futures: Dict[str, Future] = field(default_factory=dict)
    runs: Dict[str, Result] = field(default_factory=dict)
    setup_error: Dict[str, str] = field(default_factory=dict)

    def fmt(self, s: str) -> str:
        return s.format(**self.paths)

    def result(self, case_id: str) -> Result:
        if case_id in self.setup_error:
            pytest.fail(self.setup_error[case_id])
        return self.futures[case_id].result()

    def case_dir(self, case_id: str) -> Path:
        return self.ws / "cases" / case_id


def _train_shared_run(name: str, hidden: int, ws: Path) -> Result:
    return run_cli(["train", "gan", "steps=4", "train.checkpoint_every=2", f"model.hidden={hidden}",
                    f"out={ws / name}", "--quiet"], ws / "cases" / f"_run_{name}")


def _prepare_from_runs(s: Suite) -> None:
    """Derived run directories, made once A (and B) exist; every mutation works on a copy."""
    ws = s.ws
    a = ws / "A"
    for name in ("A_corrupt", "A_unsafe", "A_extend", "A_eval", "A_over"):
        shutil.copytree(a, ws / name)
    # 8: garbage bytes over the newest checkpoint
    ck = _newest_checkpoint(ws / "A_corrupt")
    ck.write_bytes(b"\x00garbage, not a torch checkpoint\xff" * 20)
    s.paths["A_corrupt_ckpt_name"] = ck.name
    # 9: a pickle of an arbitrary object, shaped like a gankit checkpoint
    ck = _newest_checkpoint(ws / "A_unsafe")
    torch.save({"format": "gankit-checkpoint/1", "step": 4, "x": _Evil(s.paths["evil_marker"])}, ck)
    s.paths["A_unsafe_ckpt_name"] = ck.name


def _prepare_foreign(s: Suite) -> None:
    ws = s.ws
    shutil.copytree(ws / "B", ws / "B_foreign")
    newest = _newest_checkpoint(ws / "B_foreign")
    step = int(newest.stem.split("-")[1]) + 95
    target = newest.with_name(f"step-{step:08d}.pt")
    shutil.copyfile(_newest_checkpoint(ws / "A"), target)
    assert _newest_checkpoint(ws / "B_foreign") == target
    s.paths["B_foreign_ckpt_name"] = target.name


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    ws = tmp_path_factory.mktemp("cli")
    s = Suite(ws)
    afile = ws / "afile"
    afile.write_text("a regular file, not a directory\n")
    (ws / "broken.yaml").write_text("gan: gan\nsteps: [1, 2\nmodel: {hidden: 16\n")
    (ws / "good.yaml").write_text("gan: gan\nsteps: 2\nmodel: {hidden: 16}\ntrain: {checkpoint_every: 1}\n")
    _write_pngs(ws / "good_images", 4)
    _write_pngs(ws / "bad_images", 3)
    (ws / "bad_images" / "bad.png").write_bytes(b"this is not a PNG file" * 10)
    s.paths.update({
        "ws": str(ws), "afile": str(afile), "broken_yaml": str(ws / "broken.yaml"),
        "missing_yaml": str(ws / "missing.yaml"), "good_yaml": str(ws / "good.yaml"),
        "good_images": str(ws / "good_images"), "bad_images": str(ws / "bad_images"),
        "evil_marker": str(ws / "EVIL_PICKLE_RAN"),
        **{k: str(ws / k) for k in ("A", "B", "A_corrupt", "A_unsafe", "A_extend", "A_eval", "A_over", "B_foreign")},
    })

    start_server(ws / "fork-server")
    pool = ThreadPoolExecutor(max_workers=3)
    try:
        _launch(s, pool)
        yield s
    finally:
        pool.shutdown(wait=True)
        stop_server()


def _launch(s: Suite, pool: ThreadPoolExecutor) -> None:
    ws = s.ws
    run_a = pool.submit(_train_shared_run, "A", 16, ws)
    run_b = pool.submit(_train_shared_run, "B", 32, ws)

    def submit(case: Case) -> None:
        if case.id == "cuda-unavailable" and torch.cuda.is_available():
            return  # its test skips
        if case.id == "ok-dcgan-mnist" and not _has_mnist(DATA_ROOT):
            return  # its test skips
        argv = [s.fmt(x) for x in case.argv]
        s.futures[case.id] = pool.submit(run_cli, argv, s.case_dir(case.id), case.with_data, case.real)

    all_cases = ERROR_CASES + OK_CASES
    for case in all_cases:
        if not case.needs:
            submit(case)

    s.runs["A"], s.runs["B"] = run_a.result(), run_b.result()
    ready = {name for name, r in s.runs.items() if r.rc == 0}
    try:
        if "A" in ready:
            _prepare_from_runs(s)
        if {"A", "B"} <= ready:
            _prepare_foreign(s)
    except Exception as e:  # keep going: only the dependent cases fail
        ready = set()
        for case in all_cases:
            if case.needs:
                s.setup_error[case.id] = f"preparing the shared runs failed: {e!r}"
    for case in all_cases:
        if not case.needs or case.id in s.setup_error:
            continue
        missing = [n for n in case.needs if n not in ready]
        if missing:
            s.setup_error[case.id] = "shared run(s) failed:\n" + "\n".join(s.runs[n].describe() for n in missing)
        else:
            submit(case)


# --------------------------------------------------------------------------- tests
def test_shared_runs_train(suite):
    """The two tiny runs every checkpoint case builds on: exit 0, checkpoints at steps 2 and 4."""
    for name in ("A", "B"):
        assert_ok(suite.runs[name])
        assert [p.name for p in sorted((suite.ws / name / "checkpoints").glob("step-*.pt"))] == \
            ["step-00000002.pt", "step-00000004.pt"]


@pytest.mark.parametrize("case", ERROR_CASES, ids=lambda c: c.id)
def test_user_error(suite, case):
    if case.id == "cuda-unavailable" and torch.cuda.is_available():
        pytest.skip("CUDA is available here, so device=cuda is not a mistake")
    res = suite.result(case.id)
    assert_user_error(res, tuple(suite.fmt(m) for m in case.mention), case.any_of, case.suggest)
    log_case("0", case.id, res)
    if case.id.startswith("unsafe-pickle"):
        assert not Path(suite.paths["evil_marker"]).exists(), \
            "loading the checkpoint executed code from its pickle (weights_only not enforced)"


@pytest.mark.parametrize("case", OK_CASES, ids=lambda c: c.id)
def test_valid_command_succeeds(suite, case):
    if case.id == "ok-dcgan-mnist" and not _has_mnist(DATA_ROOT):
        pytest.skip("MNIST not found: set GANKIT_DATA or provide ../shared/data/mnist")
    res = suite.result(case.id)
    assert_ok(res)
    log_case("0", case.id, res, expect="ok")
    cwd, ws = res.cwd, suite.ws
    if case.id == "ok-sample-png":
        assert (cwd / "x.png").stat().st_size > 0
    elif case.id == "ok-list":
        assert re.search(r"^\s+dcgan\b", res.stdout, re.M), res.describe()
    elif case.id == "ok-sample-npy":
        assert np.load(cwd / "x.npy").shape == (16, 2)
    elif case.id == "ok-eval":
        assert (ws / "A_eval" / "eval.json").is_file()
    elif case.id == "ok-resume-extend":
        assert _newest_checkpoint(ws / "A_extend").name == "step-00000006.pt"
    elif case.id == "ok-overwrite":
        assert _newest_checkpoint(ws / "A_over").name == "step-00000002.pt"
    elif case.id == "ok-yaml-and-overrides":
        assert _newest_checkpoint(cwd / "yamlrun").name == "step-00000002.pt"
    elif case.id == "ok-dcgan-mnist":
        assert _newest_checkpoint(cwd / "mnistrun").name == "step-00000001.pt"
    elif case.id == "ok-imagefolder":
        assert _newest_checkpoint(cwd / "ifrun").name == "step-00000001.pt"


@pytest.mark.parametrize("case_id", NO_LEFTOVER_CASES)
def test_failed_train_leaves_no_run_dir(suite, case_id):
    """A train command refused for a user mistake must not leave a half-made run directory."""
    if case_id == "cuda-unavailable" and torch.cuda.is_available():
        pytest.skip("CUDA is available here, so device=cuda is not a mistake")
    res = suite.result(case_id)
    assert res.rc != 0, res.describe()
    left = sorted(str(p.relative_to(res.cwd)) for p in res.cwd.rglob("*"))
    assert not left, (f"`gankit {' '.join(res.argv)}` failed but left {left} behind; rerunning the "
                      f"corrected command with the same out= would be refused as 'not empty'")

