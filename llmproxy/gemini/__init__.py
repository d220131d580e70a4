"""Gemini AI Studio keys and Vertex AI service accounts: credentials, requests, tokens.

Where things are::

    keys.py             AI Studio keys: the pool kind, gemini_keys in clewdr.toml
    service_account.py  service-account JSON, and the JWT it signs
    rs256.py            RSASSA-PKCS1-v1_5/SHA-256 signing and PEM key reading, pure Python
    vertex_accounts.py  service accounts: the pool kind, the vertex table
    credentials.py      both pools and the token cache, as the app holds them
    tokens.py           access tokens: exchanged, cached, refreshed once   (I/O)
    failures.py         Google error -> whose fault, cool-down times
    native.py           Gemini-native paths, safety settings, Vertex URLs
    openai_compat.py    the OpenAI-compatible routes' rewrites and fix-ups
    watch.py            holding a stream until its first answer; framing
    rotation.py         the retry loop (rejections, empty answers, hiccups)
    relay.py            streams and keep-alive bodies to the client         (I/O)
    upstream.py         one upstream call and its failure as an exception  (I/O)

Modules not marked (I/O) import neither trio, anyio nor httpx.
"""
