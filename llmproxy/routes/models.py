"""The static model list, in a shape both the anthropic and openai SDKs accept."""

from __future__ import annotations

from typing import Any

__all__ = ["MODELS", "model_list"]

MODELS = (
    ("claude-opus-4-6", "Claude Opus 4.6"),
    ("claude-opus-4-5-20251101", "Claude Opus 4.5"),
    ("claude-sonnet-4-6", "Claude Sonnet 4.6"),
    ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5"),
    ("claude-haiku-4-5-20251001", "Claude Haiku 4.5"),
    ("claude-opus-5", "Claude Opus 5"),
    ("claude-sonnet-5", "Claude Sonnet 5"),
)


def model_list(configured: tuple[Any, ...] = ()) -> dict[str, Any]:
    """Each model and its ``-thinking`` variant, with Anthropic and OpenAI fields side by side.

    ``configured`` (the ``models`` setting) replaces the built-in list when not empty.
    """
    data = []
    models = [(str(m), str(m)) for m in configured] if configured else MODELS
    for model_id, name in models:
        for suffix, label in (("", ""), ("-thinking", " (thinking)")):
            data.append(
                {
                    "type": "model",
                    "id": model_id + suffix,
                    "display_name": name + label,
                    "created_at": "1970-01-01T00:00:00Z",
                    "object": "model",
                    "created": 0,
                    "owned_by": "anthropic",
                }
            )
    return {
        "data": data,
        "has_more": False,
        "first_id": data[0]["id"],
        "last_id": data[-1]["id"],
        "object": "list",
    }
