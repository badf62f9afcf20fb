"""One torch thread for the adapter tests (when torch is installed): the exact model's calls are
small, and idle intra-op threads spin against the test on a 2-core machine."""

import importlib.util

import pytest


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    if importlib.util.find_spec("torch") is not None:
        import torch

        torch.set_num_threads(1)
    yield
