"""Cromwell's jar: checked before anything is written or started, then put in place.

Checked that it exists and has the sha256 of sites.yaml; put in place at
``jaws-<env>/cromwell.jar`` (the fake sites' stand-in built from pytest-jaws's own package,
:data:`STANDIN`, as a Python zip application, never from a JAWS checkout; or the jar given by
``--jaws-cromwell-jar``). Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import zipapp
from pathlib import Path

from . import safedirs
from .errors import InstallError
from .planmodel import EnvironmentPlan

#: The Cromwell stand-in (a Python zip application's source) and its launcher ``fake-java``.
STANDIN = Path(__file__).with_name("fakes") / "cromwell"
FAKE_JAVA = Path(__file__).with_name("fakes") / "fakejava.py"


def sha256(path: Path) -> str:
    """Return the hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_cromwell(plan: EnvironmentPlan) -> None:
    """Pre-flight: the Cromwell jar to run exists and has the sha256 of sites.yaml.

    :raises InstallError: naming the path and the expected checksum, before anything is
        written or started.
    """
    c = plan.cromwell
    if c is None or c.standin:
        return
    path = c.source or c.jar
    if not Path(path).is_file():
        raise InstallError(
            f"environment {plan.env}: Cromwell {c.version} jar {path} is missing (expected "
            f"sha256 {c.sha256 or 'not set'}); put the release jar there, or pass "
            "--jaws-cromwell-jar PATH")
    if c.sha256 is None:
        if not plan.fake:
            raise InstallError(f"environment {plan.env}: sites.yaml sets no cromwell.sha256 for "
                               f"site {plan.site}; set the sha256 of the Cromwell {c.version} "
                               "release jar before deploying a real site")
        return
    actual = sha256(Path(path))
    if actual != c.sha256:
        raise InstallError(f"environment {plan.env}: Cromwell jar {path} has sha256 {actual}, "
                           f"expected {c.sha256} (Cromwell {c.version}, sites.yaml); put the "
                           "right jar there or fix cromwell.sha256")


def place_cromwell(plan: EnvironmentPlan) -> None:
    """Put the plan's Cromwell jar in place.

    The stand-in built from the fake checkout, or the ``--jaws-cromwell-jar`` copied
    (atomically; an identical jar is left as it is).
    """
    c = plan.cromwell
    if c is None or (not c.standin and c.source is None):
        return
    tmp = c.jar.with_name(f".{c.jar.name}.{os.getpid()}.tmp")
    safedirs.ensure_dir(c.jar.parent, 0o755, None)
    if c.standin:
        zipapp.create_archive(STANDIN, tmp)
        _place_fake_java(plan)
    elif c.source is not None:  # always, after the return above
        shutil.copyfile(c.source, tmp)
    os.chmod(tmp, 0o644)
    if c.jar.is_file() and sha256(c.jar) == sha256(tmp):
        tmp.unlink()
        return
    os.replace(tmp, c.jar)


def _place_fake_java(plan: EnvironmentPlan) -> None:
    """Write ``fake-java`` (:data:`FAKE_JAVA`) into the bin/ of the venv that runs Cromwell.

    Run by that venv's Python (a pip venv's ``bin/python``; a light venv has none: the plan's
    interpreter), so that the cromwell shim finds it on the venv's PATH whatever checkout the
    venv was built from.
    """
    from . import safefs

    venv = next((v.path for v in plan.venvs.values() if v.name == "jtm"), None)
    if venv is None:
        return
    python = venv / "bin" / "python"
    interpreter = str(python) if python.exists() else plan.python
    safedirs.ensure_dir(venv / "bin", 0o755, None)
    safefs.write_file(venv / "bin" / "fake-java",
                      f"#!{interpreter}\n" + FAKE_JAVA.read_text(), 0o755)
