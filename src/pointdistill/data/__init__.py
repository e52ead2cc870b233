"""Data: readers for the formats users have on disk, the embedded synthetic data, views, masks and loading."""

from pointdistill.data.base import DatasetSource, Sample
from pointdistill.data.registry import FORMATS, detect_format, open_dataset

__all__ = ["FORMATS", "DatasetSource", "Sample", "detect_format", "open_dataset"]
