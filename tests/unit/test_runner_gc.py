"""The standalone runner hands what start-up built to the collector's permanent generation."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from llmproxy import build_app, runner
from llmproxy.config import ConfigStore, Settings


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_start_up_objects_are_frozen_before_serving(
    unfrozen: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = build_app(Settings(password="k" * 64), ConfigStore(None))
    seen: list[int] = []

    def fake_run(*args: Any) -> None:
        seen.append(gc.get_freeze_count())

    monkeypatch.setattr(runner.trio, "run", fake_run)
    assert gc.get_freeze_count() == 0
    assert runner.run(app, lambda url: None) == 0
    assert len(seen) == 1
    assert seen[0] > 1000  # the modules and the app, not a handful of objects
