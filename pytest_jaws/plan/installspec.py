"""What installation needs from a plan, as plain data.

The JAWS checkout (the fake one shipped with pytest-jaws, and the package directories a
checkout must have), the service venvs, Cromwell's jar, and install steps as commands (what
``--jaws-plan`` shows).

:mod:`pytest_jaws.plan.plan` puts these in an environment's plan; :mod:`pytest_jaws.install.install` and
:mod:`pytest_jaws.install.cromwell` carry them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import SourceError

#: The fake JAWS checkout shipped with pytest-jaws: the same package directories, distribution
#: names and console scripts as JAWS (rpc/, site/, central/, jtm/), plus the Cromwell stand-in.
FAKE_CHECKOUT = Path(__file__).parents[1] / "fakes" / "checkout"
#: The checkout directories a JAWS source must have (Makefile pkg-*).
CHECKOUT_PACKAGES = ("rpc", "site", "central", "jtm")


@dataclass(frozen=True)
class Command:
    """One step of a deployment as a command: who runs it (``user``), the ``argv`` and why.

    ``creates`` is the path whose existence means it was done already (None: always run).
    """

    user: str
    argv: tuple[str, ...]
    why: str
    creates: Path | None


@dataclass(frozen=True)
class VenvPlan:
    """A service venv: ``path``, the checkout directories installed into it, and its ``role``.

    The directories in install order (jaws_rpc first); ``role`` is the role whose programs use
    it.
    """

    name: str
    path: Path
    packages: tuple[str, ...]
    role: str


@dataclass(frozen=True)
class CromwellPlan:
    """Cromwell's jar: where it goes, where it comes from, its version and expected sha256.

    ``jar`` (where JAWS runs it from, ``jaws-<env>/cromwell.jar``), ``source`` (a file copied
    there, None: use what is there), the ``version`` and the expected ``sha256`` (None: not
    checked, fake stand-in). ``standin``: build the stand-in jar from the fake checkout.
    ``url``: the pinned release, fetched when the jar is absent (JAWS
    ``test/integration/deploy-cromwell``: ``wget $CROMWELL_JAR_URL``; .gitlab-ci.yml).
    """

    jar: Path
    source: Path | None
    version: str
    sha256: str | None
    standin: bool
    url: str | None = None


@dataclass(frozen=True)
class PackageChange:
    """What an install did to one package of the checkout, over every venv that holds it.

    ``package`` is the import name (jaws_site); ``venvs`` the names of the venvs it went into;
    ``old`` the version they held before (None: not installed), ``new`` the version now;
    ``files_changed``: its files differ from what those venvs held (or that is unknown), so
    the programs that run from them restart (a new version alone, from a commit elsewhere in
    the checkout, changes no code that runs); ``reinstalled``: its wheel went in (False: the
    same content was in place, nothing was done); ``built``: its wheel was built by this
    run (False: taken from the wheelhouse).
    """

    package: str
    venvs: tuple[str, ...]
    old: str | None
    new: str
    files_changed: bool
    reinstalled: bool
    built: bool = False


def check_source(source: Path, packages: tuple[str, ...] = CHECKOUT_PACKAGES) -> Path:
    """Return ``source`` when it is a JAWS checkout with every package directory.

    :raises SourceError: naming the missing directory and what a checkout must hold.
    """
    source = Path(source)
    if not source.is_dir():
        raise SourceError(f"--jaws-source {source}: not a directory; give a JAWS checkout "
                          f"(with {', '.join(d + '/' for d in packages)})")
    for name in packages:
        if not ((source / name / "setup.py").is_file() or (source / name / "pyproject.toml").is_file()):
            raise SourceError(f"--jaws-source {source}: the checkout has no {name}/ package "
                              f"directory (with setup.py or pyproject.toml); a JAWS checkout "
                              f"holds {', '.join(d + '/' for d in packages)}")
    return source
