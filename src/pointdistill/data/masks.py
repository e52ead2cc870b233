"""Token and point masks for masked self-distillation, batched in PyTorch on the device.

Patch masks return index tensors ``(visible, masked)``, each sorted ascending within its row, with the *same*
number of visible patches in every row so that visible tokens stack into a dense [R, V, D] tensor (the asymmetric
student of AsymDSD drops masked tokens instead of padding them). Counts: masked = round(ratio * G),
visible = G - masked (G = 64, ratio 0.7 -> 19 visible, 45 masked).

Randomness comes from the ``generator`` argument, or, for the block masks, from ``keys`` (one 63-bit key per
output row, see :mod:`pointdistill.ops.random`): keyed masks follow their sample, whatever batch it came in, which
is what keeps gradient accumulation and data parallelism equal to one big batch. Generator numbers are drawn on the
generator's device (a CPU generator works with CUDA tensors) and moved to the data's device, so the same generator
state gives the same masks on any device: one code path for CPU and GPU.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from pointdistill.ops.random import derive_keys, keyed_uniform
from pointdistill.ops.voxel import voxelize

# Salts of the two keyed draws of a block mask: the block seeds and the random trimming / topping up.
_SEED_SALT, _TRIM_SALT = 11, 12


def _uniform(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """U[0, 1) float32 numbers drawn from ``generator`` (on its own device), returned on ``device``."""
    source = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=source).to(device)


def _row_uniform(
    rows: int,
    cols: int,
    generator: torch.Generator | None,
    device: torch.device,
    keys: torch.Tensor | None,
    salt: int,
) -> torch.Tensor:
    """U[0, 1) [rows, cols]: from ``keys`` [rows] (row r's numbers depend on keys[r] and ``salt`` only), else from
    ``generator``."""
    if keys is None:
        return _uniform((rows, cols), generator, device)
    if keys.shape != (rows,):
        raise ValueError(f"keys must be one per mask row ({rows}), got {list(keys.shape)}")
    cells = derive_keys(keys.to(device), salt).unsqueeze(1) ^ torch.arange(cols, device=device)
    return keyed_uniform(cells, salt)


def masked_count(num_patches: int, ratio: float) -> int:
    """round(ratio * G) masked patches; at least one patch must stay visible."""
    if not 0 <= ratio < 1:
        raise ValueError(f"mask ratio must lie in [0, 1), got {ratio}")
    masked = int(round(ratio * num_patches))
    if masked >= num_patches:
        raise ValueError(f"mask ratio {ratio} leaves no visible patch out of {num_patches}")
    return masked


def split_selection(selected: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(selected indices, other indices)`` of a bool [R, G] selection with equal counts per row, each sorted.

    One stable sort on the 0/1 flags puts the unselected indices first and the selected ones last, each group in
    ascending index order, so no per-row ``nonzero`` and no loop over rows is needed.
    """
    count = int(selected[0].sum()) if selected.shape[0] else 0
    order = torch.sort(selected.to(torch.uint8), dim=1, stable=True).indices
    num_patches = selected.shape[1]
    return order[:, num_patches - count :], order[:, : num_patches - count]


def _top(score: torch.Tensor, count: int) -> torch.Tensor:
    """Bool [R, G] marking the ``count`` highest scores of each row."""
    selected = torch.zeros_like(score, dtype=torch.bool)
    return selected.scatter_(1, score.topk(count, dim=1).indices, True)


def indices_to_mask(index: torch.Tensor, num_patches: int) -> torch.Tensor:
    """Bool [R, G] with True at the patches listed in ``index`` [R, K] (e.g. masked indices -> Point-MAE mask)."""
    mask = torch.zeros(index.shape[0], num_patches, dtype=torch.bool, device=index.device)
    return mask.scatter_(1, index, True)


def random_mask(
    batch: int,
    num_patches: int,
    ratio: float,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Uniformly random patch mask: ``(visible [B, V], masked [B, G - V])`` index tensors."""
    visible_count = num_patches - masked_count(num_patches, ratio)
    score = _uniform((batch, num_patches), generator, torch.device(device))
    return split_selection(_top(score, visible_count))


def block_union(
    centers: torch.Tensor,
    block_size: int,
    num_blocks: int,
    num_masks: int,
    generator: torch.Generator | None = None,
    keys: torch.Tensor | None = None,
) -> torch.Tensor:
    """Bool [B * num_masks, G]: the union of ``num_blocks`` blocks per row, a block being a random seed patch and
    its ``block_size - 1`` nearest patch centres (seeds distinct within a row). Rows ``b * num_masks + m`` hold the
    ``num_masks`` masks of sample b (``repeat_interleave`` order)."""
    batch, num_patches, _ = centers.shape
    rows = batch * num_masks
    device = centers.device
    centers = centers.float()
    distance = (centers.unsqueeze(2) - centers.unsqueeze(1)).square().sum(-1)
    neighbours = distance.topk(block_size, dim=-1, largest=False).indices
    sample_of_row = torch.arange(batch, device=device).repeat_interleave(num_masks)
    seeds = _row_uniform(rows, num_patches, generator, device, keys, _SEED_SALT).argsort(dim=1)[:, :num_blocks]
    blocks = neighbours[sample_of_row.unsqueeze(1), seeds].reshape(rows, -1)
    return torch.zeros(rows, num_patches, dtype=torch.bool, device=device).scatter_(1, blocks, True)


def _block_selection(
    centers: torch.Tensor,
    count: int,
    block_size: int,
    num_blocks: int,
    num_masks: int,
    generator: torch.Generator | None,
    keys: torch.Tensor | None = None,
) -> torch.Tensor:
    """Bool [B * num_masks, G] selecting exactly ``count`` patches: the :func:`block_union`, adjusted at random,
    never by position: members dropped at random when it is too large, random patches outside it added when it is
    too small (members always rank above non-members, ties broken by a uniform draw).
    """
    union = block_union(centers, block_size, num_blocks, num_masks, generator, keys)
    rows, num_patches = union.shape
    score = union.float() + _row_uniform(rows, num_patches, generator, centers.device, keys, _TRIM_SALT)
    return _top(score, count)


def _block_layout(
    num_patches: int, count: int, block_fraction: float | None, num_blocks: int | None
) -> tuple[int, int]:
    """Block size (``block_fraction * G``, or ``count`` for one single block) and the number of blocks
    (default ceil(count / block size): enough blocks to cover the target when they do not overlap)."""
    if block_fraction is None:
        size = max(1, count)
    else:
        if not 0 < block_fraction <= 1:
            raise ValueError(f"block_fraction must lie in (0, 1], got {block_fraction}")
        size = max(1, int(block_fraction * num_patches))
    blocks = num_blocks if num_blocks is not None else max(1, math.ceil(count / size))
    if not 1 <= blocks <= num_patches:
        raise ValueError(f"num_blocks must lie in [1, {num_patches}], got {blocks}")
    return size, blocks


def _check_centers(centers: torch.Tensor, num_masks: int) -> None:
    if centers.dim() != 3 or centers.shape[-1] != 3:
        raise ValueError(f"centers must be [B, G, 3], got {list(centers.shape)}")
    if num_masks < 1:
        raise ValueError(f"num_masks must be positive, got {num_masks}")


def inverse_block_mask(
    centers: torch.Tensor,
    ratio: float = 0.7,
    block_fraction: float = 0.1,
    num_masks: int = 4,
    generator: torch.Generator | None = None,
    num_blocks: int | None = None,
    keys: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """AsymDSD inverse-block multi-mask over patch ``centers`` [B, G, 3].

    The *visible* set is the union of a few spatially compact blocks (block size ``block_fraction * G``), adjusted
    at random to exactly G - round(ratio * G) patches, so the student sees a few coherent regions and must predict
    the rest: when the union is larger (the usual case) a random subset of it stays visible, and only when blocks
    overlap so much that it is smaller is it topped up with random patches outside it. Returns
    ``(visible [B * num_masks, V], masked [B * num_masks, G - V])``; the masks of sample b are rows
    b * num_masks ... (b + 1) * num_masks - 1, matching ``tokens.repeat_interleave(num_masks, 0)``. ``keys``
    [B * num_masks] draws each row from its own key instead of ``generator``.
    """
    _check_centers(centers, num_masks)
    num_patches = centers.shape[1]
    visible_count = num_patches - masked_count(num_patches, ratio)
    size, blocks = _block_layout(num_patches, visible_count, block_fraction, num_blocks)
    selected = _block_selection(centers, visible_count, size, blocks, num_masks, generator, keys)
    return split_selection(selected)


def block_mask(
    centers: torch.Tensor,
    ratio: float = 0.6,
    block_fraction: float | None = None,
    num_masks: int = 1,
    generator: torch.Generator | None = None,
    num_blocks: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Block mask: the *masked* set is a union of compact blocks, adjusted at random to round(ratio * G) patches.

    With ``block_fraction=None`` it is one block of the round(ratio * G) patches nearest a random centre (Point-MAE's
    block masking). Returns ``(visible, masked)`` index tensors like :func:`inverse_block_mask`.
    """
    _check_centers(centers, num_masks)
    num_patches = centers.shape[1]
    count = masked_count(num_patches, ratio)
    size, blocks = _block_layout(num_patches, count, block_fraction, num_blocks)
    masked, visible = split_selection(_block_selection(centers, count, size, blocks, num_masks, generator))
    return visible, masked


def scene_block_mask(
    coords: np.ndarray | torch.Tensor,
    ratio: float = 0.7,
    block_size: float = 0.4,
    rng: np.random.Generator | torch.Generator | None = None,
    random_offset: bool = True,
) -> np.ndarray | torch.Tensor:
    """DOS scene mask: bool [N], True = visible to the student (masked points are removed, not replaced).

    Points are binned into cubes of ``block_size`` (metres) on a grid shifted by a random offset (so block borders
    fall differently each time); cubes are masked whole, in random order, and the number of masked cubes is the one
    whose masked share of *points* comes closest to ``ratio``. At least one cube stays visible. ``rng`` may be a
    NumPy generator (data-loader workers) or a torch generator (on the device); the result has ``coords``'s type.
    """
    if not 0 <= ratio < 1:
        raise ValueError(f"mask ratio must lie in [0, 1), got {ratio}")
    if block_size <= 0:
        raise ValueError(f"block_size must be positive, got {block_size}")
    is_numpy = isinstance(coords, np.ndarray)
    points = torch.from_numpy(np.asarray(coords)) if is_numpy else coords
    if points.dim() != 2 or points.shape[1] != 3 or points.shape[0] == 0:
        raise ValueError(f"coords must be a non-empty [N, 3] array, got {list(points.shape)}")
    device = points.device

    def uniform(n: int) -> torch.Tensor:
        if isinstance(rng, np.random.Generator):
            return torch.from_numpy(rng.random(n)).to(device)
        return _uniform((n,), rng, device).double()

    points = points.double()
    if random_offset:
        points = points + uniform(3) * block_size
    _, block = voxelize(points, block_size)
    num_blocks = int(block.max()) + 1
    counts = torch.bincount(block, minlength=num_blocks)
    order = uniform(num_blocks).argsort()
    masked_points = torch.cat([counts.new_zeros(1), counts[order].cumsum(0)[:-1]])
    chosen = int((masked_points.double() - ratio * points.shape[0]).abs().argmin())
    masked_block = torch.zeros(num_blocks, dtype=torch.bool, device=device)
    masked_block[order[:chosen]] = True
    visible = ~masked_block[block]
    return visible.cpu().numpy() if is_numpy else visible
