"""Typed configuration: dataclass schemas, YAML presets, dotted overrides.

Defaults live in the section dataclasses (they are the papers' defaults); a YAML preset in ``pointdistill/configs``
overrides some of them (and may ``inherit`` another preset); ``key=value`` overrides on the command line come last.
Every key is checked against the schema: an unknown key or a wrong type raises ConfigError naming the key and
listing the valid ones.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from pointdistill.data.config import DataConfig
from pointdistill.errors import ConfigError
from pointdistill.evaluation.config import OnlineEvalConfig
from pointdistill.methods import METHOD_CLASSES
from pointdistill.methods.config import DCGLRConfig
from pointdistill.models.config import EncoderConfig
from pointdistill.training.config import OptimConfig, TrainConfig


@dataclass
class Config:
    """A whole run: which method, on what data, with which encoder, optimiser and engine settings."""

    method: str = "dcglr"
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    dcglr: DCGLRConfig = field(default_factory=DCGLRConfig)
    online_eval: OnlineEvalConfig = field(default_factory=OnlineEvalConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_PRESET_PACKAGE = "pointdistill.configs"


def available_presets() -> list[str]:
    """Names of the YAML presets shipped in the package."""
    return sorted(p.name[:-5] for p in resources.files(_PRESET_PACKAGE).iterdir() if p.name.endswith(".yaml"))


def _read_yaml(path_or_name: str) -> tuple[dict[str, Any], str]:
    """Read a preset by name (shipped) or by path; return its mapping and a label for error messages."""
    candidate = Path(path_or_name)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        if not candidate.is_file():
            raise ConfigError(f"config file {candidate} does not exist")
        text, label = candidate.read_text(), str(candidate)
    else:
        resource = resources.files(_PRESET_PACKAGE) / f"{path_or_name}.yaml"
        if not resource.is_file():
            raise ConfigError(f"unknown config {path_or_name!r}; shipped presets: {', '.join(available_presets())}")
        text, label = resource.read_text(), f"preset {path_or_name}"
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{label}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{label}: top level must be a mapping, got {type(data).__name__}")
    return data, label


def _load_layers(name: str, seen: tuple[str, ...] = ()) -> list[tuple[dict[str, Any], str]]:
    """Resolve ``inherit`` chains: returns layers from the most basic to ``name`` itself."""
    if name in seen:
        raise ConfigError(f"config inheritance cycle: {' -> '.join(seen + (name,))}")
    data, label = _read_yaml(name)
    parent = data.pop("inherit", None)
    layers = _load_layers(str(parent), seen + (name,)) if parent else []
    return layers + [(data, label)]


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Check (and gently convert) ``value`` against a field annotation; raise ConfigError naming ``key``."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{key}: invalid value {value!r}")
    if origin is typing.Literal:
        choices = typing.get_args(annotation)
        if value not in choices:
            raise ConfigError(f"{key}: {value!r} is not one of {list(choices)}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        args = typing.get_args(annotation)
        inner = args[0] if args else Any
        items = [_coerce(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if annotation is Any:
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)  # YAML 1.1 reads "1e-3" as a string
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if annotation is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    raise ConfigError(f"{key}: unsupported field type {annotation!r}")


def apply_updates(obj: Any, updates: dict[str, Any], prefix: str, label: str) -> None:
    """Write ``updates`` into dataclass ``obj`` recursively, validating every key and value."""
    types_ = _field_types(type(obj))
    for key, value in updates.items():
        dotted = f"{prefix}{key}"
        if key not in types_:
            valid = ", ".join(f"{prefix}{k}" for k in types_)
            raise ConfigError(f"{label}: unknown config key {dotted!r}; valid keys here: {valid}")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{label}: {dotted} is a section; expected a mapping, got {value!r}")
            apply_updates(current, value, f"{dotted}.", label)
        else:
            setattr(obj, key, _coerce(value, types_[key], f"{label}: {dotted}"))


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse ``a.b.c=value`` (value in YAML syntax) into (["a","b","c"], value)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.path=value")
    key, raw = text.split("=", 1)
    if not key:
        raise ConfigError(f"override {text!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def nest(path: list[str], value: Any) -> dict[str, Any]:
    """Turn ["a","b"], v into {"a": {"b": v}}."""
    out: Any = value
    for part in reversed(path):
        out = {part: out}
    return out


def load_config(name: str | None = None, overrides: list[str] | None = None, **updates: Any) -> Config:
    """Build a Config from a preset (name or YAML path), dotted ``key=value`` overrides and keyword sections."""
    config = Config()
    if name:
        for data, label in _load_layers(name):
            apply_updates(config, data, "", label)
    for text in overrides or []:
        path, value = parse_override(text)
        apply_updates(config, nest(path, value), "", "override")
    if updates:
        apply_updates(config, updates, "", "argument")
    if config.method not in METHOD_CLASSES:
        raise ConfigError(f"method: {config.method!r} is not one of {list(METHOD_CLASSES)}")
    return config


def config_from_dict(data: dict[str, Any], label: str = "saved config") -> Config:
    """Rebuild a Config from ``Config.to_dict()`` output (checkpoints, run folders)."""
    config = Config()
    apply_updates(config, data, "", label)
    return config


def save_config(config: Config, path: Path) -> None:
    path.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
