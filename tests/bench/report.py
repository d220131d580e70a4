"""The benchmark's output: one table with ratios against the direct upstream, the key
figures, the issue's targets, and the JSON file that lets runs be compared.

Everything here works from the JSON-shaped result dictionary alone, so an old result
can be printed again (``python -m tests.bench --show results/latest.json``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["Target", "evaluate_targets", "render", "write_results"]

ROUTE_LABELS = {
    "direct": "upstream direct",
    "messages": "/code/v1/messages",
    "chat": "/code/v1/chat/completions",
}
WORKLOAD_LABELS = {"json": "JSON", "sse": "SSE whole", "paced": "SSE paced"}


def _num(value: float | None, digits: int = 0, *, sign: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    text = f"{value:+,.{digits}f}" if sign else f"{value:,.{digits}f}"
    return text


def _runs_by_key(result: dict[str, Any]) -> dict[tuple[str, str, int], dict[str, Any]]:
    return {(r["route"], r["workload"], r["connections"]): r for r in result.get("runs", [])}


def _target_runs(result: dict[str, Any]) -> dict[tuple[str, str, int], dict[str, Any]]:
    """The matrix's runs, with the medians of the repeated rounds where there are some."""
    runs = _runs_by_key(result)
    for r in result.get("median_runs", []):
        runs[(r["route"], r["workload"], r["connections"])] = r
    return runs


def _table(result: dict[str, Any]) -> list[str]:
    runs = _runs_by_key(result)
    head = (
        f"{'workload':<10} {'route':<26} {'c':>3} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'× direct':>9} {'p50 +ms':>8} {'CPU µs/req':>10} {'other %':>7} {'errors':>6}"
    )
    lines = [head, "-" * len(head)]
    verification = result.get("verification", {})
    for workload in WORKLOAD_LABELS:
        for route in ROUTE_LABELS:
            state = verification.get(route, {}).get(workload, {})
            if state and state.get("status") != "ok":
                lines.append(
                    f"{WORKLOAD_LABELS[workload]:<10} {ROUTE_LABELS[route]:<26}   -"
                    f"  {state.get('status')}: {state.get('detail', '')[:60]}"
                )
                continue
            for c in result.get("concurrencies", []):
                run = runs.get((route, workload, c))
                if run is None:
                    continue
                if not run["requests"]:
                    lines.append(
                        f"{WORKLOAD_LABELS[workload]:<10} {ROUTE_LABELS[route]:<26} {c:>3}"
                        f"  no request completed in {run['seconds']:.0f} s"
                    )
                    continue
                direct = runs.get(("direct", workload, c))
                ratio = added = None
                if route != "direct" and direct is not None and direct["requests"]:
                    ratio = run["rps"] / direct["rps"]
                    added = run["p50_ms"] - direct["p50_ms"]
                errors = run["non_2xx"] + run["socket_errors"]
                lines.append(
                    f"{WORKLOAD_LABELS[workload]:<10} {ROUTE_LABELS[route]:<26} {c:>3}"
                    f" {_num(run['rps']):>9} {_num(run['p50_ms'], 2):>8}"
                    f" {_num(run['p99_ms'], 2):>8}"
                    f" {_num(ratio, 3):>9} {_num(added, 2, sign=True):>8}"
                    f" {_num(run.get('cpu_us_per_req')):>10}"
                    f" {_num(run.get('other_load_pct')):>7} {errors:>6}"
                )
        lines.append("")
    return lines


def _mib(kib: int | float | None) -> str:
    return "—" if kib is None else f"{kib / 1024:.1f} MiB"


def _figures(result: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    derived = result.get("derived", {})
    for route in ("messages", "chat"):
        chunk = derived.get(route)
        if chunk:
            lines.append(
                f"CPU per relayed SSE chunk, {ROUTE_LABELS[route]} (c=16): "
                f"{_num(chunk.get('chunk_us_vs_json'))} µs all-in (paced − JSON) / 51;"
                f" {_num(chunk.get('chunk_us_vs_whole'))} µs (paced − whole SSE) / 50"
            )

    rounds = result.get("rounds") or {}
    if rounds.get("count", 1) > 1:
        lines.append("Repeated rounds (req/s, then CPU µs/req, round by round; medians count):")
        for name, figures in rounds.get("runs", {}).items():
            rps = " / ".join(_num(v) for v in figures["rps"])
            cpu = " / ".join(_num(v) for v in figures["cpu_us_per_req"])
            lines.append(f"  {name:<22} {rps:>24} req/s   {cpu:>18} µs")
    for route, fb in result.get("first_byte", {}).get("added", {}).items():
        lines.append(
            f"First byte added by the proxy, request included, {ROUTE_LABELS[route]} (paced, c=1,"
            f" median): {_num(fb.get('first_byte_ms'), 2, sign=True)} ms;"
            f" last byte {_num(fb.get('complete_ms'), 2, sign=True)} ms"
        )
    forwarding = result.get("first_byte", {}).get("forwarding", {})
    for route, added in forwarding.get("added_ms", {}).items():
        lines.append(
            f"First event forwarded, {ROUTE_LABELS[route]} (upstream sends it -> client has it,"
            f" median of {forwarding.get('samples')}): {_num(added, 2, sign=True)} ms"
            f" over the direct hop ({_num(forwarding['median_ms'].get('direct'), 2)} ms)"
        )
    startup = result.get("startup", {})
    if startup:
        lines.append(
            f"Start to first answer: {_num(startup.get('median_ms'))} ms"
            f" median of {startup.get('samples')}"
            f" ({_num(startup.get('min_ms'))}–{_num(startup.get('max_ms'))});"
            f" .pyz {result.get('artifact', {}).get('size_bytes', 0) / 1e6:.2f} MB"
        )
    memory = result.get("memory", {})
    if memory:
        lines.append(
            "RSS: idle "
            + _mib(memory.get("idle_kib"))
            + ", after the first requests "
            + _mib(memory.get("warm_idle_kib"))
            + ", after the matrix "
            + _mib(memory.get("after_matrix_kib"))
            + ", after the leak rounds "
            + _mib(memory.get("before_streams_kib"))
            + ", during the streams up to "
            + _mib(memory.get("streams_peak_kib"))
            + ", at the end "
            + _mib(memory.get("final_kib"))
            + "; peak (VmHWM) "
            + _mib(memory.get("hwm_kib"))
        )
    streams = result.get("streams")
    if streams:
        lines.append(
            f"{streams['requested']:,} concurrent slow streams: {streams['completed']:,} complete,"
            f" {streams['failed']} failed, at most {streams['max_open']:,} open at once,"
            f" {streams['seconds']:.1f} s, proxy CPU {streams.get('proxy_cpu_s', 0):.2f} s"
            f" ({_num(streams.get('cpu_us_per_chunk'))} µs per chunk incl. stream set-up)"
        )
    leak = result.get("leak")
    if leak and leak.get("rounds"):
        series = " ".join(f"{r['rss_kib'] / 1024:.1f}" for r in leak["rounds"])
        lines.append(
            f"Leak check: {len(leak['rounds'])} rounds,"
            f" {leak['total_requests']:,} proxied requests by then"
            f"{'' if leak.get('reached_target') else ' (short of the 100,000 asked for)'};"
            f" RSS after each round (MiB): {series}; growth after round 1:"
            f" {_num(leak.get('growth_kib'), sign=True)} KiB"
        )
    log = result.get("proxy_log", {})
    if log:
        lines.append(
            f"Proxy log: {log.get('requests', 0):,} requests logged,"
            f" statuses {log.get('statuses', {})},"
            f" {log.get('errors', 0)} ERROR lines, {log.get('tracebacks', 0)} tracebacks"
        )
    return lines


class Target:
    """One target of issue 8 and whether this run met it."""

    def __init__(
        self, name: str, value: float | None, limit: float, unit: str, *, at_least: bool = False
    ) -> None:
        self.name = name
        self.value = value
        self.limit = limit
        self.unit = unit
        self.at_least = at_least

    @property
    def ok(self) -> bool | None:
        if self.value is None or (isinstance(self.value, float) and math.isnan(self.value)):
            return None
        return self.value >= self.limit if self.at_least else self.value <= self.limit

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "limit": self.limit,
            "unit": self.unit,
            "at_least": self.at_least,
            "ok": self.ok,
        }


def _get(
    runs: dict[tuple[str, str, int], dict[str, Any]], key: tuple[str, str, int], field: str
) -> float | None:
    run = runs.get(key)
    value = run.get(field) if run else None
    return float(value) if isinstance(value, int | float) else None


def evaluate_targets(result: dict[str, Any]) -> list[Target]:
    """The measurable targets of issue 8, from this run's figures."""
    runs = _target_runs(result)
    derived = result.get("derived", {})
    targets = [
        Target(
            "CPU per pass-through JSON request (c=16)",
            _get(runs, ("messages", "json", 16), "cpu_us_per_req"),
            500,
            "µs",
        ),
        Target(
            "CPU per relayed SSE chunk, pass-through (all-in)",
            derived.get("messages", {}).get("chunk_us_vs_json"),
            40,
            "µs",
        ),
        Target(
            "CPU per relayed SSE chunk, translating (all-in)",
            derived.get("chat", {}).get("chunk_us_vs_json"),
            70,
            "µs",
        ),
    ]
    for route in ("messages", "chat"):
        for workload in ("json", "sse", "paced"):
            c16 = _get(runs, (route, workload, 16), "rps")
            c64 = _get(runs, (route, workload, 64), "rps")
            ratio = c64 / c16 if c16 and c64 is not None else None
            targets.append(
                Target(f"req/s c=64 ÷ c=16, {route} {workload}", ratio, 0.9, "×", at_least=True)
            )
        targets.append(
            Target(
                f"JSON p99 at c=64, {route}", _get(runs, (route, "json", 64), "p99_ms"), 100, "ms"
            )
        )
        p50 = _get(runs, (route, "json", 1), "p50_ms")
        direct = _get(runs, ("direct", "json", 1), "p50_ms")
        targets.append(
            Target(
                f"added p50 latency at c=1 (JSON), {route}",
                None if p50 is None or direct is None else p50 - direct,
                1.0,
                "ms",
            )
        )
    forwarded = result.get("first_byte", {}).get("forwarding", {}).get("added_ms", {})
    targets.append(
        Target(
            "first streamed byte forwarded after its arrival (pass-through)",
            forwarded.get("messages"),
            1.0,
            "ms",
        )
    )
    streams = result.get("streams") or {}
    if streams:
        targets.append(
            Target(
                f"{streams.get('requested', 0):,} concurrent streams without an error",
                float(streams.get("failed", 0)),
                0,
                "failed",
            )
        )
        targets.append(
            Target(
                "streams open at the same time",
                float(streams.get("max_open", 0)),
                float(streams.get("requested", 0)),
                "streams",
                at_least=True,
            )
        )
    memory = result.get("memory", {})
    idle = memory.get("idle_kib")
    final = memory.get("final_kib")
    targets.append(Target("idle RSS", None if idle is None else idle / 1024, 40, "MiB"))
    targets.append(
        Target(
            "RSS after the load (100k requests, streams)",
            None if final is None else final / 1024,
            64,
            "MiB",
        )
    )
    growth = (result.get("leak") or {}).get("growth_kib")
    targets.append(
        Target(
            "RSS growth between leak rounds", None if growth is None else growth / 1024, 1.0, "MiB"
        )
    )
    startup = result.get("startup", {})
    targets.append(Target("start to first answer (median)", startup.get("median_ms"), 300, "ms"))
    size = result.get("artifact", {}).get("size_bytes")
    targets.append(Target(".pyz size", None if size is None else size / 1e6, 4.0, "MB"))
    return targets


def _targets(result: dict[str, Any]) -> list[str]:
    count = (result.get("rounds") or {}).get("count", 1)
    where = f"medians of {count} rounds for the compared runs" if count > 1 else "one round"
    lines = [f"Targets of issue 8 ({where}):"]
    for target in result.get("targets", []):
        mark = {True: "ok  ", False: "MISS", None: "n/a "}[target["ok"]]
        relation = "≥" if target["at_least"] else "≤"
        value = target["value"]
        shown = "—" if value is None else f"{value:,.2f}"
        lines.append(
            f"  [{mark}] {target['name']}: {shown} {target['unit']}"
            f" ({relation} {target['limit']:g})"
        )
    return lines


def render(result: dict[str, Any]) -> str:
    """The whole printed report."""
    meta = result.get("meta", {})
    title = (
        f"llmproxy benchmark {meta.get('started_at', '')} · commit {meta.get('commit', '?')}"
        f"{' (tree modified)' if meta.get('dirty') else ''} · Python {meta.get('python', '?')}"
        f" · {meta.get('cpu_model', '?')} ×{meta.get('cpus', '?')} · {meta.get('pinning', '')}"
        f" · load {meta.get('loadavg_before', '?')}{' · QUICK' if result.get('quick') else ''}"
    )
    parts: Iterable[str] = [
        title,
        "",
        *_table(result),
        *_figures(result),
        "",
        *_targets(result),
    ]
    return "\n".join(parts)


def write_results(result: dict[str, Any], directory: Path) -> Path:
    """Write ``<UTC timestamp>.json`` and ``latest.json``; returns the timestamped path."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"{stamp}{'-quick' if result.get('quick') else ''}.json"
    text = json.dumps(result, indent=2, sort_keys=False) + "\n"
    path.write_text(text)
    (directory / "latest.json").write_text(text)
    return path
