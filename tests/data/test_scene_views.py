"""DOS views: overlapping crops with original coordinates, grid masking, a student input without masked points, and
the dataset's keys, streams and errors (shared with the scene dataset)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pointdistill.data.loader import sample_key
from pointdistill.data.scene_transforms import build_scene_augment
from pointdistill.data.scene_views import (
    DOSViewConfig,
    DOSViewDataset,
    build_dos_loader,
    collate_dos_views,
    grid_mask,
    make_dos_views,
)
from pointdistill.errors import DataError


def room(seed: int, count: int = 3000) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    points = rng.uniform([0, 0, 0], [4.0, 3.0, 2.5], size=(count, 3)).astype(np.float32)
    normals = rng.normal(size=(count, 3)).astype(np.float32)
    return {"points": points, "color": rng.uniform(size=(count, 3)).astype(np.float32),
            "normals": normals / np.linalg.norm(normals, axis=1, keepdims=True), "name": f"room{seed}"}


CONFIG = DOSViewConfig(voxel_size=0.05, max_points=1500, mask_cell=0.4, mask_ratio=0.7)


def batch(size: int = 2) -> dict[str, torch.Tensor]:
    augment = build_scene_augment(CONFIG.augment)
    items = [{"views": make_dos_views(room(i), CONFIG, np.random.default_rng(i), augment), "sample_key": i}
             for i in range(size)]
    return collate_dos_views(items)


def test_views_are_capped_overlapping_crops_keeping_original_coordinates() -> None:
    sample = room(0)
    views = make_dos_views(sample, CONFIG, np.random.default_rng(0), build_scene_augment(CONFIG.augment))
    assert len(views) == 2
    centred = sample["points"] - np.array([2.0, 1.5, 0.0])  # the room's box centre, floor at 0 (up to sampling)
    for view in views:
        assert 1 <= len(view["coord"]) <= CONFIG.max_points
        # every original coordinate is a point of the scene (centred), not an augmented one
        nearest = np.min(np.linalg.norm(view["origin"][:, None, :2] - centred[None, :, :2], axis=2), axis=1)
        assert nearest.max() < 0.05
        assert not np.allclose(view["coord"], view["origin"], atol=1e-3)
    shared = {tuple(p) for p in views[0]["origin"].round(5)} & {tuple(p) for p in views[1]["origin"].round(5)}
    assert shared, "the second view's centre lies in the first view, so they overlap"


def test_grid_mask_hides_the_ratio_of_occupied_cells_whole() -> None:
    origin = np.random.default_rng(1).uniform(0, 4, size=(5000, 3))
    visible = grid_mask(origin, 0.4, 0.7, np.random.default_rng(2))
    cells = [tuple(c) for c in np.floor(origin / 0.4).astype(int)]
    state: dict[tuple, set] = {}
    for cell, seen in zip(cells, visible):
        state.setdefault(cell, set()).add(bool(seen))
    assert all(len(s) == 1 for s in state.values()), "a cell is masked or visible as a whole"
    hidden = sum(1 for s in state.values() if s == {False})
    assert hidden == round(0.7 * len(state))
    assert grid_mask(origin[:3] * 0, 0.4, 0.7, np.random.default_rng(0)).all(), "one cell is never masked"


def test_student_never_receives_a_masked_point() -> None:
    data = batch()
    visible = data["visible"]
    assert 0 < visible.sum() < len(visible)
    rows = data["student_rows"]
    assert visible[rows].all() and len(rows) == int(visible.sum())
    masked = {tuple(p) for p in data["coord"][~visible].tolist()}
    assert not masked & {tuple(p) for p in data["student_coord"].tolist()}, "no masked coordinate"
    masked_feat = {tuple(p) for p in data["feat"][~visible].tolist()}
    assert not masked_feat & {tuple(p) for p in data["student_feat"].tolist()}, "no masked feature"
    torch.testing.assert_close(data["student_coord"], data["coord"][rows])
    counts = torch.diff(data["student_offset"], prepend=torch.zeros(1, dtype=torch.long))
    view_of_point = torch.repeat_interleave(torch.arange(4), torch.diff(data["offset"], prepend=torch.zeros(1,
                                                                                                     dtype=torch.long)))
    assert (counts == torch.bincount(view_of_point[visible], minlength=4)).all()


class Rooms:
    """Rooms as a split; room ``broken`` has no points (no view can be cut from it)."""

    def __init__(self, count: int, broken: int | None = None) -> None:
        self.rooms = [room(i) for i in range(count)]
        if broken is not None:
            self.rooms[broken] = {key: value[:0] if isinstance(value, np.ndarray) else value
                                  for key, value in self.rooms[broken].items()}

    def __len__(self) -> int:
        return len(self.rooms)

    def __getitem__(self, index: int) -> dict:
        return dict(self.rooms[index])


def test_dataset_items_follow_epoch_and_index_keys() -> None:
    dataset = DOSViewDataset(Rooms(3), CONFIG, seed=5)
    again = dataset[(2, 1)]
    assert again["sample_key"] == sample_key(5, 2, 1)
    expected = make_dos_views(room(1), CONFIG, np.random.default_rng([5, 2, 1]), dataset.augment, "room1")
    for view, reference in zip(again["views"], expected):
        assert all(np.array_equal(view[k], reference[k]) for k in reference)
    assert dataset[1]["sample_key"] == sample_key(5, 0, 1)
    with pytest.raises(IndexError):
        dataset[(0, 3)]
    no_normals = DOSViewDataset(Rooms(1), DOSViewConfig(voxel_size=0.05, channels=("color", "intensity")))
    with pytest.raises(DataError, match="channel 'intensity'") as caught:
        no_normals[0]
    assert caught.value.path == "room0"


def test_a_bad_scene_in_a_worker_surfaces_as_its_data_error() -> None:
    loader = build_dos_loader(Rooms(4, broken=2), CONFIG, batch_size=4, seed=0, num_workers=1)
    with pytest.raises(DataError, match="cannot make the DOS views") as caught:
        list(loader)
    assert caught.value.path == "room2"
