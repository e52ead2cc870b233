"""Multi-crop views of one shape: the per-sample ``ViewTransform`` of DCGLR and AsymDSD.

From one sample, :class:`MultiCropViews` makes ``global`` crops (large; the teacher's inputs), ``local`` crops
(small; student only) and passes on the normalised full cloud as ``points`` for methods that derive more views on
the device (DCGLR's half-resolution copies by FPS). Every output has a fixed shape, so a batch is a plain stack.

Per crop: pick a crop ratio, take the crop's indices from the normalised full cloud (all of its points, so a dense
source cloud gives dense crops), resample to the crop's point count, normalise the crop, then augment it
independently of the other crops.

Crop normalisation (``crop_normalize``): ``"unit_sphere"`` (default) re-centres each crop on its centroid and
scales it to the unit sphere. This is the point-cloud analogue of DINO's random-resized crop, whose local crops are
resized to a fixed resolution: the student sees every crop at the same scale and position, so it must recognise the
part from its shape rather than from where it sits in the object or how large it is. It also matches AsymDSD's
reference, which normalises each crop to the unit sphere before patchifying. ``"center"`` only re-centres (keeps
the crop's absolute size, a cue to how much of the object it covers); ``"none"`` keeps crops in the object's frame
(local crops then sit off-centre, which makes the patch-centre position embedding leak the crop's location).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from pointdistill.data.base import Sample
from pointdistill.data.crops import box_crop, nearest_fraction_crop
from pointdistill.data.transforms import (
    Compose,
    Jitter,
    RandomScale,
    RotateUp,
    Transform,
    resample_index,
    unit_sphere,
)

CROP_KINDS = ("nearest", "box")
CROP_NORMALIZATIONS = ("unit_sphere", "center", "none")


def _normalize_crops(points: np.ndarray, mode: str) -> np.ndarray:
    """Re-centre (and re-scale) crops [..., P, 3] according to ``mode`` (see the module docstring)."""
    if mode == "unit_sphere":
        return unit_sphere(points)
    if mode == "center":
        return points - points.mean(axis=-2, keepdims=True)
    return points


def _check_range(name: str, value: Sequence[float]) -> tuple[float, float]:
    low, high = (float(v) for v in value)
    if not 0 < low <= high <= 1:
        raise ValueError(f"{name} must satisfy 0 < low <= high <= 1, got {tuple(value)}")
    return low, high


class MultiCropViews:
    """Picklable ``(sample, rng) -> {"global", "local", "points"[, "label"]}`` multi-crop view maker.

    Output (float32): ``global`` [num_global, global_points, 3], ``local`` [num_local, local_points, 3],
    ``points`` [num_points, 3] (the input cloud normalised to the unit sphere and resampled to ``num_points``;
    augmented with ``augment`` only when ``augment_points`` is set). ``label`` (int64 scalar) is passed through
    when the sample has one. ``local`` is absent when ``num_local`` is 0. ``padded`` (bool) says the input had
    fewer than ``num_points`` points, so repeats fill its views (the loader warns about those once).
    """

    def __init__(
        self,
        *,
        crop: str = "nearest",
        num_points: int = 1024,
        num_global: int = 2,
        global_scale: Sequence[float] = (0.7, 1.0),
        global_points: int = 1024,
        num_local: int = 8,
        local_scale: Sequence[float] = (0.2, 0.5),
        local_points: int = 256,
        aspect_range: Sequence[float] = (0.33, 3.0),
        augment: Transform | None = None,
        crop_normalize: str = "unit_sphere",
        normalize_input: bool = True,
        augment_points: bool = False,
        crop_min_points: bool = False,
        normalize_after_augment: bool = False,
    ) -> None:
        if crop not in CROP_KINDS:
            raise ValueError(f"unknown crop kind {crop!r}; choose one of {CROP_KINDS}")
        if crop_normalize not in CROP_NORMALIZATIONS:
            raise ValueError(f"unknown crop normalisation {crop_normalize!r}; choose one of {CROP_NORMALIZATIONS}")
        if num_global < 1 or num_local < 0:
            raise ValueError(f"need num_global >= 1 and num_local >= 0, got {num_global} and {num_local}")
        if min(num_points, global_points, local_points) < 1:
            raise ValueError("point counts must be positive")
        self.crop = crop
        self.num_points = int(num_points)
        self.num_global = int(num_global)
        self.global_scale = _check_range("global_scale", global_scale)
        self.global_points = int(global_points)
        self.num_local = int(num_local)
        self.local_scale = _check_range("local_scale", local_scale)
        self.local_points = int(local_points)
        self.aspect_range = (float(aspect_range[0]), float(aspect_range[1]))
        self.augment = augment
        self.crop_normalize = crop_normalize
        self.normalize_input = normalize_input
        self.augment_points = augment_points
        self.crop_min_points = crop_min_points
        self.normalize_after_augment = normalize_after_augment

    def _crop_index(self, points: np.ndarray, ratio: float, size: int, rng: np.random.Generator) -> np.ndarray:
        if self.crop == "box":
            return box_crop(points, ratio, rng, self.aspect_range, size if self.crop_min_points else 0)
        return nearest_fraction_crop(points, ratio, rng)

    def _augment(self, points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Augment a stack of views [..., P, 3], each with its own random parameters, in one call."""
        if self.augment is None:
            return points
        return self.augment.apply({"points": points}, rng)["points"].astype(np.float32, copy=False)

    def _crops(
        self, points: np.ndarray, count: int, scale: tuple[float, float], size: int, rng: np.random.Generator
    ) -> np.ndarray:
        """``count`` crops [count, size, 3]: selected one by one, normalised and augmented as one stack."""
        ratios = rng.uniform(*scale, size=count)
        index = np.empty((count, size), dtype=np.int64)
        for i, ratio in enumerate(ratios):
            members = self._crop_index(points, float(ratio), size, rng)
            index[i] = members[resample_index(len(members), size, rng)]
        if self.normalize_after_augment:
            return _normalize_crops(self._augment(points[index], rng), self.crop_normalize).astype(np.float32)
        return self._augment(_normalize_crops(points[index], self.crop_normalize), rng)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> dict[str, Any]:
        points = np.asarray(sample["points"], dtype=np.float32)
        if self.normalize_input:
            points = unit_sphere(points)
        views: dict[str, Any] = {
            "global": self._crops(points, self.num_global, self.global_scale, self.global_points, rng),
        }
        if self.num_local:
            views["local"] = self._crops(points, self.num_local, self.local_scale, self.local_points, rng)
        full = points[resample_index(len(points), self.num_points, rng)]
        if self.augment_points:
            full = self._augment(full, rng)
        views["points"] = full.astype(np.float32, copy=False)
        views["padded"] = np.bool_(len(points) < self.num_points)
        if "label" in sample:
            views["label"] = np.int64(sample["label"])
        return views

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


def dcglr_views(
    *,
    num_points: int = 1024,
    num_global: int = 2,
    global_scale: Sequence[float] = (0.7, 1.0),
    global_points: int = 1024,
    num_local: int = 8,
    local_scale: Sequence[float] = (0.2, 0.5),
    local_points: int = 256,
    scale_range: Sequence[float] = (0.8, 1.2),
    jitter_sigma: float = 0.01,
    jitter_clip: float = 0.05,
    crop_normalize: str = "unit_sphere",
    augment_points: bool = False,
    rotation_range: float = 0.0,
    up: str = "y",
) -> MultiCropViews:
    """DCGLR views: 2 global crops r ~ U(0.7, 1), 8 local crops r ~ U(0.2, 0.5), nearest-fraction crops.

    The paper does not spell out its per-crop augmentation; the default here (open choice) is an anisotropic scale
    U(0.8, 1.2) and a clipped jitter, with no rotation, so aligned benchmarks keep their canonical pose. A
    ``rotation_range`` > 0 rotates each crop about the ``up`` axis by its own angle, which teaches the pose
    invariance that data with varying headings (scans, the demo's rotated probe) needs. Set ``augment_points`` to
    augment the full cloud the half-resolution copies are drawn from as well.
    """
    steps = [RotateUp(rotation_range, up)] if rotation_range > 0 else []
    augment = Compose([*steps, RandomScale(*scale_range), Jitter(jitter_sigma, jitter_clip)])
    return MultiCropViews(
        crop="nearest",
        num_points=num_points,
        num_global=num_global,
        global_scale=global_scale,
        global_points=global_points,
        num_local=num_local,
        local_scale=local_scale,
        local_points=local_points,
        augment=augment,
        crop_normalize=crop_normalize,
        augment_points=augment_points,
    )


def asymdsd_views(
    *,
    num_points: int = 1024,
    num_global: int = 2,
    global_scale: Sequence[float] = (0.4, 1.0),
    global_points: int = 1024,
    num_local: int = 4,
    local_scale: Sequence[float] = (0.05, 0.4),
    local_points: int = 256,
    aspect_range: Sequence[float] = (0.33, 3.0),
    rotation_range: float = 2 * np.pi,
    up: str = "y",
    scale_range: Sequence[float] = (0.8, 1.2),
    crop_normalize: str = "unit_sphere",
    crop_min_points: bool = True,
) -> MultiCropViews:
    """AsymDSD views: 2 global box crops scale U(0.4, 1) at 1024 points, 4 local U(0.05, 0.4) at 256 points; each
    crop rotated about the up axis over 2*pi and scaled anisotropically by U(0.8, 1.2), *then* normalised (the
    reference augments on the CPU and normalises each crop to the unit sphere afterwards, so every crop the encoder
    sees fills the unit sphere). ``crop_min_points``: a crop keeps at least as many points as its view has (the
    reference's floor; see :func:`~pointdistill.data.crops.box_crop`)."""
    augment = Compose([RotateUp(rotation_range, up), RandomScale(*scale_range)])
    return MultiCropViews(
        crop="box",
        num_points=num_points,
        num_global=num_global,
        global_scale=global_scale,
        global_points=global_points,
        num_local=num_local,
        local_scale=local_scale,
        local_points=local_points,
        aspect_range=aspect_range,
        augment=augment,
        crop_normalize=crop_normalize,
        crop_min_points=crop_min_points,
        normalize_after_augment=True,
    )
