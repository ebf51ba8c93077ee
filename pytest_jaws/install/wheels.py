"""Wheels of a JAWS checkout, cached by content, and the versions of what a venv holds.

A package directory's *content key* is the sha256 of its files (build output left out) and of
what its ``setup.py`` reads from git: JAWS's packages take their version from
``git describe --dirty=-dev --always --tags --abbrev=6`` with the first ``-`` made ``+``
(JAWS: rpc/setup.py, site/setup.py, central/setup.py, jtm/setup.py). Its wheel is kept in
``<wheelhouse>/<import name>-<key>/``: the same content is built once, and a checkout at a new
commit (a new version) or with changed files (a dirty tree keeps its version) gets a new wheel.

The build writes nothing into the checkout: setuptools is pointed at a build directory of its
own through ``DIST_EXTRA_CONFIG`` (a reused ``build/`` in the checkout would put files deleted
from the checkout back into the wheel).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import InstallError
from ..host import safedirs, safefs
from .cromwell import sha256

#: JAWS's version command (rpc/setup.py, site/setup.py, ...), run in the package directory.
GIT_DESCRIBE = ("git", "describe", "--dirty=-dev", "--always", "--tags", "--abbrev=6")
#: Build output that is not content: left out of the content key, anywhere in the tree for
#: the first two, in the package directory itself for the others.
_SKIP_ANYWHERE = ("__pycache__",)
_SKIP_TOP = ("build", "dist", ".eggs", ".git")


@dataclass(frozen=True)
class Content:
    """What a package directory holds: ``files`` (sha256 of its files), ``describe`` and ``key``.

    ``describe`` is what :data:`GIT_DESCRIBE` prints there ('' outside git); ``key`` (sha256 of
    both) names the wheel built from it.
    """

    files: str
    describe: str
    key: str


def files_digest(directory: Path) -> str:
    """Return the sha256 of the files under ``directory`` (relative names and bytes).

    Links are hashed as their target text, never followed; ``__pycache__``, ``*.pyc``,
    ``*.egg-info`` and, at the top, ``build/``, ``dist/``, ``.eggs/``, ``.git`` are left out.

    :raises OSError: when a file cannot be read.
    """
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(directory):
        rel = Path(root).relative_to(directory)
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_ANYWHERE and not d.endswith(".egg-info")
                         and not (rel == Path(".") and d in _SKIP_TOP))
        for d in dirs:
            if os.path.islink(os.path.join(root, d)):
                digest.update(b"L" + (rel / d).as_posix().encode() + b"\0"
                              + os.readlink(os.path.join(root, d)).encode() + b"\0")
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
        for name in sorted(files):
            if name.endswith(".pyc") or (rel == Path(".") and name in _SKIP_TOP):
                continue
            path = os.path.join(root, name)
            st = os.lstat(path)
            label = (rel / name).as_posix().encode()
            if stat.S_ISLNK(st.st_mode):
                digest.update(b"L" + label + b"\0" + os.readlink(path).encode() + b"\0")
            elif stat.S_ISREG(st.st_mode):
                digest.update(b"F" + label + b"\0" + sha256(Path(path)).encode())
    return digest.hexdigest()


def describe(directory: Path) -> str:
    """Return what JAWS's ``setup.py`` reads from git in ``directory`` ('' when not in git)."""
    try:
        out = subprocess.run(GIT_DESCRIBE, cwd=directory, capture_output=True, text=True,
                             timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def content(directory: Path) -> Content:
    """Return the :class:`Content` of a package directory of a checkout.

    :raises OSError: when a file cannot be read.
    """
    files, desc = files_digest(directory), describe(directory)
    return Content(files, desc, hashlib.sha256(f"{files}\0{desc}".encode()).hexdigest())


def cache_dir(house: Path, import_name: str, key: str) -> Path:
    """Where the wheel of ``import_name`` with content ``key`` is kept."""
    return house / f"{import_name}-{key[:32]}"


def cached_wheel(house: Path, import_name: str, key: str) -> Path | None:
    """Return the cached wheel of that content, or None.

    Only a directory (not a link) holding exactly one regular ``.whl`` file counts.
    """
    where = cache_dir(house, import_name, key)
    try:
        if not stat.S_ISDIR(os.lstat(where).st_mode):
            return None
        found = [p for p in where.iterdir() if p.suffix == ".whl"
                 and stat.S_ISREG(os.lstat(p).st_mode)]
    except OSError:
        return None
    return found[0] if len(found) == 1 else None


def build_into_cache(house: Path, import_name: str, key: str,
                     build: Callable[[Path, dict[str, str]], None]) -> Path:
    """Build a wheel into the cache and return its path.

    ``build(out_dir, env)`` runs the build with ``env`` (the caller's environment plus
    ``DIST_EXTRA_CONFIG``, which sends setuptools' ``build/`` and ``*.egg-info`` to a scratch
    directory) and must leave one wheel in ``out_dir``. The result is renamed into place, so
    that a run beside this one (another environment on the same base directory) sees a whole
    wheel or none; when that run was first, its wheel is kept.

    :raises InstallError: when the build left no wheel or several (and what ``build`` raises).
    """
    safedirs.ensure_dir(house, 0o755)
    scratch = house / f".build-{import_name}-{os.getpid()}-{secrets.token_hex(4)}"
    safedirs.ensure_dir(scratch, 0o700)
    try:
        out = scratch / "wheel"
        safedirs.ensure_dir(out, 0o755)
        config = scratch / "setuptools.cfg"
        where = str(scratch).replace("%", "%%")  # setuptools reads it with interpolation
        safefs.write_file(config, f"[build]\nbuild_base = {where}/build\n"
                                  f"[egg_info]\negg_base = {where}\n", 0o644)
        build(out, dict(os.environ, DIST_EXTRA_CONFIG=str(config)))
        wheels = sorted(out.glob("*.whl"))
        if len(wheels) != 1:
            raise InstallError(f"the build of {import_name} left {len(wheels)} wheels in {out}")
        os.chmod(wheels[0], 0o644)
        target = cache_dir(house, import_name, key)
        try:
            os.rename(out, target)
        except OSError:  # another run put the same content there first
            if cached_wheel(house, import_name, key) is None:
                raise
        found = cached_wheel(house, import_name, key)
        assert found is not None  # noqa: S101 - renamed into place just above
        return found
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def wheel_version(wheel: Path) -> str:
    """Return the version in a wheel's file name (``jaws_site-2.6.0+rc1.70.g995361-py3-...``)."""
    return wheel.name.split("-")[1]


def installed_version(venv: Path, import_name: str) -> str | None:
    """Return the version of ``import_name``'s distribution installed in ``venv``, else None.

    Read from the name of its ``*.dist-info`` directory (what pip wrote), without running the
    venv's Python.
    """
    pattern = re.compile(rf"{re.escape(import_name)}-([^-]+)\.dist-info", re.IGNORECASE)
    for site in sorted(venv.glob("lib/python*/site-packages")):
        for entry in site.iterdir():
            found = pattern.fullmatch(entry.name)
            if found:
                return found.group(1)
    return None
