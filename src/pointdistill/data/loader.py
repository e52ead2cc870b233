"""Deterministic, resumable, DDP-aware data loading.

The random stream of every sample is ``np.random.default_rng([seed, epoch, index])``: a function of the sample's
place in training only. So no two workers ever replay one stream (a fault of reference implementations that seed
per worker), the views do not depend on the number of workers, and a run resumed mid-epoch produces exactly the
views the uninterrupted run would have. The sampler hands out ``(epoch, index)`` keys to make this possible: the
dataset learns the epoch from the key, not from state that would have to be copied into persistent workers.

A bad file met by a worker must reach the user as the one clear error it is in the main process. Torch sends a
worker's exception back as its type and traceback text and rebuilds it from that text alone, which fails for
DataError (it takes a path and a problem) and ends in ``RuntimeError: Caught DataError in DataLoader worker
process 0`` with a traceback. So :meth:`ViewDataset.__getitems__` returns the PointDistillError as the batch,
pickled whole, and :class:`ViewLoader` raises it unchanged.
"""

from __future__ import annotations

import logging
import math
import os
import random
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from pointdistill.data.base import PointSplit, ViewTransform
from pointdistill.data.padding import PaddingTally
from pointdistill.errors import DataError, PointDistillError, TrainingError

logger = logging.getLogger(__name__)

PERMUTATION_STREAM = 1
"""Spawn key that keeps the epoch permutation's stream apart from every sample's ``[seed, epoch, index]`` stream
(NumPy pads short entropy with zeros, so ``[seed, epoch]`` alone would equal sample 0's stream)."""

SAMPLE_KEY_STREAM = 2
"""Spawn key of the stream behind each sample's 63-bit ``sample_key``."""

MAX_SEED = 2**32


def sample_key(seed: int, epoch: int, index: int) -> int:
    """The 63-bit key of the sample at ``index`` in ``epoch``: the methods' device-side randomness (drop-path, FPS
    starts) hashes it (:mod:`pointdistill.ops.random`), so those draws follow the sample, not its batch position."""
    low, high = np.random.SeedSequence([seed, epoch, index], spawn_key=(SAMPLE_KEY_STREAM,)).generate_state(2)
    return ((int(high) & 0x7FFFFFFF) << 32) | int(low)


def _check_seed(seed: int) -> int:
    """Seeds are one 32-bit word so that ``[seed, epoch, index]`` keys can never alias each other."""
    if not 0 <= int(seed) < MAX_SEED:
        raise ValueError(f"seed must lie in [0, 2**32), got {seed}")
    return int(seed)


class EpochSampler(Sampler[tuple[int, int]]):
    """Yields ``(epoch, index)`` for this rank's shard of a seeded permutation of the epoch.

    Every rank draws the same permutation (from ``seed`` and the epoch) and takes every ``world_size``-th entry
    from ``rank`` on, so the shards are disjoint and, with ``drop_last``, together cover all but fewer than
    ``world_size`` samples; without it the permutation wraps around so every rank gets ceil(N / world_size).
    Every rank yields the same count, which DDP needs (one rank with an extra batch would hang the others).

    Resume: ``set_epoch(e)`` then ``start_at(batches_done)`` continues at the exact next sample; ``set_epoch``
    clears the offset, so it applies to the epoch being resumed only.
    """

    def __init__(
        self,
        num_samples: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
        drop_last: bool = True,
        batch_size: int = 1,
    ) -> None:
        if num_samples < 0:
            raise ValueError(f"num_samples must be non-negative, got {num_samples}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.num_samples = int(num_samples)
        self.seed = _check_seed(seed)
        self.rank = rank
        self.world_size = world_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.batch_size = batch_size
        self.epoch = 0
        self.offset = 0

    @property
    def samples_per_rank(self) -> int:
        if self.drop_last:
            return self.num_samples // self.world_size
        return math.ceil(self.num_samples / self.world_size) if self.num_samples else 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (and its permutation) and start it from its first sample."""
        if epoch < 0:
            raise ValueError(f"epoch must be non-negative, got {epoch}")
        self.epoch = int(epoch)
        self.offset = 0

    def start_at(self, batch_offset: int) -> None:
        """Skip the first ``batch_offset`` batches (of ``batch_size``) of this rank's shard of the current epoch."""
        offset = int(batch_offset) * self.batch_size
        if not 0 <= offset <= self.samples_per_rank:
            raise ValueError(
                f"cannot resume at batch {batch_offset}: this rank has {self.samples_per_rank} samples per epoch"
            )
        self.offset = offset

    def epoch_indices(self) -> np.ndarray:
        """All of this rank's indices for the current epoch (ignoring the resume offset)."""
        if self.shuffle:
            stream = np.random.SeedSequence([self.seed, self.epoch], spawn_key=(PERMUTATION_STREAM,))
            order = np.random.default_rng(stream).permutation(self.num_samples)
        else:
            order = np.arange(self.num_samples)
        total = self.samples_per_rank * self.world_size
        if total > len(order) and len(order):
            order = np.resize(order, total)
        return order[:total][self.rank :: self.world_size]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = self.epoch
        for index in self.epoch_indices()[self.offset :].tolist():
            yield epoch, index

    def __len__(self) -> int:
        return self.samples_per_rank - self.offset


class KeyedDataset(Dataset):
    """Base of the datasets an :class:`EpochSampler` drives: ``dataset[(epoch, index)]`` (an int key means epoch 0)
    is :meth:`item` of sample ``index`` of ``split``, whose randomness comes from :meth:`stream` alone.

    :meth:`__getitems__` (how torch's DataLoader fetches a batch) returns the PointDistillError that stopped one of
    the batch's samples instead of raising it, so that it leaves a worker whole (see the module notes); the loader's
    collate function passes it through and :class:`ViewLoader` raises it.
    """

    def __init__(self, split: PointSplit, seed: int) -> None:
        self.split = split
        self.seed = _check_seed(seed)

    def __len__(self) -> int:
        return len(self.split)

    def stream(self, epoch: int, index: int) -> np.random.Generator:
        """The random stream of the sample at ``index`` in ``epoch``."""
        return np.random.default_rng([self.seed, epoch, index])

    def item(self, epoch: int, index: int) -> dict[str, Any]:
        """The sample at a valid ``index`` in ``epoch``, as the collate function takes it."""
        raise NotImplementedError

    def __getitem__(self, key: tuple[int, int] | int) -> dict[str, Any]:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        if not 0 <= index < len(self.split):
            raise IndexError(index)
        return self.item(epoch, index)

    def __getitems__(self, keys: Sequence[tuple[int, int] | int]) -> list[dict[str, Any]] | PointDistillError:
        """The samples of one batch, or the PointDistillError that stopped one (returned, not raised)."""
        try:
            return [self[key] for key in keys]
        except PointDistillError as error:
            return error


class ViewDataset(KeyedDataset):
    """Turns a split into views: ``dataset[(epoch, index)]`` = ``transform(split[index], rng([seed, epoch, index]))``.

    The output is the transform's dict plus ``index`` (the requested index), ``sample_key`` (:func:`sample_key`) and
    ``skipped`` (how many bad samples were passed over to fill this slot). With ``skip_bad_samples``, a sample whose file raises DataError is replaced
    by the next index (wrapping around), deterministically, still with the slot's own random stream; otherwise the
    DataError propagates, naming the file. An int key means epoch 0.
    """

    def __init__(
        self,
        split: PointSplit,
        transform: ViewTransform,
        seed: int,
        skip_bad_samples: bool = False,
        max_skips: int = 100,
    ) -> None:
        super().__init__(split, seed)
        self.transform = transform
        self.skip_bad_samples = skip_bad_samples
        self.max_skips = max_skips

    def _views(self, index: int, rng: np.random.Generator) -> dict[str, Any]:
        sample = self.split[index]
        try:
            return dict(self.transform(sample, rng))
        except ValueError as error:
            name = sample.get("name", f"sample {index}") if isinstance(sample, dict) else f"sample {index}"
            raise DataError(name, f"cannot make views: {error}") from None

    def item(self, epoch: int, index: int) -> dict[str, Any]:
        attempts = min(len(self.split), self.max_skips + 1) if self.skip_bad_samples else 1
        failure: DataError | None = None
        for skipped in range(attempts):
            current = (index + skipped) % len(self.split)
            try:
                views = self._views(current, self.stream(epoch, index))
            except DataError as error:
                if not self.skip_bad_samples:
                    raise
                logger.warning("skipping bad sample %d: %s", current, error)
                failure = error
                continue
            views["index"] = np.int64(index)
            views["sample_key"] = np.int64(sample_key(self.seed, epoch, index))
            views["skipped"] = np.int64(skipped)
            return views
        raise DataError(
            failure.path if failure else "<split>",
            f"{attempts} consecutive samples from index {index} failed to load; last problem: "
            f"{failure.problem if failure else 'unknown'}",
        )


def collate(samples: Sequence[dict[str, Any]] | PointDistillError) -> dict[str, Any] | PointDistillError:
    """Stack a list of view dicts into a dict of tensors (arrays and numbers) or lists (strings); a batch that
    failed (a PointDistillError from :meth:`ViewDataset.__getitems__`) passes through for :class:`ViewLoader`."""
    if isinstance(samples, PointDistillError):
        return samples
    if not samples:
        raise ValueError("cannot collate an empty batch")
    keys = list(samples[0])
    for sample in samples[1:]:
        if list(sample) != keys:
            raise ValueError(f"samples of one batch have different fields: {keys} vs {list(sample)}")
    batch: dict[str, Any] = {}
    for key in keys:
        values = [sample[key] for sample in samples]
        first = values[0]
        if isinstance(first, str):
            batch[key] = values
        elif isinstance(first, torch.Tensor):
            batch[key] = torch.stack(values)
        elif isinstance(first, (np.ndarray, np.generic, int, float, bool)):
            try:
                batch[key] = torch.from_numpy(np.stack([np.asarray(v) for v in values]))
            except ValueError:
                shapes = sorted({tuple(np.shape(v)) for v in values})
                raise ValueError(f"cannot stack field {key!r}: shapes differ across the batch {shapes}") from None
        else:
            raise TypeError(f"cannot collate field {key!r} of type {type(first).__name__}")
    return batch


class ViewLoader(DataLoader):
    """A DataLoader of collated views that raises a failed batch's PointDistillError as itself, and warns once
    per run (from rank 0) when source clouds were padded by repeating points (views flagged ``padded``). Batches
    that are not dicts (the scene loader's SceneBatch) are passed through as they are."""

    def __init__(self, *args: Any, rank: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.padding = PaddingTally("training data", "data.num_points") if rank == 0 else None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for batch in super().__iter__():
            if isinstance(batch, PointDistillError):
                raise batch
            if self.padding is not None and isinstance(batch, dict) and "padded" in batch:
                self.padding.add(len(batch["padded"]), int(batch["padded"].sum()))
                if self.padding.report(so_far=True):
                    self.padding = None
            yield batch


def seed_worker(worker_id: int) -> None:
    """Data-loader worker start-up: one intra-op thread per worker (workers already run in parallel), and the
    global numpy/random/torch generators seeded from the worker's torch seed as a safety net for any code that
    uses global state by mistake (the views themselves use only the per-sample stream)."""
    torch.set_num_threads(1)
    seed = torch.initial_seed() % MAX_SEED
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def resolve_num_workers(num_workers: int) -> int:
    """``num_workers`` < 0 means auto: one worker per spare CPU core (at most 8), none on a single core."""
    if num_workers >= 0:
        return num_workers
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(0, min(8, cores - 1))


def seeded_loader(
    dataset: Dataset,
    sampler: EpochSampler,
    batch_size: int,
    collate_fn: Callable[[Any], Any],
    seed: int,
    rank: int,
    num_workers: int,
    drop_last: bool,
    pin_memory: bool | None,
) -> ViewLoader:
    """The one way this package makes a loader: the epoch-keyed ``sampler``, persistent workers each seeded by
    :func:`seed_worker` (``num_workers`` < 0: auto), a generator keyed by ``(seed, rank)``, and pinned memory when
    CUDA is available unless ``pin_memory`` says otherwise."""
    workers = resolve_num_workers(num_workers)
    generator = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, rank]).generate_state(1)[0]))
    return ViewLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        collate_fn=collate_fn,
        pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
        drop_last=drop_last,
        persistent_workers=workers > 0,
        worker_init_fn=seed_worker,
        generator=generator,
        rank=rank,
    )


def build_loader(
    split: PointSplit,
    transform: ViewTransform,
    batch_size: int,
    seed: int,
    rank: int = 0,
    world_size: int = 1,
    num_workers: int = 0,
    skip_bad_samples: bool = False,
    drop_last: bool = True,
    shuffle: bool = True,
    pin_memory: bool | None = None,
) -> ViewLoader:
    """A :class:`ViewLoader` of collated views for one rank. ``loader.sampler`` is the :class:`EpochSampler`: call
    ``loader.sampler.set_epoch(e)`` every epoch and ``loader.sampler.start_at(b)`` to resume after b batches.

    Workers are persistent (no re-fork every epoch); ``pin_memory`` defaults to whether CUDA is available.
    Raises TrainingError when one rank's share of the split cannot fill a single batch.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    sampler = EpochSampler(len(split), seed, rank, world_size, shuffle, drop_last, batch_size)
    if sampler.samples_per_rank < (batch_size if drop_last else 1):
        raise TrainingError(
            f"the data set has {len(split)} samples, {sampler.samples_per_rank} per process over {world_size} "
            f"process(es): too few for one batch of {batch_size}; use a smaller batch size or more data"
        )
    return seeded_loader(ViewDataset(split, transform, seed, skip_bad_samples), sampler, batch_size, collate,
                         seed, rank, num_workers, drop_last, pin_memory)
