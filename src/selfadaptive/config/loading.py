"""Reading and writing configs: YAML files and dotted overrides into the frozen dataclasses of
``schema``, rejecting unknown keys and wrong types; the resolved config saved with every run."""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import UserError, first_line
from .presets import preset_paths
from .schema import Config
from .validation import validate


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp, key: str) -> Any:
    """``value`` as type ``tp`` or a UserError naming ``key``.  Ints are accepted for floats."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        for i, option in enumerate(inner):      # the first type that takes the value (int before str)
            try:
                return _coerce(value, option, key)
            except UserError:
                if i == len(inner) - 1:
                    raise UserError(f"config key '{key}' expects {' or '.join(map(_type_name, inner))}, "
                                    f"got {value!r}") from None
    if origin is tuple:
        (item_tp, _ellipsis) = typing.get_args(tp)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise UserError(f"config key '{key}' expects a list of {_type_name(item_tp)}, got {value!r}")
        return tuple(_coerce(v, item_tp, key) for v in value)
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            # YAML 1.1 reads "1e-3" (no dot) as a string; users mean a number
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
    raise UserError(f"config key '{key}' expects {_type_name(tp)}, got {value!r}")


def _build(cls, values: dict, prefix: str = ""):
    """Instantiate dataclass ``cls`` from a nested dict, rejecting unknown keys and wrong types.

    Keys absent from ``values`` keep the dataclass default; ``load_config`` merges the full
    default tree in first, so that defaults set by a parent (``Config.loss``) survive.
    """
    if not isinstance(values, dict):
        raise UserError(f"config section '{prefix.rstrip('.') or '<root>'}' must be a mapping, got {values!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        key = prefix + unknown[0]
        raise UserError(f"unknown config key '{key}'; known keys here: {', '.join(prefix + k for k in known)}")
    kwargs = {}
    for name in values:
        tp = hints[name]
        if is_dataclass(tp):
            kwargs[name] = _build(tp, values[name], prefix + name + ".")
        else:
            kwargs[name] = _coerce(values[name], tp, prefix + name)
    return cls(**kwargs)


def to_dict(cfg) -> dict:
    """Plain nested dict (tuples as lists) for YAML/JSON."""
    def conv(v):
        if isinstance(v, tuple):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v
    return conv(dataclasses.asdict(cfg))


def _set_dotted(tree: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    node = tree
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise UserError(f"config key '{key}': '{p}' is not a section")
    node[parts[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """``'optim.lr=0.05'`` -> ``('optim.lr', 0.05)``; values are read as YAML scalars/lists."""
    if "=" not in text:
        raise UserError(f"override '{text}' must look like key=value, e.g. optim.lr=0.05")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise UserError(f"override '{text}' has no key")
    try:
        value = yaml.safe_load(raw) if raw.strip() != "" else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def read_yaml(path: str | Path, _chain: tuple[Path, ...] = ()) -> dict:
    """The config tree of YAML file ``path``, with what it inherits resolved.

    A file may name another as its ``base`` (a path relative to its own folder, ``.yaml`` optional,
    or a shipped preset's name); its keys then override the base's, mapping by mapping, so a
    preset that differs from another in one setting says only that setting.  Chains are followed;
    a cycle is an error.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as e:
        raise UserError(f"config file {path} is not UTF-8 text (byte {e.start}); save it as UTF-8") from None
    except yaml.YAMLError as e:
        raise UserError(f"config file {path} is not valid YAML: {first_line(e)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"config file {path} must hold a mapping at the top level")
    data.pop("description", None)   # presets carry a one-line description for `sat presets`
    if "base" not in data:
        return data
    base = data.pop("base")
    chain = _chain + (path.resolve(),)
    base_path = _base_path(path, base)
    if base_path.resolve() in chain:
        names = " -> ".join(p.name for p in chain + (base_path.resolve(),))
        raise UserError(f"config files inherit in a cycle: {names}")
    return _merge(read_yaml(base_path, chain), data)


def _base_path(path: Path, base) -> Path:
    if not isinstance(base, str) or not base.strip():
        raise UserError(f"config file {path}: base must name a config file or preset, got {base!r}")
    for candidate in (path.parent / base, path.parent / f"{base}.yaml"):
        if candidate.is_file():
            return candidate
    presets = preset_paths()
    if base in presets:
        return presets[base]
    raise UserError(f"config file {path}: its base {base!r} is neither a file beside it nor a preset "
                    f"(`sat presets` lists them)")


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Defaults <- YAML file (if any) <- dotted overrides, validated."""
    tree: dict = read_yaml(path) if path else {}
    for text in overrides:
        key, value = parse_override(text)
        _set_dotted(tree, key, value)
    cfg = resolve_defaults(_build(Config, _merge(to_dict(Config()), tree)))
    validate(cfg)
    return cfg


#: the data the built-in demo runs on; only there does ``noise.kind=auto`` inject noise
DEMO_DATA = "digits"


def resolve_defaults(cfg: Config) -> Config:
    """Turn the defaults that depend on other keys into values: ``noise.kind=auto`` is ``flip`` on
    the built-in digits demo and ``none`` on any other data, so a user's own labels are never
    corrupted unless they ask for it.  The saved config.yaml holds the resolved value."""
    if cfg.noise.kind == "auto":
        kind = "flip" if cfg.data.name == DEMO_DATA else "none"
        cfg = dataclasses.replace(cfg, noise=dataclasses.replace(cfg.noise, kind=kind))
    return cfg


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def save_config(cfg: Config, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
