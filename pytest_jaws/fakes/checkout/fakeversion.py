"""The version of the fake checkout's packages, taken from git the way JAWS's are.

JAWS's setup.py files (rpc/, site/, central/, jtm/) take the version from
``git describe --dirty=-dev --always --tags --abbrev=6`` with the first ``-`` made ``+``
(``2.6.0-rc1-70-g995361`` becomes ``2.6.0+rc1-70-g995361``, which packaging spells
``2.6.0+rc1.70.g995361``), so that a new commit, or a dirty tree (``-dev``), is a new version.
The fake packages do the same when this checkout is the top of a git repository (a git copy
of the fake checkout); anywhere else (shipped inside pytest-jaws, or exported) they are
``0.0.0+fake``. A repository without tags gives the commit alone: ``0.0.0+g<commit>``.
Each package's setup.py runs this file as ``__main__`` (in the package directory, as pip's
build does); standard library and setuptools only.
"""

import subprocess
from pathlib import Path

#: The version outside a git checkout of its own.
NOT_IN_GIT = "0.0.0+fake"


def _git(directory, *args):
    return subprocess.run(("git", *args), cwd=directory, capture_output=True, text=True,  # noqa: S607
                          check=True, timeout=30).stdout.strip()


def version(package):
    """Return the version of the package in directory ``package``."""
    package = Path(package).resolve()
    try:
        if Path(_git(package, "rev-parse", "--show-toplevel")).resolve() != package.parent:
            return NOT_IN_GIT
        described = _git(package, "describe", "--dirty=-dev", "--always", "--tags", "--abbrev=6")
    except (OSError, subprocess.SubprocessError):
        return NOT_IN_GIT
    found = described.replace("-", "+", 1)
    return found if found[:1].isdigit() else f"0.0.0+g{found}"


if __name__ == "__main__":
    from setuptools import setup

    setup(version=version(Path.cwd()))  # everything else is in the package's pyproject.toml
