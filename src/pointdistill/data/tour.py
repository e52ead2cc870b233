"""A visual tour of the data pipeline: PNGs that show what the model will see.

For a few samples, one page each: the input cloud (coloured by part or height), its patches (FPS centres and
k-NN groups) and AsymDSD inverse-block masks on them, the DCGLR nearest-fraction crops and the AsymDSD box crops,
each crop as the network receives it (resampled, normalised, augmented). The views use the stream the loader would
give the sample in epoch 0, so the pictures are the first epoch's actual inputs. Rendering uses matplotlib's Agg
canvas directly (no pyplot state, no display needed).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure

from pointdistill.data.base import DatasetSource, PointSplit, Sample
from pointdistill.data.loader import ViewDataset
from pointdistill.data.masks import inverse_block_mask
from pointdistill.data.transforms import axis_index
from pointdistill.data.views import asymdsd_views, dcglr_views
from pointdistill.ops import group_patches

COLUMNS = 6
NUM_GROUPS = 64
GROUP_SIZE = 32
NUM_MASKS = 4
GREY = (0.82, 0.82, 0.82, 0.6)
LEGEND = (
    "How to read this page\n"
    "- crops are shown as the network gets them:\n"
    "  resampled, re-centred, scaled to the unit\n"
    "  sphere and augmented (colour = height)\n"
    "- patches: black dots = FPS centres,\n"
    "  colours = k-NN groups\n"
    "- masks: coloured patches are visible to the\n"
    "  student, grey ones are masked (predicted)\n"
    "- teacher: global crops; student: all crops\n"
    "- AsymDSD crops are randomly oriented boxes"
)


def _split_of(source: DatasetSource | PointSplit) -> tuple[PointSplit, list[str]]:
    """The split to draw from (``train`` when the source has one) and the class names."""
    if isinstance(source, DatasetSource):
        name = "train" if "train" in source.splits else sorted(source.splits)[0]
        return source.split(name), source.classes
    return source, []


class _Page:
    """One figure of 3D scatter panels on a grid, drawn with the chosen up axis vertical."""

    def __init__(self, rows: int, title: str, up: str) -> None:
        self.figure = Figure(figsize=(3.2 * COLUMNS, 3.4 * rows), dpi=90)
        self.figure.suptitle(title, fontsize=14)
        self.rows = rows
        self.grid = self.figure.add_gridspec(rows, COLUMNS)
        self.used: set[int] = set()
        up_index = axis_index(up)
        horizontal = [a for a in range(3) if a != up_index]
        self.order = [horizontal[0], horizontal[1], up_index]

    def panel(self, row: int, col: int, title: str):
        slot = row * COLUMNS + col
        self.used.add(slot)
        ax = self.figure.add_subplot(self.grid[row, col], projection="3d")
        ax.set_title(title, fontsize=10)
        ax.view_init(elev=18, azim=-55)
        ax.set_box_aspect((1, 1, 1), zoom=1.25)
        ax.set_axis_off()
        return ax

    def scatter(self, ax, points: np.ndarray, colors, size: float = 4.0, limit: float | None = None) -> None:
        p = points[:, self.order]
        ax.scatter(p[:, 0], p[:, 1], p[:, 2], c=colors, s=size, depthshade=False, linewidths=0)
        bound = limit if limit is not None else float(np.abs(points).max()) * 1.05 or 1.0
        for setter in (ax.set_xlim, ax.set_ylim, ax.set_zlim):
            setter(-bound, bound)

    def height_colors(self, points: np.ndarray):
        height = points[:, self.order[2]]
        span = np.ptp(height) or 1.0
        return colormaps["viridis"]((height - height.min()) / span)

    def note(self, row: int, col: int, text: str) -> None:
        """A text panel (the legend) over the free slots from (row, col) to the end of the row."""
        self.used.update(row * COLUMNS + c for c in range(col, COLUMNS))
        ax = self.figure.add_subplot(self.grid[row, col:])
        ax.axis("off")
        ax.text(0.05, 0.5, text, fontsize=10, va="center", ha="left", transform=ax.transAxes)

    def save(self, path: Path) -> Path:
        for slot in range(self.rows * COLUMNS):
            if slot not in self.used:
                self.figure.add_subplot(self.grid[divmod(slot, COLUMNS)]).axis("off")
        self.figure.tight_layout(rect=(0, 0, 1, 0.97))
        self.figure.savefig(path)
        return path


def _group_colors(count: int) -> np.ndarray:
    """Distinct colours for neighbouring patch ids (tab20 cycled)."""
    return colormaps["tab20"](np.arange(count) % 20)


def _draw_input(page: _Page, sample: Sample, points: np.ndarray, classes: list[str]) -> None:
    label = sample.get("label")
    title = "input"
    if label is not None:
        title += f": {classes[label]}" if 0 <= int(label) < len(classes) else f": label {label}"
    title += f" ({len(sample['points'])} pts)"
    if "part" in sample:
        part = np.asarray(sample["part"])
        colors = colormaps["tab10"](part % 10)
        title += ", coloured by part"
    else:
        colors = page.height_colors(points)
    page.scatter(page.panel(0, 0, title), points, colors, size=3.0, limit=1.05)


def _draw_patches(page: _Page, cloud: np.ndarray, seed: int) -> None:
    """Patches of the normalised cloud and four inverse-block masks over them."""
    tensor = torch.from_numpy(cloud).unsqueeze(0)
    patches = group_patches(tensor, NUM_GROUPS, GROUP_SIZE)
    centers, index = patches.centers[0].numpy(), patches.index[0].numpy()
    colors = _group_colors(NUM_GROUPS)
    members = index.reshape(-1)
    member_colors = np.repeat(colors, GROUP_SIZE, axis=0)
    ax = page.panel(0, 1, f"{NUM_GROUPS} patches x {GROUP_SIZE} pts (FPS + kNN)")
    page.scatter(ax, cloud, [GREY], size=1.5, limit=1.05)
    page.scatter(ax, cloud[members], member_colors, size=3.0, limit=1.05)
    page.scatter(ax, centers, "black", size=10, limit=1.05)
    generator = torch.Generator().manual_seed(seed)
    visible, masked = inverse_block_mask(patches.centers, num_masks=NUM_MASKS, generator=generator)
    for m in range(NUM_MASKS):
        vis, hid = visible[m].numpy(), masked[m].numpy()
        ax = page.panel(0, 2 + m, f"inverse-block mask {m + 1}/{NUM_MASKS}\n{len(vis)} visible / {len(hid)} masked")
        page.scatter(ax, cloud[index[hid].reshape(-1)], [GREY], size=2.0, limit=1.05)
        page.scatter(ax, cloud[index[vis].reshape(-1)], np.repeat(colors[vis], GROUP_SIZE, axis=0), limit=1.05)
        page.scatter(ax, centers[vis], "black", size=10, limit=1.05)


def _draw_crops(page: _Page, row: int, col: int, crops: np.ndarray, title: str) -> tuple[int, int]:
    """Draw crops left to right from (row, col), wrapping; return the next free slot."""
    for i, crop in enumerate(crops):
        if col == COLUMNS:
            row, col = row + 1, 0
        ax = page.panel(row, col, f"{title} {i + 1}/{len(crops)} ({len(crop)} pts)")
        page.scatter(ax, crop, page.height_colors(crop), size=4.0 if len(crop) >= 512 else 8.0, limit=1.25)
        col += 1
    return row, col


def _file_name(position: int, sample: Sample, index: int) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(sample.get("name", index)))[:60]
    return f"tour_{position:02d}_{name}.png"


def render_tour(
    source: DatasetSource | PointSplit,
    out_dir: str | Path,
    num_samples: int = 4,
    seed: int = 0,
    up: str = "y",
) -> list[Path]:
    """Write one PNG per sample (``num_samples`` samples drawn with ``seed``) into ``out_dir``; return the paths.

    ``up`` names the data's up axis (the datasets are y-up), drawn vertically.
    """
    split, classes = _split_of(source)
    if len(split) == 0:
        raise ValueError("the source has no samples to show")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(split), size=min(num_samples, len(split)), replace=False))
    dcglr = ViewDataset(split, dcglr_views(), seed)
    asymdsd = ViewDataset(split, asymdsd_views(up=up), seed)
    paths = []
    for position, index in enumerate(chosen.tolist()):
        sample = split[index]
        d_views, a_views = dcglr[(0, index)], asymdsd[(0, index)]
        cloud = d_views["points"]
        raw = np.asarray(sample["points"], dtype=np.float32)
        centred = raw - raw.mean(axis=0)
        centred /= max(float(np.linalg.norm(centred, axis=1).max()), 1e-12)
        page = _Page(4, f"{sample.get('name', index)}: what the model sees ({up}-up, drawn vertical)", up)
        _draw_input(page, sample, centred, classes)
        _draw_patches(page, cloud, seed)
        row, col = _draw_crops(page, 1, 0, d_views["global"], "DCGLR global")
        row, col = _draw_crops(page, row, col, d_views["local"], "DCGLR local")
        row, col = _draw_crops(page, 3, 0, a_views["global"], "AsymDSD global")
        _draw_crops(page, row, col, a_views["local"], "AsymDSD local")
        page.note(2, COLUMNS - 2, LEGEND)
        paths.append(page.save(out / _file_name(position, sample, index)))
    return paths
