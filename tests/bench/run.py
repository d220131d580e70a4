"""llmproxy's benchmark: the built ``llmproxy.pyz`` against a fast fake upstream, on loopback.

Run it from the repository root, with an interpreter that has llmproxy's
dependencies (the dev venv; the driver uses trio and h11)::

    python tests/bench/run.py              # full run, four to five minutes
    python tests/bench/run.py --quick      # smoke run, one to two minutes
    python tests/bench/run.py --profile    # py-spy flame graphs instead of timings
    python -m tests.bench --show tests/bench/results/latest.json   # print a result again

It needs Debian's ``nginx-light`` (which brings the echo module) and ``wrk``:
``apt-get install -y nginx-light wrk``. It is never part of the test suite (no file
here is named ``test_*.py``). ``--profile`` needs ``pip install py-spy`` as well.
The exit status is 1 when any response was wrong or missing (a figure taken from
errors is worthless), 0 otherwise; missed targets do not change it.

What it does
------------

1. Makes sure ``llmproxy.pyz`` holds the checkout's ``llmproxy/`` (else runs
   ``zipapp.py``) and runs a copy of it as ``python -I -S llmproxy.pyz``
   (:mod:`tests.bench.target`).
2. Starts the fake upstream, one nginx worker answering in Anthropic's exact formats
   (:mod:`tests.bench.nginx`): a ``Message`` JSON body (399 B), the 51-event stream as
   one body (6.3 KB), and the same 51 events paced 2 ms apart.
3. Pins processes as stack.md did: the proxy alone on the first CPU; nginx, wrk and
   this driver on the second. For the *direct* rows (wrk → nginx) wrk moves to the
   first CPU, which is idle then.
4. Measures start-up: spawn to the first answer of ``GET /api/version``, polled every
   2 ms, for several fresh processes; then the idle RSS of the main proxy 1 s after it
   answered, before any request.
5. Checks every route and workload once with a full response check (status 200, every
   event, same data, ``message_stop``/``[DONE]``) before timing anything. A route that
   answers 501 is recorded as unavailable; one that answers wrongly as invalid, and
   is not timed.
6. The matrix: for JSON, whole SSE and paced SSE, at 1, 16 and 64 connections, wrk
   (one thread) against the upstream directly, then through ``/code/v1/messages``
   (pass-through) and ``/code/v1/chat/completions`` (translating to OpenAI), each
   route warmed up for a second first, and the proxy idle (no CPU tick for 100 ms)
   before each run. Each run records requests/s, p50/p90/p99, non-2xx and socket
   errors, the share of the proxy's CPU that other processes took meanwhile
   (``/proc/stat``), and the proxy's CPU per request: its CPU time
   (``/proc/<pid>/stat`` utime + stime, all threads) between 30 % and 90 % of the run,
   divided by the requests its access log shows finished in that window. The window
   leaves out the ramp at the start and the requests wrk drops at the end, which at
   c=64 with slow answers would otherwise skew the figure by tens of percent.
7. Rounds: in a full run, the proxied runs that the targets compare (JSON and
   whole SSE at c=16 and c=64, paced at c=16) are repeated twice more, routes and
   concurrencies interleaved; the targets use the median of the three rounds,
   since one run's CPU per request moves by 10-30 % on a shared machine.
8. CPU per relayed SSE chunk, from the c=16 medians:
   ``(CPU/req paced − CPU/req JSON) / 51`` is the all-in cost of an event that arrives on its own, relative to a JSON
   answer (reading it, decoding it, usage accounting, sending it); the targets use
   it. ``(CPU/req paced − CPU/req whole SSE) / 50`` is stack.md's formula and is
   reported too, but it only counts what a *separate arrival* adds: this proxy
   already relays a whole-body stream event by event, so most of the per-event cost
   is in both terms and cancels (it can even come out negative on a noisy machine).
   For stack.md's naive proxy, which relayed raw reads, the two formulas agreed.
9. First byte: one paced stream at a time on a kept-alive connection, directly and
   through the proxy; the difference of the medians is the time the proxy adds before
   the first event reaches the client (and before the last one), the handling of the
   request included. Then the forwarding delay alone, which the target is about
   ("first streamed byte forwarded within 1 ms of its arrival"): a second proxy from
   the same ``.pyz`` in front of a fake upstream that sends the first event only when
   the driver says (:mod:`tests.bench.gated`); from that moment to the first byte at
   the client, through the proxy minus directly, median of 50.
10. Leak check: rounds of JSON and whole-SSE load at c=16 until at least 100,000
   requests went through the proxy in the whole run (at least three rounds, within the
   time budget); the RSS after each round must not grow after the first. It runs
   before the streams, whose memory peak would otherwise hide a slow leak in the
   memory the allocator keeps.
11. 1,000 concurrent slow streams through the same process, each on its own
    connection, each checked to its last event. Each stream sends three events,
    pauses 12 s (so that all of them are open at once; the driver records the most
    that were), then sends the other 48 events 20 ms apart. The proxy's RSS is sampled
    every 50 ms meanwhile; the final RSS is taken after them.
12. Prints one table with ratios against the direct upstream, the derived figures and
    the targets of issue 8, and writes everything as JSON to
    ``tests/bench/results/<timestamp>.json`` and ``latest.json``.

The machine is shared and small: run-to-run variation of 5–10 % is normal, and other
load on either CPU shows up directly. The load average before and after, and for each
proxied run the share of the proxy's CPU that other processes took ("other %"), are
recorded: compare runs only when those are low.

Files
-----

=================  ===================================================================
``run.py``         this entry point: options, the order of the phases, the exit status
``phases.py``      each measurement phase
``session.py``     the run's plan, routes, records and wrk/idle helpers
``payloads.py``    request bodies, the upstream's exact answers, response checks
``nginx.py``       the fake upstream's configuration and process
``target.py``      the ``.pyz`` (staleness check, build) and the proxy's config/process
``client.py``      trio + h11 client for checks, first-byte times and the 1,000 streams
``gated.py``       the fake upstream that sends a stream's first event when told
``wrk.py``         wrk's Lua script and result line
``procstat.py``    CPU and memory from ``/proc``
``report.py``      the printed table, the targets of issue 8, the JSON files
``profile.py``     ``--profile``: py-spy flame graphs and top self-time functions
``results/``       one JSON per run plus ``latest.json`` (ignored by git)
=================  ===================================================================
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``tests.bench`` importable
    _HERE = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
    sys.path.insert(0, str(_HERE.parents[1]))

from tests.bench import report
from tests.bench.nginx import Nginx
from tests.bench.phases import (
    concurrent_streams,
    finish,
    leak_rounds,
    matrix,
    measure_first_byte,
    measure_startup,
    prepare,
    profile,
    repeat_rounds,
    start_proxy,
    verify,
)
from tests.bench.processes import free_port
from tests.bench.profile import find_py_spy
from tests.bench.session import MESSAGES, RESULTS, Bench, Plan

__all__ = ["main"]


# --- entry point ----------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python tests/bench/run.py", description="Benchmark the built llmproxy.pyz (issue 8)."
    )
    parser.add_argument("--quick", action="store_true", help="short smoke run (one to two minutes)")
    parser.add_argument(
        "--python", default=sys.executable, help="interpreter that builds and runs the .pyz"
    )
    parser.add_argument(
        "--pyz", type=Path, help="measure this .pyz instead of building ./llmproxy.pyz"
    )
    parser.add_argument(
        "--no-build",
        action="store_true",
        help="never run zipapp.py; measure ./llmproxy.pyz as it is",
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the JSON goes")
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (configs, logs)"
    )
    parser.add_argument(
        "--profile",
        type=int,
        nargs="?",
        const=8,
        metavar="SECONDS",
        help="instead of timing, sample the proxy with py-spy under each load (default 8 s each)",
    )
    parser.add_argument(
        "--show", type=Path, metavar="JSON", help="print the report of an earlier result and exit"
    )
    return parser


def _raise_file_limit() -> None:
    """1,000 streams need about 3,000 descriptors across the processes; lift the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(
            resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard)
        )


def measure(bench: Bench, pyz: Path) -> None:
    """Every phase of a benchmark run, in order."""
    bench.say("start-up and idle memory")
    measure_startup(bench, pyz)
    bench.say("verification")
    routes = verify(bench)
    if MESSAGES not in routes:
        states = bench.result["verification"]["messages"]
        raise RuntimeError(f"/code/v1/messages does not answer correctly: {states}")
    phases: list[tuple[str, Callable[[], None]]] = [
        ("first byte", lambda: measure_first_byte(bench, routes, pyz)),
        ("throughput matrix", lambda: matrix(bench, routes)),
        ("repeated rounds", lambda: repeat_rounds(bench, routes)),
        ("leak rounds", lambda: leak_rounds(bench)),
        ("concurrent streams", lambda: concurrent_streams(bench)),
        ("stopping the proxy", lambda: finish(bench)),
    ]
    for name, action in phases:
        bench.say(name)
        action()


def _new_bench(args: argparse.Namespace) -> Bench:
    plan = Plan.smoke() if args.quick else Plan.full()
    _raise_file_limit()
    bench = Bench(
        plan=plan, python=args.python, work=Path(tempfile.mkdtemp(prefix="llmproxy-bench-"))
    )
    if bench.cpus.pinning:
        os.sched_setaffinity(0, {bench.cpus.load})  # the driver stays off the proxy's CPU
    bench.result.update(
        {
            "schema": 1,
            "quick": plan.quick,
            "command": [sys.executable, *sys.argv],
            "plan": asdict(plan),
        }
    )
    return bench


def _tear_down(bench: Bench, keep: bool) -> None:
    """Stop what this run started (by process id) and remove the work directory."""
    if bench.proxy is not None and bench.proxy.process.poll() is None:
        bench.proxy.stop()
    if bench.nginx is not None:
        bench.nginx.stop()
    if keep:
        print(f"work directory kept: {bench.work}", file=sys.stderr)
    else:
        shutil.rmtree(bench.work, ignore_errors=True)


def _report(bench: Bench, results: Path) -> int:
    bench.result["meta"]["loadavg_after"] = round(os.getloadavg()[0], 2)
    bench.result["duration_s"] = round(time.monotonic() - bench.began, 1)
    bench.result["problems"] = bench.problems
    bench.result["notes"] = bench.notes
    bench.result["targets"] = [t.as_dict() for t in report.evaluate_targets(bench.result)]
    path = report.write_results(bench.result, results)
    print(report.render(bench.result))
    print(f"\nresults: {path} (and latest.json); {bench.result['duration_s']:.0f} s")
    for note in bench.notes:
        print(f"NOTE: {note}")
    for problem in bench.problems:
        print(f"PROBLEM: {problem}")
    return 1 if bench.problems else 0


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when every measured response was right."""
    args = _parser().parse_args(argv)
    if args.show is not None:
        print(report.render(json.loads(args.show.read_text())))
        return 0
    if args.profile is not None:
        find_py_spy()  # fail before starting anything
    bench = _new_bench(args)
    completed = False
    try:
        bench.nginx = Nginx(bench.work / "nginx", free_port(), bench.cpus, bench.cpus.load)
        bench.nginx.start()
        pyz = prepare(bench, args.pyz, build=not args.no_build)
        if args.profile is not None:
            bench.proxy, _ = start_proxy(bench, pyz, "proxy")
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            profile(bench, verify(bench), args.profile, args.results / f"profile-{stamp}")
            completed = True
            return 0
        measure(bench, pyz)
        completed = True
    finally:
        _tear_down(bench, keep=args.keep or not completed)
    return _report(bench, args.results)


if __name__ == "__main__":
    raise SystemExit(main())
