"""The admin side of the proxy: the logic behind ``/api/*`` and the web page's assets.

The HTTP handlers live in :mod:`llmproxy.routes.admin`; what they need that is not
HTTP lives here, as plain functions over settings and pool snapshots:

    settings_form.py   which keys the admin may see and change, and applying a change
    cookie_view.py     the pool as the ``GET /api/cookies`` listing and bulk-add input
    throttle.py        slowing down wrong admin passwords, per client address
    assets.py          the page's files, read from package resources (works in a zip)
    static/            index.html, app.css, app.js, i18n.js: the page itself

Nothing here imports trio, anyio or httpx, and time comes in as an argument.
"""
