"""The Gemini-native request: which call it is, what we change in it, where it goes.

The client speaks the Gemini API (``/v1beta/models/{model}:generateContent``…)
to ``/v1/v1beta/…`` (AI Studio) or ``/v1/vertex/v1beta/…`` (Vertex AI), as with
ClewdR (clewdr-behaviour.md §7.1–§7.2). The body is forwarded as the client sent
it, with one exception: ``safetySettings`` are turned off unless the config says
otherwise. Gemini rejects unknown fields with a 400, so nothing else is added,
removed or renamed; and a body that is not JSON goes upstream as it is, for
Google to explain what is wrong with it.

Safety, precisely (``gemini_safety_off = true``, the default):

- every category the client listed gets threshold ``OFF``, unless it already
  asked for ``BLOCK_NONE`` or ``OFF`` (kept: some models refuse ``OFF`` for a
  category, and the client knows its model);
- the four core categories (harassment, hate speech, sexually explicit,
  dangerous content) are added with ``OFF`` when missing.

ClewdR also added ``HARM_CATEGORY_CIVIC_INTEGRITY``; some models reject that
category outright (400 on every request), so it is only turned off when the
client names it.

Vertex has no AI-Studio-style model list; ``GET …/models`` on the Vertex route
answers :data:`FALLBACK_MODELS` in the AI Studio shape (as do the model lists
when no AI Studio key can serve). This module imports no I/O library.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from ..errors import BadRequest

__all__ = [
    "CORE_CATEGORIES",
    "FALLBACK_MODELS",
    "GENERATE_METHODS",
    "NativeCall",
    "VERTEX_API_VERSION",
    "forward_query",
    "is_empty_generate",
    "model_entry",
    "model_list",
    "parse_native_path",
    "safety_off",
    "safety_settings_off",
    "vertex_base_for",
    "vertex_model_url",
    "vertex_openai_url",
    "with_safety_off",
]

CORE_CATEGORIES = (
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
)
_KEEP_THRESHOLDS = frozenset({"BLOCK_NONE", "OFF"})
GENERATE_METHODS = frozenset({"generateContent", "streamGenerateContent"})
VERTEX_API_VERSION = "v1beta1"
"""The Vertex API version requests go to: the one google-genai uses, a superset of v1."""
FALLBACK_MODELS = (
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-2.0-flash",
    "gemini-2.0-flash-lite",
)
"""What the model lists show without an upstream to ask (any published model id can be called)."""

# The part of the path after ".../v1beta/": letters, digits and . _ - : / @ only,
# so nothing can step out of the API (no "..", no query, no encoded tricks).
_SAFE_PATH = re.compile(r"[A-Za-z0-9._\-:/@]*")
_MODEL_CALL = re.compile(r"(?:^|/)models/([A-Za-z0-9._\-@]+)(?::([A-Za-z]+))?$")


@dataclass(frozen=True, slots=True)
class NativeCall:
    """One Gemini-native call, read from the path.

    Attributes:
        resource: The path after ``v1beta/``, e.g. ``models/gemini-2.5-pro:generateContent``.
        model: The model id, if the path names one.
        method: The custom method after ``:`` (``generateContent``…), if any.
    """

    resource: str
    model: str | None
    method: str | None

    @property
    def stream(self) -> bool:
        return self.method == "streamGenerateContent"

    @property
    def generates(self) -> bool:
        return self.method in GENERATE_METHODS

    @property
    def lists_models(self) -> bool:
        return self.resource.rstrip("/") == "models"


def parse_native_path(resource: str) -> NativeCall:
    """Read a path below ``v1beta/``.

    Accepts AI Studio's ``models/{m}:{method}`` and, on the Vertex route, the
    SDK's ``publishers/google/models/{m}:{method}`` and
    ``projects/{p}/locations/{l}/publishers/google/models/{m}:{method}`` (the
    project and location of the credential are used, not the client's).

    Raises:
        BadRequest: the path has characters or segments a Gemini path never has.
    """
    if not _SAFE_PATH.fullmatch(resource) or any(
        part in ("", ".", "..") for part in resource.rstrip("/").split("/")
    ):
        raise BadRequest(f"Not a Gemini API path: {resource!r}")
    found = _MODEL_CALL.search(resource)
    if found is None:
        return NativeCall(resource, None, None)
    return NativeCall(resource, found.group(1), found.group(2))


def forward_query(query: Mapping[str, str]) -> str:
    """The client's query string for upstream, without its ``key`` (our password)."""
    kept = [(k, v) for k, v in query.items() if k != "key"]
    return urlencode(kept)


def safety_settings_off(given: Any) -> list[Any]:
    """The ``safetySettings`` list with every category off (see the module docstring)."""
    out: list[Any] = []
    seen: set[str] = set()
    for entry in given if isinstance(given, list) else []:
        if isinstance(entry, Mapping) and isinstance(entry.get("category"), str):
            seen.add(entry["category"])
            if entry.get("threshold") not in _KEEP_THRESHOLDS:
                entry = {**entry, "threshold": "OFF"}
        out.append(entry)
    out += [{"category": c, "threshold": "OFF"} for c in CORE_CATEGORIES if c not in seen]
    return out


def with_safety_off(body: dict[str, Any]) -> dict[str, Any]:
    """A copy of a generate request with its safety settings off.

    The field keeps the spelling the client used (``safety_settings`` is the
    proto name Google also accepts); a value that is not a list is left for
    Google to reject.
    """
    snake = "safety_settings" in body and "safetySettings" not in body
    name = "safety_settings" if snake else "safetySettings"
    given = body.get(name)
    if given is not None and not isinstance(given, list):
        return body
    return {**body, name: safety_settings_off(given)}


def safety_off(raw: bytes) -> bytes:
    """The raw body of a generate request with safety off, or unchanged if not a JSON object."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return raw
    if not isinstance(body, dict):
        return raw
    changed = with_safety_off(body)
    if changed is body:
        return raw
    return json.dumps(changed, ensure_ascii=False, separators=(",", ":")).encode()


def is_empty_generate(raw: bytes) -> bool:
    """Whether a ``generateContent`` answer is empty: no candidates, or ``finishReason: OTHER``.

    The rule ClewdR applied for its "retry empty replies" option (issue #30).
    A body that is not a JSON object is not judged (it is not an answer at all).
    """
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return False
    if not isinstance(body, Mapping):
        return False
    candidates = body.get("candidates")
    if not isinstance(candidates, list) or not candidates:
        return True
    first = candidates[0]
    return isinstance(first, Mapping) and first.get("finishReason") == "OTHER"


def vertex_base_for(endpoint: str | None, default: str, location: str) -> str:
    """The Vertex host for ``location``: the configured endpoint, else Google's.

    ``global`` lives on ``aiplatform.googleapis.com``; a region such as
    ``us-central1`` on ``us-central1-aiplatform.googleapis.com``.
    """
    if endpoint:
        return endpoint.rstrip("/")
    if location == "global":
        return default.rstrip("/")
    return f"https://{location}-aiplatform.googleapis.com"


def vertex_model_url(base: str, project: str, location: str, model: str, method: str) -> str:
    """``…/projects/{p}/locations/{l}/publishers/google/models/{m}:{method}``."""
    return (
        f"{base}/{VERTEX_API_VERSION}/projects/{quote(project, safe='')}"
        f"/locations/{quote(location, safe='')}/publishers/google/models/{model}:{method}"
    )


def vertex_openai_url(base: str, project: str, location: str) -> str:
    """Vertex's OpenAI-compatible chat endpoint for a project (clewdr-behaviour.md §7.3)."""
    return (
        f"{base}/{VERTEX_API_VERSION}/projects/{quote(project, safe='')}"
        f"/locations/{quote(location, safe='')}/endpoints/openapi/chat/completions"
    )


def model_entry(model: str) -> dict[str, Any]:
    """One model in the AI Studio list shape (protocols.md §3.6)."""
    return {
        "name": f"models/{model}",
        "displayName": model,
        "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"],
    }


def model_list(models: Iterable[str]) -> dict[str, Any]:
    """``{"models": [...]}`` for a fixed list of model ids."""
    return {"models": [model_entry(m) for m in models]}
