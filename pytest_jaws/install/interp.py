"""The interpreter of a site's Python version for the service venvs (``--jaws-python``).

The real sites load Python 3.8 (JAWS .gitlab-ci.yml ``CORI_LOAD_PYTHON``, ``JGI_LOAD_PYTHON``,
``TAHOMA_LOAD_PYTHON``; sites.yaml ``python_version``) and JAWS's pins install only there
(greenlet 1.1.0, PyYAML 5.4.1). A fake twin that runs the real code builds its venvs with an
interpreter of that version: the one ``--jaws-python`` (ini ``jaws_python``) names, else a
local one (``python<version>`` on PATH, then pyenv's ``versions/<version>.*``).

Checked before anything is written: it runs, it is that version, and every role user can run
it (as root, ``/root`` is 0700: pyenv's interpreters there are not reachable by role users).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from collections.abc import Iterable

from ..errors import OptionsError

#: What an interpreter prints: its real executable and its version.
_PROBE = "import sys, platform; print(sys.executable); print(platform.python_version())"


def _probe(argv: list[str], env: dict[str, str] | None = None) -> tuple[str, str] | None:
    """Run ``argv`` + the probe; ``(executable, version)``, or None when it does not run."""
    try:
        result = subprocess.run([*argv, "-c", _PROBE], capture_output=True, text=True,
                                timeout=30, stdin=subprocess.DEVNULL, env=env, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = result.stdout.split()
    if result.returncode != 0 or len(lines) != 2:
        return None
    return lines[0], lines[1]


def _matches(version: str, wanted: str) -> bool:
    return version == wanted or version.startswith(wanted + ".")


def candidates(version: str) -> list[str]:
    """Return where a local interpreter of ``version`` (``3.8``) may be, in order of preference.

    ``python<version>`` on PATH, then ``$PYENV_ROOT`` (default ``~/.pyenv``)
    ``versions/<version>.*/bin/python<version>``, newest first.
    """
    out = []
    found = shutil.which(f"python{version}")
    if found:
        out.append(found)
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    pattern = os.path.join(root, "versions", f"{version}.*", "bin", f"python{version}")

    def key(path: str) -> list[int]:
        name = path.split(os.sep)[-3]
        return [int(p) if p.isdigit() else -1 for p in name.split(".")]
    out += sorted(glob.glob(pattern), key=key, reverse=True)
    return out


def find_python(version: str) -> str | None:
    """Return the real executable of a local interpreter of ``version``, or None.

    A pyenv shim is followed to the interpreter it runs (its ``sys.executable``).
    """
    for path in candidates(version):
        probed = _probe([path])
        if probed and _matches(probed[1], version):
            return probed[0]
    return None


def _users_that_cannot_run(path: str, users: Iterable[str]) -> list[str]:
    from ..host.become import minimal_env

    if os.geteuid() != 0:
        return []
    bad = []
    for user in dict.fromkeys(users):
        if _probe(["runuser", "-u", user, "--", path], env=minimal_env()) is None:
            bad.append(user)
    return bad


def resolve_python(given: str | None, version: str, users: Iterable[str],
                   site: str) -> str:
    """Return the interpreter of ``version`` for ``site``'s service venvs, checked.

    :param given: ``--jaws-python`` (None: find one, :func:`find_python`).
    :param users: the role users that run it (checked only as root: they run it by
        ``runuser``).
    :raises OptionsError: none found, or it does not run, or is another version, or a role
        user cannot run it; naming the version, the path and what to do.
    """
    how = (f"give one with --jaws-python=PATH (ini jaws_python), e.g. an interpreter built "
           f"by pyenv install {version}")
    if given is None:
        found = find_python(version)
        if found is None:
            raise OptionsError(
                f"site {site!r} runs JAWS on Python {version} (sites.{site}.python_version) and "
                f"no local interpreter of it was found (python{version} on PATH, pyenv's "
                f"versions/{version}.*); {how}")
        path = found
    else:
        probed = _probe([given])
        if probed is None:
            raise OptionsError(f"--jaws-python {given}: does not run as a Python interpreter; "
                               f"{how}")
        if not _matches(probed[1], version):
            raise OptionsError(f"--jaws-python {given} is Python {probed[1]}, and site "
                               f"{site!r} runs JAWS on Python {version} "
                               f"(sites.{site}.python_version); give a Python {version}")
        path = given  # as given: the venvs are made by it
    bad = _users_that_cannot_run(path, users)
    if bad:
        prefix = os.path.dirname(os.path.dirname(path))
        raise OptionsError(
            f"the interpreter {path} (Python {version}) cannot be run by role user"
            f"{'s' if len(bad) > 1 else ''} {', '.join(bad)} (a directory on its path is not "
            "theirs to enter: as root, /root is mode 0700). Copy it to a root-owned, "
            f"world-readable place, e.g. cp -a {prefix} /opt/python{version} (pyenv builds link "
            f"libpython by an absolute rpath: patchelf --set-rpath '$ORIGIN/../lib' "
            f"/opt/python{version}/bin/python{version}), and pass "
            f"--jaws-python=/opt/python{version}/bin/python{version}")
    return path
