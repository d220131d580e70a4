"""clewdr.toml.example documents every key and is itself a valid config."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from llmproxy.config import FIELDS, Settings

EXAMPLE = Path(__file__).resolve().parents[2] / "clewdr.toml.example"


def test_example_mentions_every_key_with_a_comment_above() -> None:
    lines = EXAMPLE.read_text().splitlines()
    for field in FIELDS:
        pattern = re.compile(rf"^(# )?(\[\[?)?{field.name}( =|\]\]?$)")
        index = next((i for i, line in enumerate(lines) if pattern.match(line)), None)
        assert index is not None, f"{field.name} is not in clewdr.toml.example"
        assert lines[index - 1].startswith("#"), f"{field.name} has no comment above it"


def test_example_loads_to_the_defaults() -> None:
    settings = Settings.from_document(tomllib.loads(EXAMPLE.read_text()))
    assert settings == Settings()
