"""Config section ``data``: where training shapes come from and how each cloud is prepared."""

from __future__ import annotations

from dataclasses import dataclass

from pointdistill.config import register_section


@dataclass
class DataConfig:
    """``source`` is a path readable by :func:`pointdistill.data.open_dataset`, or ``synthetic:shapes``
    (``synthetic:scans``, ``synthetic:scenes``) for the embedded procedural data."""

    source: str = "synthetic:shapes"
    format: str = "auto"
    split: str = "train"
    num_points: int = 1024
    synthetic_count: int = 4096
    synthetic_seed: int = 0
    normalize: bool = True
    num_workers: int = -1
    skip_bad_samples: bool = False


register_section("data", DataConfig)
