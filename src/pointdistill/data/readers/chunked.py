"""Lazy random access over stacked arrays split across files (HDF5 files, npz members, packed shards).

A split is a list of *chunks*; each chunk knows its length (read from file headers when the dataset is opened)
and how to open itself. Files are opened on first access, once per process: a handle opened before a
data-loader fork is never reused in the child (HDF5 handles are not fork-safe), and pickling the split for a
spawned worker drops the handles.
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence

from pointdistill.data.base import Sample
from pointdistill.data.readers.common import make_sample
from pointdistill.errors import DataError


class RowSource(Protocol):
    """An opened chunk: ``row(i)`` returns the raw fields of its i-th sample (may include ``name``)."""

    def row(self, index: int) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Chunk:
    """``open`` must be picklable (a module-level function or a functools.partial of one) for spawned workers."""

    origin: str
    length: int
    open: Callable[[], RowSource]


class ChunkedSplit:
    """A split over chunks; validates every sample (points, label range) as it is read."""

    def __init__(self, chunks: Sequence[Chunk], num_classes: int) -> None:
        self.chunks = list(chunks)
        self.num_classes = num_classes
        self.starts = [0]
        for chunk in self.chunks:
            self.starts.append(self.starts[-1] + chunk.length)
        self._opened: dict[int, RowSource] = {}
        self._pid = os.getpid()

    def __len__(self) -> int:
        return self.starts[-1]

    def __getitem__(self, index: int) -> Sample:
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        index %= len(self)
        which = bisect.bisect_right(self.starts, index) - 1
        chunk = self.chunks[which]
        local = index - self.starts[which]
        origin = f"{chunk.origin}[{local}]"
        try:
            fields = self._source(which).row(local)
        except DataError:
            raise
        except (OSError, ValueError, KeyError) as error:
            raise DataError(origin, f"cannot read record: {error}") from None
        name = str(fields.pop("name", origin))
        return make_sample(fields, name, origin, self.num_classes)

    def _source(self, which: int) -> RowSource:
        if self._pid != os.getpid():
            self._opened = {}
            self._pid = os.getpid()
        if which not in self._opened:
            self._opened[which] = self.chunks[which].open()
        return self._opened[which]

    def close(self) -> None:
        """Close the files this process opened (they reopen on the next access)."""
        for source in self._opened.values():
            close = getattr(source, "close", None)
            if close is not None:
                close()
        self._opened = {}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_opened"] = {}
        return state
