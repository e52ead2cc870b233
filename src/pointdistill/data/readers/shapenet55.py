"""ShapeNet-55 as distributed by Point-BERT/Point-MAE: ``shapenet_pc/<synset>-<model>.npy`` + split lists."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from pointdistill.data.base import DatasetSource, LazySplit, Sample
from pointdistill.data.readers.common import find_root, load_npy, make_sample, read_lines
from pointdistill.errors import DataError

FORMAT = "shapenet55"
UPSTREAM_NAMES = ("ShapeNet55-34", "ShapeNet55")

SYNSET_NAMES = {
    "02691156": "airplane", "02747177": "trash_bin", "02773838": "bag", "02801938": "basket",
    "02808440": "bathtub", "02818832": "bed", "02828884": "bench", "02843684": "birdhouse",
    "02871439": "bookshelf", "02876657": "bottle", "02880940": "bowl", "02924116": "bus",
    "02933112": "cabinet", "02942699": "camera", "02946921": "can", "02954340": "cap",
    "02958343": "car", "02992529": "cellphone", "03001627": "chair", "03046257": "clock",
    "03085013": "keyboard", "03207941": "dishwasher", "03211117": "display", "03261776": "earphone",
    "03325088": "faucet", "03337140": "file_cabinet", "03467517": "guitar", "03513137": "helmet",
    "03593526": "jar", "03624134": "knife", "03636649": "lamp", "03642806": "laptop",
    "03691459": "loudspeaker", "03710193": "mailbox", "03759954": "microphone", "03761084": "microwave",
    "03790512": "motorbike", "03797390": "mug", "03928116": "piano", "03938244": "pillow",
    "03948459": "pistol", "03991062": "flowerpot", "04004475": "printer", "04074963": "remote",
    "04090263": "rifle", "04099429": "rocket", "04225987": "skateboard", "04256520": "sofa",
    "04330267": "stove", "04379243": "table", "04401088": "telephone", "04460130": "tower",
    "04468005": "train", "04530566": "watercraft", "04554684": "washer",
}
"""ShapeNetCore v2 synset ids of the 55 categories, named as in the taxonomy (spaces -> underscores)."""


def _is_root(path: Path) -> bool:
    return (path / "shapenet_pc").is_dir() and (path / "ShapeNet-55").is_dir()


def locate(path: Path) -> Path | None:
    return find_root(path, UPSTREAM_NAMES, _is_root)


def _load(item: tuple[Path, int], num_classes: int) -> Sample:
    path, label = item
    return make_sample({"points": load_npy(path), "label": label}, path.stem, path, num_classes)


def read(path: Path, split_folder: str = "ShapeNet-55") -> DatasetSource:
    """Read the split lists only; each shape's .npy is loaded when its sample is requested.

    ``split_folder`` = ``ShapeNet-34`` reads the ShapeNet-34 split lists of the same release.
    """
    root = locate(Path(path))
    if root is None:
        raise DataError(path, "not a ShapeNet-55 layout: expected shapenet_pc/ and ShapeNet-55/ folders")
    listed: dict[str, list[str]] = {}
    for split in ("train", "test"):
        list_file = root / split_folder / f"{split}.txt"
        if list_file.exists():
            listed[split] = read_lines(list_file)
    if not listed:
        raise DataError(root / split_folder, "no train.txt or test.txt split list")
    synsets = sorted({entry.split("-", 1)[0] for entries in listed.values() for entry in entries})
    label_of = {synset: index for index, synset in enumerate(synsets)}
    load = partial(_load, num_classes=len(synsets))
    splits = {}
    for split, entries in listed.items():
        items = []
        for entry in entries:
            file_name = entry if entry.endswith(".npy") else f"{entry}.npy"
            items.append((root / "shapenet_pc" / file_name, label_of[entry.split("-", 1)[0]]))
        splits[split] = LazySplit(items, load)
    classes = [SYNSET_NAMES.get(synset, synset) for synset in synsets]
    return DatasetSource(FORMAT, root, classes, splits, info={"synsets": synsets, "split_folder": split_folder})
