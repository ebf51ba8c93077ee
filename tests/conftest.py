"""Fixtures and hooks of pytest-jaws's own tests.

Run the suites in a subprocess against a (possibly broken on purpose) sites file, on ports no
other test uses, and check nothing is left behind. The plain helpers the tests share are in
helpers.py.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from helpers import SUITES, leftovers, listening, table_ports, write_sites

from pytest_jaws.host import ephemeral
from pytest_jaws.sites.sites import PACKAGED_SITES_FILE, load_sites

#: The cromwell ports of every offset the tests use (50101-50103 + 0..1420): inside Linux's
#: default ephemeral range 32768-60999, where any outgoing connection may take one.
CROMWELL_PORTS = set(range(50101, 50103 + 1420 + 1))
#: The MariaDB, RabbitMQ (AMQP, distribution) and epmd ports of tests/test_dependencies.py.
DEPENDENCY_PORTS = set(range(43000, 48000))
#: What the slow tier holds (``@pytest.mark.slow``): ``pytest tests`` leaves it out unless ``-m``
#: is given; ``pytest tests -m slow`` runs it, ``-m "slow or not slow"`` runs every test.
SLOW_TIER = ("the slow tier: scenarios of several runs, fake twins of real sites (JAWS's startsecs "
             "and watchsecs), run-started MariaDB and RabbitMQ, package installs and the "
             "documented commands run verbatim; run with -m slow")
_RESERVED = pytest.StashKey[str]()
_OWN_BASETEMP = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    """Register the tiers; give the run a base temporary directory of its own; as root, reserve ports.

    See :func:`_own_basetemp`. The tests' ports that lie in the ephemeral range are reserved for
    the run (net.ipv4.ip_local_reserved_ports, per network namespace): what the run added is
    given back at the end (:func:`pytest_jaws.host.ephemeral.release`).
    """
    config.addinivalue_line("markers", f"slow: {SLOW_TIER}")
    if hasattr(config, "workerinput"):
        return
    _own_basetemp(config)
    if os.geteuid() == 0:
        # the same mechanism as a deployment's: a record of what this session added, given
        # back at the end (or by a later run, when this one is killed)
        config.stash[_RESERVED] = _session_key()
        ephemeral.reserve(CROMWELL_PORTS | DEPENDENCY_PORTS, config.stash[_RESERVED])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave the slow tier out of a run that chose no markers (``-m``): the fast loop."""
    if config.option.markexpr:
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]


def pytest_report_header(config: pytest.Config) -> str:
    """Say which tier runs, and how to run the other."""
    if config.option.markexpr:
        return f"pytest-jaws tests: -m {config.option.markexpr!r}"
    return ("pytest-jaws tests: the fast tier; the slow tier (several runs, twins of real sites, "
            "run-started servers, installs, documented commands) runs with: pytest tests -n 2 -m slow")


def _session_key() -> str:
    return f"pytest-jaws tests, PID {os.getpid()}"


def _own_basetemp(config: pytest.Config) -> None:
    """Put the run's temporary directories in a fresh directory, removed at the end.

    Unless ``--basetemp`` is given, that is a ``pytest-jaws-tests-*`` directory: pytest's default
    ``pytest-of-<user>/pytest-N`` keeps the last three runs' directories (with configs and keys)
    and, with several runs of one user on a host, removes a live run's directory (and the MariaDB
    socket in it) when a fourth starts.
    """
    if config.option.basetemp is None:
        config.option.basetemp = tempfile.mkdtemp(prefix="pytest-jaws-tests-")
        config.stash[_OWN_BASETEMP] = config.option.basetemp


def pytest_unconfigure(config: pytest.Config) -> None:
    if _OWN_BASETEMP in config.stash:
        shutil.rmtree(config.stash[_OWN_BASETEMP], ignore_errors=True)
    if _RESERVED in config.stash:
        ephemeral.release(config.stash[_RESERVED])


@pytest.fixture
def port_offset():
    """Return a port offset no other run on this host uses while the test runs.

    xdist-safe, and safe beside any other pytest-jaws run: :func:`pytest_jaws.host.portoffset.choose`,
    the chooser of ``--jaws-port-offset=auto``, with its lock held until the test is done.
    """
    from pytest_jaws.host.portoffset import choose
    offset, lock = choose(load_sites(PACKAGED_SITES_FILE), ["dev", "staging", "prod"])
    try:
        yield offset
    finally:
        lock.release()


@pytest.fixture
def run_suites(pytester: pytest.Pytester, port_offset: int, monkeypatch: pytest.MonkeyPatch):
    """Run ``pytest suites ...`` in a subprocess on this test's ports, and check what is left.

    Afterwards assert that no process of the deployment and no port of the table is left. The
    runs' ``$TMPDIR`` is a directory of the test's own (0755, so that role users reach a base
    directory in it), removed afterwards: a deployment left up goes to
    ``$TMPDIR/pytest-jaws-<user>/...``, never into the shared temporary directory. A test may set
    ``TMPDIR`` itself.

    Call as ``run_suites(*args, sites=data_or_None, suites=[names], conftest=text)``: the
    suite files are copied into the test's directory, beside ``conftest`` when given (a
    conftest can override fixtures to break the deployment on purpose). ``refused=True``
    runs pytest in this process instead (a run that must end with a usage error, before
    anything is deployed, needs no interpreter of its own: a second saved per run).
    """
    def run(*args: str, sites: dict | None = None, suites: list[str] | None = None,
            offset: bool = True, conftest: str | None = None, refused: bool = False):
        target = pytester.path / "suites"
        target.mkdir(exist_ok=True)
        for path in SUITES.glob("test_*.py"):
            (target / path.name).write_text(path.read_text())
        if conftest:
            (pytester.path / "conftest.py").write_text(conftest)
        extra = []
        if sites is not None:
            extra.append(f"--jaws-sites-file={write_sites(pytester.path / 'sites.yaml', sites)}")
        if offset:
            extra.append(f"--jaws-port-offset={port_offset}")
        paths = [str(target / name) for name in suites] if suites else [str(target)]
        if refused:
            result = pytester.runpytest_inprocess(*paths, "-p", "no:cacheprovider", *extra, *args)
            assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
            return result
        return pytester.runpytest_subprocess(*paths, "-p", "no:cacheprovider", *extra, *args)

    tmp = Path(tempfile.mkdtemp(prefix="pytest-jaws-tests-tmp-"))
    tmp.chmod(0o755)
    monkeypatch.setenv("TMPDIR", str(tmp))
    try:
        yield run
        for where in (pytester.path, tmp):
            assert not leftovers(where), f"processes left behind: {leftovers(where)}"
        assert not listening(table_ports(port_offset)), "ports of the table still listening"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
