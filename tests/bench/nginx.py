"""The fake Anthropic upstream: one nginx worker that answers ``POST /v1/messages``.

Why nginx, and how it chooses an answer
---------------------------------------

The upstream must be far faster than the proxy, or the benchmark measures the
upstream: nginx (Debian's ``nginx-light``) answers a fixed body in about 10 µs of
CPU. The proxy always calls ``{rproxy}/v1/messages`` with the same headers whether
or not the client asked for a stream; only the body says so (``"stream":true``). So
nginx must look at the body, which it normally never reads for a ``return``.
``nginx-light`` ships the *echo* module (``libnginx-mod-http-echo``), whose
``echo_read_request_body`` reads the body into memory; ``echo_exec`` then jumps to
an internal location named by a ``map`` over ``$request_body``:

============================  ==================  ====================================
body contains                 location            answer
============================  ==================  ====================================
``bench-paced``               ``/_bench/paced``   51 events, one chunk each, 2 ms apart
``bench-slow``                ``/_bench/slow``    3 events, 12 s pause, 48 events 20 ms apart
``"stream":true``             ``/_bench/sse``     51 events as one body
anything else                 ``/_bench/json``    one ``Message`` JSON body
============================  ==================  ====================================

The marker words are in the user message the client sends (``payloads.MARKERS``);
every route of the proxy forwards message text, so one nginx serves every scenario
and one proxy process runs them all (its CPU and memory figures then cover the whole
run). The pacing is nginx's too (``echo_flush`` + ``echo_sleep``, timer-driven, no
busy loop), so even 1,000 paced streams cost the upstream almost nothing; an extra
program on its own core was not needed.

nginx timers have millisecond resolution and fire after the event loop's next wake-up,
so a 2 ms pause is 2 to 3 ms: a paced stream takes 110 to 130 ms, measured directly in
the same run (the "direct" rows), which is the baseline the proxy is compared with.

``/api/oauth/usage`` answers too, in case the proxy starts probing usage windows;
everything else is a 404 in Anthropic's error shape.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

from . import payloads
from .payloads import Workload
from .processes import Cpus, spawn, stop, wait_port

__all__ = ["ECHO_MODULE", "Nginx", "gaps", "render_config"]

ECHO_MODULE = Path("/usr/lib/nginx/modules/ngx_http_echo_module.so")
PACE_SECONDS = 0.002
"""The pause between two events of the paced stream."""
HOLD_SECONDS = 12.0
"""The slow stream's pause after its first three events (a model "thinking")."""
SLOW_PACE_SECONDS = 0.02


def gaps(workload: Workload) -> list[float]:
    """The pause after each event but the last, in seconds.

    The slow stream is shaped so that 1,000 of them are truly open at once: a proxy
    needs some milliseconds of CPU to start each one, and if events kept flowing
    meanwhile, relaying them would slow the start of the others until the first
    streams ended before the last began. So every stream sends its head, then holds
    (the upstream "thinks") long enough for all of them to be started, then sends the
    rest of its answer 20 ms an event.
    """
    count = payloads.EVENT_COUNT - 1
    if workload is Workload.PACED:
        return [PACE_SECONDS] * count
    if workload is Workload.SLOW:
        return [0.0, 0.0, HOLD_SECONDS] + [SLOW_PACE_SECONDS] * (count - 3)
    raise ValueError(f"{workload} is not paced")


_REQUEST_ID = "req_011CbenchUpstreamRequestId"
_PART = 3000  # nginx rejects a single quoted parameter of more than about 4 KB


def _quote(text: str) -> str:
    """``text`` as an nginx single-quoted string (newlines as ``\\n``)."""
    if any(c in text for c in "'\\$"):
        raise ValueError("bench bodies must not contain quotes, backslashes or $")
    return "'" + text.replace("\n", "\\n") + "'"


def _stream_headers() -> str:
    return (
        "default_type text/event-stream;\n"
        "      add_header cache-control no-cache;\n"
        f"      add_header request-id {_REQUEST_ID};\n"
    )


def _paced_location(workload: Workload) -> str:
    """A location that sends each event, flushes, and sleeps before the next."""
    steps: list[str] = []
    pauses = [*gaps(workload), 0.0]
    for event, pause in zip(payloads.sse_events(), pauses, strict=True):
        steps.append(f"echo -n {_quote(event.decode())};")
        steps.append("echo_flush;")
        if pause:
            steps.append(f"echo_sleep {pause};")
    body = "\n      ".join(steps)
    return (
        f"    location = /_bench/{workload.value} {{\n      internal;\n      {_stream_headers()}"
        f"      {body}\n    }}\n"
    )


def _whole_sse_location() -> str:
    text = payloads.sse_body().decode()
    parts = [text[i : i + _PART] for i in range(0, len(text), _PART)]
    sets = "".join(f"      set $sse{i} {_quote(p)};\n" for i, p in enumerate(parts))
    joined = "".join(f"$sse{i}" for i in range(len(parts)))
    return (
        f"    location = /_bench/sse {{\n      internal;\n      {_stream_headers()}{sets}"
        f'      return 200 "{joined}";\n    }}\n'
    )


def render_config(directory: Path, port: int) -> str:
    """The whole ``nginx.conf``: a server on ``127.0.0.1:port``, its files in ``directory``."""
    usage = (
        '{"five_hour":{"utilization":1.0,"resets_at":null},'
        '"seven_day":{"utilization":1.0,"resets_at":null}}'
    )
    not_found = (
        '{"type":"error","error":{"type":"not_found_error",'
        '"message":"bench upstream: no such path"}}'
    )
    streams = (
        _whole_sse_location() + _paced_location(Workload.PACED) + _paced_location(Workload.SLOW)
    )
    temps = "".join(
        f"  {kind}_temp_path {directory}/tmp-{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""# Generated by tests/bench/nginx.py; see its docstring.
load_module {ECHO_MODULE};
worker_processes 1;
daemon off;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{
  worker_connections 16384;
}}
http {{
  access_log off;
  server_tokens off;
{temps}  client_body_buffer_size 64k;
  client_body_in_single_buffer on;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  postpone_output 0;
  map $request_body $bench_answer {{
    default json;
    ~{payloads.MARKERS[Workload.PACED]} paced;
    ~{payloads.MARKERS[Workload.SLOW]} slow;
    "~\\"stream\\":\\s*true" sse;
  }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location = /v1/messages {{
      echo_read_request_body;
      echo_exec /_bench/$bench_answer;
    }}
    location = /_bench/json {{
      internal;
      default_type application/json;
      add_header request-id {_REQUEST_ID};
      return 200 {_quote(payloads.message_json().decode())};
    }}
{streams}    location = /api/oauth/usage {{
      default_type application/json;
      return 200 {_quote(usage)};
    }}
    location / {{
      default_type application/json;
      return 404 {_quote(not_found)};
    }}
  }}
}}
"""


class Nginx:
    """One nginx master (in the foreground) with one worker, pinned to ``cpu``."""

    def __init__(self, directory: Path, port: int, cpus: Cpus, cpu: int) -> None:
        self.directory = directory
        self.port = port
        self.cpus = cpus
        self.cpu = cpu
        self.process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def binary() -> str:
        """The nginx executable, or an explanation of what to install."""
        path = shutil.which("nginx") or (
            "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
        )
        if path is None or not ECHO_MODULE.exists():
            raise RuntimeError(
                "nginx with the echo module is needed: apt-get install -y nginx-light wrk"
            )
        return path

    def version(self) -> str:
        done = subprocess.run([self.binary(), "-v"], capture_output=True, text=True)
        return (done.stderr or done.stdout).strip().removeprefix("nginx version: ")

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        conf = self.directory / "nginx.conf"
        conf.write_text(render_config(self.directory, self.port))
        command = [self.binary(), "-p", str(self.directory), "-c", str(conf)]
        check = subprocess.run([*command, "-t", "-q"], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx rejects {conf}: {check.stderr.strip()}")
        self.process = spawn(
            command,
            cpu=self.cpu,
            cpus=self.cpus,
            log=self.directory / "stdout.log",
            cwd=self.directory,
        )
        wait_port(self.port, self.process)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process, signal.SIGQUIT, grace=5.0)  # SIGQUIT: graceful shutdown
            self.process = None
