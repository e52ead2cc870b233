"""pointdistill: self-supervised 3D point cloud representation learning by self-distillation."""

from __future__ import annotations

__version__ = "0.1.0"
