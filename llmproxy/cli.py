"""``python llmproxy.pyz`` and ``python -m llmproxy``: one program, one help text.

Start-up does, in order: parse flags, read ``clewdr.toml`` (refusing to start on
a broken file, which is then left alone), add cookies from ``--file``, save
(new file, generated passwords, new cookies), print the banner with the real
bound address, and serve until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ._version import __version__
from .config import ConfigError, ConfigStore, Settings

if TYPE_CHECKING:
    from .credentials import Pool

__all__ = ["add_cookie_file", "banner_lines", "main"]

log = logging.getLogger("llmproxy")

DESCRIPTION = (
    "A reverse proxy that serves Claude.ai cookies, Claude Code OAuth and Gemini keys "
    "behind Claude, OpenAI and Gemini compatible endpoints."
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; ``prog`` is fixed so both entry points print the same help."""
    parser = argparse.ArgumentParser(prog="llmproxy", description=DESCRIPTION)
    parser.add_argument(
        "-c",
        "--config",
        metavar="PATH",
        default="clewdr.toml",
        help="configuration file (default: clewdr.toml in the current directory; created if missing)",
    )
    parser.add_argument(
        "-f",
        "--file",
        metavar="PATH",
        help="text file of extra cookies, one per line; bad lines are reported and skipped",
    )
    parser.add_argument(
        "--server",
        choices=("llmproxy", "hypercorn"),
        default="llmproxy",
        help="HTTP server: llmproxy's lean HTTP/1.1 server (default, fastest) or hypercorn",
    )
    parser.add_argument("--version", action="version", version=f"llmproxy {__version__}")
    return parser


def add_cookie_file(pool: Pool[Any], path: str) -> tuple[int, list[str]]:
    """Add the cookies of a text file, one per line, to ``pool``.

    Blank lines and lines starting with ``#`` are ignored; cookies already known
    (in any state, in any accepted form) change nothing.

    Returns:
        How many cookies were new, and one message per rejected line
        (``file:line: reason``; the reason never repeats the line's text).

    Raises:
        OSError: the file cannot be read.
    """
    added = 0
    problems: list[str] = []
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            added += pool.add(stripped).added
        except ValueError as exc:
            problems.append(f"{path}:{number}: {exc}")
    return added, problems


def _safe_url(url: str | None) -> str:
    """A proxy URL fit to print: any user:password part is hidden."""
    if not url:
        return "none"
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return f"{parts.scheme}://***@{host}{parts.path}"
    return url


def _flag(value: bool) -> str:
    return "Enabled" if value else "Disabled"


def banner_lines(
    settings: Settings, base_url: str, config_path: Path | None, cookies: tuple[int, int, int]
) -> list[str]:
    """What a user needs to connect, printed once the socket is bound.

    ``base_url`` is the real bound address (``port = 0`` picks one); ``cookies``
    counts the pool's valid, exhausted and invalid cookies.
    """
    return [
        f"llmproxy v{__version__} (Python {platform.python_version()})",
        f"Config file: {config_path if config_path else 'none (settings in memory)'}"
        + (" [no_fs: never written]" if settings.no_fs else ""),
        f"Claude (Claude and OpenAI format) endpoint: {base_url}/v1",
        f"Claude Code (Claude and OpenAI format) endpoint: {base_url}/code/v1",
        f"API password: {settings.password}",
        f"Web admin endpoint: {base_url}/",
        f"Web admin password: {settings.admin_password}",
        f"Proxy: {_safe_url(settings.proxy)}",
        f"Reverse proxy: {_safe_url(settings.rproxy)} (Anthropic calls go to {settings.anthropic_base})",
        f"Skip free: {_flag(settings.skip_non_pro)} | Skip restricted: {_flag(settings.skip_restricted)}"
        f" | Skip second warning: {_flag(settings.skip_second_warning)}"
        f" | Skip first warning: {_flag(settings.skip_first_warning)}"
        f" | Skip normal Pro: {_flag(settings.skip_normal_pro)}"
        f" | Web count_tokens: {_flag(settings.enable_web_count_tokens)}",
        "Cookies: {} valid, {} exhausted, {} invalid".format(*cookies),
    ]


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

QUIET_LOGGERS = ("httpx", "httpcore", "hpack", "h2")
"""Libraries that would log every upstream request (httpx: "HTTP Request: POST ... 200") or
frame at INFO/DEBUG; the access line already says what a request did."""


class _LogFormatter(logging.Formatter):
    """:data:`LOG_FORMAT` as the stdlib writes it, with the date and time formatted once a second.

    ``time.strftime`` is a good part of a log line's cost, and the proxy writes one
    line per request; the milliseconds still come from each record.
    """

    def __init__(self) -> None:
        super().__init__(LOG_FORMAT)
        self._second = -1
        self._stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        second = int(record.created)
        if second != self._second:
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", self.converter(record.created))
            self._second = second
        return f"{self._stamp},{int(record.msecs):03d}"


def _lean_logging() -> None:
    """Make each log call cheap: no caller lookup, no thread or process names.

    These are the switches of the logging HOWTO's "Optimization" section; the
    format uses none of the fields they fill (file, line, function, thread,
    process names).
    """
    logging._srcfile = None  # skips the stack walk (sys._getframe) of every call
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def _setup_logging(settings: Settings, config_path: Path) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if settings.log_to_file and not settings.no_fs:
        handlers.append(logging.FileHandler(config_path.parent / "llmproxy.log", encoding="utf-8"))
    formatter = _LogFormatter()
    for handler in handlers:
        handler.setFormatter(formatter)
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True)
    _lean_logging()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the proxy; returns the process exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    store = ConfigStore(args.config)
    try:
        loaded = store.load(warn=log.warning)
    except ConfigError as exc:
        print(f"llmproxy: cannot start: {exc}", file=sys.stderr)
        print("llmproxy: the file was left untouched; fix it and start again.", file=sys.stderr)
        return 2
    settings = loaded.settings
    for key in loaded.generated:
        log.info("generated a new %s", key.replace("_", " "))
    assert store.path is not None
    _setup_logging(settings, store.path)
    from . import build_app
    from .runner import run

    app = build_app(settings, store)
    needs_save = loaded.needs_save
    if args.file:
        try:
            added, problems = add_cookie_file(app.proxy.cookies, args.file)
        except OSError as exc:
            print(f"llmproxy: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
            return 2
        for problem in problems:
            log.warning("skipped cookie line %s", problem)
        log.info("%s: %d new cookies", args.file, added)
        needs_save = needs_save or added > 0
    if needs_save:
        try:
            app.proxy.save_now()
        except OSError as exc:
            log.error("cannot write %s: %s", store.path, exc)

    def announce(base_url: str) -> None:
        stats = app.proxy.cookies.statistics()
        counts = (stats.valid, stats.exhausted, stats.invalid)
        for line in banner_lines(app.proxy.settings, base_url, store.path, counts):
            print(line, flush=True)

    return run(app, announce, server=args.server)
