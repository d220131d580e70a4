"""The OpenAI-compatible Gemini routes: request rewrites and response guarantees.

``/gemini/chat/completions`` forwards to AI Studio's own OpenAI endpoint and
``/gemini/vertex/chat/completions`` to Vertex's (clewdr-behaviour.md §7.3). Both
already speak Chat Completions, so the body goes through as the client sent it,
except on Vertex, where ClewdR's rewrites apply:

- ``model`` becomes ``google/<model>`` (Vertex names publisher models that way);
- ``frequency_penalty`` is dropped (ClewdR did; Vertex refused it);
- with ``gemini_safety_off``, ``extra_body.google.safety_settings`` turns every
  core category off (the client's other ``extra_body`` fields are kept).

The answers are held to what the Claude OpenAI routes promise: every chunk has
``id``, ``object``, ``created`` and ``model`` (added only where Google left one
out, so a chunk that has them goes through byte for byte), a stream ends with
``data: [DONE]``, and errors are OpenAI's ``{"error": {message, type, param,
code}}``, not Google's array. This module imports no I/O library.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .failures import google_error
from .native import CORE_CATEGORIES, model_entry

__all__ = [
    "OPENAI_ERROR_TYPES",
    "chat_models",
    "fill_chunk",
    "is_empty_chat",
    "openai_error_type",
    "static_chat_models",
    "vertex_chat_body",
]

OPENAI_ERROR_TYPES = {
    "INVALID_ARGUMENT": "invalid_request_error",
    "FAILED_PRECONDITION": "invalid_request_error",
    "OUT_OF_RANGE": "invalid_request_error",
    "UNAUTHENTICATED": "authentication_error",
    "PERMISSION_DENIED": "permission_error",
    "NOT_FOUND": "not_found_error",
    "RESOURCE_EXHAUSTED": "rate_limit_error",
    "UNAVAILABLE": "server_error",
    "INTERNAL": "server_error",
    "DEADLINE_EXCEEDED": "timeout_error",
}
"""google.rpc.Code name → OpenAI ``error.type``; the status code stays Google's."""


def openai_error_type(status_name: str | None, status: int) -> str:
    if status_name in OPENAI_ERROR_TYPES:
        return OPENAI_ERROR_TYPES[status_name]
    return "invalid_request_error" if status < 500 else "server_error"


def vertex_chat_body(body: Mapping[str, Any], *, safety_off: bool) -> dict[str, Any]:
    """The Vertex rewrites of a chat request (see the module docstring)."""
    out = {k: v for k, v in body.items() if k != "frequency_penalty"}
    model = out.get("model")
    if isinstance(model, str):
        out["model"] = "google/" + model.removeprefix("google/")
    if safety_off:
        extra = out.get("extra_body")
        extra = dict(extra) if isinstance(extra, Mapping) else {}
        google = extra.get("google")
        google = dict(google) if isinstance(google, Mapping) else {}
        google["safety_settings"] = [
            {"category": c, "threshold": "OFF"} for c in CORE_CATEGORIES
        ]
        extra["google"] = google
        out["extra_body"] = extra
    return out


def is_empty_chat(raw: bytes) -> bool:
    """Whether a chat completion is empty: no choices, or ``finish_reason`` OTHER (ClewdR)."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return False
    if not isinstance(body, Mapping) or google_error(body) is not None or "error" in body:
        return False
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        return True
    first = choices[0]
    reason = first.get("finish_reason") if isinstance(first, Mapping) else None
    return isinstance(reason, str) and reason.upper() == "OTHER"


def fill_chunk(
    obj: dict[str, Any], *, object_name: str, completion_id: str, created: int, model: str
) -> bool:
    """Add ``id``/``object``/``created``/``model`` where missing; True if anything changed."""
    changed = False
    for name, value in (
        ("id", completion_id),
        ("object", object_name),
        ("created", created),
        ("model", model),
    ):
        if obj.get(name) in (None, ""):
            obj[name] = value
            changed = True
    return changed


def chat_models(native: Any) -> dict[str, Any]:
    """An AI Studio ``{"models": [...]}`` list as an OpenAI ``{"object": "list", "data"}``.

    Only models that can generate content are listed; ids lose their ``models/``.
    """
    data = []
    models = native.get("models") if isinstance(native, Mapping) else None
    for model in models if isinstance(models, list) else []:
        if not isinstance(model, Mapping) or not isinstance(model.get("name"), str):
            continue
        methods = model.get("supportedGenerationMethods")
        if isinstance(methods, list) and "generateContent" not in methods:
            continue
        data.append(
            {
                "id": model["name"].removeprefix("models/"),
                "object": "model",
                "created": 0,
                "owned_by": "google",
            }
        )
    return {"object": "list", "data": data}


def static_chat_models(models: list[str]) -> dict[str, Any]:
    """The OpenAI list of a fixed set of model ids."""
    return chat_models({"models": [model_entry(m) for m in models]})
