"""Fixtures shared by several test files."""

import pytest
import torch


@pytest.fixture
def one_thread():
    """Tiny models gain nothing from a second thread, and on a busy 2-core machine OpenMP
    threads waiting on each other slow them down many times over; restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
