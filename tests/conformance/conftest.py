"""One torch thread for the adapter tests (when torch is installed): the exact model's calls are
small, and idle intra-op threads spin against the test on a 2-core machine."""

import pytest

from ctmc_lab.conformance.adapters import torch_available


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    if torch_available():
        import torch

        torch.set_num_threads(1)
    yield
