"""Configuration: ``clewdr.toml`` keys, environment overrides, atomic saves."""

from __future__ import annotations

from .errors import ConfigError as ConfigError
from .settings import FIELDS as FIELDS
from .settings import Settings as Settings
from .store import ConfigStore as ConfigStore
from .store import Loaded as Loaded

__all__ = ["FIELDS", "ConfigError", "ConfigStore", "Loaded", "Settings"]
