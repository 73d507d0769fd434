"""Shipped config presets (``configs/*.yaml``), looked up by name or path."""
from __future__ import annotations

from pathlib import Path

import yaml

from ..errors import UserError

PRESET_DIR = Path(__file__).parents[1] / "configs"


def preset_paths() -> dict[str, Path]:
    return {p.stem: p for p in sorted(PRESET_DIR.glob("*.yaml"))}


def describe(path: Path) -> str:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError:
        return "(unreadable)"
    return str(data.get("description", "")).strip()


def resolve_config(name_or_path: str) -> Path:
    """A preset name (``digits-flip40-sat``) or a YAML path."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise UserError(f"config file not found: {p}")
        return p
    presets = preset_paths()
    if name_or_path in presets:
        return presets[name_or_path]
    raise UserError(f"no config file or preset named {name_or_path!r}; `sat presets` lists the presets")
