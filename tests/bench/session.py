"""The state of one benchmark run: its plan, the routes it measures, and its records.

:class:`Bench` carries what every phase (:mod:`tests.bench.phases`) needs: the
processes under test, the CPUs they are pinned to, the result dictionary being
filled in, and the helpers that drive wrk and wait for the proxy to go idle.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.bench import payloads, procstat
from tests.bench.nginx import Nginx
from tests.bench.payloads import Workload
from tests.bench.processes import Cpus
from tests.bench.target import Proxy
from tests.bench.wrk import WrkResult, render_script, run_wrk

__all__ = [
    "CHAT",
    "CONCURRENCIES",
    "DIRECT",
    "LEAK_REQUEST_TARGET",
    "MATRIX_WORKLOADS",
    "MESSAGES",
    "RESULTS",
    "Bench",
    "Plan",
    "Route",
    "Run",
]

RESULTS = Path(__file__).resolve().parent / "results"
MATRIX_WORKLOADS = (Workload.JSON, Workload.SSE, Workload.PACED)
CONCURRENCIES = (1, 16, 64)
LEAK_REQUEST_TARGET = 100_000


@dataclass(frozen=True, slots=True)
class Plan:
    """How long and how much of everything; ``--quick`` shrinks it."""

    quick: bool
    direct_seconds: int
    proxy_seconds: int
    warmup_seconds: int
    startup_samples: int
    first_byte_samples: int
    forwarding_samples: int
    streams: int
    streams_timeout: float
    chunk_rounds: int
    """Rounds of the runs the targets compare (the matrix's is the first); the
    targets use their medians."""
    round_seconds: int
    leak_round_seconds: int
    leak_min_rounds: int
    leak_request_target: int
    deadline_seconds: float
    """The leak rounds stop starting new rounds after this many seconds of the run."""

    @classmethod
    def full(cls) -> Plan:
        """About 4.5 minutes on the reference machine, most of it fixed-length wrk runs."""
        return cls(
            quick=False,
            direct_seconds=2,
            proxy_seconds=5,
            warmup_seconds=1,
            startup_samples=5,
            first_byte_samples=20,
            forwarding_samples=50,
            streams=1000,
            streams_timeout=90.0,
            chunk_rounds=3,
            round_seconds=4,
            leak_round_seconds=10,
            leak_min_rounds=3,
            leak_request_target=LEAK_REQUEST_TARGET,
            deadline_seconds=200.0,
        )

    @classmethod
    def smoke(cls) -> Plan:
        """Every phase once, briefly: to see that the harness and the proxy work."""
        return cls(
            quick=True,
            direct_seconds=1,
            proxy_seconds=2,
            warmup_seconds=1,
            startup_samples=1,
            first_byte_samples=5,
            forwarding_samples=10,
            streams=100,
            streams_timeout=60.0,
            chunk_rounds=1,
            round_seconds=2,
            leak_round_seconds=2,
            leak_min_rounds=2,
            leak_request_target=0,
            deadline_seconds=60.0,
        )


@dataclass(frozen=True, slots=True)
class Route:
    """Where a workload is sent and how its answer is checked."""

    name: str
    path: str
    openai: bool

    def headers(self) -> dict[str, str]:
        if self.openai:
            return {
                "content-type": "application/json",
                "authorization": f"Bearer {payloads.API_KEY}",
            }
        return {
            "content-type": "application/json",
            "x-api-key": payloads.API_KEY,
            "anthropic-version": "2023-06-01",
        }

    def body(self, workload: Workload) -> bytes:
        if self.openai:
            return payloads.openai_request(workload)
        return payloads.anthropic_request(workload)

    def check(self, workload: Workload, body: bytes) -> None:
        if self.openai:
            (payloads.check_openai_sse if workload.streams else payloads.check_openai_json)(body)
        elif workload.streams:
            payloads.check_anthropic_sse(body)
        else:
            payloads.check_anthropic_json(body)


DIRECT = Route("direct", "/v1/messages", openai=False)
MESSAGES = Route("messages", "/code/v1/messages", openai=False)
CHAT = Route("chat", "/code/v1/chat/completions", openai=True)


@dataclass(slots=True)
class Run:
    """One wrk run, as written to the JSON file."""

    route: str
    workload: str
    connections: int
    seconds: float
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int
    bytes_per_response: float
    proxy_cpu_s: float | None = None
    cpu_us_per_req: float | None = None
    """The proxy's CPU per request: steady-state window if possible (``cpu_method``)."""
    cpu_method: str | None = None
    window_requests: int | None = None
    cpu_us_per_req_whole_run: float | None = None
    """The whole run's CPU over wrk's request count (ramp and cut-off included)."""
    upstream_cpu_us_per_req: float | None = None
    other_load_pct: float | None = None
    """Busy time of the proxy's CPU not spent by the proxy (other processes, steal), in %."""
    tail_cpu_s: float = 0.0
    """CPU the proxy used after wrk stopped (dropping the requests wrk left in flight)."""
    tail_seconds: float = 0.0
    """How long that took until the proxy was idle."""


@dataclass
class Bench:
    """The state of one benchmark run."""

    plan: Plan
    python: str
    work: Path
    cpus: Cpus = field(default_factory=Cpus)
    result: dict[str, Any] = field(default_factory=dict)
    began: float = field(default_factory=time.monotonic)
    nginx: Nginx | None = None
    proxy: Proxy | None = None
    proxied_requests: int = 0
    problems: list[str] = field(default_factory=list)
    """Wrong or failed responses: the run's figures cannot be trusted (exit status 1)."""
    notes: list[str] = field(default_factory=list)
    """Figures that are missing, not wrong."""

    # -- plumbing --------------------------------------------------------------------

    def say(self, message: str) -> None:
        print(f"[{time.monotonic() - self.began:6.1f}s] {message}", file=sys.stderr, flush=True)

    @property
    def upstream_port(self) -> int:
        assert self.nginx is not None
        return self.nginx.port

    @property
    def main_proxy(self) -> Proxy:
        assert self.proxy is not None
        return self.proxy

    def port_of(self, route: Route) -> int:
        return self.upstream_port if route is DIRECT else self.main_proxy.port

    def settle(self, quiet: float = 0.1, limit: float = 5.0) -> tuple[float, float]:
        """Wait until the proxy uses no CPU for ``quiet`` seconds.

        Returns:
            The CPU seconds it used meanwhile, and the seconds waited. Called before each
            timed run, so the tail of the previous run (connections wrk dropped, streams
            still relaying) is not billed to the next one.
        """
        pid = self.main_proxy.pid
        start = time.monotonic()
        first = last = procstat.cpu_seconds(pid)
        last_change = start
        while time.monotonic() - start < limit:
            time.sleep(0.02)
            now = procstat.cpu_seconds(pid)
            if now != last:
                last, last_change = now, time.monotonic()
            elif time.monotonic() - last_change >= quiet:
                break
        return last - first, time.monotonic() - start

    def nginx_worker_cpu(self) -> float:
        assert self.nginx is not None
        return sum(procstat.cpu_seconds(pid) for pid in procstat.children(self.nginx.pid))

    def script(self, route: Route, workload: Workload) -> Path:
        path = self.work / "wrk" / f"{route.name}-{workload.value}.lua"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render_script(route.body(workload), route.headers()))
        return path

    def wrk(
        self,
        route: Route,
        workload: Workload,
        connections: int,
        seconds: int,
        probes: Sequence[tuple[float, Callable[[], None]]] = (),
    ) -> WrkResult:
        url = f"http://127.0.0.1:{self.port_of(route)}{route.path}"
        # Direct runs put wrk on the proxy's (idle) CPU, so nginx keeps a CPU to itself.
        cpu = self.cpus.proxy if route is DIRECT else self.cpus.load
        outcome = run_wrk(
            url,
            self.script(route, workload),
            connections=connections,
            seconds=seconds,
            cpu=cpu,
            cpus=self.cpus,
            probes=probes,
        )
        if route is not DIRECT:
            self.proxied_requests += outcome.requests
        return outcome
