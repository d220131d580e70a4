"""Tests for llmproxy.config.passwords and password generation on load.

ClewdR generates 64 characters drawn uniformly from a 57-character alphabet with
no look-alikes, from the OS CSPRNG, whenever ``password`` or ``admin_password`` is
empty or whitespace (clewdr-behaviour.md §3.3).
"""

from __future__ import annotations

import random
import secrets
from collections import Counter
from pathlib import Path

import pytest

from llmproxy.config import ConfigStore
from llmproxy.config.passwords import ALPHABET, LENGTH, generate_password

CLEWDR_ALPHABET = "23456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"


def test_alphabet_is_clewdrs() -> None:
    assert ALPHABET == CLEWDR_ALPHABET
    assert len(ALPHABET) == len(set(ALPHABET)) == 57
    for look_alike in "01lIO":
        assert look_alike not in ALPHABET
    assert LENGTH == 64


def test_password_is_64_characters_from_the_alphabet() -> None:
    for _ in range(50):
        password = generate_password()
        assert len(password) == 64
        assert set(password) <= set(CLEWDR_ALPHABET), password


def test_passwords_differ() -> None:
    assert len({generate_password() for _ in range(100)}) == 100


def test_characters_are_uniform_chi_square() -> None:
    # 1800 passwords = 115,200 characters, about 2021 per symbol. With 56 degrees
    # of freedom the statistic has mean 56 and standard deviation ~10.6; 150 is
    # ~9 sd out (p < 1e-10), so this never flakes, yet a modulo-biased draw
    # (byte % 57) scores over 1000 and a missing symbol over 2000.
    counts = Counter("".join(generate_password() for _ in range(1800)))
    total = sum(counts.values())
    assert total == 1800 * 64
    assert set(counts) == set(CLEWDR_ALPHABET)
    expected = total / len(CLEWDR_ALPHABET)
    chi_square = sum((counts[c] - expected) ** 2 / expected for c in CLEWDR_ALPHABET)
    assert chi_square < 150, chi_square


def test_chi_square_bound_catches_a_modulo_bias() -> None:
    # The bound above is only worth something if a classic bias breaks it.
    rng = random.Random(1)
    text = "".join(CLEWDR_ALPHABET[rng.getrandbits(8) % 57] for _ in range(1800 * 64))
    counts = Counter(text)
    expected = len(text) / 57
    chi_square = sum((counts[c] - expected) ** 2 / expected for c in CLEWDR_ALPHABET)
    assert chi_square > 150


def test_generation_draws_from_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def fake_choice(seq: str) -> str:
        calls.append(seq)
        return seq[len(calls) % len(seq)]

    monkeypatch.setattr(secrets, "choice", fake_choice)
    password = generate_password()
    assert len(calls) == 64
    assert all(seq == CLEWDR_ALPHABET for seq in calls)
    assert password == "".join(CLEWDR_ALPHABET[i % 57] for i in range(1, 65))


def test_generation_does_not_use_the_random_module() -> None:
    # Seeding Mersenne Twister must not make passwords reproducible.
    state = random.getstate()
    try:
        random.seed(1234)
        first = generate_password()
        random.seed(1234)
        second = generate_password()
    finally:
        random.setstate(state)
    assert first != second


# --- generation on load ---------------------------------------------------------------------------


def load(tmp_path: Path, text: str) -> tuple[str, str, tuple[str, ...]]:
    path = tmp_path / "clewdr.toml"
    path.write_text(text, encoding="utf-8")
    loaded = ConfigStore(path).load({})
    return loaded.settings.password, loaded.settings.admin_password, loaded.generated


@pytest.mark.parametrize("empty", ['""', '" "', '"   \\t\\n "', '"\\r\\n"'])
def test_empty_or_whitespace_passwords_are_generated(tmp_path: Path, empty: str) -> None:
    password, admin, generated = load(tmp_path, f"password = {empty}\nadmin_password = {empty}\n")
    assert generated == ("password", "admin_password")
    for value in (password, admin):
        assert len(value) == 64
        assert set(value) <= set(CLEWDR_ALPHABET)
    assert password != admin


def test_missing_passwords_are_generated(tmp_path: Path) -> None:
    password, admin, generated = load(tmp_path, "port = 8484\n")
    assert generated == ("password", "admin_password")
    assert len(password) == len(admin) == 64


def test_set_passwords_are_not_regenerated(tmp_path: Path) -> None:
    password, admin, generated = load(
        tmp_path, 'password = "mine"\nadmin_password = " spaced admin "\n'
    )
    assert (password, admin, generated) == ("mine", " spaced admin ", ())


def test_only_the_empty_one_is_generated(tmp_path: Path) -> None:
    password, admin, generated = load(tmp_path, 'password = "mine"\nadmin_password = ""\n')
    assert password == "mine"
    assert generated == ("admin_password",)
    assert len(admin) == 64


def test_generated_passwords_are_saved_and_kept(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path / "clewdr.toml")
    first = store.load({})
    assert first.needs_save
    assert store.save_sync(first.settings)
    second = store.load({})
    assert second.generated == ()
    assert not second.needs_save
    assert (second.settings.password, second.settings.admin_password) == (
        first.settings.password,
        first.settings.admin_password,
    )
