"""The admin API (``/api/*``) and the admin web page (``/``, ``/static/*``).

Shapes and statuses follow ClewdR (clewdr-behaviour.md §2.4), so its scripts keep
working; where this API does better (a live cookie listing, per-cookie answers to
a bulk add, a write-only admin password, settings saved as a patch) the reasons
are in :mod:`llmproxy.admin.cookie_view` and :mod:`llmproxy.admin.settings_form`.

The admin password is checked by the chain (``Auth.ADMIN``, with the per-address
slow-down of :mod:`llmproxy.admin.throttle`) before any handler here runs; the page
and its static files need no password, and hold none.
"""

from __future__ import annotations

import platform
from typing import Any

from .._version import __version__
from ..admin import assets, cookie_view, settings_form
from ..asgi.request import Request
from ..errors import BadRequest, NotFound

__all__ = ["auth", "config", "cookie", "cookies", "page", "static", "status", "version"]

# Answers that carry passwords or cookies must not sit in any cache.
_NO_STORE = {"cache-control": "no-store"}


async def version(request: Request) -> None:
    """``GET /api/version``: plain text, no password, like ClewdR's."""
    settings = request.app.settings
    text = (
        f"v{__version__}\n"
        f"python: {platform.python_version()}\n"
        f"no_fs: {str(settings.no_fs).lower()}\n"
    )
    await request.send_text(text)


async def auth(request: Request) -> None:
    """``GET /api/auth``: 200 when the admin password checked out (the chain did it)."""
    await request.send_bytes(b"", status=200, content_type=b"text/plain")


# -- settings -------------------------------------------------------------------------


async def config(request: Request) -> None:
    """``GET /api/config`` (``?describe=true`` adds the form) and ``POST /api/config``.

    GET answers ClewdR's flat object without ``admin_password``. POST takes any
    subset of those keys (plus ``admin_password``), applies it to the settings in
    force right now, saves, and answers ClewdR's
    ``{"message", "config"}`` plus ``changed``, ``restart_required`` and ``ignored``.
    """
    proxy = request.app
    settings_form.remember_boot_values(proxy, proxy.settings)
    if request.method == "GET":
        body = settings_form.public_config(proxy.settings)
        if _flag(request.query.get("describe")):
            body = {
                "config": body,
                "fields": settings_form.describe(),
                "groups": [name for name, _ in settings_form.GROUPS],
                "restart_pending": settings_form.restart_pending(proxy, proxy.settings),
                "config_path": str(proxy.store.path) if proxy.store.path else None,
            }
        await request.send_json(body, headers=_NO_STORE)
        return
    patch = request.json()
    # From here to update_settings nothing awaits, so the patch lands on the
    # settings current at this instant and no concurrent save can slip between.
    change = settings_form.apply_changes(proxy.settings, patch)
    if change.changed:
        proxy.update_settings(change.settings)
    save_error: str | None = None
    try:
        await proxy.flush()
    except OSError as exc:
        save_error = f"Settings applied, but saving {proxy.store.path} failed: {exc}"
    answer: dict[str, Any] = {
        "message": "Config updated successfully" if change.changed else "Nothing changed",
        "config": settings_form.public_config(proxy.settings),
        "changed": list(change.changed),
        "restart_required": list(change.restart_required),
        "restart_pending": settings_form.restart_pending(proxy, proxy.settings),
        "ignored": change.ignored,
        "saved": save_error is None and not proxy.settings.no_fs and proxy.store.path is not None,
    }
    if save_error is not None:
        answer["error"] = save_error
        await request.send_json(answer, status=500, headers=_NO_STORE)
        return
    await request.send_json(answer, headers=_NO_STORE)


def _flag(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes", "on", "")


# -- cookies ---------------------------------------------------------------------------


async def cookies(request: Request) -> None:
    """``GET /api/cookies``: the live pool, ``{"valid", "exhausted", "invalid"}``.

    ``?refresh=true`` is accepted for ClewdR's scripts and changes nothing: every
    answer is built from the pool as it is now. ``X-Cache-Timestamp`` carries the
    proxy's clock (epoch seconds), which the page uses for its countdowns so a
    phone with a wrong clock still counts right.
    """
    proxy = request.app
    proxy.cookies.sweep()  # un-park cookies whose time has come, roll usage windows
    listing = cookie_view.cookie_listing(proxy.cookies.statistics())
    headers = {
        **_NO_STORE,
        "x-cache-status": "MISS",
        "x-cache-timestamp": str(int(proxy.clock())),
    }
    await request.send_json(listing, headers=headers)


async def cookie(request: Request) -> None:
    """``POST /api/cookie`` adds cookies, ``DELETE /api/cookie`` removes one.

    POST answers 200 with one result per line when at least one line was a cookie
    (added or already known), 422 when none was (ClewdR answers 422 to a malformed
    cookie), 400 when the body held nothing to try. DELETE answers 204, or 404
    when the cookie is not in the pool.
    """
    proxy = request.app
    if request.method == "DELETE":
        body = request.json()
        text = body.get("cookie")
        if not isinstance(text, str) or not text.strip():
            raise BadRequest('expected {"cookie": "<the cookie to delete>"}', param="cookie")
        removed = proxy.cookies.remove(text.strip())
        if not removed.removed:
            raise NotFound(removed.message)
        proxy.tokens.forget(removed.key)
        await request.send_bytes(b"", status=204, content_type=b"text/plain")
        return
    lines = cookie_view.parse_cookie_input(request.body)
    results = cookie_view.add_cookies(proxy.cookies, lines)
    counts = {
        name: sum(1 for r in results if r.status == name)
        for name in ("added", "already_known", "invalid")
    }
    answer: dict[str, Any] = {"results": [r.to_json() for r in results], **counts}
    if counts["invalid"] == len(results):
        answer["error"] = (
            "Invalid cookie format: " + results[0].message
            if len(results) == 1
            else f"none of the {len(results)} lines is a Claude session cookie"
        )
        await request.send_json(answer, status=422)
        return
    await request.send_json(answer)


# -- dashboard ---------------------------------------------------------------------------


async def status(request: Request) -> None:
    """``GET /api/status``: what the dashboard shows, in one JSON object.

    ``uptime_seconds``, ``requests`` (served, in flight), ``errors`` (by kind),
    ``routes`` (latency per route), ``cookies`` (valid, exhausted, invalid, in
    flight, next reset), ``gemini`` (``{"keys": counts, "vertex": counts}`` for
    the Gemini pools, ``null`` without them), plus ``version``, the proxy's clock
    (``now``, epoch seconds) and where the settings are saved.
    """
    proxy = request.app
    settings_form.remember_boot_values(proxy, proxy.settings)
    proxy.cookies.sweep()
    pool = proxy.cookies.statistics()
    body: dict[str, Any] = {"version": __version__, "python": platform.python_version()}
    body.update(proxy.stats.snapshot())
    body["cookies"] = {
        "valid": pool.valid,
        "exhausted": pool.exhausted,
        "invalid": pool.invalid,
        "in_flight": pool.in_flight,
        "next_reset": proxy.cookies.next_reset(),
    }
    body["gemini"] = _gemini_counts(proxy.gemini)
    body["now"] = proxy.clock()
    body["config"] = {
        "path": str(proxy.store.path) if proxy.store.path else None,
        "no_fs": proxy.settings.no_fs,
        "unsaved_changes": proxy.dirty,
        "restart_pending": settings_form.restart_pending(proxy, proxy.settings),
    }
    await request.send_json(body, headers=_NO_STORE)


def _gemini_counts(gemini: Any) -> dict[str, Any] | None:
    """Counts of the Gemini pools (AI Studio keys, Vertex accounts), when there are any.

    Read defensively: the dashboard must keep working whatever shape the Gemini
    side has, so a missing pool or a failing counter is left out, not raised.
    """
    counts: dict[str, Any] = {}
    for name in ("keys", "vertex"):
        pool = getattr(gemini, name, None)
        statistics = getattr(pool, "statistics", None)
        if not callable(statistics):
            continue
        try:
            stats = statistics()
            counts[name] = {
                "valid": int(stats.valid),
                "exhausted": int(stats.exhausted),
                "invalid": int(stats.invalid),
                "in_flight": int(stats.in_flight),
            }
        except Exception:  # noqa: BLE001 -- a counter is not worth a failed dashboard
            continue
    return counts or None


# -- the page ----------------------------------------------------------------------------


async def page(request: Request) -> None:
    """``GET /``: the admin page (no password: it asks for one and holds none)."""
    raw_path = request.scope.get("path", "/")
    if not raw_path.endswith("/"):
        # Mounted at /prefix and asked for /prefix: the page's relative links need the slash.
        await request.send_bytes(
            b"", status=308, content_type=b"text/plain", headers={"location": raw_path + "/"}
        )
        return
    await _send_asset(request, "index.html")


async def static(request: Request) -> None:
    """``GET /static/<name>``: one file of the page."""
    await _send_asset(request, request.path.removeprefix("/static/"))


async def _send_asset(request: Request, name: str) -> None:
    item = assets.asset(name)
    if item is None:
        raise NotFound(f"No file {name!r} in the admin page")
    headers = assets.response_headers(item)
    if assets.not_modified(item, request.header("if-none-match")):
        await request.start(304, [(k.encode(), v.encode()) for k, v in headers.items()])
        await request.end_stream()
        return
    await request.send_bytes(item.body, content_type=item.content_type.encode(), headers=headers)
