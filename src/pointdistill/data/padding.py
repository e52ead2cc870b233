"""Saying once, with a count, that clouds were padded by repeating points.

Resamplers bring every cloud to a fixed point count; a cloud with fewer points is padded by repeating some of its
points. A few repeats are harmless, but a cloud far smaller than the encoder's group count makes most patches
copies of each other, and the numbers quietly lose their meaning. Code that resamples a whole dataset therefore
counts the clouds it padded and the first part with padded clouds is reported on stderr, once per run: never would
hide the problem, once per batch or split would bury the output.
"""

from __future__ import annotations

import sys

_reported = False
"""Whether this process (= run) has warned already."""


class PaddingTally:
    """Counts the padded clouds of one dataset part, ``what`` (e.g. ``"knn train"``), whose clouds must reach
    ``limit`` points (e.g. ``"num_points=1024"``)."""

    def __init__(self, what: str, limit: str) -> None:
        self.what = what
        self.limit = limit
        self.clouds = 0
        self.padded = 0
        self.smallest: int | None = None

    def add(self, clouds: int, padded: int, smallest: int | None = None) -> None:
        """Count ``clouds`` more clouds, ``padded`` of them padded; ``smallest`` is their fewest points, if known."""
        self.clouds += clouds
        self.padded += padded
        if padded and smallest is not None:
            self.smallest = smallest if self.smallest is None else min(self.smallest, smallest)

    def add_sizes(self, sizes: list[int], num_points: int) -> None:
        """Count clouds of these point counts, resampled to ``num_points``."""
        self.add(len(sizes), sum(size < num_points for size in sizes), min(sizes, default=None))

    def report(self, so_far: bool = False) -> bool:
        """Print the warning if clouds were padded and the run has not warned yet; True when printed.
        ``so_far``: the count covers the clouds read until now, not the whole part (training reports early)."""
        global _reported
        if not self.padded or _reported:
            return False
        _reported = True
        of = f"the first {self.clouds}" if so_far else f"{self.clouds}"
        smallest = f" (the smallest has {self.smallest})" if self.smallest is not None else ""
        print(
            f"warning: {self.what}: {self.padded} of {of} clouds have fewer points than {self.limit}{smallest} "
            "and were padded by repeating points; said once per run",
            file=sys.stderr,
            flush=True,
        )
        return True
