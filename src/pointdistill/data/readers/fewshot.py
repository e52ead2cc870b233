"""Few-shot ModelNet40 (Point-BERT release): ``ModelNetFewshot/{way}way_{shot}shot/{fold}.pkl``.

Each fold is a pickle ``{'train': [(points, label, orig_label)], 'test': [...]}`` read with the restricted
unpickler. ``label`` is the episode-local class (0..way-1), ``orig_label`` the ModelNet40 class.

Two views:
- :func:`read_fewshot_fold` gives one episode: classes = the ``way`` ModelNet40 names in local-label order,
  ``label`` = local label (what the few-shot protocol trains on), ``orig_label`` kept in the sample.
- :func:`read` (the registry's ``modelnet_fewshot``, used by ``data info/check``) gives every fold at once, as
  splits named ``{way}way_{shot}shot/{fold}/{train|test}``; with several episodes in one source, classes are the
  40 ModelNet40 names and ``label`` is ``orig_label`` (``fewshot_label`` holds the local one).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from pointdistill.data.base import DatasetSource, Sample
from pointdistill.data.readers.common import as_label, find_root, make_sample
from pointdistill.data.readers.safe_pickle import safe_load_pickle
from pointdistill.errors import DataError

FORMAT = "modelnet_fewshot"
UPSTREAM_NAMES = ("ModelNetFewshot",)
MODELNET40_CLASSES = [
    "airplane", "bathtub", "bed", "bench", "bookshelf", "bottle", "bowl", "car", "chair", "cone", "cup", "curtain",
    "desk", "door", "dresser", "flower_pot", "glass_box", "guitar", "keyboard", "lamp", "laptop", "mantel", "monitor",
    "night_stand", "person", "piano", "plant", "radio", "range_hood", "sink", "sofa", "stairs", "stool", "table",
    "tent", "toilet", "tv_stand", "vase", "wardrobe", "xbox",
]
_SETTING = re.compile(r"^(?P<way>\d+)way_(?P<shot>\d+)shot$")
EPISODE_SPLITS = ("train", "test")


def list_fewshot_folds(path: Path) -> list[tuple[int, int, int]]:
    """Every (way, shot, fold) present under the few-shot root, sorted."""
    root = locate(Path(path))
    if root is None:
        return []
    folds = []
    for setting in root.iterdir():
        match = _SETTING.match(setting.name)
        if match and setting.is_dir():
            folds += [(int(match["way"]), int(match["shot"]), int(f.stem)) for f in setting.glob("*.pkl")
                      if f.stem.isdigit()]
    return sorted(folds)


def _fold_file(path: Path) -> tuple[Path, int, int, int] | None:
    """(root, way, shot, fold) when ``path`` is one fold's ``<way>way_<shot>shot/<fold>.pkl``."""
    match = _SETTING.match(path.parent.name)
    if path.is_file() and path.suffix == ".pkl" and path.stem.isdigit() and match:
        return path.parent.parent, int(match["way"]), int(match["shot"]), int(path.stem)
    return None


def locate(path: Path) -> Path | None:
    fold_file = _fold_file(Path(path))
    if fold_file is not None:
        return fold_file[0]

    def is_root(p: Path) -> bool:
        return any(_SETTING.match(d.name) and d.is_dir() and any(d.glob("*.pkl")) for d in p.iterdir())

    return find_root(path, UPSTREAM_NAMES, is_root)


class _Episode:
    """One fold's pickle, loaded on first use (a fold is a few hundred small clouds)."""

    def __init__(self, path: Path, way: int) -> None:
        self.path = path
        self.way = way
        self._data: dict[str, list[Any]] | None = None

    def records(self, split: str) -> list[Any]:
        if self._data is None:
            data = safe_load_pickle(self.path)
            if not isinstance(data, dict) or not all(isinstance(data.get(s), (list, tuple)) for s in EPISODE_SPLITS):
                raise DataError(self.path, "expected a pickled dict with 'train' and 'test' lists")
            self._data = {s: list(data[s]) for s in EPISODE_SPLITS}
        return self._data[split]

    def record(self, split: str, index: int) -> tuple[np.ndarray, int, int, str]:
        origin = f"{self.path}[{split}][{index}]"
        record = self.records(split)[index]
        if not isinstance(record, (list, tuple)) or len(record) != 3:
            raise DataError(origin, "expected a (points, label, orig_label) triple")
        points, label, orig_label = record
        label = as_label(label, origin)
        if not 0 <= label < self.way:
            raise DataError(origin, f"label {label} out of range [0, {self.way})")
        return np.asarray(points), label, as_label(orig_label, origin), origin


class _EpisodeSplit:
    """Length needs the pickle, so it is loaded on the first ``len`` or item access, not when opened."""

    def __init__(self, episode: _Episode, split: str, per_fold_labels: bool) -> None:
        self.episode = episode
        self.split = split
        self.per_fold_labels = per_fold_labels

    def __len__(self) -> int:
        return len(self.episode.records(self.split))

    def __getitem__(self, index: int) -> Sample:
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        index %= len(self)
        points, label, orig_label, origin = self.episode.record(self.split, index)
        name = f"{self.episode.path.parent.name}/{self.episode.path.stem}/{self.split}/{index}"
        if self.per_fold_labels:
            fields = {"points": points, "label": label, "orig_label": orig_label}
            return make_sample(fields, name, origin, self.episode.way)
        fields = {"points": points, "label": orig_label, "fewshot_label": label}
        return make_sample(fields, name, origin, len(MODELNET40_CLASSES))


def _fold_path(root: Path, way: int, shot: int, fold: int) -> Path:
    return root / f"{way}way_{shot}shot" / f"{fold}.pkl"


def read_fewshot_fold(path: Path, way: int, shot: int, fold: int) -> DatasetSource:
    """One N-way K-shot episode as a source with ``train`` (support) and ``test`` (query) splits."""
    root = locate(Path(path))
    if root is None:
        raise DataError(path, "not a few-shot ModelNet layout: expected <way>way_<shot>shot/<fold>.pkl")
    file = _fold_path(root, way, shot, fold)
    if not file.is_file():
        raise DataError(file, f"fold not found; available (way, shot, fold): {list_fewshot_folds(root)}")
    episode = _Episode(file, way)
    names = {}
    for split in EPISODE_SPLITS:
        for index in range(len(episode.records(split))):
            try:
                _, label, orig_label, _ = episode.record(split, index)
            except DataError:
                continue  # reported when that sample is read (data check lists it)
            names.setdefault(label, MODELNET40_CLASSES[orig_label] if 0 <= orig_label < 40 else str(orig_label))
    classes = [names.get(label, str(label)) for label in range(way)]
    splits = {split: _EpisodeSplit(episode, split, per_fold_labels=True) for split in EPISODE_SPLITS}
    info = {"way": way, "shot": shot, "fold": fold}
    return DatasetSource(FORMAT, root, classes, splits, info=info)


def read(path: Path, way: int | None = None, shot: int | None = None, fold: int | None = None) -> DatasetSource:
    """All folds (see module doc), or one episode when ``way``, ``shot`` and ``fold`` are all given or ``path``
    is one fold's .pkl file."""
    fold_file = _fold_file(Path(path))
    if fold_file is not None:
        return read_fewshot_fold(*fold_file)
    if way is not None and shot is not None and fold is not None:
        return read_fewshot_fold(path, way, shot, fold)
    root = locate(Path(path))
    if root is None:
        raise DataError(path, "not a few-shot ModelNet layout: expected <way>way_<shot>shot/<fold>.pkl")
    splits = {}
    for f_way, f_shot, f_fold in list_fewshot_folds(root):
        if any(want is not None and want != got for want, got in ((way, f_way), (shot, f_shot), (fold, f_fold))):
            continue
        episode = _Episode(_fold_path(root, f_way, f_shot, f_fold), f_way)
        for split in EPISODE_SPLITS:
            splits[f"{f_way}way_{f_shot}shot/{f_fold}/{split}"] = _EpisodeSplit(episode, split, per_fold_labels=False)
    if not splits:
        raise DataError(root, f"no fold matches way={way} shot={shot} fold={fold}")
    info = {"folds": [list(f) for f in list_fewshot_folds(root)]}
    return DatasetSource(FORMAT, root, list(MODELNET40_CLASSES), splits, info=info)
