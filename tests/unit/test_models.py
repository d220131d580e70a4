"""Model recognition and the per-model request sanitising of ClewdR §9.1, rule by rule."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmproxy.claude.models import (
    Line,
    ThinkingSupport,
    generation_of,
    line_of,
    sanitize,
    split_thinking_suffix,
    thinking_for_suffix,
    traits_of,
)

ADAPTIVE_SUMMARIZED = {"type": "adaptive", "display": "summarized"}
ABSENT = object()


def body(model: str, **fields: Any) -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 32000,
        "messages": [{"role": "user", "content": "x"}],
        **fields,
    }


# --- recognition -------------------------------------------------------------------

RECOGNISED = [
    # model, line, generation
    ("claude-fable-5", Line.FABLE, (5, 0)),
    ("claude-mythos-5", Line.FABLE, (5, 0)),
    ("claude-opus-5", Line.OPUS, (5, 0)),
    ("claude-opus-4-8", Line.OPUS, (4, 8)),
    ("claude-opus-4-7", Line.OPUS, (4, 7)),
    ("claude-opus-4-6", Line.OPUS, (4, 6)),
    ("claude-opus-4-5-20251101", Line.OPUS, (4, 5)),
    ("claude-opus-4-1-20250805", Line.OPUS, (4, 1)),
    ("claude-sonnet-5", Line.SONNET, (5, 0)),
    ("claude-sonnet-4-6", Line.SONNET, (4, 6)),
    ("claude-sonnet-4-5-20250929", Line.SONNET, (4, 5)),
    ("claude-sonnet-4-20250514", Line.SONNET, (4, 0)),
    ("claude-haiku-4-5-20251001", Line.HAIKU, (4, 5)),
    ("claude-3-7-sonnet-20250219", Line.SONNET, (3, 7)),  # family-last spelling
    ("claude-3-opus-20240229", Line.OPUS, (3, 0)),
    ("Claude-OPUS-4-6", Line.OPUS, (4, 6)),  # case-insensitive
    ("claude-sonnet-4-6-thinking", Line.SONNET, (4, 6)),  # suffix ignored
    ("claude-opus-fable-5", Line.FABLE, (5, 0)),  # the research line wins
    ("claude-nova-6", Line.OTHER, (6, 0)),
    ("claude-nova-6-1-20300101", Line.OTHER, (6, 1)),
]

UNRECOGNISED = [
    "gpt-5.5",  # no line, not claude
    "gemini-2-5-pro",
    "claude-opus",  # no generation
    "claude-2.1",  # "2.1" is not a dash segment of digits
    "claude-instant-1.2",
    "claude-opus-20250101",  # only a date
    "claude-opus-４-６",  # non-ASCII digits are not a generation
    "",
]


@pytest.mark.parametrize(("model", "line", "generation"), RECOGNISED)
def test_recognition(model: str, line: Line, generation: tuple[int, int]) -> None:
    assert line_of(model) is line
    assert generation_of(model) == generation
    traits = traits_of(model)
    assert traits is not None
    assert (traits.line, traits.generation) == (line, generation)


@pytest.mark.parametrize("model", UNRECOGNISED)
def test_unrecognised(model: str) -> None:
    assert traits_of(model) is None


def test_thinking_suffix_split_is_exact() -> None:
    assert split_thinking_suffix("claude-opus-4-6-thinking") == ("claude-opus-4-6", True)
    assert split_thinking_suffix("claude-opus-4-6") == ("claude-opus-4-6", False)
    assert split_thinking_suffix("claude-opus-4-6-THINKING") == ("claude-opus-4-6-THINKING", False)


# The §9.1 table, one row per line: thinking modes, sampling, effort rungs.
TABLE = [
    ("claude-fable-5", ThinkingSupport.ALWAYS_ON, False, ("low", "medium", "high", "xhigh", "max")),
    (
        "claude-mythos-5",
        ThinkingSupport.ALWAYS_ON,
        False,
        ("low", "medium", "high", "xhigh", "max"),
    ),
    (
        "claude-opus-5",
        ThinkingSupport.ADAPTIVE_ONLY,
        False,
        ("low", "medium", "high", "xhigh", "max"),
    ),
    (
        "claude-sonnet-5",
        ThinkingSupport.ADAPTIVE_ONLY,
        False,
        ("low", "medium", "high", "xhigh", "max"),
    ),
    (
        "claude-opus-4-8",
        ThinkingSupport.ADAPTIVE_ONLY,
        False,
        ("low", "medium", "high", "xhigh", "max"),
    ),
    (
        "claude-opus-4-7",
        ThinkingSupport.ADAPTIVE_ONLY,
        False,
        ("low", "medium", "high", "xhigh", "max"),
    ),
    (
        "claude-opus-4-6",
        ThinkingSupport.ADAPTIVE_OR_ENABLED,
        True,
        ("low", "medium", "high", "max"),
    ),
    (
        "claude-sonnet-4-6",
        ThinkingSupport.ADAPTIVE_OR_ENABLED,
        True,
        ("low", "medium", "high", "max"),
    ),
    ("claude-opus-4-5-20251101", ThinkingSupport.ENABLED_ONLY, True, ("low", "medium", "high")),
    ("claude-sonnet-4-5-20250929", ThinkingSupport.ENABLED_ONLY, True, ()),
    ("claude-haiku-4-5-20251001", ThinkingSupport.ENABLED_ONLY, True, ()),
    ("claude-opus-4-1-20250805", ThinkingSupport.ENABLED_ONLY, True, ()),
    ("claude-3-7-sonnet-20250219", ThinkingSupport.ENABLED_ONLY, True, ()),
    (
        "claude-nova-6",
        ThinkingSupport.ADAPTIVE_ONLY,
        False,
        ("low", "medium", "high", "xhigh", "max"),
    ),
]


@pytest.mark.parametrize(("model", "thinking", "sampling", "efforts"), TABLE)
def test_traits_table(
    model: str, thinking: ThinkingSupport, sampling: bool, efforts: tuple[str, ...]
) -> None:
    traits = traits_of(model)
    assert traits is not None
    assert (traits.thinking, traits.sampling, traits.efforts) == (thinking, sampling, efforts)


# --- rewrite 1: thinking coercion ---------------------------------------------------

COERCION = [
    # model, thinking sent, thinking forwarded (ABSENT = key removed)
    ("claude-fable-5", {"type": "disabled"}, ABSENT),
    ("claude-fable-5", {"type": "enabled", "budget_tokens": 8192}, ADAPTIVE_SUMMARIZED),
    ("claude-fable-5", {"type": "adaptive"}, {"type": "adaptive"}),
    ("claude-opus-4-7", {"type": "enabled", "budget_tokens": 8192}, ADAPTIVE_SUMMARIZED),
    ("claude-opus-5", {"type": "enabled", "budget_tokens": 8192}, ADAPTIVE_SUMMARIZED),
    # display preserved through a coercion
    (
        "claude-opus-4-8",
        {"type": "enabled", "budget_tokens": 8192, "display": "omitted"},
        {"type": "adaptive", "display": "omitted"},
    ),
    ("claude-opus-5", {"type": "disabled"}, {"type": "disabled"}),
    ("claude-opus-4-7", {"type": "disabled"}, {"type": "disabled"}),
    (
        "claude-sonnet-4-6",
        {"type": "enabled", "budget_tokens": 2048},
        {"type": "enabled", "budget_tokens": 2048},
    ),
    (
        "claude-sonnet-4-6",
        {"type": "adaptive", "display": "omitted"},
        {"type": "adaptive", "display": "omitted"},
    ),
    (
        "claude-sonnet-4-5-20250929",
        {"type": "adaptive"},
        {"type": "enabled", "budget_tokens": 4096},
    ),
    (
        "claude-haiku-4-5-20251001",
        {"type": "adaptive", "display": "omitted"},
        {"type": "enabled", "budget_tokens": 4096, "display": "omitted"},
    ),
    (
        "claude-opus-4-5-20251101",
        {"type": "enabled", "budget_tokens": 2048},
        {"type": "enabled", "budget_tokens": 2048},
    ),
    # shapes nobody here knows are the upstream's to judge
    ("claude-sonnet-4-5-20250929", {"type": "auto", "level": 3}, {"type": "auto", "level": 3}),
    ("claude-fable-5", "yes please", "yes please"),
    ("claude-opus-4-7", None, None),
]


@pytest.mark.parametrize(("model", "sent", "forwarded"), COERCION)
def test_thinking_coercion(model: str, sent: Any, forwarded: Any) -> None:
    out = sanitize(body(model, thinking=sent))
    assert out.get("thinking", ABSENT) == forwarded
    if forwarded is ABSENT:
        assert "thinking" not in out


# --- rewrite 2: budget clamp ---------------------------------------------------------

BUDGETS = [
    # max_tokens (ABSENT = not sent: 8192 assumed), budget sent,
    # budget forwarded (ABSENT = thinking removed)
    (4096, 16384, 4095),
    (32000, 256, 1024),
    (32000, 5000, 5000),
    (1025, 5000, 1024),
    (1024, 2000, ABSENT),
    (512, 4096, ABSENT),
    (0, 2000, ABSENT),
    (ABSENT, 10000, 8191),
    (ABSENT, 2000, 2000),
]


@pytest.mark.parametrize(("max_tokens", "sent", "forwarded"), BUDGETS)
def test_budget_clamp(max_tokens: Any, sent: int, forwarded: Any) -> None:
    request = body(
        "claude-sonnet-4-5-20250929", thinking={"type": "enabled", "budget_tokens": sent}
    )
    if max_tokens is ABSENT:
        del request["max_tokens"]
    else:
        request["max_tokens"] = max_tokens
    out = sanitize(request)
    if forwarded is ABSENT:
        assert "thinking" not in out
    else:
        assert out["thinking"] == {"type": "enabled", "budget_tokens": forwarded}
    assert ("max_tokens" in out) == (max_tokens is not ABSENT)  # never inserted here


def test_budget_clamp_keeps_the_other_keys_in_place() -> None:
    thinking = {"type": "enabled", "budget_tokens": 99999, "display": "omitted", "future": [1]}
    out = sanitize(body("claude-opus-4-6", max_tokens=4096, thinking=thinking))
    assert json.dumps(out["thinking"]) == json.dumps(
        {"type": "enabled", "budget_tokens": 4095, "display": "omitted", "future": [1]}
    )


def test_budget_clamp_leaves_a_malformed_budget_to_the_upstream() -> None:
    thinking = {"type": "enabled", "budget_tokens": "lots"}
    assert sanitize(body("claude-sonnet-4-5-20250929", thinking=thinking))["thinking"] == thinking


def test_adaptive_has_no_budget_to_clamp() -> None:
    out = sanitize(body("claude-opus-4-6", max_tokens=100, thinking={"type": "adaptive"}))
    assert out["thinking"] == {"type": "adaptive"}


# --- rewrite 3: effort clamp ---------------------------------------------------------

EFFORTS = [
    # model, thinking, effort sent, effort forwarded (ABSENT = output_config removed)
    ("claude-opus-4-7", None, "xhigh", "xhigh"),
    ("claude-opus-4-7", None, "max", "max"),
    ("claude-fable-5", None, "xhigh", "xhigh"),
    ("claude-sonnet-4-6", None, "xhigh", "high"),
    ("claude-sonnet-4-6", None, "max", "max"),
    ("claude-opus-4-5-20251101", None, "max", "high"),
    ("claude-opus-4-5-20251101", None, "xhigh", "high"),
    ("claude-opus-4-5-20251101", None, "low", "low"),
    ("claude-sonnet-4-5-20250929", None, "low", ABSENT),
    ("claude-haiku-4-5-20251001", None, "max", ABSENT),
    # the >= 5.0 ceiling when thinking is disabled
    ("claude-opus-5", {"type": "disabled"}, "max", "high"),
    ("claude-opus-5", {"type": "disabled"}, "xhigh", "high"),
    ("claude-opus-5", {"type": "disabled"}, "medium", "medium"),
    ("claude-sonnet-5", {"type": "disabled"}, "max", "high"),
    ("claude-opus-5", None, "max", "max"),
    ("claude-opus-5", {"type": "adaptive"}, "max", "max"),
    ("claude-opus-4-8", {"type": "disabled"}, "max", "max"),  # below 5.0
    ("claude-fable-5", {"type": "disabled"}, "max", "max"),  # disabled is removed first
    # not a rung we know: the upstream decides
    ("claude-opus-4-7", None, "ultra", "ultra"),
]


@pytest.mark.parametrize(("model", "thinking", "sent", "forwarded"), EFFORTS)
def test_effort_clamp(model: str, thinking: Any, sent: str, forwarded: Any) -> None:
    request = body(model, output_config={"effort": sent})
    if thinking is not None:
        request["thinking"] = thinking
    out = sanitize(request)
    if forwarded is ABSENT:
        assert "output_config" not in out
    else:
        assert out["output_config"] == {"effort": forwarded}


def test_effort_drop_keeps_the_rest_of_output_config() -> None:
    fmt = {"type": "json_schema", "schema": {"type": "object"}}
    out = sanitize(
        body("claude-sonnet-4-5-20250929", output_config={"effort": "high", "format": fmt})
    )
    assert out["output_config"] == {"format": fmt}
    out = sanitize(
        body("claude-sonnet-4-6", output_config={"format": fmt, "effort": "xhigh", "new": 1})
    )
    assert json.dumps(out["output_config"]) == json.dumps(
        {"format": fmt, "effort": "high", "new": 1}
    )


@pytest.mark.parametrize("config", [{}, {"effort": None}, {"effort": None, "format": None}])
def test_empty_output_config_is_dropped(config: dict[str, Any]) -> None:
    assert "output_config" not in sanitize(body("claude-opus-4-6", output_config=config))


def test_output_config_of_another_shape_is_left_alone() -> None:
    assert sanitize(body("claude-opus-4-6", output_config="fast"))["output_config"] == "fast"


# --- rewrite 4: sampling ---------------------------------------------------------------

T, P, K = ("temperature", 0.7), ("top_p", 0.9), ("top_k", 40)
SAMPLING = [
    # model, thinking, sampling keys sent, sampling keys forwarded
    ("claude-fable-5", None, [T, P, K], []),
    ("claude-opus-5", None, [T, P, K], []),
    ("claude-opus-4-7", None, [T, P, K], []),
    ("claude-opus-4-7", {"type": "disabled"}, [T], []),
    ("claude-sonnet-4-6", None, [T, P, K], ["temperature", "top_k"]),
    ("claude-sonnet-4-6", {"type": "disabled"}, [T, P, K], ["temperature", "top_k"]),
    ("claude-sonnet-4-6", None, [P, K], ["top_p", "top_k"]),
    ("claude-sonnet-4-6", {"type": "adaptive"}, [T, P, K], []),
    ("claude-opus-4-6", {"type": "enabled", "budget_tokens": 2048}, [T, P, K], []),
    ("claude-opus-4-5-20251101", {"type": "enabled", "budget_tokens": 2048}, [T, P, K], []),
    ("claude-sonnet-4-5-20250929", None, [T, P, K], ["temperature", "top_k"]),
    ("claude-sonnet-4-5-20250929", {"type": "disabled"}, [P, K], ["top_p", "top_k"]),
    ("claude-sonnet-4-5-20250929", {"type": "adaptive"}, [T], []),  # coerced to enabled first
    ("claude-opus-4-1-20250805", None, [T, P], ["temperature"]),  # 4.1: mutually exclusive
    ("claude-sonnet-4-20250514", None, [T, P], ["temperature", "top_p"]),  # 4.0: both allowed
    ("claude-3-7-sonnet-20250219", None, [T, P, K], ["temperature", "top_p", "top_k"]),
    ("claude-sonnet-4-5-20250929", None, [("temperature", None), P], ["temperature", "top_p"]),
    ("claude-opus-4-7", None, [("temperature", None)], []),  # removed even when null
]


@pytest.mark.parametrize(("model", "thinking", "sent", "kept"), SAMPLING)
def test_sampling_rules(
    model: str, thinking: Any, sent: list[tuple[str, Any]], kept: list[str]
) -> None:
    request = body(model, **dict(sent))
    if thinking is not None:
        request["thinking"] = thinking
    out = sanitize(request)
    assert [key for key in ("temperature", "top_p", "top_k") if key in out] == kept
    for key in kept:
        assert out[key] == request[key]


# --- the -thinking suffix ------------------------------------------------------------

SUFFIX = [
    # model sent, model forwarded, thinking forwarded
    ("claude-opus-4-8-thinking", "claude-opus-4-8", ADAPTIVE_SUMMARIZED),
    ("claude-sonnet-4-6-thinking", "claude-sonnet-4-6", ADAPTIVE_SUMMARIZED),
    ("claude-opus-5-thinking", "claude-opus-5", ADAPTIVE_SUMMARIZED),
    ("claude-fable-5-thinking", "claude-fable-5", ADAPTIVE_SUMMARIZED),
    (
        "claude-sonnet-4-5-20250929-thinking",
        "claude-sonnet-4-5-20250929",
        {"type": "enabled", "budget_tokens": 4096},
    ),
    (
        "claude-opus-4-5-20251101-thinking",
        "claude-opus-4-5-20251101",
        {"type": "enabled", "budget_tokens": 4096},
    ),
]


@pytest.mark.parametrize(("sent", "model", "thinking"), SUFFIX)
def test_thinking_suffix_inserts_thinking(sent: str, model: str, thinking: dict[str, Any]) -> None:
    out = sanitize(body(sent))
    assert out["model"] == model
    assert out["thinking"] == thinking
    traits = traits_of(model)
    assert traits is not None
    assert thinking_for_suffix(traits) == thinking


def test_thinking_suffix_keeps_the_clients_own_thinking() -> None:
    out = sanitize(body("claude-sonnet-4-5-20250929-thinking", thinking={"type": "disabled"}))
    assert out["model"] == "claude-sonnet-4-5-20250929"
    assert out["thinking"] == {"type": "disabled"}
    out = sanitize(
        body("claude-opus-4-6-thinking", thinking={"type": "enabled", "budget_tokens": 2000})
    )
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 2000}


def test_thinking_suffix_treats_null_thinking_as_absent() -> None:
    out = sanitize(body("claude-opus-4-6-thinking", thinking=None))
    assert out["thinking"] == ADAPTIVE_SUMMARIZED


def test_inserted_thinking_goes_through_the_other_rules() -> None:
    out = sanitize(body("claude-sonnet-4-5-20250929-thinking", max_tokens=2000, temperature=0.5))
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 1999}
    assert "temperature" not in out
    out = sanitize(body("claude-sonnet-4-5-20250929-thinking", max_tokens=1000))
    assert "thinking" not in out


def test_inserted_thinking_goes_last_and_the_model_stays_in_place() -> None:
    out = sanitize({"model": "claude-opus-4-6-thinking", "max_tokens": 10, "messages": []})
    assert list(out) == ["model", "max_tokens", "messages", "thinking"]


def test_suffix_is_stripped_even_from_an_unrecognised_model() -> None:
    out = sanitize(body("some-model-thinking"))
    assert out["model"] == "some-model"
    assert "thinking" not in out


def test_upper_case_suffix_is_not_a_suffix() -> None:
    out = sanitize(body("claude-opus-4-6-THINKING"))
    assert out["model"] == "claude-opus-4-6-THINKING"
    assert "thinking" not in out


# --- what is never touched -----------------------------------------------------------

FULL = {
    "thinking": {"type": "enabled", "budget_tokens": 10},
    "temperature": 0.3,
    "top_p": 0.2,
    "top_k": 5,
    "output_config": {"effort": "ultra-max"},
    "future_field": {"a": [1, 2]},
}


@pytest.mark.parametrize("model", ["gpt-5.5", "claude-opus", "claude-2.1", "mistral-large-2"])
def test_unrecognised_models_are_untouched(model: str) -> None:
    request = body(model, **copy.deepcopy(FULL))
    assert json.dumps(sanitize(request)) == json.dumps(request)


@pytest.mark.parametrize("model", [None, 42, ["claude-opus-4-7"]])
def test_non_string_model_is_untouched(model: Any) -> None:
    request = body("x", **copy.deepcopy(FULL))
    request["model"] = model
    assert json.dumps(sanitize(request)) == json.dumps(request)


@pytest.mark.parametrize("model", [row[0] for row in TABLE])
def test_input_is_never_mutated_and_other_fields_are_shared(model: str) -> None:
    request = body(
        model + "-thinking",
        **copy.deepcopy(FULL),
        tools=[{"name": "t", "input_schema": {"type": "object"}}],
        metadata={"user_id": "u"},
        stop_sequences=["\n\nHuman:"],
    )
    snapshot = copy.deepcopy(request)
    out = sanitize(request)
    assert request == snapshot
    assert out is not request
    for key in ("messages", "tools", "metadata", "stop_sequences", "future_field", "max_tokens"):
        assert out[key] is request[key]


# --- property: only the rewritable keys ever change ----------------------------------

REWRITABLE = {"model", "thinking", "output_config", "temperature", "top_p", "top_k"}
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-5, 70000)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
models = st.sampled_from([row[0] for row in TABLE] + UNRECOGNISED) | st.text(max_size=12)
thinkings = (
    st.sampled_from(
        [
            {"type": "enabled", "budget_tokens": 5000},
            {"type": "enabled", "budget_tokens": 10, "display": "omitted"},
            {"type": "enabled"},
            {"type": "adaptive"},
            {"type": "adaptive", "display": "summarized"},
            {"type": "disabled"},
        ]
    )
    | json_values
)
efforts = st.sampled_from(["low", "medium", "high", "xhigh", "max"]) | json_values


@settings(max_examples=300, deadline=None)
@given(
    model=models,
    suffix=st.booleans(),
    thinking=st.none() | thinkings,
    output_config=st.none() | st.fixed_dictionaries({"effort": efforts}) | json_values,
    max_tokens=st.none() | json_values,
    extra=st.dictionaries(st.text(max_size=6), json_values, max_size=4),
)
def test_sanitize_property(
    model: str,
    suffix: bool,
    thinking: Any,
    output_config: Any,
    max_tokens: Any,
    extra: dict[str, Any],
) -> None:
    request: dict[str, Any] = {**extra, "model": model + ("-thinking" if suffix else "")}
    for key, value in (
        ("thinking", thinking),
        ("output_config", output_config),
        ("max_tokens", max_tokens),
    ):
        if value is not None:
            request[key] = value
    snapshot = copy.deepcopy(request)
    out = sanitize(request)
    assert request == snapshot
    assert set(out) <= set(request) | {"thinking"}
    for key in set(request) - REWRITABLE:
        assert out[key] is request[key]
    assert sanitize(out) == out or out["model"].endswith("-thinking")  # idempotent
