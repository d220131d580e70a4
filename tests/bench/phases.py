"""The phases of a benchmark run, in the order :func:`tests.bench.run.measure` calls them.

Each phase reads and writes ``bench.result`` (the JSON-shaped record) and appends to
``bench.problems`` whatever makes a figure untrustworthy (a wrong answer, an error
status, a failed stream), and to ``bench.notes`` what is merely missing (a run too
short for any request to finish). What each one measures, and how, is told in
:mod:`tests.bench.run`'s docstring.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import shutil
import socket
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import trio

from tests.bench import client, gated, payloads, procstat
from tests.bench.nginx import Nginx
from tests.bench.payloads import BadResponse, Workload
from tests.bench.processes import free_port, pinned
from tests.bench.profile import profile_loads
from tests.bench.session import (
    CHAT,
    CONCURRENCIES,
    DIRECT,
    MATRIX_WORKLOADS,
    MESSAGES,
    Bench,
    Route,
    Run,
)
from tests.bench.target import REPO, Proxy, copy_pyz, ensure_pyz, pyz_differences
from tests.bench.wrk import wrk_version

__all__ = [
    "concurrent_streams",
    "finish",
    "leak_rounds",
    "matrix",
    "measure_first_byte",
    "measure_startup",
    "prepare",
    "profile",
    "start_proxy",
    "verify",
]


def prepare(bench: Bench, pyz_arg: Path | None, build: bool) -> Path:
    """Tools, the artifact and the machine description."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is needed: apt-get install -y nginx-light wrk")
    Nginx.binary()
    if pyz_arg is not None:
        pyz, built, stale = pyz_arg.resolve(), False, pyz_differences(pyz_arg.resolve())
    elif build:
        bench.say("checking llmproxy.pyz against llmproxy/ (building it if stale)")
        pyz, built, stale = ensure_pyz(bench.python)
    else:
        pyz, built, stale = REPO / "llmproxy.pyz", False, pyz_differences(REPO / "llmproxy.pyz")
    if not pyz.is_file():
        raise RuntimeError(f"{pyz} does not exist")
    copy = copy_pyz(pyz, bench.work)
    bench.result["artifact"] = {
        "path": str(pyz),
        "size_bytes": pyz.stat().st_size,
        "built_now": built,
        "stale_before": stale[:20],
        "stale_now": pyz_differences(pyz) if pyz_arg is None else None,
    }
    if bench.result["artifact"]["stale_now"]:
        bench.say(
            f"warning: the .pyz differs from llmproxy/: {bench.result['artifact']['stale_now']}"
        )
    bench.result["meta"] = machine(bench)
    return copy


def _command_output(command: list[str]) -> str:
    """A read-only command's output, or "" if it cannot run (no git, say)."""
    try:
        return subprocess.run(
            command, capture_output=True, text=True, cwd=REPO, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _calibration_seconds() -> float:
    """stack.md's yardstick: a 10 M-iteration ``s += i`` loop (0.625 s on its VM)."""
    start = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return round(time.perf_counter() - start, 3)


def machine(bench: Bench) -> dict[str, Any]:
    """What ran where: needed to compare two result files fairly."""
    cpu_model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    version = _command_output(
        [bench.python, "-I", "-S", "-c", "import platform; print(platform.python_version())"]
    )
    pinning = (
        f"proxy on CPU{bench.cpus.proxy}, nginx+wrk+driver on CPU{bench.cpus.load}"
        if bench.cpus.pinning
        else "not pinned"
    )
    assert bench.nginx is not None
    return {
        "started_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _command_output(["git", "rev-parse", "--short", "HEAD"]) or "?",
        "dirty": bool(_command_output(["git", "status", "--porcelain", "--", "llmproxy"])),
        "python": version,
        "python_path": bench.python,
        "cpu_model": cpu_model,
        "cpus": os.cpu_count(),
        "pinning": pinning,
        "proxy_cpu": bench.cpus.proxy,
        "load_cpu": bench.cpus.load,
        "loadavg_before": round(os.getloadavg()[0], 2),
        "calibration_loop_s": _calibration_seconds(),
        "nginx": bench.nginx.version(),
        "wrk": wrk_version(),
        "kernel": platform.release(),
    }


def _poll_version(port: int, deadline: float) -> bytes:
    """Poll ``GET /api/version`` every 2 ms; the status line of the first answer."""
    request = b"GET /api/version HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n"
    while time.perf_counter() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2.0) as sock:
                sock.sendall(request)
                answer = sock.recv(4096)
                if answer:
                    return answer.split(b"\r\n", 1)[0]
        except OSError:
            pass
        time.sleep(0.002)
    raise RuntimeError(f"the proxy on port {port} did not answer in time")


def start_proxy(
    bench: Bench, pyz: Path, name: str, upstream_port: int | None = None
) -> tuple[Proxy, float]:
    """Start a proxy and wait for its first answer; (proxy, milliseconds to that answer).

    Its upstream is nginx unless ``upstream_port`` names another one on loopback.
    """
    port = bench.upstream_port if upstream_port is None else upstream_port
    proxy = Proxy.start(
        python=bench.python,
        pyz=pyz,
        directory=bench.work / name,
        port=free_port(),
        upstream=f"http://127.0.0.1:{port}",
        cpus=bench.cpus,
    )
    try:
        status = _poll_version(proxy.port, proxy.started_at + 30.0)
    except RuntimeError:
        proxy.stop()
        raise RuntimeError(
            f"proxy did not start; see {proxy.log}:\n{proxy.log.read_text()[-2000:]}"
        ) from None
    elapsed_ms = (time.perf_counter() - proxy.started_at) * 1000
    if b" 200" not in status:
        proxy.stop()
        raise RuntimeError(f"/api/version answered {status!r}")
    return proxy, elapsed_ms


def measure_startup(bench: Bench, pyz: Path) -> None:
    """Fresh processes, each timed from spawn to its first answer, then the main proxy."""
    times = []
    for index in range(bench.plan.startup_samples):
        proxy, elapsed = start_proxy(bench, pyz, f"startup-{index}")
        times.append(elapsed)
        proxy.stop()
    bench.proxy, elapsed = start_proxy(bench, pyz, "proxy")
    times.append(elapsed)
    bench.result["startup"] = {
        "samples": len(times),
        "median_ms": round(statistics.median(times), 1),
        "min_ms": round(min(times), 1),
        "max_ms": round(max(times), 1),
        "all_ms": [round(t, 1) for t in times],
        "command": f"{bench.python} -I -S llmproxy.pyz -c clewdr.toml",
    }
    bench.say(f"start to first answer: {statistics.median(times):.0f} ms median of {len(times)}")
    time.sleep(1.0)
    idle = procstat.memory(bench.main_proxy.pid)
    bench.result["memory"] = {"idle_kib": idle.rss_kib, "idle_hwm_kib": idle.hwm_kib}


def verify(bench: Bench) -> list[Route]:
    """Check every route and workload once; return the proxy routes fit for timing."""
    states: dict[str, dict[str, dict[str, Any]]] = {}
    usable: list[Route] = []
    for route in (DIRECT, MESSAGES, CHAT):
        states[route.name] = {}
        for workload in MATRIX_WORKLOADS:
            states[route.name][workload.value] = _verify_one(bench, route, workload)
        if route is not DIRECT and all(s["status"] == "ok" for s in states[route.name].values()):
            usable.append(route)
    bench.result["verification"] = states
    if any(s["status"] != "ok" for s in states["direct"].values()):
        raise RuntimeError(f"the fake upstream answers wrongly: {states['direct']}")
    for route in (MESSAGES, CHAT):
        for name, state in states[route.name].items():
            if state["status"] == "invalid":
                bench.problems.append(f"{route.path} {name}: {state['detail']}")
    bench.say(
        "verified: "
        + ", ".join(f"{r}/{w}={s['status']}" for r, ws in states.items() for w, s in ws.items())
    )
    memory = procstat.memory(bench.main_proxy.pid)
    bench.result.setdefault("memory", {})["warm_idle_kib"] = memory.rss_kib
    return usable


def _verify_one(bench: Bench, route: Route, workload: Workload) -> dict[str, Any]:
    response = trio.run(
        client.fetch,
        bench.port_of(route),
        "POST",
        route.path,
        route.headers(),
        route.body(workload),
    )
    if route is not DIRECT:
        bench.proxied_requests += 1
    state: dict[str, Any] = {"http_status": response.status}
    if response.status == 501:
        return {**state, "status": "unavailable", "detail": "501 Not Implemented"}
    if response.status != 200:
        return {
            **state,
            "status": "invalid",
            "detail": f"HTTP {response.status}: {response.body[:200]!r}",
        }
    try:
        route.check(workload, response.body)
    except (BadResponse, ValueError, KeyError) as exc:
        return {**state, "status": "invalid", "detail": str(exc)[:300]}
    if not route.openai:
        expected = payloads.sse_body() if workload.streams else payloads.message_json()
        state["byte_identical"] = response.body == expected
    return {**state, "status": "ok", "content_type": response.headers.get("content-type")}


def measure_first_byte(bench: Bench, routes: list[Route], pyz: Path) -> None:
    """Paced streams one at a time: when the first and the last event arrive.

    Then the forwarding delay alone (:mod:`tests.bench.gated`): a second proxy from
    the same ``.pyz`` in front of an upstream that sends the first event when told.
    """
    medians: dict[str, dict[str, float]] = {}
    for route in (DIRECT, *routes):

        def check(body: bytes, route: Route = route) -> None:
            route.check(Workload.PACED, body)

        times = trio.run(
            client.first_byte_series,
            bench.port_of(route),
            route.path,
            route.headers(),
            route.body(Workload.PACED),
            bench.plan.first_byte_samples,
            check,
        )
        if route is not DIRECT:
            bench.proxied_requests += len(times) + 1
        medians[route.name] = {
            "first_byte_ms": round(statistics.median(t[0] for t in times) * 1000, 3),
            "complete_ms": round(statistics.median(t[1] for t in times) * 1000, 3),
        }
    added = {
        name: {k: round(v - medians["direct"][k], 3) for k, v in figures.items()}
        for name, figures in medians.items()
        if name != "direct"
    }
    bench.result["first_byte"] = {
        "samples": bench.plan.first_byte_samples,
        "median": medians,
        "added": added,
        "forwarding": _forwarding(bench, routes, pyz),
    }
    bench.say(f"first byte: {medians}")


def _forwarding(bench: Bench, routes: list[Route], pyz: Path) -> dict[str, Any]:
    """Median ms from the upstream sending the first event to the client having it."""
    upstream = gated.GatedUpstream()
    proxy, _ = start_proxy(bench, pyz, "gated", upstream_port=upstream.port)
    try:
        targets = {
            route.name: (
                upstream.port if route is DIRECT else proxy.port,
                route.path,
                route.headers(),
                route.body(Workload.PACED),
                lambda body, route=route: route.check(Workload.PACED, body),
            )
            for route in (DIRECT, *routes)
        }
        delays = trio.run(gated.forward_delays, upstream, targets, bench.plan.forwarding_samples)
    finally:
        proxy.stop()
    medians = {name: round(statistics.median(values) * 1000, 3) for name, values in delays.items()}
    direct = medians.pop("direct")
    return {
        "samples": bench.plan.forwarding_samples,
        "median_ms": {"direct": direct, **medians},
        "added_ms": {name: round(value - direct, 3) for name, value in medians.items()},
    }


WINDOW = (0.3, 0.9)
"""The part of a proxied run (as fractions of its length) over which CPU per request is
taken: past the start, when every connection has a request in flight and none has
finished yet, and before the end, when wrk drops what is still in flight."""


@dataclass(slots=True)
class _Probe:
    """The proxy's CPU seconds and finished requests at one moment."""

    cpu: float = 0.0
    completed: int | None = None


def _cpu_per_request(run: Run, probes: list[_Probe], proxy_cpu: float, requests: int) -> None:
    """Fill in the proxy's CPU per request, preferring the steady-state window.

    The window's request count comes from the proxy's access log (requests finished
    between the two probes), so neither the ramp at the start nor the requests wrk
    cuts off at the end distort it. Without access lines, or with too few requests in
    the window, the whole run's CPU is divided by wrk's total instead.
    """
    run.proxy_cpu_s = round(proxy_cpu, 3)
    first, last = probes
    if first.completed is not None and last.completed is not None:
        finished = last.completed - first.completed
        if finished >= 20:
            run.cpu_us_per_req = round((last.cpu - first.cpu) / finished * 1e6, 1)
            run.cpu_method = "window"
            run.window_requests = finished
    if run.cpu_us_per_req is None and requests:
        run.cpu_us_per_req = round(proxy_cpu / requests * 1e6, 1)
        run.cpu_method = "whole run"
    if requests:
        run.cpu_us_per_req_whole_run = round(proxy_cpu / requests * 1e6, 1)


def _timed_run(
    bench: Bench, route: Route, workload: Workload, connections: int, seconds: int
) -> Run:
    proxied = route is not DIRECT
    proxy_pid = bench.main_proxy.pid
    bench.settle()
    cpu_before = procstat.cpu_seconds(proxy_pid)
    upstream_before = bench.nginx_worker_cpu()
    busy_before, total_before = procstat.cpu_usage(bench.cpus.proxy)
    probes = [_Probe(), _Probe()]

    def probe(into: _Probe) -> Callable[[], None]:
        def read() -> None:
            into.cpu = procstat.cpu_seconds(proxy_pid)
            into.completed = bench.main_proxy.completed_requests()

        return read

    schedule = [(seconds * f, probe(p)) for f, p in zip(WINDOW, probes, strict=True)]
    outcome = bench.wrk(route, workload, connections, seconds, schedule if proxied else ())
    proxy_cpu = procstat.cpu_seconds(proxy_pid) - cpu_before
    upstream_cpu = bench.nginx_worker_cpu() - upstream_before
    busy_after, total_after = procstat.cpu_usage(bench.cpus.proxy)
    tail_cpu, tail_seconds = bench.settle() if proxied else (0.0, 0.0)
    run = Run(
        route=route.name,
        workload=workload.value,
        connections=connections,
        seconds=round(outcome.seconds, 3),
        requests=outcome.requests,
        rps=round(outcome.rps, 1),
        p50_ms=round(outcome.p50_ms, 3),
        p90_ms=round(outcome.p90_ms, 3),
        p99_ms=round(outcome.p99_ms, 3),
        max_ms=round(outcome.max_ms, 3),
        non_2xx=outcome.non_2xx,
        socket_errors=outcome.socket_errors,
        bytes_per_response=round(outcome.bytes_per_response, 1),
        tail_cpu_s=round(tail_cpu, 3),
        tail_seconds=round(tail_seconds, 2),
    )
    if outcome.requests:
        run.upstream_cpu_us_per_req = round(upstream_cpu / outcome.requests * 1e6, 1)
    if proxied:
        _cpu_per_request(run, probes, proxy_cpu, outcome.requests)
        if bench.cpus.pinning and total_after > total_before:
            other = (busy_after - busy_before - proxy_cpu) / (total_after - total_before)
            run.other_load_pct = round(max(0.0, other) * 100, 1)
    where = f"{route.path} {workload.value} c={connections}"
    if not outcome.requests:
        bench.notes.append(f"{where}: no request completed in the run, so no figures")
    if outcome.non_2xx or outcome.socket_errors:
        bench.problems.append(
            f"{where}: {outcome.non_2xx} non-2xx, {outcome.socket_errors} socket errors"
        )
    return run


def matrix(bench: Bench, routes: list[Route]) -> None:
    """wrk at each concurrency, for each workload, directly and through each usable route."""
    runs: list[Run] = []
    plan = bench.plan
    for workload in MATRIX_WORKLOADS:
        for route in (DIRECT, *routes):
            seconds = plan.direct_seconds if route is DIRECT else plan.proxy_seconds
            if route is not DIRECT:
                bench.wrk(route, workload, 16, plan.warmup_seconds)
            for connections in CONCURRENCIES:
                run = _timed_run(bench, route, workload, connections, seconds)
                runs.append(run)
                bench.say(
                    f"{workload.value:<6} {route.name:<9} c={connections:<3}"
                    f" {run.rps:>10,.1f} req/s  p50 {run.p50_ms:8.2f} ms  p99 {run.p99_ms:8.2f} ms"
                    f"  cpu/req {run.cpu_us_per_req or 0:8.0f} µs"
                    f"  other load {run.other_load_pct or 0:3.0f} %"
                    f"  errors {run.non_2xx + run.socket_errors}"
                )
    bench.result["runs"] = [asdict(r) for r in runs]
    bench.result["concurrencies"] = list(CONCURRENCIES)
    bench.result["derived"] = derive(runs)
    bench.result["memory"]["after_matrix_kib"] = procstat.memory(bench.main_proxy.pid).rss_kib


ROUND_RUNS: tuple[tuple[Workload, int], ...] = (
    (Workload.JSON, 16),
    (Workload.JSON, 64),
    (Workload.SSE, 16),
    (Workload.SSE, 64),
    (Workload.PACED, 16),
)
"""The proxied runs that the targets compare with each other, repeated in rounds."""


def repeat_rounds(bench: Bench, routes: list[Route]) -> None:
    """More rounds of the runs the targets compare; the targets use their medians.

    On this shared machine the CPU's own speed drifts by 10-30 % within minutes, and
    the per-chunk figure (paced minus JSON) and the c=64 ÷ c=16 ratios are each
    taken from two runs, so a single round can land anywhere in a wide band. The
    rounds interleave routes and concurrencies, so a slow spell hits both sides of
    a comparison rather than one.
    """
    plan = bench.plan
    collected: dict[tuple[str, str, int], list[Run]] = {}
    for run in bench.result.get("runs", []):
        if run["route"] != DIRECT.name:
            key = (run["route"], run["workload"], run["connections"])
            collected.setdefault(key, []).append(Run(**run))
    for number in range(2, plan.chunk_rounds + 1):
        for route in routes:
            for workload, connections in ROUND_RUNS:
                run = _timed_run(bench, route, workload, connections, plan.round_seconds)
                collected.setdefault((route.name, workload.value, connections), []).append(run)
        bench.say(f"round {number} of {plan.chunk_rounds} done")
    medians: list[Run] = []
    spread: dict[str, dict[str, list[float | None]]] = {}
    for (route_name, workload_name, connections), runs in collected.items():
        middle = sorted(runs, key=lambda r: r.cpu_us_per_req or 0.0)[len(runs) // 2]
        rps = statistics.median(r.rps for r in runs)
        medians.append(dataclasses.replace(middle, rps=round(rps, 1)))
        spread[f"{route_name} {workload_name} c={connections}"] = {
            "rps": [r.rps for r in runs],
            "cpu_us_per_req": [r.cpu_us_per_req for r in runs],
        }
    bench.result["median_runs"] = [asdict(r) for r in medians]
    bench.result["rounds"] = {"count": plan.chunk_rounds, "runs": spread}
    bench.result["derived"] = derive(medians)


def derive(runs: list[Run]) -> dict[str, Any]:
    """CPU per relayed chunk for each proxy route, from its c=16 runs."""
    cpu = {(r.route, r.workload): r.cpu_us_per_req for r in runs if r.connections == 16}
    out: dict[str, Any] = {}
    for route in ("messages", "chat"):
        json_us, sse_us, paced_us = (cpu.get((route, w)) for w in ("json", "sse", "paced"))
        if json_us is None or sse_us is None or paced_us is None:
            continue
        chunks = payloads.EVENT_COUNT
        out[route] = {
            "cpu_us_per_req_json": json_us,
            "cpu_us_per_req_sse": sse_us,
            "cpu_us_per_req_paced": paced_us,
            "chunk_us_vs_whole": round((paced_us - sse_us) / (chunks - 1), 1),
            "chunk_us_vs_json": round((paced_us - json_us) / chunks, 1),
        }
    return out


def concurrent_streams(bench: Bench) -> None:
    """Many slow streams at once through ``/code/v1/messages``, each checked to the end."""
    pid = bench.main_proxy.pid
    rss_before = peak = procstat.memory(pid).rss_kib

    def sample() -> None:
        nonlocal peak
        peak = max(peak, procstat.memory(pid).rss_kib)

    def check(body: bytes) -> None:
        payloads.check_anthropic_sse(body)

    count = bench.plan.streams
    bench.say(f"{count} concurrent slow streams (3 events, 12 s pause, 48 events 20 ms apart)")
    bench.settle()
    cpu_before = procstat.cpu_seconds(pid)
    outcome = trio.run(
        lambda: client.concurrent_streams(
            bench.main_proxy.port,
            MESSAGES.path,
            MESSAGES.headers(),
            MESSAGES.body(Workload.SLOW),
            count,
            check,
            limit_seconds=bench.plan.streams_timeout,
            sample=sample,
        )
    )
    cpu = procstat.cpu_seconds(pid) - cpu_before
    bench.proxied_requests += count
    done = sorted(outcome.complete)
    bench.result["streams"] = {
        "requested": count,
        "completed": outcome.completed,
        "failed": outcome.failed,
        "errors": outcome.errors,
        "max_open": outcome.max_open,
        "all_open_at_once": outcome.all_open_at_once,
        "seconds": round(outcome.seconds, 2),
        "stream_seconds_median": round(statistics.median(done), 2) if done else None,
        "stream_seconds_max": round(done[-1], 2) if done else None,
        "proxy_cpu_s": round(cpu, 2),
        "cpu_us_per_chunk": round(cpu / (count * payloads.EVENT_COUNT) * 1e6, 1),
    }
    bench.result["memory"]["streams_peak_kib"] = peak
    bench.result["memory"]["before_streams_kib"] = rss_before
    if outcome.failed:
        bench.problems.append(
            f"{outcome.failed} of {count} concurrent streams failed: {outcome.errors[:3]}"
        )
    bench.say(
        f"streams: {outcome.completed}/{count} complete, max open {outcome.max_open},"
        f" {outcome.seconds:.1f} s, proxy CPU {cpu:.1f} s"
    )


def leak_rounds(bench: Bench) -> None:
    """Identical rounds of load; the RSS after each one must stay flat."""
    plan = bench.plan
    half = max(1, plan.leak_round_seconds // 2)
    rounds: list[dict[str, Any]] = []
    while len(rounds) < plan.leak_min_rounds or (
        bench.proxied_requests < plan.leak_request_target
        and time.monotonic() - bench.began < plan.deadline_seconds
    ):
        requests = 0
        for workload in (Workload.JSON, Workload.SSE):
            outcome = bench.wrk(MESSAGES, workload, 16, half)
            requests += outcome.requests
            if outcome.non_2xx or outcome.socket_errors:
                bench.problems.append(
                    f"leak round {len(rounds) + 1} {workload.value}: {outcome.non_2xx} non-2xx,"
                    f" {outcome.socket_errors} socket errors"
                )
        time.sleep(0.5)
        rss = procstat.memory(bench.main_proxy.pid).rss_kib
        rounds.append(
            {"requests": requests, "rss_kib": rss, "total_requests": bench.proxied_requests}
        )
        bench.say(
            f"leak round {len(rounds)}: {requests:,} requests, RSS {rss / 1024:.1f} MiB,"
            f" {bench.proxied_requests:,} proxied in all"
        )
    growth = rounds[-1]["rss_kib"] - rounds[0]["rss_kib"] if len(rounds) >= 2 else None
    bench.result["leak"] = {
        "round_seconds": 2 * half,
        "rounds": rounds,
        "total_requests": bench.proxied_requests,
        "reached_target": bench.proxied_requests >= plan.leak_request_target,
        "growth_kib": growth,
    }


def finish(bench: Bench) -> None:
    """Final memory, a graceful stop, and what the proxy logged."""
    pid = bench.main_proxy.pid
    memory = procstat.memory(pid)
    bench.result["memory"]["final_kib"] = memory.rss_kib
    bench.result["memory"]["hwm_kib"] = memory.hwm_kib
    bench.result["proxy_cpu_total_s"] = round(procstat.cpu_seconds(pid), 2)
    code = bench.main_proxy.stop()
    bench.result["proxy_exit_code"] = code
    if code != 0:
        bench.problems.append(f"the proxy exited with {code}")
    bench.result["proxy_log"] = read_log(bench.main_proxy.log)


def read_log(path: Path) -> dict[str, Any]:
    """Count the proxy's access-log statuses, ERROR lines and tracebacks."""
    statuses: dict[str, int] = {}
    errors = tracebacks = 0
    with path.open(errors="replace") as lines:
        for line in lines:
            if " llmproxy.access: " in line:
                status = (
                    line.split(" status=", 1)[1].split(" ", 1)[0] if " status=" in line else "?"
                )
                statuses[status] = statuses.get(status, 0) + 1
            elif " ERROR " in line:
                errors += 1
            elif line.startswith("Traceback"):
                tracebacks += 1
    return {
        "requests": sum(statuses.values()),
        "statuses": statuses,
        "errors": errors,
        "tracebacks": tracebacks,
    }


def profile(bench: Bench, routes: list[Route], seconds: int, out: Path) -> None:
    """``--profile``: py-spy samples of the proxy under each workload at c=16."""
    loads: dict[str, list[str]] = {}
    for route in routes:
        for workload in MATRIX_WORKLOADS:
            url = f"http://127.0.0.1:{bench.main_proxy.port}{route.path}"
            command = [
                "wrk",
                "-t1",
                "-c16",
                f"-d{seconds + 4}s",
                "-s",
                str(bench.script(route, workload)),
                url,
            ]
            loads[f"{route.name}-{workload.value}"] = pinned(command, bench.cpus.load, bench.cpus)
    for line in profile_loads(loads, bench.main_proxy.pid, seconds, out):
        print(line)
