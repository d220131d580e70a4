"""Where the proxy's CPU goes: py-spy samples under the benchmark's own load.

``python tests/bench/run.py --profile`` starts the same upstream and proxy as a
benchmark run, then, for each workload (JSON, whole SSE, paced SSE) at 16
connections through each usable route, lets wrk run while ``py-spy record`` samples
the proxy at 200 Hz. It writes, per workload and route, the collapsed stacks
(``.txt``, one line per stack with its sample count: feed it to any flame-graph
tool) and an SVG flame graph, and prints the functions with the most *self* time
and the share of self time per package. Sampling slows the proxy down, so these
runs are never mixed with the timed ones.

py-spy is on PyPI (``pip install py-spy``); it needs ptrace rights over the proxy,
which root has. Idle samples (a thread waiting in ``epoll``) are left out, so the
shares are shares of busy CPU.
"""

from __future__ import annotations

import collections
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["find_py_spy", "profile_loads", "record", "summarize"]

_FRAME = re.compile(r"^(?P<func>.*) \((?P<path>.*):(?P<line>\d+)\)$")


def find_py_spy() -> str:
    """py-spy beside the running interpreter, or on PATH.

    Raises:
        RuntimeError: it is not installed.
    """
    beside = Path(sys.executable).parent / "py-spy"
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise RuntimeError("py-spy is needed for --profile: pip install py-spy")
    return found


def record(py_spy: str, pid: int, seconds: int, raw: Path, svg: Path) -> None:
    """Sample ``pid`` for ``seconds`` into collapsed stacks, then one more second as SVG."""
    common = ["--pid", str(pid), "--rate", "200", "--nonblocking"]
    for args in (
        ["--duration", str(seconds), "--format", "raw", "--full-filenames", "-o", str(raw)],
        ["--duration", "2", "--format", "flamegraph", "-o", str(svg)],
    ):
        done = subprocess.run([py_spy, "record", *common, *args], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"py-spy failed: {done.stderr.strip()[-500:]}")


def _package(path: str) -> str:
    """The top-level package of a frame's file (``trio``, ``h11``, ``llmproxy``, or stdlib)."""
    if ".pyz/" in path:
        return path.split(".pyz/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/lib/python3" in path:
        return "stdlib"
    return Path(path).stem or "?"


def _short(frame: str) -> str:
    match = _FRAME.match(frame)
    if match is None:
        return frame or "?"
    path = match["path"]
    path = path.split(".pyz/", 1)[1] if ".pyz/" in path else Path(path).name
    return f"{match['func']} ({path})"


def summarize(raw: Path, top: int = 12) -> list[str]:
    """Self time by function and by package, from py-spy's collapsed stacks."""
    by_function: collections.Counter[str] = collections.Counter()
    by_package: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        total += count
        leaf = stack.split(";")[-1]
        by_function[_short(leaf)] += count
        match = _FRAME.match(leaf)
        by_package[_package(match["path"]) if match else "?"] += count
    if not total:
        return ["  (no samples)"]
    lines = [
        f"  {total:,} samples; self time by package: "
        + ", ".join(f"{name} {100 * n / total:.0f}%" for name, n in by_package.most_common(8))
    ]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in by_function.most_common(top)]
    return lines


def profile_loads(loads: dict[str, list[str]], pid: int, seconds: int, out: Path) -> list[str]:
    """Record the proxy while each load runs; returns the summary to print.

    Args:
        loads: name → a wrk command that runs at least ``seconds + 4`` seconds.
        pid: The proxy's process id.
        seconds: How long to sample each load.
        out: Directory for the ``.txt`` and ``.svg`` files.
    """
    py_spy = find_py_spy()
    out.mkdir(parents=True, exist_ok=True)
    report: list[str] = []
    for name, command in loads.items():
        load = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(1.0)  # past connection set-up
            raw, svg = out / f"{name}.txt", out / f"{name}.svg"
            record(py_spy, pid, seconds, raw, svg)
        finally:
            load.wait()
        report.append(f"{name}: {svg}")
        report += summarize(raw)
    return report
