"""Cromwell's jar: checked before anything is written or started, then put in place.

Put in place at ``jaws-<env>/cromwell.jar``: the fake sites' stand-in built from pytest-jaws's
own package (:data:`STANDIN`, as a Python zip application, never from a JAWS checkout), the jar
given by ``--jaws-cromwell-jar``, or, when no jar is there, the pinned release fetched from
sites.yaml's ``cromwell.url`` as JAWS does on every deploy (``test/integration/deploy-cromwell``:
``wget $CROMWELL_JAR_URL``; the runners of real sites have network). Checked against sites.yaml's
``cromwell.sha256`` when that is set; its digest is printed either way, so that a site can pin it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import zipapp
from pathlib import Path

from ..errors import InstallError
from ..host import safedirs
from ..plan.planmodel import EnvironmentPlan

#: The Cromwell stand-in (a Python zip application's source) and its launcher ``fake-java``.
STANDIN = Path(__file__).parents[1] / "fakes" / "cromwell"
FAKE_JAVA = Path(__file__).parents[1] / "fakes" / "fakejava.py"


def sha256(path: Path) -> str:
    """Return the hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_cromwell(plan: EnvironmentPlan) -> None:
    """Pre-flight: the Cromwell jar to run exists (or can be fetched) and has the pinned sha256.

    A jar that is absent is fine when sites.yaml names its release URL: it is fetched at
    install (:func:`place_cromwell`).

    :raises InstallError: naming the path and the expected checksum, before anything is
        written or started.
    """
    c = plan.cromwell
    if c is None or c.standin:
        return
    path = c.source or c.jar
    if not Path(path).is_file():
        if c.source is None and c.url:
            return  # fetched at install, and checked then
        raise InstallError(
            f"environment {plan.env}: Cromwell {c.version} jar {path} is missing (expected "
            f"sha256 {c.sha256 or 'not set'}); put the release jar there, or pass "
            "--jaws-cromwell-jar PATH, or set cromwell.url in sites.yaml")
    if c.sha256 is None:
        return  # its digest is printed at install, to be pinned
    actual = sha256(Path(path))
    if actual != c.sha256:
        raise InstallError(f"environment {plan.env}: Cromwell jar {path} has sha256 {actual}, "
                           f"expected {c.sha256} (Cromwell {c.version}, sites.yaml); put the "
                           "right jar there or fix cromwell.sha256")


#: Seconds to connect to the release server, and between two reads of the download.
FETCH_TIMEOUT = (10.0, 60.0)
#: Largest jar fetched (Cromwell 58's is about 200 MB).
FETCH_LIMIT = 1 << 30


def fetch(url: str, target: Path) -> str:
    """Download ``url`` into the new file ``target``; return its sha256.

    :raises InstallError: naming the URL and what went wrong (HTTP status, connection, size).
    """
    import requests
    digest = hashlib.sha256()
    size = 0
    try:
        with requests.get(url, stream=True, timeout=FETCH_TIMEOUT) as answer:
            if answer.status_code != 200:
                raise InstallError(f"Cromwell jar {url}: HTTP {answer.status_code} "
                                   f"{answer.reason}; check cromwell.url in sites.yaml")
            with open(target, "xb") as out:
                for block in answer.iter_content(1 << 20):
                    size += len(block)
                    if size > FETCH_LIMIT:
                        raise InstallError(f"Cromwell jar {url}: larger than {FETCH_LIMIT} bytes")
                    digest.update(block)
                    out.write(block)
    except requests.RequestException as exc:
        raise InstallError(f"Cromwell jar {url}: could not fetch it: {exc}") from None
    return digest.hexdigest()


def place_cromwell(plan: EnvironmentPlan) -> str | None:
    """Put the plan's Cromwell jar in place; return what to tell about it, with its digest.

    The stand-in (:data:`STANDIN`), the ``--jaws-cromwell-jar`` copied (atomically;
    an identical jar is left as it is), or, when no jar is in place, the release fetched from
    ``cromwell.url`` and checked against ``cromwell.sha256`` when that is set.

    :raises InstallError: a fetch that fails, or a fetched jar with another sha256 (it is not
        put in place).
    """
    c = plan.cromwell
    if c is None:
        return None
    if not c.standin and c.source is None:
        if c.jar.is_file() or not c.url:
            return _digest_note(c, sha256(c.jar)) if c.jar.is_file() else None
        safedirs.ensure_dir(c.jar.parent, 0o755, None)
        tmp = c.jar.with_name(f".{c.jar.name}.{os.getpid()}.fetch")
        try:
            actual = fetch(c.url, tmp)
            if c.sha256 is not None and actual != c.sha256:
                raise InstallError(f"environment {plan.env}: Cromwell {c.version} jar fetched from "
                                   f"{c.url} has sha256 {actual}, expected {c.sha256} "
                                   "(cromwell.sha256 in sites.yaml); it was not put in place")
            os.chmod(tmp, 0o644)
            os.replace(tmp, c.jar)
        finally:
            tmp.unlink(missing_ok=True)
        return f"fetched {c.url}: " + _digest_note(c, actual)
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
        return None
    os.replace(tmp, c.jar)
    return None if c.standin else _digest_note(c, sha256(c.jar))


def _digest_note(c, actual: str) -> str:
    """``Cromwell 58 jar X sha256 <hex> (pinned)`` or how to pin it."""
    pinned = "matches cromwell.sha256" if c.sha256 == actual else (
        "not pinned: set cromwell.sha256 in sites.yaml to this value to pin it")
    return f"Cromwell {c.version} jar {c.jar} sha256 {actual} ({pinned})"


def _place_fake_java(plan: EnvironmentPlan) -> None:
    """Write ``fake-java`` (:data:`FAKE_JAVA`) into the bin/ of the venv that runs Cromwell.

    Run by that venv's Python (a pip venv's ``bin/python``; a light venv has none: the plan's
    interpreter), so that the cromwell shim finds it on the venv's PATH whatever checkout the
    venv was built from.
    """
    from ..host import safefs

    venv = next((v.path for v in plan.venvs.values() if v.name == "jtm"), None)
    if venv is None:
        return
    python = venv / "bin" / "python"
    interpreter = str(python) if python.exists() else plan.python
    safedirs.ensure_dir(venv / "bin", 0o755, None)
    safefs.write_file(venv / "bin" / "fake-java",
                      f"#!{interpreter}\n" + FAKE_JAVA.read_text(), 0o755)
