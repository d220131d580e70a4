#!/usr/bin/env python3
"""Build ``llmproxy.pyz``: one file that holds llmproxy and all of its runtime dependencies.

Usage::

    python zipapp.py [--output PATH] [--no-pyc] [--offline]

The result runs with ``python3 -I llmproxy.pyz ...`` on any POSIX Python 3.11+, with nothing
installed. It works because every runtime distribution (hypercorn, h11, httpx, trio and what
they pull in) ships as a pure-Python ``py3-none-any`` wheel, and Python imports pure-Python
code straight out of a zip file (``zipimport``). Windows is not covered: trio needs the native
``cffi`` package there, and native extensions cannot be imported from a zip.

This script uses only the standard library and never imports llmproxy, so it runs on a bare
interpreter before anything is installed. The steps, and why each exists:

1. **Pinned wheels, checked by sha256** (``PINS`` below). ``pyproject.toml`` declares version
   ranges so that an application embedding llmproxy stays free to resolve; the ``.pyz`` is a
   release artifact and must be reproducible, so it pins exact versions *and* file hashes. A
   hash, unlike a version number, also fails if the index serves different bytes than it did
   when the pin was written. The wheels are fetched with ``pip download --only-binary=:all:
   --no-deps --require-hashes`` (``--no-deps`` because the pin table *is* the complete
   dependency set; the build cross-checks it against every wheel's ``Requires-Dist``).
   Downloads go to ``build/wheels/``; a wheel already there whose hash matches is reused, so a
   rebuild needs no network (``--offline`` turns a missing wheel into an error instead of a
   download).

2. **Unpack with zipfile, not ``pip install``.** A wheel is a zip archive whose root is the
   ``site-packages`` layout, so copying its members is all "installing" a pure wheel means.
   That avoids pip's scripts, ``INSTALLER`` files and ``__pycache__`` directories, and it
   cannot silently pick other versions.

3. **Strip what never runs**: test suites (``*/tests``, ``*/_tests``, trio alone ships about
   0.8 MB of them), type stubs (``*.pyi``), ``bin/`` and each wheel's ``RECORD``
   (its file list and hashes are wrong once files are removed and bytecode is added).
   ``*.dist-info/METADATA`` stays, so ``importlib.metadata.version("httpx")`` still works,
   and so do the license files, which the licenses of these packages require us to ship.

4. **Legacy-layout bytecode next to the sources** (``foo.pyc`` beside ``foo.py``).
   ``zipimport`` never looks in ``__pycache__`` and cannot write bytecode, so a source-only
   zip recompiles some 340 modules on every start (stack.md measured about 720 ms to the first
   response instead of about 240 ms). The ``.pyc`` files are valid only for the minor version
   of the interpreter that runs this script; any other version finds a wrong magic number,
   skips the ``.pyc`` and falls back to the ``.py`` beside it, which is why the sources stay.
   The bytecode is hash-based and *unchecked*: the default timestamp-based ``.pyc`` would be
   compared with the zip entry's timestamp, which the zip format stores as local time, so a
   ``.pyz`` built in one time zone would silently ignore its bytecode in another. Inside an
   immutable archive the source cannot change behind the bytecode's back, so no check is
   needed. Code objects are compiled with file names of the form ``llmproxy.pyz/pkg/mod.py``
   rather than the build machine's staging path.

5. **Deterministic archive.** The inner zip is written here with sorted entries, fixed
   timestamps and fixed permissions, so the same inputs and Python version give the same
   bytes. ``zipapp.create_archive`` then adds the ``#!/usr/bin/env python3`` line and the
   executable bit. (Given a directory, ``create_archive`` on Python 3.11 adds files in
   file-system order with their real timestamps, so it is handed the finished zip instead.)

6. **A top-level ``__main__.py``** that calls ``llmproxy.cli.main``; ``python llmproxy.pyz``
   runs it. ``llmproxy/__main__.py`` separately serves ``python -m llmproxy``.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import hashlib
import os
import py_compile
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path, PurePosixPath
from types import ModuleType


def _import_stdlib_zipapp() -> ModuleType:
    """Import the standard library's zipapp, not this file.

    `python zipapp.py` puts this file's directory first on sys.path, where plain
    `import zipapp` would find this very script instead of the stdlib module.
    """
    here = Path(__file__).resolve().parent
    saved_path = sys.path[:]
    saved_module = sys.modules.pop("zipapp", None)
    sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != here]
    try:
        import zipapp as stdlib_zipapp
    finally:
        sys.path[:] = saved_path
        if saved_module is not None:
            sys.modules["zipapp"] = saved_module
    return stdlib_zipapp


zipapp = _import_stdlib_zipapp()

REPO = Path(__file__).resolve().parent
PACKAGE = "llmproxy"
BUILD_DIR = REPO / "build"
WHEEL_CACHE = BUILD_DIR / "wheels"
STAGE_DIR = BUILD_DIR / "stage"
DEFAULT_OUTPUT = REPO / "llmproxy.pyz"
INTERPRETER = "/usr/bin/env python3"
MIN_PYTHON = (3, 11)


@dataclass(frozen=True)
class Pin:
    """One runtime distribution, pinned to an exact wheel file."""

    name: str
    version: str
    wheel: str
    sha256: str


# The complete runtime closure of hypercorn, h11, httpx and trio on POSIX Python 3.11+.
# To bump a pin: `pip download --only-binary=:all: --no-deps NAME==VER`, then `sha256sum` the wheel.
PINS: tuple[Pin, ...] = (
    Pin("anyio", "4.16.0", "anyio-4.16.0-py3-none-any.whl",
        "c66ae634e0b8228396b801741beb3294326d4b6102f7bba4041c0dfb58c29026"),
    Pin("attrs", "26.1.0", "attrs-26.1.0-py3-none-any.whl",
        "c647aa4a12dfbad9333ca4e71fe62ddc36f4e63b2d260a37a8b83d2f043ac309"),
    Pin("certifi", "2026.10.18", "certifi-2026.10.18-py3-none-any.whl",
        "73191c47aaa79da394e8fee2dbc2ec827432cab56311122c9e47abf79e390f62"),
    Pin("h11", "0.16.0", "h11-0.16.0-py3-none-any.whl",
        "63cf8bbe7522de3bf65932fda1d9c2772064ffb3dae62d55932da54b31cb6c86"),
    Pin("h2", "4.4.1", "h2-4.4.1-py3-none-any.whl",
        "0e25f1462b23c9cb82d9eb02e28bc706dac2a68cb457c6a0d74d63c8a2a5d0e6"),
    Pin("hpack", "4.2.0", "hpack-4.2.0-py3-none-any.whl",
        "858ac0b02280fa582b5080d68db0899c62a80375e0e5413a74970c5e518b6986"),
    Pin("httpcore", "1.0.9", "httpcore-1.0.9-py3-none-any.whl",
        "2d400746a40668fc9dec9810239072b40b4484b640a8c38fd654a024c7a1bf55"),
    Pin("httpx", "0.28.1", "httpx-0.28.1-py3-none-any.whl",
        "d909fcccc110f8c7faf814ca82a9a4d816bc5a6dbfea25d6591d6985b8ba59ad"),
    Pin("hypercorn", "0.18.0", "hypercorn-0.18.0-py3-none-any.whl",
        "225e268f2c1c2f28f6d8f6db8f40cb8c992963610c5725e13ccfcddccb24b1cd"),
    Pin("hyperframe", "6.1.0", "hyperframe-6.1.0-py3-none-any.whl",
        "b03380493a519fce58ea5af42e4a42317bf9bd425596f7a0835ffce80f1a42e5"),
    Pin("idna", "3.20", "idna-3.20-py3-none-any.whl",
        "ab7ae7122974553370f0bdb919e1a960b2cd1bc1ef0276416d896db81c14582c"),
    Pin("outcome", "1.3.0.post0", "outcome-1.3.0.post0-py2.py3-none-any.whl",
        "e771c5ce06d1415e356078d3bdd68523f284b4ce5419828922b6871e65eda82b"),
    Pin("priority", "2.0.0", "priority-2.0.0-py3-none-any.whl",
        "6f8eefce5f3ad59baf2c080a664037bb4725cd0a790d53d59ab4059288faf6aa"),
    Pin("sniffio", "1.3.1", "sniffio-1.3.1-py3-none-any.whl",
        "2f6da418d1f1e0fddd844478f41680e794e6051915791a034ff65e5f100525a2"),
    Pin("sortedcontainers", "2.4.0", "sortedcontainers-2.4.0-py2.py3-none-any.whl",
        "a163dcaede0f1c021485e957a39245190e74249897e2ae4b2aa38595db237ee0"),
    Pin("trio", "0.35.0", "trio-0.35.0-py3-none-any.whl",
        "9a062a029487c1bdbcc1b2543b729a0bde857ce478b1512c84f391f628e0c5c9"),
    Pin("typing_extensions", "4.16.0", "typing_extensions-4.16.0-py3-none-any.whl",
        "481caa481374e813c1b176ada14e97f1f67a4539ce9cfeb3f350d78d6370c2e8"),
    Pin("wsproto", "1.3.2", "wsproto-1.3.2-py3-none-any.whl",
        "61eea322cdf56e8cc904bd3ad7573359a242ba65688716b0710a5eb12beab584"),
)

# Requirements that some pinned wheel declares but that are deliberately not bundled. Any
# other requirement that is missing from PINS stops the build (see check_closure).
NOT_BUNDLED: dict[str, str] = {
    "exceptiongroup": "only below Python 3.11 (built into 3.11+)",
    "taskgroup": "only below Python 3.11 (asyncio.TaskGroup is built in)",
    "tomli": "only below Python 3.11 (tomllib is built in)",
    "cffi": "only on Windows (os_name == 'nt'), which this zip does not support",
}

# Fixed metadata for every archive entry, so rebuilding gives identical bytes. The date goes
# into the zip's MS-DOS date fields as is, with no time-zone conversion.
ENTRY_DATE = (2020, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644
DIR_MODE = 0o040755

MAIN_PY = '''\
"""Entry point of llmproxy.pyz (generated by zipapp.py): `python3 llmproxy.pyz --help`."""
import sys

if sys.version_info < (3, 11):
    sys.exit("llmproxy needs Python 3.11 or newer, this is " + sys.version.split()[0])

from llmproxy.cli import main

raise SystemExit(main())
'''


class BuildError(Exception):
    """A build step failed; the message says which and why."""


def log(message: str) -> None:
    print(message, flush=True)


def normalize(name: str) -> str:
    """Canonical distribution name (PEP 503), so "typing-extensions" == "typing_extensions"."""
    return re.sub(r"[-_.]+", "-", name).lower()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def build_lock() -> Iterator[None]:
    """Serialize builds that share build/ (e.g. a test run and a manual build)."""
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, and no concurrent builds expected either
        yield
        return
    with (BUILD_DIR / ".lock").open("w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


# --- step 1: wheels -------------------------------------------------------------------------


def cached_ok(pin: Pin) -> bool:
    path = WHEEL_CACHE / pin.wheel
    return path.is_file() and sha256_of(path) == pin.sha256


def fetch_wheels(offline: bool) -> list[Path]:
    """Return the path of every pinned wheel, downloading the ones not already cached."""
    WHEEL_CACHE.mkdir(parents=True, exist_ok=True)
    missing = [pin for pin in PINS if not cached_ok(pin)]
    for pin in missing:
        stale = WHEEL_CACHE / pin.wheel
        if stale.exists():
            log(f"  {pin.wheel}: cached file has the wrong sha256, fetching it again")
            stale.unlink()
    if missing and offline:
        names = ", ".join(f"{p.name}=={p.version}" for p in missing)
        raise BuildError(
            f"--offline, but {len(missing)} wheel(s) are not in {WHEEL_CACHE}: {names}. "
            "Run once without --offline to fill the cache."
        )
    if missing:
        log(f"downloading {len(missing)} wheel(s) into {WHEEL_CACHE} ...")
        pip_download(missing)
    else:
        log(f"all {len(PINS)} wheels found in {WHEEL_CACHE}")
    paths = []
    for pin in PINS:
        path = WHEEL_CACHE / pin.wheel
        if not path.is_file():
            raise BuildError(f"pip reported success but {path} does not exist")
        actual = sha256_of(path)
        if actual != pin.sha256:
            raise BuildError(f"{path}: sha256 {actual}, expected {pin.sha256}")
        paths.append(path)
    return paths


def pip_download(pins: list[Pin]) -> None:
    with tempfile.TemporaryDirectory(prefix="llmproxy-zipapp-") as tmp:
        requirements = Path(tmp) / "requirements.txt"
        requirements.write_text(
            "".join(f"{p.name}=={p.version} --hash=sha256:{p.sha256}\n" for p in pins),
            encoding="utf-8",
        )
        command = [
            sys.executable, "-m", "pip", "download",
            "--only-binary=:all:", "--no-deps", "--require-hashes",
            "--disable-pip-version-check", "--progress-bar", "off", "--quiet",
            "--dest", str(WHEEL_CACHE),
            "--requirement", str(requirements),
        ]  # fmt: skip
        try:
            result = subprocess.run(command, capture_output=True, text=True)
        except OSError as exc:
            raise BuildError(f"could not run pip: {exc}") from exc
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        if "No module named pip" in output:
            raise BuildError(f"{sys.executable} has no pip; install it or use a venv")
        raise BuildError(f"pip download failed (exit {result.returncode}):\n{output}")


# --- step 2 and 3: stage --------------------------------------------------------------------


def is_stripped(relpath: PurePosixPath) -> bool:
    """True for files that are never needed at run time (see the module docstring)."""
    parts = relpath.parts
    if parts[0] == "bin":
        return True
    if any(part in ("tests", "_tests", "__pycache__") for part in parts[:-1]):
        return True
    if relpath.suffix in (".pyi", ".pyc", ".pyo"):
        return True
    return len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "RECORD"


def wheel_member_target(member: str) -> PurePosixPath | None:
    """Map a wheel member to its place in site-packages; None for members to skip."""
    path = PurePosixPath(member)
    if path.is_absolute() or ".." in path.parts or "\\" in member:
        raise BuildError(f"unsafe path in wheel: {member!r}")
    if path.parts[0].endswith(".data"):
        # <name>.data/purelib|platlib/... is installed into site-packages; scripts, headers
        # and data would go elsewhere and none of the pinned wheels has any.
        if len(path.parts) > 2 and path.parts[1] in ("purelib", "platlib"):
            return PurePosixPath(*path.parts[2:])
        if len(path.parts) > 1 and path.parts[1] == "scripts":
            return None
        raise BuildError(f"unsupported wheel member {member!r} (data outside site-packages)")
    return path


def check_wheel(wheel: Path, archive: zipfile.ZipFile) -> str:
    """Check that a wheel is pure Python and return its METADATA text."""
    names = archive.namelist()
    info = [n for n in names if re.fullmatch(r"[^/]+\.dist-info/WHEEL", n)]
    meta = [n for n in names if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)]
    if len(info) != 1 or len(meta) != 1:
        raise BuildError(f"{wheel.name}: expected one .dist-info with WHEEL and METADATA")
    wheel_info = archive.read(info[0]).decode("utf-8")
    if "Root-Is-Purelib: true" not in wheel_info:
        raise BuildError(f"{wheel.name}: not a purelib wheel")
    native = [n for n in names if n.endswith((".so", ".pyd", ".dylib", ".dll"))]
    if native or not wheel.name.endswith("-none-any.whl"):
        raise BuildError(f"{wheel.name}: contains native code, cannot be imported from a zip")
    return archive.read(meta[0]).decode("utf-8")


def check_closure(metadata: dict[str, str]) -> None:
    """Fail if a pinned wheel needs a distribution that is neither pinned nor excused.

    Markers are not evaluated (that would need `packaging`); every non-extra requirement must
    be either pinned or listed in NOT_BUNDLED with the reason it is not needed.
    """
    pinned = {normalize(p.name) for p in PINS}
    excused = {normalize(name) for name in NOT_BUNDLED}
    problems = []
    for dist, text in sorted(metadata.items()):
        for requirement in Parser().parsestr(text).get_all("Requires-Dist") or []:
            _, _, marker = requirement.partition(";")
            if re.search(r"\bextra\s*==", marker):
                continue
            match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
            if match is None:
                raise BuildError(f"{dist}: cannot parse Requires-Dist {requirement!r}")
            name = normalize(match.group(1))
            if name not in pinned and name not in excused:
                problems.append(f"{dist} requires {requirement.strip()!r}")
    if problems:
        raise BuildError(
            "the pin table is incomplete; pin these in PINS or excuse them in NOT_BUNDLED:\n  "
            + "\n  ".join(problems)
        )


def unpack_wheels(wheels: list[Path], stage: Path) -> None:
    owner: dict[PurePosixPath, str] = {}
    metadata: dict[str, str] = {}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            metadata[wheel.name] = check_wheel(wheel, archive)
            for member in archive.infolist():
                if member.is_dir():
                    continue
                target = wheel_member_target(member.filename)
                if target is None or is_stripped(target):
                    continue
                if target in owner:
                    raise BuildError(f"{target} is in both {owner[target]} and {wheel.name}")
                owner[target] = wheel.name
                destination = stage.joinpath(*target.parts)
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as src, destination.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
    check_closure(metadata)
    if (stage / PACKAGE).exists():
        raise BuildError(f"a wheel contains a top-level {PACKAGE!r}, which would clash")


def copy_package(stage: Path) -> None:
    source = REPO / PACKAGE
    if not (source / "_version.py").is_file():
        raise BuildError(f"{source / '_version.py'} is missing; is {REPO} the llmproxy repo?")
    copied = 0
    for path in sorted(source.rglob("*")):
        relative = PurePosixPath(path.relative_to(REPO).as_posix())
        if path.is_dir() or is_stripped(relative):
            continue
        if any(part.startswith(".") for part in relative.parts):
            continue  # editor and tool droppings (.mypy_cache, .#foo.py, ...)
        destination = stage.joinpath(*relative.parts)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
        copied += 1
    if not (stage / PACKAGE / "cli.py").is_file():
        raise BuildError(f"{source / 'cli.py'} is missing; the .pyz entry point needs it")
    log(f"copied {copied} files of {PACKAGE}/")


# --- step 4: bytecode -----------------------------------------------------------------------


def compile_stage(stage: Path, archive_name: str) -> None:
    ok = compileall.compile_dir(
        str(stage),
        ddir=archive_name,  # code objects say "llmproxy.pyz/trio/_core/_run.py"
        quiet=1,
        legacy=True,  # foo.pyc beside foo.py, the only layout zipimport reads
        optimize=0,  # keep asserts: zipimport loads foo.pyc whatever -O says
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        workers=0,
    )
    if not ok:
        raise BuildError("compileall reported errors (see above)")


# --- step 5: archive ------------------------------------------------------------------------


def entry_info(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ENTRY_DATE)
    info.external_attr = mode << 16
    info.create_system = 3  # Unix, so the mode bits above are honored by unzip
    return info


def write_zip(stage: Path, target: Path) -> int:
    """Zip `stage` into `target` deterministically; return the number of entries."""
    entries = sorted(stage.rglob("*"), key=lambda p: p.relative_to(stage).as_posix())
    with zipfile.ZipFile(target, "w") as archive:
        for path in entries:
            name = path.relative_to(stage).as_posix()
            if path.is_dir():
                # Directory entries let 3.11's zipimport find namespace packages.
                info = entry_info(name + "/", DIR_MODE)
                info.external_attr |= 0x10  # MS-DOS directory flag
                archive.writestr(info, b"")
            else:
                info = entry_info(name, FILE_MODE)
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes(), compresslevel=9)
    return len(entries)


def build(output: Path, with_pyc: bool, offline: bool) -> None:
    wheels = fetch_wheels(offline)
    if STAGE_DIR.exists():
        shutil.rmtree(STAGE_DIR)
    STAGE_DIR.mkdir(parents=True)
    unpack_wheels(wheels, STAGE_DIR)
    log(f"unpacked {len(wheels)} wheels into {STAGE_DIR}")
    copy_package(STAGE_DIR)
    (STAGE_DIR / "__main__.py").write_text(MAIN_PY, encoding="utf-8")
    if with_pyc:
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        log(f"compiling bytecode for Python {version} (other versions will use the sources)")
        compile_stage(STAGE_DIR, output.name)

    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".zipapp-", dir=output.parent) as tmp:
        inner = Path(tmp) / "inner.zip"
        count = write_zip(STAGE_DIR, inner)
        # Given a finished zip, create_archive copies it as it is after the shebang line.
        # (On that path it does not set the executable bit, so that is done here.)
        staged_output = Path(tmp) / output.name
        zipapp.create_archive(inner, staged_output, interpreter=INTERPRETER)
        mode = staged_output.stat().st_mode
        staged_output.chmod(mode | ((mode & 0o444) >> 2))  # +x wherever +r is set
        os.replace(staged_output, output)
    size = output.stat().st_size
    log(f"wrote {output} ({size:,} bytes, {size / 1e6:.2f} MB, {count} entries)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Build llmproxy.pyz, a single-file zipapp with all runtime dependencies.",
    )
    parser.add_argument(
        "--output", "-o", type=Path, default=DEFAULT_OUTPUT,
        help=f"where to write the archive (default: {DEFAULT_OUTPUT.name} in the repo root)",
    )  # fmt: skip
    parser.add_argument(
        "--no-pyc", action="store_true",
        help="ship sources only (smaller, slower start; no bytecode for one Python version)",
    )  # fmt: skip
    parser.add_argument(
        "--offline", action="store_true",
        help=f"never download; fail if a pinned wheel is not already in {WHEEL_CACHE}",
    )  # fmt: skip
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if sys.version_info < MIN_PYTHON:
        print(f"zipapp.py: error: needs Python 3.11+, this is {sys.version.split()[0]}",
              file=sys.stderr)  # fmt: skip
        return 2
    output = args.output.expanduser().resolve()
    if output.is_dir():
        print(f"zipapp.py: error: --output {output} is a directory; give a file name",
              file=sys.stderr)  # fmt: skip
        return 2
    started = time.monotonic()
    try:
        with build_lock():
            build(output, with_pyc=not args.no_pyc, offline=args.offline)
    except BuildError as exc:
        print(f"zipapp.py: error: {exc}", file=sys.stderr)
        return 1
    except (OSError, zipfile.BadZipFile, zipapp.ZipAppError) as exc:
        print(f"zipapp.py: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    log(f"done in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
