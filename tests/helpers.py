"""Helpers shared by pytest-jaws's own tests.

Imported as ``from helpers import ...`` (the fixtures and hooks stay in conftest.py): the
shipped sites file as data, processes and ports left behind, reading a run's output, and the
skip for tests that need the role users.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from pytest_jaws.plan.plan import MARKER_VARIABLE
from pytest_jaws.sites.sites import PACKAGED_SITES_FILE, load_sites

ROOT = Path(__file__).resolve().parent.parent
SUITES = ROOT / "suites"

def sites_data() -> dict:
    """Return the shipped sites file as plain data, to be changed by a test."""
    return yaml.load(PACKAGED_SITES_FILE.read_text(), Loader=yaml.CSafeLoader)


def write_sites(path: Path, data: dict) -> Path:
    """Write ``data`` as a sites file and return its path."""
    path.write_text(yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=False))
    return path


def failed_tests(result: pytest.RunResult) -> list[str]:
    """Return the ids (``test_x[dev]``) of the tests a pytester run lists as FAILED, sorted."""
    return sorted(line.split("::", 1)[1].split(" ")[0] for line in result.stdout.lines
                  if line.startswith("FAILED"))


def only_failure(result: pytest.RunResult, test: str, *lines: str) -> None:
    """Assert that ``test`` is the run's one failed test and its output has ``lines`` (fnmatch)."""
    assert failed_tests(result) == [test], result.stdout.str()
    result.stdout.fnmatch_lines(list(lines))


def leftovers(base: Path) -> list[psutil.Process]:
    """Live processes carrying a deployment marker that points under ``base``."""
    found = []
    for proc in psutil.process_iter():
        try:
            marker = proc.environ().get(MARKER_VARIABLE, "")
        except (psutil.Error, OSError):
            continue
        if str(base) in marker and proc.status() != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


def listening(ports: set[int]) -> set[int]:
    """Return the subset of ``ports`` that some process listens on."""
    return {c.laddr.port for c in psutil.net_connections("tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr.port in ports}


def wait_for_line(proc, needle: str, timeout: float = 120.0) -> list[str]:
    """Read ``proc``'s stdout until a line contains ``needle``; returns the lines read.

    The deadline (seconds) is only there so that a broken run cannot hang the tests.
    """
    end = time.monotonic() + timeout
    seen = []
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if needle in line:
            return seen
    raise AssertionError(f"{needle!r} never printed:\n{''.join(seen)}")


def signal_after_line(proc, needle: str, sig: int) -> str:
    """Send ``sig`` to ``proc`` once its stdout shows ``needle``; return all its output.

    ``proc`` is killed if it is still alive after 60 s (a run that ignores the signal).
    """
    try:
        seen = wait_for_line(proc, needle)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return "".join(seen) + out


def assert_nothing_left(base: Path, offset: int) -> None:
    """Assert that nothing of a deployment under ``base`` is left.

    No process of it and no port of the table (shifted by ``offset``), once processes just
    signalled have been reaped.
    """
    for _ in range(100):
        if not leftovers(base) and not listening(table_ports(offset)):
            return
        time.sleep(0.1)
    assert not leftovers(base), f"processes left behind: {leftovers(base)}"
    assert not listening(table_ports(offset)), "ports of the table still listening"


def table_ports(offset: int = 0) -> set[int]:
    """Every port of the shipped table, shifted by ``offset``."""
    model = load_sites(PACKAGED_SITES_FILE)
    return {p + offset for row in model.ports.values() for p in row.by_name().values()}


def have_role_users(*others: str) -> bool:
    """Tell whether the users of scripts/create-users.sh exist (jaws, jaws_jtm and ``others``)."""
    try:
        for user in ("jaws", "jaws_jtm", *others):
            pwd.getpwnam(user)
    except KeyError:
        return False
    return True


#: Skip a test unless it runs as root with the role users (CI has both).
needs_root_and_users = pytest.mark.skipif(
    os.geteuid() != 0 or not have_role_users(),
    reason="needs root and the users of scripts/create-users.sh (CI runs both)")


def run_in_own_netns(script: str, tmp: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the shell ``script`` from the project's root in a network namespace of its own (root).

    There the documented ports are free whatever else runs on the host, so a documented command
    can run verbatim, at port offset 0. Loopback is brought up first; ``$TMPDIR`` is ``tmp``;
    this interpreter's ``bin`` comes first on PATH (its ``pytest``, ``python``, ``mkdocs``); the
    caller's PYTEST_* and JAWS_* variables are left out, and ``CI`` (a person's terminal: with
    it pytest writes every line of the short summary in full, a CI run found). ``timeout``
    (seconds) only keeps a hung command from hanging the tests.
    """
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PYTEST_", "JAWS_")) and key != "CI"}
    env["TMPDIR"] = str(tmp)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    argv = ["unshare", "-n", "sh", "-c", f"set -e\nip link set lo up\n{script}"]
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def require_servers(have: bool) -> None:
    """Skip a test that needs MariaDB and RabbitMQ when ``have`` is False, saying why.

    ``JAWS_REQUIRE_DEPENDENCY_SERVERS=1`` (CI) makes it a failure instead.
    """
    if have:
        return
    why = ("MariaDB and RabbitMQ server binaries are not installed (optional set-up, README: "
           "apt-get install mariadb-server rabbitmq-server)")
    if os.environ.get("JAWS_REQUIRE_DEPENDENCY_SERVERS") == "1":
        pytest.fail(why + "; JAWS_REQUIRE_DEPENDENCY_SERVERS=1 says they must run here")
    pytest.skip(why)
