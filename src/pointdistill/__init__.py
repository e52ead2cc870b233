"""pointdistill: self-supervised 3D point cloud representation learning by self-distillation.

The public API is imported lazily (PEP 562), so ``import pointdistill`` and ``pointdistill --help`` stay fast and do
not load torch until an encoder is asked for::

    from pointdistill import load_encoder
    encoder = load_encoder("runs/dcglr")   # the run folder of `pointdistill pretrain`, or a .pt file
    features = encoder.embed(points)   # [N, 3] -> [F], [B, N, 3] -> [B, F]
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "load_encoder": "pointdistill.api",
    "load_scene_encoder": "pointdistill.api",
    "load_method": "pointdistill.api",
    "Encoder": "pointdistill.api",
    "open_dataset": "pointdistill.data.registry",
    "load_config": "pointdistill.config",
    "OnlineProbe": "pointdistill.evaluation.online",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'pointdistill' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
