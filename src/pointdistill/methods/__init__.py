"""Self-distillation methods, built by name (``config.method``) from a whole run's Config.

Method classes are imported on demand: :mod:`pointdistill.config` imports this package for the method config
sections, so importing the models and losses here would make reading a config pull in every network (and risk an
import cycle through the config module).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from pointdistill.errors import ConfigError

if TYPE_CHECKING:
    from pointdistill.config import Config
    from pointdistill.methods.base import Method
    from pointdistill.models.base import PointEncoder

METHOD_CLASSES: dict[str, str] = {"dcglr": "pointdistill.methods.dcglr:DCGLR"}
"""Method name -> ``module:class``; every class takes ``(config, encoder=None)``."""


def build_method(config: Config, encoder: PointEncoder | None = None) -> Method:
    """The method named by ``config.method``; ``encoder`` overrides ``build_encoder(config.encoder)``."""
    if config.method not in METHOD_CLASSES:
        raise ConfigError(f"method: unknown method {config.method!r}; choose from {', '.join(METHOD_CLASSES)}")
    module, name = METHOD_CLASSES[config.method].split(":")
    return getattr(import_module(module), name)(config, encoder)


__all__ = ["METHOD_CLASSES", "build_method"]
