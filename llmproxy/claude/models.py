"""Which Claude model a request names, and the nearest request shape that model accepts.

Anthropic keeps *removing* request parameters as new generations ship, and a request
carrying a parameter the target model no longer knows is rejected with a 400 rather
than ignored. Frontends such as SillyTavern send whatever their preset holds, so,
like ClewdR (v0.13.x ``types/model.rs``; clewdr-behaviour.md §9.1), we rewrite a
request to the nearest shape its model accepts instead of forwarding one that is
certain to fail.

Recognition (case-insensitive; a trailing ``-thinking`` is ignored):

* line: the first of ``fable``/``mythos`` (the always-thinking research line),
  ``opus``, ``sonnet``, ``haiku`` found in the name, else ``OTHER`` when the name
  starts with ``claude``;
* generation ``(major, minor)``: the first one or two dash-separated numeric
  segments of at most two digits, so date stamps are skipped and both
  ``claude-opus-4-6`` and ``claude-3-7-sonnet-20250219`` parse; minor defaults to 0.

A name with no line or no generation is *unrecognised* and its request is not
rewritten. What each recognised model accepts (the §9.1 table)::

    generation          thinking modes           temperature/top_p/top_k    effort rungs
    Fable/Mythos        always on                none                       low..max incl. xhigh
    >= 4.7 (and 5.x)    adaptive only            none                       low..max incl. xhigh
    4.6                 adaptive or enabled      only while thinking is off low, medium, high, max
    Opus 4.5            enabled only             only when not enabled      low, medium, high
    other <= 4.5        enabled only             only when not enabled      none

:func:`sanitize` applies, in this order: the ``-thinking`` suffix (stripped; a
thinking config inserted only when the request had none), thinking coercion, the
budget clamp, the effort clamp, the sampling rules. Every other field, and every
field of an unrecognised model's request, reaches the upstream exactly as the
client sent it (style.md C.9 practice 12: a proxy must not lose data).

Deliberate differences from ClewdR, all in the direction of losing less:

* ClewdR parses ``thinking`` into a closed Rust enum, so an unknown thinking shape
  is dropped and extra keys on a thinking object are lost. Here an unknown shape is
  forwarded untouched (the upstream is the authority on new modes), the budget
  clamp changes only ``budget_tokens``, and a coercion keeps the client's
  ``display`` (PR #151 in ClewdR preserves it too).
* ``output_config`` keys other than ``effort`` survive; it is dropped only when
  nothing non-null is left in it. An effort string that is not a known rung is
  left alone.
* Sampling keys are removed even when their value is ``null``; ClewdR's serde
  model drops nulls anyway.

Sans-IO: pure functions over dicts; nothing here performs I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeGuard

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_THINKING_BUDGET",
    "EFFORT_RUNGS",
    "MIN_THINKING_BUDGET",
    "THINKING_SUFFIX",
    "Line",
    "ModelTraits",
    "ThinkingSupport",
    "generation_of",
    "line_of",
    "sanitize",
    "split_thinking_suffix",
    "thinking_for_suffix",
    "traits_of",
]

THINKING_SUFFIX: Final = "-thinking"
"""Model-name suffix that asks for thinking, for clients that can only pick a model string."""

DEFAULT_THINKING_BUDGET: Final = 4096
"""The budget used when a request has to be expressed as ``enabled`` thinking."""

MIN_THINKING_BUDGET: Final = 1024
"""The smallest ``budget_tokens`` the API accepts; anything lower is a 400."""

DEFAULT_MAX_TOKENS: Final = 8192
"""ClewdR's ``max_tokens`` when the client sent none (clewdr-behaviour.md §4.2)."""

EFFORT_RUNGS: Final = ("low", "medium", "high", "xhigh", "max")
"""``output_config.effort`` values, cheapest first. ``xhigh`` sits between high and max."""

_RUNG: Final = {rung: index for index, rung in enumerate(EFFORT_RUNGS)}
_SAMPLING_KEYS: Final = ("temperature", "top_p", "top_k")
_THINKING_MODES: Final = frozenset({"enabled", "disabled", "adaptive"})
# ASCII-only lowering, as ClewdR's to_ascii_lowercase: no Unicode case folding surprises.
_ASCII_LOWER: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


class Line(enum.Enum):
    """The product line of a model."""

    FABLE = "fable"  # Fable and Mythos share one request surface
    OPUS = "opus"
    SONNET = "sonnet"
    HAIKU = "haiku"
    OTHER = "other"  # starts with "claude" but names none of the above


class ThinkingSupport(enum.Enum):
    """Which ``thinking.type`` values a model accepts."""

    ALWAYS_ON = "always_on"  # Fable/Mythos: both enabled and disabled are rejected
    ADAPTIVE_ONLY = "adaptive_only"  # 4.7 and later: enabled is rejected
    ADAPTIVE_OR_ENABLED = "adaptive_or_enabled"  # 4.6: both, enabled deprecated
    ENABLED_ONLY = "enabled_only"  # 4.5 and older: adaptive is rejected


@dataclass(frozen=True, slots=True)
class ModelTraits:
    """What one model accepts in a ``/v1/messages`` request.

    Attributes:
        line: The product line.
        generation: ``(major, minor)``; ``claude-opus-4-6`` is ``(4, 6)``.
        thinking: Which thinking modes exist.
        sampling: Whether temperature/top_p/top_k exist on this model at all.
        efforts: The effort rungs accepted, cheapest first; empty when
            ``output_config.effort`` is not supported.
    """

    line: Line
    generation: tuple[int, int]
    thinking: ThinkingSupport
    sampling: bool
    efforts: tuple[str, ...]


_EFFORT_BASIC: Final = ("low", "medium", "high")
_EFFORT_MAX: Final = ("low", "medium", "high", "max")
_EFFORT_FULL: Final = EFFORT_RUNGS

# Ordered so the always-thinking research line wins over the other substrings.
_LINE_NEEDLES: Final = (
    ("fable", Line.FABLE),
    ("mythos", Line.FABLE),
    ("opus", Line.OPUS),
    ("sonnet", Line.SONNET),
    ("haiku", Line.HAIKU),
)


def split_thinking_suffix(model: str) -> tuple[str, bool]:
    """Strip a trailing ``-thinking`` (exact, lower case), reporting whether it was there."""
    if model.endswith(THINKING_SUFFIX):
        return model[: -len(THINKING_SUFFIX)], True
    return model, False


def line_of(model: str) -> Line | None:
    """The product line named in ``model``, or ``None`` for a non-Claude name."""
    name = split_thinking_suffix(model)[0].translate(_ASCII_LOWER)
    for needle, line in _LINE_NEEDLES:
        if needle in name:
            return line
    return Line.OTHER if name.startswith("claude") else None


def generation_of(model: str) -> tuple[int, int] | None:
    """``(major, minor)`` of ``model``: the first one or two short numeric segments.

    Segments longer than two digits (date stamps such as ``20250929``) are skipped,
    which handles ``claude-opus-5``, ``claude-sonnet-4-5-20250929`` and the
    family-last ``claude-3-7-sonnet-20250219`` alike. ``None`` when there is none.
    """
    name = split_thinking_suffix(model)[0]
    numbers = [
        int(part)
        for part in name.split("-")
        if 1 <= len(part) <= 2 and part.isascii() and part.isdigit()
    ]
    if not numbers:
        return None
    return numbers[0], numbers[1] if len(numbers) > 1 else 0


def traits_of(model: str) -> ModelTraits | None:
    """What ``model`` accepts, or ``None`` when it cannot be placed (left untouched)."""
    line = line_of(model)
    generation = generation_of(model)
    if line is None or generation is None:
        return None
    if line is Line.FABLE:
        return ModelTraits(line, generation, ThinkingSupport.ALWAYS_ON, False, _EFFORT_FULL)
    if generation >= (4, 7):
        return ModelTraits(line, generation, ThinkingSupport.ADAPTIVE_ONLY, False, _EFFORT_FULL)
    if generation == (4, 6):
        return ModelTraits(line, generation, ThinkingSupport.ADAPTIVE_OR_ENABLED, True, _EFFORT_MAX)
    if generation == (4, 5) and line is Line.OPUS:
        return ModelTraits(line, generation, ThinkingSupport.ENABLED_ONLY, True, _EFFORT_BASIC)
    return ModelTraits(line, generation, ThinkingSupport.ENABLED_ONLY, True, ())


def thinking_for_suffix(traits: ModelTraits) -> dict[str, Any]:
    """The thinking config the ``-thinking`` suffix stands for on this model.

    On 4.6 and later thinking is adaptive; on the 5 series it is already on but
    ``display`` defaults to ``omitted`` (billed, never shown), so the suffix asks for
    ``summarized``. On 4.5 and older it is a token budget.
    """
    if traits.thinking is ThinkingSupport.ENABLED_ONLY:
        return {"type": "enabled", "budget_tokens": DEFAULT_THINKING_BUDGET}
    return {"type": "adaptive", "display": "summarized"}


def sanitize(body: Mapping[str, Any]) -> dict[str, Any]:
    """Rewrite a Messages request into the nearest shape its model accepts.

    Args:
        body: A parsed ``/v1/messages`` request. It is never mutated.

    Returns:
        A new top-level dict. Values this function did not rewrite are the same
        objects as in ``body`` (shared, not copied), so treat both as read-only.
        Key order is kept; a key that is added (``thinking`` from the suffix) goes
        last. A non-string ``model`` or an unrecognised one leaves the request as it
        is, except that a trailing ``-thinking`` is always stripped from the model
        name (ClewdR §4.2 step 3: no upstream model ends in it).
    """
    out = dict(body)
    model = out.get("model")
    if not isinstance(model, str):
        return out
    base, suffixed = split_thinking_suffix(model)
    if suffixed:
        out["model"] = base
    traits = traits_of(base)
    if traits is None:
        return out
    if suffixed and out.get("thinking") is None:
        out["thinking"] = thinking_for_suffix(traits)
    _coerce_thinking(out, traits)
    _clamp_budget(out)
    _clamp_effort(out, traits)
    _strip_sampling(out, traits)
    return out


def _mode(thinking: Any) -> str | None:
    """``thinking.type`` when it is one of the known modes, else ``None``."""
    if isinstance(thinking, dict):
        kind = thinking.get("type")
        if isinstance(kind, str) and kind in _THINKING_MODES:
            return kind
    return None


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


_NO_BUDGET: Final = (ThinkingSupport.ALWAYS_ON, ThinkingSupport.ADAPTIVE_ONLY)


def _coerce_thinking(out: dict[str, Any], traits: ModelTraits) -> None:
    """Map the requested thinking mode onto one the model implements (rewrite 1)."""
    thinking = out.get("thinking")
    mode = _mode(thinking)
    if mode is None:
        return
    assert isinstance(thinking, dict)
    display = thinking.get("display")
    support = traits.thinking
    if support is ThinkingSupport.ALWAYS_ON and mode == "disabled":
        del out["thinking"]
    elif mode == "enabled" and support in _NO_BUDGET:
        # No budget on these lines, but the request still means "think": adaptive,
        # shown (the 5 series would otherwise default to display "omitted").
        out["thinking"] = {
            "type": "adaptive",
            "display": display if display is not None else "summarized",
        }
    elif support is ThinkingSupport.ENABLED_ONLY and mode == "adaptive":
        coerced: dict[str, Any] = {"type": "enabled", "budget_tokens": DEFAULT_THINKING_BUDGET}
        if display is not None:
            coerced["display"] = display
        out["thinking"] = coerced


def _clamp_budget(out: dict[str, Any]) -> None:
    """Keep ``budget_tokens`` in ``[1024, max_tokens - 1]`` (rewrite 2).

    Thinking tokens come out of the same allowance as the reply, so the budget must
    stay strictly below ``max_tokens``. When ``max_tokens`` leaves no room for the
    minimum budget, thinking is dropped rather than sent as a certain 400.
    """
    thinking = out.get("thinking")
    if _mode(thinking) != "enabled":
        return
    assert isinstance(thinking, dict)
    max_tokens = out.get("max_tokens")
    ceiling = (max_tokens if _is_int(max_tokens) else DEFAULT_MAX_TOKENS) - 1
    if ceiling < MIN_THINKING_BUDGET:
        del out["thinking"]
        return
    budget = thinking.get("budget_tokens")
    if not _is_int(budget):
        return  # malformed; the upstream names the problem better than a guess here
    clamped = min(max(budget, MIN_THINKING_BUDGET), ceiling)
    if clamped != budget:
        out["thinking"] = {**thinking, "budget_tokens": clamped}


def _clamp_effort(out: dict[str, Any], traits: ModelTraits) -> None:
    """Step ``output_config.effort`` down to a rung the model has (rewrite 3).

    Generation 5.0 and later reject ``thinking: disabled`` at ``xhigh``/``max``;
    the effort is lowered to ``high`` so the client's explicit ``disabled`` survives.
    """
    config = out.get("output_config")
    if not isinstance(config, dict):
        return
    new = dict(config)
    effort = config.get("effort")
    if isinstance(effort, str) and effort in _RUNG:
        disabled = _mode(out.get("thinking")) == "disabled"
        ceiling = _RUNG["high"] if traits.generation >= (5, 0) and disabled else _RUNG["max"]
        limit = min(_RUNG[effort], ceiling)
        allowed = [rung for rung in traits.efforts if _RUNG[rung] <= limit]
        if allowed:
            new["effort"] = allowed[-1]
        else:
            del new["effort"]
    if all(value is None for value in new.values()):
        del out["output_config"]
    elif new != config:
        out["output_config"] = new


def _strip_sampling(out: dict[str, Any], traits: ModelTraits) -> None:
    """Remove the sampling parameters the model would reject (rewrite 4)."""
    mode = _mode(out.get("thinking"))
    support = traits.thinking
    blocked = (
        not traits.sampling
        or (support is ThinkingSupport.ADAPTIVE_OR_ENABLED and mode in ("adaptive", "enabled"))
        or (support is ThinkingSupport.ENABLED_ONLY and mode == "enabled")
    )
    if blocked:
        for key in _SAMPLING_KEYS:
            out.pop(key, None)
    elif out.get("temperature") is not None and traits.generation >= (4, 1):
        # From 4.1 on, temperature and top_p may not both be given; temperature wins.
        out.pop("top_p", None)
