"""Google error answers -> whose fault, and how long a rate-limited credential rests."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmproxy.credentials.outcomes import Exhausted, Retired
from llmproxy.gemini.failures import (
    DAILY_COOLDOWN,
    DEFAULT_COOLDOWN,
    Blame,
    Holder,
    classify,
    google_error,
    retry_delay,
)
from tests.fakes.gemini import Failure

NOW = 1_800_000_000.0
KEY, SA = Holder.KEY, Holder.SERVICE_ACCOUNT


def raw(failure: Failure, *, array: bool = False) -> bytes:
    body: Any = failure.error()
    return json.dumps([body] if array else body).encode()


@pytest.mark.parametrize(
    ("status", "body", "holder", "blame", "outcome"),
    [
        (400, raw(Failure.invalid_key()), KEY, Blame.CREDENTIAL, Retired),
        (400, raw(Failure.invalid_key(), array=True), KEY, Blame.CREDENTIAL, Retired),
        (400, raw(Failure(400, "API key expired. Please renew the API key.")), KEY, Blame.CREDENTIAL, Retired),
        (400, raw(Failure.bad_request('Unknown name "x"')), KEY, Blame.CLIENT, None),
        (400, raw(Failure(400, "User location is not supported for the API use.")), KEY, Blame.CLIENT, None),
        (400, raw(Failure.invalid_key()), SA, Blame.CLIENT, None),
        (401, raw(Failure(401, "API keys are not supported by this API.")), KEY, Blame.CREDENTIAL, Retired),
        (401, raw(Failure(401, "Request had invalid authentication credentials.")), SA, Blame.TRANSIENT, None),
        (403, raw(Failure.permission_denied()), KEY, Blame.CREDENTIAL, Retired),
        (403, raw(Failure(403, "Permission 'aiplatform.endpoints.predict' denied")), SA, Blame.CREDENTIAL, Retired),
        (429, raw(Failure.rate_limited()), KEY, Blame.CREDENTIAL, Exhausted),
        (429, b"", SA, Blame.CREDENTIAL, Exhausted),
        (500, raw(Failure(500, "Internal error")), KEY, Blame.TRANSIENT, None),
        (503, raw(Failure.unavailable()), KEY, Blame.TRANSIENT, None),
        (404, raw(Failure(404, "models/x is not found")), KEY, Blame.CLIENT, None),
        (502, b"<html>bad gateway</html>", KEY, Blame.TRANSIENT, None),
    ],
)
def test_the_table(status: int, body: bytes, holder: Holder, blame: Blame, outcome: type | None) -> None:
    failure = classify(status, body, {}, holder=holder, now=NOW)
    assert failure.blame is blame
    assert (type(failure.outcome) if failure.outcome is not None else None) is outcome


def test_403_counts_for_keys_only_and_401_forgets_a_token() -> None:
    assert classify(403, raw(Failure.permission_denied()), {}, holder=KEY, now=NOW).count_403
    assert not classify(403, raw(Failure.permission_denied()), {}, holder=SA, now=NOW).count_403
    assert classify(401, b"{}", {}, holder=SA, now=NOW).forget_token


def test_the_reason_carries_status_and_message() -> None:
    failure = classify(400, raw(Failure.invalid_key()), {}, holder=KEY, now=NOW)
    assert isinstance(failure.outcome, Retired)
    assert str(failure.outcome.reason) == "400 INVALID_ARGUMENT: API key not valid. Please pass a valid API key."
    assert failure.status_name == "INVALID_ARGUMENT"


def test_a_body_that_is_not_json_still_gets_a_message() -> None:
    failure = classify(502, b"<html>bad gateway</html>", {}, holder=KEY, now=NOW)
    assert failure.message == "HTTP 502: <html>bad gateway</html>"


@pytest.mark.parametrize(
    ("failure", "headers", "rest"),
    [
        (Failure.rate_limited("41s"), {}, 41.0),
        (Failure.rate_limited("0.5s"), {}, 1.0),  # at least a second
        (Failure.rate_limited(None), {"Retry-After": "17"}, 17.0),
        (Failure.rate_limited(None), {"retry-after": "Thu, 15 Jan 2027 08:01:40 GMT"}, 100.0),
        (Failure.rate_limited("30s"), {"retry-after": "999"}, 30.0),  # RetryInfo wins
        (Failure.rate_limited(None), {}, DEFAULT_COOLDOWN),
        (Failure.rate_limited(None), {"retry-after": "soon"}, DEFAULT_COOLDOWN),
        (Failure.rate_limited("12s", per_day=True), {}, DAILY_COOLDOWN),
    ],
)
def test_cooldown_times(failure: Failure, headers: dict[str, str], rest: float) -> None:
    verdict = classify(429, raw(failure), headers, holder=KEY, now=NOW)
    assert isinstance(verdict.outcome, Exhausted)
    assert verdict.outcome.until == NOW + rest


def test_retry_after_for_the_client_is_googles_delay() -> None:
    verdict = classify(429, raw(Failure.rate_limited("41s")), {}, holder=KEY, now=NOW)
    assert verdict.retry_after == 41.0


def test_retry_delay_forms() -> None:
    info = "type.googleapis.com/google.rpc.RetryInfo"
    assert retry_delay({"details": [{"@type": info, "retryDelay": "7s"}]}) == 7.0
    assert retry_delay({"details": [{"@type": info, "retryDelay": {"seconds": 3, "nanos": 500000000}}]}) == 3.5
    assert retry_delay({"details": [{"@type": info, "retryDelay": "7 seconds"}]}) is None
    assert retry_delay({"details": "nope"}) is None
    assert retry_delay(None) is None


def test_google_error_unwraps_arrays() -> None:
    assert google_error([{"error": {"code": 1}}]) == {"code": 1}
    assert google_error({"error": {"code": 2}}) == {"code": 2}
    assert google_error({"error": "text"}) is None
    assert google_error([1, 2]) is None
