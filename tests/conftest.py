"""Helpers for pytest-jaws's own tests.

Run the suites in a subprocess against a (possibly broken on purpose) sites file, on ports no
other test uses, and check nothing is left behind.
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
import time
from pathlib import Path

import psutil
import pytest
import yaml

from pytest_jaws import ephemeral
from pytest_jaws.plan import MARKER_VARIABLE
from pytest_jaws.sites import PACKAGED_SITES_FILE, load_sites

ROOT = Path(__file__).resolve().parent.parent
SUITES = ROOT / "suites"

#: The cromwell ports of every offset the tests use (50101-50103 + 0..1420): inside Linux's
#: default ephemeral range 32768-60999, where any outgoing connection may take one.
CROMWELL_PORTS = set(range(50101, 50103 + 1420 + 1))
#: The MariaDB, RabbitMQ (AMQP, distribution) and epmd ports of tests/test_dependencies.py.
DEPENDENCY_PORTS = set(range(43000, 48000))
_RESERVED = pytest.StashKey[str]()
_OWN_BASETEMP = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    """Give the run a base temporary directory of its own; as root, reserve the tests' ports.

    See :func:`_own_basetemp`. The tests' ports that lie in the ephemeral range are reserved for
    the run (net.ipv4.ip_local_reserved_ports, per network namespace), and restored afterwards.
    """
    if hasattr(config, "workerinput"):
        return
    _own_basetemp(config)
    if os.geteuid() != 0:
        return
    before = ephemeral.reserved_text()
    if before is None:
        return
    try:
        wanted = ephemeral.parse_ranges(before) | CROMWELL_PORTS | DEPENDENCY_PORTS
        ephemeral.RESERVED_FILE.write_text(ephemeral.format_ranges(wanted) + "\n")
    except (OSError, ValueError):
        return
    config.stash[_RESERVED] = before


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
        try:
            ephemeral.RESERVED_FILE.write_text((config.stash[_RESERVED] or "") + "\n")
        except OSError:
            pass


@pytest.fixture
def port_offset():
    """Return a port offset no other run on this host uses while the test runs.

    xdist-safe, and safe beside any other pytest-jaws run: :func:`pytest_jaws.portoffset.choose`,
    the chooser of ``--jaws-port-offset=auto``, with its lock held until the test is done.
    """
    from pytest_jaws.portoffset import choose
    offset, lock = choose(load_sites(PACKAGED_SITES_FILE), ["dev", "staging", "prod"])
    try:
        yield offset
    finally:
        lock.release()


def sites_data() -> dict:
    """Return the shipped sites file as plain data, to be changed by a test."""
    return yaml.load(PACKAGED_SITES_FILE.read_text(), Loader=yaml.CSafeLoader)


def write_sites(path: Path, data: dict) -> Path:
    """Write ``data`` as a sites file and return its path."""
    path.write_text(yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=False))
    return path


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


def have_role_users() -> bool:
    """Tell whether the users of scripts/create-users.sh exist (jaws, jaws_jtm)."""
    try:
        pwd.getpwnam("jaws"), pwd.getpwnam("jaws_jtm")
    except KeyError:
        return False
    return True


#: Skip a test unless it runs as root with the role users (CI has both).
needs_root_and_users = pytest.mark.skipif(
    os.geteuid() != 0 or not have_role_users(),
    reason="needs root and the users of scripts/create-users.sh (CI runs both)")
