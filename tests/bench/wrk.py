"""Driving wrk (Debian's ``wrk`` 4.1) and reading its numbers.

wrk keeps ``connections`` requests in flight on one thread, each connection sending
its next request as soon as the previous response is complete, for a fixed number of
seconds. A Lua script (:func:`render_script`) sets the POST body and headers and, in
``done()``, prints one JSON line with the totals and the latency percentiles that
wrk recorded (send of a request to the end of its response, in microseconds). No
``response()`` hook is installed: it would make wrk parse every body in Lua and slow
it down. Correctness is checked before the run instead (``payloads.check_*``), and
during the run by wrk's own error counts: ``status`` counts responses that are not
2xx or 3xx, and ``read``/``write``/``connect``/``timeout`` count socket failures.
The bytes per response are reported too; a proxy that cut streams short or answered
with errors would change them.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .processes import Cpus, pinned

__all__ = ["WrkResult", "render_script", "run_wrk", "wrk_version"]

_MARK = "BENCH_JSON "


def _lua_string(text: str) -> str:
    level = "=" * 3
    if f"]{level}]" in text:
        raise ValueError("body collides with the Lua long-bracket level")
    return f"[{level}[{text}]{level}]"


def render_script(body: bytes, headers: Mapping[str, str]) -> str:
    """The Lua script for POSTs of ``body`` with ``headers``."""
    lines = ['wrk.method = "POST"', f"wrk.body = {_lua_string(body.decode())}"]
    lines += [f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in headers.items()]
    lines.append(
        """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{"requests":%.0f,"duration_us":%.0f,"bytes":%.0f,"connect":%.0f,"read":%.0f,'
    .. '"write":%.0f,"status":%.0f,"timeout":%.0f,"p50_us":%.1f,"p90_us":%.1f,'
    .. '"p99_us":%.1f,"max_us":%.1f,"mean_us":%.1f}\\n',
    '"""
        + _MARK
        + """', summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
"""
    )
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class WrkResult:
    """The totals of one wrk run."""

    connections: int
    seconds: float
    requests: int
    bytes: int
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def bytes_per_response(self) -> float:
        return self.bytes / self.requests if self.requests else 0.0


def run_wrk(
    url: str,
    script: Path,
    *,
    connections: int,
    seconds: int,
    cpu: int | None,
    cpus: Cpus,
    probes: Sequence[tuple[float, Callable[[], None]]] = (),
) -> WrkResult:
    """One wrk run with one thread.

    Args:
        probes: (seconds after the start, callback) pairs, called while wrk runs, in
            order; used to read the proxy's counters in the middle of a run.

    Raises:
        RuntimeError: wrk failed or printed no result line.
    """
    command = pinned(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ],
        cpu,
        cpus,
    )
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for at, probe in probes:
            time.sleep(max(0.0, started + at - time.monotonic()))
            probe()
        stdout, stderr = process.communicate(timeout=seconds + 60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    line = next((ln for ln in stdout.splitlines() if ln.startswith(_MARK)), None)
    if process.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({process.returncode}): {stdout[-500:]}{stderr[-500:]}")
    raw = json.loads(line.removeprefix(_MARK))
    return WrkResult(
        connections=connections,
        seconds=raw["duration_us"] / 1e6,
        requests=int(raw["requests"]),
        bytes=int(raw["bytes"]),
        non_2xx=int(raw["status"]),
        socket_errors=int(raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]),
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        mean_ms=raw["mean_us"] / 1000,
    )


def wrk_version() -> str:
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    first = (done.stdout or done.stderr).splitlines()
    return first[0].strip() if first else "unknown"
