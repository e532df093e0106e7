"""Shared fixtures. MNIST comes from $GANKIT_DATA, else ../shared/data beside the checkout."""
import os
from pathlib import Path

import pytest
import torch

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def data_root():
    env = os.environ.get("GANKIT_DATA")
    if env and Path(env).is_dir():
        return Path(env)
    return SHARED if SHARED.is_dir() else None


@pytest.fixture
def mnist_root():
    root = data_root()
    if root is None:
        pytest.skip("MNIST not found: set GANKIT_DATA or provide ../shared/data (CI has it)")
    return root


@pytest.fixture(autouse=True)
def _few_threads():
    """Two torch threads, and torch's deterministic mode put back as it was: a test that builds a
    Trainer with train.deterministic=true and never finishes it must not leave the mode on for the next."""
    torch.set_num_threads(2)
    deterministic = torch.are_deterministic_algorithms_enabled()
    yield
    torch.use_deterministic_algorithms(deterministic)


@pytest.fixture
def one_thread(_few_threads):  # after the autouse default, so the one thread holds
    """One torch thread: LAPACK/BLAS with 2 OpenMP threads on a CPU shared with other jobs can run
    many times slower (threads spin at barriers); results do not depend on it."""
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)
