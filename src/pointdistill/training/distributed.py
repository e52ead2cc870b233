"""Process placement and data-parallel collectives for runs launched by ``torchrun`` (or a single process).

Gradients are averaged with one flat all-reduce after the last backward of an optimiser step instead of wrapping
the student in ``DistributedDataParallel``. The methods call student sub-modules several times per step (global,
local and masked crops, an encoder and a head separately), which DDP's reducer only supports through a single
forward wrapper; an explicit average is the same arithmetic (sum of per-rank mean gradients / world size), works
for any method, needs no ``no_sync`` for accumulation, and keeps ``state_dict`` keys free of ``module.``.
Buffers (BatchNorm statistics) are broadcast from rank 0 after each step, as DDP does before each forward.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from pointdistill.errors import ConfigError


@dataclass(frozen=True)
class DistContext:
    """Where this process sits: ``rank`` of ``world_size``, on GPU ``local_rank`` of its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def context_from_env() -> DistContext:
    """Read RANK / WORLD_SIZE / LOCAL_RANK as set by torchrun (defaults: a single process)."""
    try:
        return DistContext(
            rank=int(os.environ.get("RANK", 0)),
            world_size=int(os.environ.get("WORLD_SIZE", 1)),
            local_rank=int(os.environ.get("LOCAL_RANK", 0)),
        )
    except ValueError as exc:
        raise ConfigError(f"malformed torchrun environment (RANK/WORLD_SIZE/LOCAL_RANK): {exc}") from None


def select_device(requested: str, ctx: DistContext) -> torch.device:
    """``auto`` -> this process's GPU when CUDA is available, else CPU; ``cpu``, ``cuda``, ``cuda:N`` as given."""
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise ConfigError(f"train.device: {requested!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"train.device: {requested!r} requested but no CUDA device is available")
        if device.index is None:
            device = torch.device("cuda", ctx.local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    elif device.type != "cpu":
        raise ConfigError(f"train.device: {requested!r} is not supported; use auto, cpu, cuda or cuda:N")
    return device


def init_process_group(ctx: DistContext, device: torch.device) -> bool:
    """Join the process group (gloo on CPU, NCCL on CUDA) when launched with WORLD_SIZE > 1.

    Returns True when this call created the group, so the caller knows to destroy it at the end.
    """
    if not ctx.enabled or dist.is_initialized():
        return False
    common = {"init_method": "env://", "rank": ctx.rank, "world_size": ctx.world_size}
    if device.type == "cuda":  # binding the GPU up front lets NCCL set up eagerly and barriers find it
        dist.init_process_group("nccl", device_id=device, **common)
    else:
        dist.init_process_group("gloo", **common)
    return True


def destroy_process_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def is_main() -> bool:
    """True on rank 0 or outside a process group: the only process that writes files."""
    return not dist.is_initialized() or dist.get_rank() == 0


def barrier() -> None:
    """Wait for every process (no-op in a single process); on NCCL, on this process's GPU."""
    if not dist.is_initialized():
        return
    if dist.get_backend() == "nccl":
        dist.barrier(device_ids=[torch.cuda.current_device()])
    else:
        dist.barrier()


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """Average ``tensor`` over processes in place (identity in a single process); returns it."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(tensor)
        tensor.div_(dist.get_world_size())
    return tensor


def all_reduce_max(tensor: torch.Tensor) -> torch.Tensor:
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor


def broadcast_tensors(tensors: Iterable[torch.Tensor], src: int = 0) -> None:
    """Overwrite ``tensors`` with rank ``src``'s values, one coalesced broadcast per dtype."""
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return
    by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
    for tensor in tensors:
        by_dtype.setdefault(tensor.dtype, []).append(tensor)
    for group in by_dtype.values():
        flat = torch.cat([t.detach().reshape(-1) for t in group])
        dist.broadcast(flat, src=src)
        for tensor, chunk in zip(group, flat.split([t.numel() for t in group])):
            tensor.data.copy_(chunk.view_as(tensor))


def broadcast_module(module: nn.Module, src: int = 0, buffers_only: bool = False) -> None:
    """Make every process hold rank ``src``'s parameters (unless ``buffers_only``) and floating buffers."""
    tensors = [] if buffers_only else [p.data for p in module.parameters()]
    tensors += [b for b in module.buffers() if b.is_floating_point() or not buffers_only]
    broadcast_tensors(tensors, src)


def all_reduce_gradients(params: list[nn.Parameter]) -> None:
    """Average gradients over processes with one flat all-reduce per dtype.

    A parameter without a gradient on some rank but not on another gets zeros there; a parameter without a
    gradient on every rank keeps ``grad = None`` (so AdamW skips it, exactly as in a single process).
    """
    if not (dist.is_initialized() and dist.get_world_size() > 1) or not params:
        return
    device = params[0].device
    present = torch.tensor([p.grad is not None for p in params], dtype=torch.int32, device=device)
    all_reduce_max(present)
    active = [p for p, has in zip(params, present.tolist()) if has]
    for param in active:
        if param.grad is None:
            param.grad = torch.zeros_like(param)
    by_dtype: dict[torch.dtype, list[nn.Parameter]] = {}
    for param in active:
        by_dtype.setdefault(param.grad.dtype, []).append(param)
    world = dist.get_world_size()
    for group in by_dtype.values():
        flat = torch.cat([p.grad.reshape(-1) for p in group])
        dist.all_reduce(flat)
        flat.div_(world)
        for param, chunk in zip(group, flat.split([p.numel() for p in group])):
            param.grad.copy_(chunk.view_as(param.grad))


def spawn_local(fn: Callable[..., None], nprocs: int, *args: Any) -> None:
    """Run ``fn(rank, *args)`` in ``nprocs`` CPU processes joined in one gloo group on this machine, as torchrun
    would set them up (one intra-op thread each); for tests and notebooks that check data-parallel behaviour."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mp.spawn(_local_process, args=(nprocs, port, fn, args), nprocs=nprocs)


def _local_process(rank: int, nprocs: int, port: int, fn: Callable[..., None], args: tuple[Any, ...]) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(nprocs), LOCAL_RANK=str(rank)
    )
    torch.set_num_threads(1)
    init_process_group(context_from_env(), torch.device("cpu"))
    try:
        fn(rank, *args)
    finally:
        destroy_process_group()
