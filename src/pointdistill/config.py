"""Typed configuration: registered section dataclasses, YAML presets, dotted overrides.

A run's :class:`Config` is ``method`` and ``seed`` plus one *section* per registered dataclass. The config core
defines no section itself: the package that owns a section registers it (``data`` by the data layer, ``encoder`` by
the models, ``optim`` and ``train`` by the training engine, ``online_eval`` by the evaluation, and each method its
own section, keyed by the method's name, from the method's own module). So adding a method adds files and never edits
this module, and this module imports no other layer: it sits below all of them.

The built-in section providers and any installed plug-ins (entry-point group ``pointdistill.plugins``) are imported
the first time a Config is made: that is plug-in discovery by module name, not an import of an upper layer.

Defaults live in the section dataclasses (they are the papers' defaults); a YAML preset in ``pointdistill/configs``
overrides some of them (and may ``inherit`` another preset); ``key=value`` overrides on the command line come last.
Every key is checked against the schema: an unknown key or a wrong type raises ConfigError naming the key and
listing the valid ones.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import importlib
import types
import typing
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import yaml

from pointdistill.errors import ConfigError

BUILTIN_PROVIDERS = (
    "pointdistill.data.config",
    "pointdistill.models.config",
    "pointdistill.models.scene.config",
    "pointdistill.training.config",
    "pointdistill.evaluation.config",
    "pointdistill.methods",
)
"""Modules that register the built-in sections when imported (the methods package imports every method module)."""

PLUGIN_GROUP = "pointdistill.plugins"
"""Entry-point group of third-party modules that register sections or methods when imported."""

_RUN_KEYS = ("method", "seed")
_SECTIONS: dict[str, type] = {}
_METHOD_SECTIONS: set[str] = set()
_discovered = False


def register_section(name: str, schema: type, *, method: bool = False) -> type:
    """Make ``schema`` (a dataclass) the config section ``name``; ``method=True`` marks a method's own section.

    Registering the same class twice is a no-op (modules may be re-imported); another class under a taken name is
    refused, so two plug-ins cannot silently shadow each other.
    """
    if not dataclasses.is_dataclass(schema):
        raise TypeError(f"config section {name!r} must be a dataclass, got {schema!r}")
    if name in _RUN_KEYS or not name.isidentifier():
        raise ValueError(f"{name!r} cannot name a config section")
    if _SECTIONS.get(name, schema) is not schema:
        raise ValueError(f"config section {name!r} is already registered by {_SECTIONS[name].__module__}")
    _SECTIONS[name] = schema
    if method:
        _METHOD_SECTIONS.add(name)
    return schema


def discover_sections() -> None:
    """Import the built-in section providers and installed plug-ins, once per process."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    for module in BUILTIN_PROVIDERS:
        importlib.import_module(module)
    for entry in metadata.entry_points(group=PLUGIN_GROUP):
        entry.load()


def method_names() -> list[str]:
    """Names of the registered methods (each has a config section of that name)."""
    discover_sections()
    return sorted(_METHOD_SECTIONS)


class Config:
    """A whole run: ``method``, ``seed`` and one dataclass per registered section (``config.data``, ``config.train``,
    ``config.dcglr``, ...).

    Every non-method section is always present. A method's section is made (with its defaults) when first read or
    written, so a config names only the method it runs: :meth:`to_dict` holds ``method``'s section and no other.
    """

    def __init__(self, method: str = "dcglr", seed: int = 0, **sections: Any) -> None:
        discover_sections()
        self.method = method
        self.seed = seed
        self._sections: dict[str, Any] = {
            name: schema() for name, schema in _SECTIONS.items() if name not in _METHOD_SECTIONS
        }
        for name, value in sections.items():
            if not isinstance(value, _schema(name)):
                raise ConfigError(f"section {name}: expected {_schema(name).__name__}, got {type(value).__name__}")
            self._sections[name] = value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self.section(name)
        except ConfigError as error:
            raise AttributeError(str(error)) from None

    def section(self, name: str) -> Any:
        """The section ``name``; a registered method's section is created with its defaults on first use."""
        sections = self.__dict__["_sections"]
        if name not in sections:
            sections[name] = _schema(name)()
        return sections[name]

    @property
    def method_config(self) -> Any:
        """The section of the method this config runs (``config.section(config.method)``)."""
        return self.section(self.method)

    def replace(self, **sections: Any) -> Config:
        """A copy with the given sections (or ``method`` / ``seed``) replaced; the sections are not copied."""
        clone = copy.copy(self)
        clone._sections = dict(self._sections)
        for name, value in sections.items():
            if name in _RUN_KEYS:
                setattr(clone, name, value)
            else:
                clone._sections[name] = value
        return clone

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"method": self.method, "seed": self.seed}
        for name, value in self._sections.items():
            if name not in _METHOD_SECTIONS:
                data[name] = dataclasses.asdict(value)
        data[self.method] = dataclasses.asdict(self.method_config)
        return data

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Config) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Config({self.to_dict()!r})"


def _schema(name: str) -> type:
    if name not in _SECTIONS:
        raise ConfigError(f"no config section {name!r}; registered: {', '.join(_SECTIONS)}")
    return _SECTIONS[name]


_PRESET_PACKAGE = "pointdistill.configs"


def available_presets() -> list[str]:
    """Names of the YAML presets shipped in the package."""
    return sorted(p.name[:-5] for p in resources.files(_PRESET_PACKAGE).iterdir() if p.name.endswith(".yaml"))


def _read_yaml(path_or_name: str) -> tuple[dict[str, Any], str]:
    """Read a preset by name (shipped) or by path; return its mapping and a label for error messages.

    A file wins over a preset of the same name; a folder never does (``pretrain --out dcglr-vit-tiny`` makes a run
    folder named like the preset, and ``--config dcglr-vit-tiny`` next to it must still mean the preset)."""
    candidate = Path(path_or_name)
    if candidate.suffix in (".yaml", ".yml") or candidate.is_file():
        if not candidate.is_file():
            raise ConfigError(f"config file {candidate} does not exist")
        text, label = candidate.read_text(), str(candidate)
    else:
        resource = resources.files(_PRESET_PACKAGE) / f"{path_or_name}.yaml"
        if not resource.is_file():
            folder = " (a folder, not a YAML file)" if candidate.is_dir() else ""
            raise ConfigError(f"unknown config {path_or_name!r}{folder}; shipped presets: "
                              f"{', '.join(available_presets())}")
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
    """Write ``updates`` into dataclass ``obj`` (or a whole :class:`Config`) recursively, validating every key and
    value."""
    if isinstance(obj, Config):
        _apply_to_config(obj, updates, label)
        return
    types_ = _field_types(type(obj))
    for key, value in updates.items():
        dotted = f"{prefix}{key}"
        if key not in types_:
            raise ConfigError(_unknown_key(label, dotted, [f"{prefix}{k}" for k in types_]))
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{label}: {dotted} is a section; expected a mapping, got {value!r}")
            apply_updates(current, value, f"{dotted}.", label)
        else:
            setattr(obj, key, _coerce(value, types_[key], f"{label}: {dotted}"))


def _unknown_key(label: str, key: str, valid: list[str]) -> str:
    """The message for a key the schema lacks, with the closest valid key when it looks like a typo."""
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.75)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{label}: unknown config key {key!r}{hint}; valid keys here: {', '.join(valid)}"


def _apply_to_config(config: Config, updates: dict[str, Any], label: str) -> None:
    """Top level of a config: ``method`` and ``seed`` first (a later section may be the named method's), then
    sections by name."""
    run_types = {"method": str, "seed": int}
    for key in _RUN_KEYS:
        if key in updates:
            setattr(config, key, _coerce(updates[key], run_types[key], f"{label}: {key}"))
    for key, value in updates.items():
        if key in _RUN_KEYS:
            continue
        if key not in _SECTIONS:
            raise ConfigError(_unknown_key(label, key, [*_RUN_KEYS, *_SECTIONS]))
        if not isinstance(value, dict):
            raise ConfigError(f"{label}: {key} is a section; expected a mapping, got {value!r}")
        apply_updates(config.section(key), value, f"{key}.", label)


def check_method(config: Config) -> None:
    """Raise ConfigError unless ``config.method`` names a registered method."""
    if config.method not in _METHOD_SECTIONS:
        raise ConfigError(f"method: {config.method!r} is not one of {method_names()}")


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
    check_method(config)
    return config


def config_from_dict(data: dict[str, Any], label: str = "saved config") -> Config:
    """Rebuild a Config from ``Config.to_dict()`` output (checkpoints, run folders)."""
    config = Config()
    apply_updates(config, data, "", label)
    check_method(config)
    return config


def save_config(config: Config, path: Path) -> None:
    path.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
