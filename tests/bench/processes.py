"""Starting pinned child processes and stopping exactly those.

Every process the benchmark starts goes through :func:`spawn`, which pins it to a CPU
with ``taskset`` (util-linux) when the machine has a CPU to spare, and
:func:`stop`, which signals that one process id and waits for it. Nothing here looks
processes up by name.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["Cpus", "free_port", "pinned", "spawn", "stop", "wait_port"]


class Cpus:
    """Which CPU each role runs on.

    With two or more CPUs, the proxy gets the first one to itself and everything else
    (nginx, wrk, this driver) shares the second, as in stack.md. With one CPU nothing
    is pinned and the figures say less.
    """

    def __init__(self) -> None:
        available = sorted(os.sched_getaffinity(0))
        self.taskset = shutil.which("taskset")
        self.pinning = len(available) >= 2 and self.taskset is not None
        self.proxy = available[0]
        self.load = available[1] if len(available) >= 2 else available[0]


def pinned(command: Sequence[str], cpu: int | None, cpus: Cpus) -> list[str]:
    """``command`` prefixed with ``taskset -c cpu`` when pinning is possible."""
    if cpu is None or not cpus.pinning or cpus.taskset is None:
        return list(command)
    return [cpus.taskset, "-c", str(cpu), *command]


def spawn(
    command: Sequence[str], *, cpu: int | None, cpus: Cpus, log: Path, cwd: Path
) -> subprocess.Popen[bytes]:
    """Start ``command`` pinned to ``cpu`` with stdout and stderr going to ``log``.

    ``taskset`` execs the command, so the returned process id is the command's own.
    """
    with log.open("ab") as out:
        return subprocess.Popen(
            pinned(command, cpu, cpus),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, grace: float = 15.0) -> int:
    """Signal ``process``, wait up to ``grace`` seconds, then kill it; returns its exit code."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_port(port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Wait until something accepts connections on ``port``.

    Raises:
        RuntimeError: the process exited, or nothing listened within ``timeout``.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process {process.pid} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")
