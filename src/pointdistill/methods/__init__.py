"""Self-distillation methods, built by name (``config.method``) from a whole run's Config.

Every module of this package is imported here, so a method registers itself (class and config section) by
existing: adding a method means adding its file, and no other module changes.
"""

from __future__ import annotations

import importlib
import pkgutil

from pointdistill.methods.registry import METHODS, build_method, register_method

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["METHODS", "build_method", "register_method"]
