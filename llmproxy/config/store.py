"""Reading and writing ``clewdr.toml`` without ever losing it.

Loading order (as ClewdR, clewdr-behaviour.md §3.3): the file, then ``CLEWDR_*``
environment overrides, then checks, then generated passwords for empty ones.

Two promises matter more than anything else here:

- A file that does not parse is never overwritten. Loading raises
  :class:`ConfigError` naming the line, the server refuses to start, and the
  user's file stays exactly as it was.
- A save is atomic. The document goes to a temporary file in the same folder
  (created 0600, since it holds passwords and cookies), is fsynced, and is renamed
  over the old file; a crash at any point leaves either the old file or the new
  one, whole. Saves are serialised, and each one writes the state current when
  it gets its turn, so an older snapshot never lands after a newer one.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .env import apply_env
from .errors import ConfigError
from .passwords import generate_password
from .settings import Settings
from .toml_writer import dumps

__all__ = ["ConfigStore", "Loaded"]


@dataclasses.dataclass(frozen=True, slots=True)
class Loaded:
    """What :meth:`ConfigStore.load` found.

    Attributes:
        settings: The resulting settings.
        generated: Names of the passwords that were generated.
        env_keys: Keys overridden by the environment.
        created: True when there was no file yet.
    """

    settings: Settings
    generated: tuple[str, ...]
    env_keys: tuple[str, ...]
    created: bool

    @property
    def needs_save(self) -> bool:
        """Whether the file should be written now (new file or new passwords)."""
        return self.created or bool(self.generated)


class ConfigStore:
    """The config file at ``path``: load it once, save it atomically many times.

    Args:
        path: The file; ``None`` for settings that live only in memory (an
            embedding application that passed a :class:`Settings` object).
    """

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = Path(path).absolute() if path is not None else None
        self._lock = threading.RLock()
        self._taken = 0
        self._written = 0
        self.saves = 0

    def load(
        self,
        environ: Mapping[str, str] | None = None,
        warn: Callable[[str], None] = lambda message: None,
    ) -> Loaded:
        """Read the file (absent = empty), apply the environment, fill in passwords.

        Raises:
            ConfigError: the file is unreadable, is not TOML (the message carries
                the line and column), or holds a value of the wrong type.
        """
        doc: dict[str, Any] = {}
        created = True
        if self.path is not None and self.path.exists():
            created = False
            doc = self._parse(self.path)
        env_keys = apply_env(doc, os.environ if environ is None else environ, warn)
        try:
            settings = Settings.from_document(doc)
        except ConfigError as exc:
            raise ConfigError(f"{self.path or 'settings'}: {exc}") from None
        generated = []
        for key in ("password", "admin_password"):
            if not getattr(settings, key).strip():
                generated.append(key)
        if generated:
            settings = settings.replace(**{key: generate_password() for key in generated})
        return Loaded(settings, tuple(generated), tuple(env_keys), created)

    @staticmethod
    def _parse(path: Path) -> dict[str, Any]:
        try:
            text = path.read_bytes().decode("utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
        # A UTF-8 byte-order mark (Windows Notepad adds one) is not TOML to
        # tomllib, but ClewdR's parser skips it, so such a file must load here too.
        text = text.removeprefix("\ufeff")
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None

    def save_sync(self, settings: Settings | Callable[[], Settings]) -> bool:
        """Write the settings atomically; a no-op without a path or with ``no_fs``.

        Args:
            settings: The settings, or a function returning them; a function is
                called only once this save holds the lock, so it sees the latest state.

        Returns:
            Whether a file was written.

        Raises:
            OSError: the write failed; the old file is untouched and no temporary
                file is left behind.
        """
        if self.path is None:
            return False
        with self._lock:
            current = settings() if callable(settings) else settings
            if current.no_fs:
                return False
            _write_atomically(self.path, dumps(current.to_document()).encode())
            self.saves += 1
            return True

    async def save(self, settings: Settings | Callable[[], Settings]) -> bool:
        """:meth:`save_sync` in a worker thread, so fsync never stalls the event loop.

        A ``settings`` function is called here, on the event loop, because it reads
        state (the credential pools) that only the loop may touch; the snapshots are
        numbered, so of two saves racing for the lock an older one never overwrites a
        newer one.
        """
        import anyio.to_thread  # here, so the CLI's config checks do not load the async stack

        current = settings() if callable(settings) else settings
        self._taken += 1
        return await anyio.to_thread.run_sync(self._save_numbered, current, self._taken)

    def _save_numbered(self, settings: Settings, number: int) -> bool:
        with self._lock:
            if number < self._written:
                return False
            self._written = number
            return self.save_sync(settings)


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.{os.getpid()}.{threading.get_ident()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
