"""``sat config``: a resolved config, one key per line, with each key's default and help text.

The help text is the comment beside each field in ``schema.py`` (and the comment lines under
it), so the schema stays the one place where a key is documented.
"""
from __future__ import annotations

import dataclasses
import inspect
import re

from .loading import to_dict
from .schema import Config

_FIELD = re.compile(r"^\s{4}(\w+)\s*:[^#]*?(?:#\s?(.*))?$")
_MORE = re.compile(r"^\s{8,}#\s?(.*)$")


def field_help(cls) -> dict[str, str]:
    """{field name: its comment in the class source}, continuation comment lines joined."""
    out, last = {}, None
    for line in inspect.getsource(cls).splitlines()[1:]:
        more = _MORE.match(line)
        if more and last is not None:
            out[last] = f"{out[last]} {more.group(1).strip()}".strip()
            continue
        match = _FIELD.match(line)
        if match and not line.strip().startswith(("def ", "@", "#")):
            last = match.group(1)
            out[last] = (match.group(2) or "").strip()
        elif line.strip():
            last = None
    return out


def _fmt(value) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(str, value)) + "]"
    return "''" if value == "" else str(value)


def describe_config(cfg: Config) -> str:
    """Every key of ``cfg`` as ``key: value  # help (default: X)``, section by section."""
    values, defaults = to_dict(cfg), to_dict(Config())
    lines = []
    top_help = field_help(Config)
    for f in dataclasses.fields(Config):
        value = values[f.name]
        if isinstance(value, dict):
            helps = field_help(type(getattr(cfg, f.name)))
            lines.append(f"{f.name}:")
            for key, v in value.items():
                default = defaults[f.name][key]
                note = helps.get(key, "")
                changed = "" if v == default else f" (default: {_fmt(default)})"
                lines.append(f"  {key}: {_fmt(v)}" + (f"  # {note}{changed}" if note or changed else ""))
        else:
            default = defaults[f.name]
            changed = "" if value == default else f" (default: {_fmt(default)})"
            note = top_help.get(f.name, "")
            lines.append(f"{f.name}: {_fmt(value)}" + (f"  # {note}{changed}" if note or changed else ""))
    return "\n".join(lines)
