"""``python -m llmproxy``: the same program as ``python llmproxy.pyz``."""

from llmproxy.cli import main

raise SystemExit(main())
