"""Methods by name: each method's module registers its class and its config section with one decorator."""

from __future__ import annotations

from typing import Callable, TypeVar

from pointdistill.config import Config, method_names, register_section
from pointdistill.errors import ConfigError
from pointdistill.methods.base import Method
from pointdistill.models.base import PointEncoder

M = TypeVar("M", bound=type[Method])

METHODS: dict[str, type[Method]] = {}
"""Method name -> class; every class takes ``(config, encoder=None)``."""


def register_method(name: str, section: type) -> Callable[[M], M]:
    """Class decorator: the method ``name``, configured by the dataclass ``section`` (the config key ``name``)."""

    def decorate(cls: M) -> M:
        if METHODS.get(name, cls) is not cls:
            raise ValueError(f"method {name!r} is already registered by {METHODS[name].__module__}")
        register_section(name, section, method=True)
        cls.name = name
        METHODS[name] = cls
        return cls

    return decorate


def build_method(config: Config, encoder: PointEncoder | None = None) -> Method:
    """The method named by ``config.method``; ``encoder`` overrides ``build_encoder(config.encoder)``."""
    if config.method not in METHODS:
        raise ConfigError(f"method: unknown method {config.method!r}; choose from {', '.join(method_names())}")
    return METHODS[config.method](config, encoder)
