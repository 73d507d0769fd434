"""Typed run configuration: frozen dataclasses (``schema``), loaded from YAML with dotted CLI
overrides (``loading``), checked (``validation``); shipped presets by name (``presets``).

Unknown keys and values of the wrong type are errors (``UserError``).  The dataclass defaults are
safe for your own data: each model's own width, SAT's start epoch chosen during training
(``loss.start_epoch=auto``), and no injected noise except on the built-in digits demo
(``noise.kind=auto``).  ``sat train`` with neither ``--config`` nor a ``data.name`` runs the preset
``DEFAULT_PRESET`` (digits, 40% flip noise); with your ``data.name`` it starts from these defaults.
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
