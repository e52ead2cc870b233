"""Counter-based randomness keyed by sample: the same draw for a sample however its batch is split.

A data-parallel or gradient-accumulated step should compute the same update as one large batch. Drawing device-side
noise (drop-path masks, random FPS starts) from a generator in batch order breaks that: the i-th sample of a
micro-batch of 4 would get another draw than the same sample at position i + 4 of a batch of 8. Here every draw is a
hash of the sample's 63-bit key (given by the data loader from ``(seed, epoch, index)``) and of a salt naming the
draw, computed with integer ops on the device: no generator state, no Python loop over samples.

The hash is the 32-bit integer finaliser ``x ^= x >> 16; x *= 0x45d9f3b`` (twice, then ``x ^= x >> 16``), whose
products stay below 2**59, so it runs exactly in int64 on any device.
"""

from __future__ import annotations

import torch

_MASK32 = 0xFFFFFFFF
_MULTIPLIER = 0x45D9F3B
_GOLDEN = 0x9E3779B9


def _mix32(x: torch.Tensor) -> torch.Tensor:
    x = (((x >> 16) ^ x) * _MULTIPLIER) & _MASK32
    x = (((x >> 16) ^ x) * _MULTIPLIER) & _MASK32
    return (x >> 16) ^ x


def _hash32(keys: torch.Tensor, salt: int) -> torch.Tensor:
    """A 32-bit hash (as int64 in [0, 2**32)) of every 63-bit key together with ``salt``."""
    keys = keys.long()
    salted = _mix32(torch.full_like(keys, (salt * _GOLDEN) & _MASK32))
    return _mix32((keys & _MASK32) ^ _mix32(((keys >> 32) & _MASK32) ^ salted))


def derive_keys(keys: torch.Tensor, salt: int) -> torch.Tensor:
    """New 63-bit keys, one per key, for a named sub-draw (e.g. one view of each sample)."""
    return ((_hash32(keys, salt) & 0x7FFFFFFF) << 32) | _hash32(keys, salt ^ _MASK32)


def view_keys(keys: torch.Tensor, views: int, salt: int) -> torch.Tensor:
    """Keys [views * B] (view-major, like the multi-crop batches) of ``views`` views of each of ``keys`` [B]."""
    return torch.cat([derive_keys(keys, salt * 1_000_003 + view) for view in range(views)])


def keyed_uniform(keys: torch.Tensor, salt: int) -> torch.Tensor:
    """One float32 draw in [0, 1) per key (24 random bits), a function of the key and ``salt`` only."""
    return (_hash32(keys, salt) >> 8).float() * (1.0 / (1 << 24))
