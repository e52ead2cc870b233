"""Which per-sample keys the stochastic layers of the next forward pass draw from (see :mod:`pointdistill.ops.random`).

A method that wants its drop-path masks to follow the samples rather than their positions in the batch wraps an
encoder call in ``with sample_keys(keys):`` (one key per row of the batch). Each draw inside (every DropPath, in
call order) takes the next salt of the stream, so the k-th layer of a sample always sees the same draw. Outside
such a block, stochastic layers use torch's generator, as usual.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

import torch

from pointdistill.ops.random import keyed_uniform


class _KeyStream:
    def __init__(self, keys: torch.Tensor) -> None:
        self.keys = keys
        self.draws = 0

    def next(self, rows: int) -> torch.Tensor:
        if rows != self.keys.shape[0]:
            raise ValueError(f"sample_keys holds {self.keys.shape[0]} keys but a layer draws for {rows} rows")
        self.draws += 1
        return keyed_uniform(self.keys, self.draws)


_STREAM: ContextVar[_KeyStream | None] = ContextVar("pointdistill_sample_keys", default=None)


@contextmanager
def sample_keys(keys: torch.Tensor | None) -> Iterator[None]:
    """Stochastic layers inside draw per row of ``keys`` [B] (``None``: from torch's generator)."""
    token = _STREAM.set(_KeyStream(keys) if keys is not None else None)
    try:
        yield
    finally:
        _STREAM.reset(token)


def per_sample_uniform(rows: int) -> torch.Tensor | None:
    """The next draw in [0, 1) for each of ``rows`` samples, or None outside :func:`sample_keys`."""
    stream = _STREAM.get()
    return None if stream is None else stream.next(rows)
