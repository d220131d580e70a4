"""Gemini AI Studio keys and Vertex AI service accounts held by the proxy (stub)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..config import Settings
from ..credentials import PoolEvent

__all__ = ["GeminiCredentials"]


class GeminiCredentials:
    """Owns ``gemini_keys`` and ``vertex`` of the config file."""

    def __init__(self, keys: tuple[Any, ...], vertex: Mapping[str, Any]) -> None:
        self._keys = keys
        self._vertex = dict(vertex)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        clock: Callable[[], float],
        on_event: Callable[[PoolEvent], None],
    ) -> GeminiCredentials:
        return cls(settings.gemini_keys, settings.vertex)

    def dump(self) -> dict[str, Any]:
        """``{"gemini_keys": [...], "vertex": {...}}`` for the config writer."""
        return {"gemini_keys": list(self._keys), "vertex": dict(self._vertex)}

    def sweep(self) -> None:
        """Return keys whose cool-down ended."""

    def next_reset(self) -> float | None:
        """Epoch seconds when the next cooling key comes back, if any."""
        return None
