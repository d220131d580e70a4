"""llmproxy: a single-file LLM reverse proxy for Claude.ai, Claude Code and Gemini.

The public surface is small on purpose:

- :func:`create_app` builds the ASGI 3 application, for ``python llmproxy.pyz``
  and for embedding in another ASGI server or app;
- :class:`Settings` is the configuration object (the keys of ``clewdr.toml``);
- ``__version__``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .asgi.app import App
    from .config import ConfigStore, Settings

__all__ = ["App", "Settings", "__version__", "create_app"]

log = logging.getLogger("llmproxy")

DEFAULT_BODY_LIMIT = 32 * 1024 * 1024


def __getattr__(name: str) -> Any:
    # Lazy, so `--version`, `--help` and config errors answer without importing
    # the server stack (trio, httpx, hypercorn) at all.
    if name == "App":
        from .asgi.app import App

        return App
    if name == "Settings":
        from .config import Settings

        return Settings
    raise AttributeError(f"module 'llmproxy' has no attribute {name!r}")


def create_app(
    config: str | os.PathLike[str] | Settings = "clewdr.toml",
    *,
    environ: Mapping[str, str] | None = None,
    body_limit: int = DEFAULT_BODY_LIMIT,
) -> App:
    """Build the proxy as an ASGI 3 application.

    Args:
        config: Path of a ``clewdr.toml`` (read now, created if missing, saved on
            changes unless ``no_fs``), or a :class:`Settings` object for an
            application that keeps its configuration in memory (never saved).
        environ: Environment for ``CLEWDR_*`` overrides when reading a file;
            ``os.environ`` by default.
        body_limit: Largest request body accepted, in bytes (413 above it).

    Returns:
        The app. It runs under any ASGI server on trio or asyncio, and mounted
        under a path prefix; without lifespan events its background work starts
        on the first request.

    Raises:
        ConfigError: the file cannot be used; it is left untouched.
    """
    from .config import ConfigStore, Settings

    if isinstance(config, Settings):
        store = ConfigStore(None)
        settings = config
        missing = {k: _generate() for k in ("password", "admin_password") if not getattr(settings, k).strip()}
        if missing:
            settings = settings.replace(**missing)
    else:
        store = ConfigStore(config)
        loaded = store.load(environ, warn=log.warning)
        settings = loaded.settings
        if loaded.needs_save:
            store.save_sync(settings)
    return build_app(settings, store, body_limit=body_limit)


def build_app(
    settings: Settings,
    store: ConfigStore,
    *,
    body_limit: int = DEFAULT_BODY_LIMIT,
    clock: Callable[[], float] = time.time,
) -> App:
    """The app for already-loaded settings (what :func:`create_app` and the CLI share).

    ``clock`` (epoch seconds) drives cookie reset times; tests inject their own.
    """
    from .asgi.app import App
    from .proxy import Proxy
    from .routes import build_routes

    return App(Proxy(settings, store, clock=clock), build_routes(), body_limit=body_limit)


def _generate() -> str:
    from .config.passwords import generate_password

    return generate_password()
