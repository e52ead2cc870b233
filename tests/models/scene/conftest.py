"""The scene-backbone tests run on one CPU thread: their many small ops on a shared 2-core machine spend more time
in thread hand-offs than in work."""

from __future__ import annotations

from typing import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)

