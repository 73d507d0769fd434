"""Typed run configuration: frozen dataclasses (``schema``), loaded from YAML with dotted CLI
overrides (``loading``), checked (``validation``); shipped presets by name (``presets``).

Unknown keys and values of the wrong type are errors (``UserError``).  The dataclass defaults are
neutral library defaults (model widths and SAT's E_s = 60 as in the paper); ``sat train`` with no
``--config`` runs the preset ``DEFAULT_PRESET`` (digits, 40% flip noise).
"""
from .loading import load_config, parse_override, read_yaml, save_config, to_dict
from .schema import (
                     DEFAULT_PRESET,
                     AdversarialConfig,
                     Config,
                     DataConfig,
                     LogConfig,
                     LossConfig,
                     ModelConfig,
                     NoiseConfig,
                     OptimConfig,
                     SSLConfig,
)
from .validation import CHOICES, validate

__all__ = ["Config", "DataConfig", "NoiseConfig", "LossConfig", "ModelConfig", "OptimConfig", "AdversarialConfig",
           "SSLConfig", "LogConfig", "DEFAULT_PRESET", "load_config", "parse_override", "read_yaml", "save_config",
           "to_dict", "validate", "CHOICES"]
