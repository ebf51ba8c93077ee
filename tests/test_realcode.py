"""The real JAWS code under a fake twin, and the MariaDB and RabbitMQ a run starts itself.

Issue 21 (a twin of a real site runs a JAWS checkout: an interpreter of the site's Python
version, real servers, the Cromwell stand-in from pytest-jaws's own package) and issue 25 item
3 (``pytest suites --jaws-site=local-deps --jaws-env=dev`` in one command: the run starts and
stops its own servers). The test of the real code itself runs only when ``JAWS_CHECKOUT`` names
a JAWS checkout (CI has none: it skips there, with that reason).
"""

from __future__ import annotations

import os
import socket
import struct
import threading
from pathlib import Path

import psutil
import pytest
from helpers import have_role_users, needs_root_and_users, require_servers

from pytest_jaws.deploy import rabbitstart, runservers, serverexec
from pytest_jaws.errors import DependencyError, OptionsError
from pytest_jaws.install import interp
from pytest_jaws.plan.installspec import FAKE_CHECKOUT
from pytest_jaws.sites.sites import PACKAGED_SITES_FILE, load_sites
from pytest_jaws.sites.twin import fake_twin

MODEL = load_sites(PACKAGED_SITES_FILE)
HAVE_SERVERS = not runservers.missing_programs(["mysql", "rabbitmq"])


def _require_servers() -> None:
    require_servers(HAVE_SERVERS)


def _server_leftovers(where: Path) -> list[psutil.Process]:
    """Live processes of run-started servers whose deployment marker points under ``where``."""
    found = []
    for proc in psutil.process_iter():
        try:
            marker = proc.environ().get(serverexec.SERVERS_VARIABLE, "")
            if str(where) in marker and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def _listening(ports: set[int]) -> set[int]:
    return {c.laddr.port for c in psutil.net_connections("tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr.port in ports}


# --- local-deps in one command (issue 25 item 3) ------------------------------------------------

@pytest.mark.slow
def test_local_deps_passes_in_one_command_and_leaves_nothing(run_suites, pytester, port_offset):
    """The README's command, with nothing set up: the run starts, uses and stops its servers."""
    _require_servers()
    for name in ("DB_PASSWORD", "RMQ_PASSWORD", "SITE_RMQ_PASSWORD"):
        assert f"JAWS_SECRET_LOCAL_DEPS_DEV_{name}" not in os.environ
    result = run_suites("--jaws-site=local-deps", "--jaws-env=dev",
                        suites=["test_dependencies.py", "test_health.py"])
    outcomes = result.parseoutcomes()
    assert result.ret == 0 and outcomes.get("passed"), result.stdout.str()
    started = runservers.server_ports(0, port_offset)
    result.stdout.fnmatch_lines([f"*dependency MySQL 127.0.0.1:{started['mysql']}: login as jaws; "
                                 "databases jaws_local_dev, *: exists and the user can use it",
                                 f"*dependency RabbitMQ (central's broker) 127.0.0.1:"
                                 f"{started['rabbitmq']}: login as jaws; vhost jaws_dev: *"])
    ports = set(started.values())
    assert not _server_leftovers(pytester.path) and not _listening(ports)
    assert not list(pytester.path.rglob("jaws-servers-*")), "a data directory was left"


def test_a_taken_server_port_fails_the_deployment_naming_it_and_auto(run_suites, port_offset):
    _require_servers()
    port = runservers.server_ports(0, port_offset)["mysql"]
    with socket.socket() as held:
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        held.bind(("127.0.0.1", port))
        held.listen()
        result = run_suites("--jaws-site=local-deps", "--jaws-env=dev",
                            suites=["test_dependencies.py"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    # (another of its ports may be held too, on a busy host: then the message names both)
    result.stdout.fnmatch_lines([f"*the port of the run-started mysql {port}* is in use by "
                                 "something else; run with --jaws-port-offset=auto*"])


def test_missing_server_programs_are_a_usage_error_naming_the_debian_packages(
        run_suites, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no mysqld, no epmd
    result = run_suites("--jaws-site=local-deps", "--jaws-env=dev", refused=True)
    result.stderr.fnmatch_lines([
        "*site 'local-deps' runs its own MariaDB and RabbitMQ for the run, and the server "
        "programs are not installed; install the Debian packages mariadb-server "
        "rabbitmq-server (apt-get install mariadb-server rabbitmq-server)*"])


def test_servers_given_by_address_are_used_instead_of_started():
    data = {"start": True, "mysql": {"host": "127.0.0.1", "port": 3306}}
    from pytest_jaws.sites.sitedeps import start_dependencies
    filled = start_dependencies(data)
    assert isinstance(filled, dict)
    assert filled["start"] == ["rabbitmq"] and filled["mysql"]["port"] == 3306


def test_server_ports_shift_with_the_offset_and_never_meet_the_port_table():
    table = {p for env in MODEL.ports for off in range(0, 1411, 30)
             for p in (q + off for q in MODEL.ports[env].by_name().values())}
    for row in range(3):
        for off in range(0, 1411, 30):
            ports = runservers.server_ports(row, off)
            assert ports["mysql"] == 23306 + off + row
            assert not set(ports.values()) & table


def test_server_ports_lie_below_the_ephemeral_range_at_every_offset():
    """No outgoing connection takes one: its TIME_WAIT would keep the server from binding it."""
    from pytest_jaws.host import ephemeral
    from pytest_jaws.host.portoffset import FIRST, LAST, STEP
    low = min(32768, (ephemeral.port_range() or (32768, 60999))[0])  # Linux's default, or less
    for row in range(3):
        for off in (0, *range(FIRST, LAST + 1, STEP)):
            outside = {n: p for n, p in runservers.server_ports(row, off).items() if p >= low}
            assert not outside, f"offset {off}, row {row}: {outside} in the ephemeral range"


# --- the twin of the real code: interpreter, servers, Cromwell stand-in -----------------------

def test_twin_of_a_checkout_runs_real_servers_and_the_given_interpreter():
    model, replaced = fake_twin(MODEL, "cori", source_given=True, python="/opt/py/bin/python3.8")
    twin = model.sites["cori"]
    assert twin.runtime == "venv" and twin.python == "/opt/py/bin/python3.8"
    assert twin.dependencies is not None and twin.dependencies.start == ["mysql", "rabbitmq"]
    assert twin.java == "fake-java" and twin.python_version == "3.8"
    assert any("MariaDB and RabbitMQ started by the run on 127.0.0.1" in r for r in replaced)
    fast, _ = fake_twin(MODEL, "cori")
    assert fast.sites["cori"].dependencies is None  # the fake checkout: the fake broker


def test_the_cromwell_stand_in_is_not_in_the_checkout():
    assert not (FAKE_CHECKOUT / "cromwell").exists()
    assert "fake-java" not in (FAKE_CHECKOUT / "jtm" / "pyproject.toml").read_text()
    assert (Path(interp.__file__).parents[1] / "fakes" / "cromwell" / "__main__.py").is_file()


def test_python_of_another_version_is_a_usage_error_naming_both(tmp_path):
    with pytest.raises(OptionsError, match=r"--jaws-python .* is Python 3\.\d+.*, and site "
                       r"'cori' runs JAWS on Python 3\.8 \(sites\.cori\.python_version\)"):
        interp.resolve_python("/usr/bin/python3", "3.8", [], "cori")


def test_no_local_interpreter_is_a_usage_error_naming_the_version_and_the_option(monkeypatch):
    monkeypatch.setattr(interp, "candidates", lambda version: [])
    with pytest.raises(OptionsError, match=r"site 'jgi' runs JAWS on Python 3\.8 .* no local "
                       r"interpreter of it was found .*--jaws-python=PATH"):
        interp.resolve_python(None, "3.8", [], "jgi")


@needs_root_and_users
def test_an_interpreter_role_users_cannot_reach_is_a_usage_error(tmp_path):
    """As root: a Python under a 0700 directory (pyenv's under /root) is refused, naming what to do."""
    hidden = tmp_path / "hidden"
    hidden.mkdir(mode=0o700)
    link = hidden / "python3"
    link.symlink_to("/usr/bin/python3")
    probed = interp._probe([str(link)])  # noqa: SLF001 - the version it reports
    assert probed is not None
    version = ".".join(probed[1].split(".")[:2])
    with pytest.raises(OptionsError, match=rf"the interpreter {link} \(Python {version}\) cannot "
                       r"be run by role users jaws, jaws_jtm .*Copy it to a root-owned, "
                       r"world-readable place.*--jaws-python="):
        interp.resolve_python(str(link), version, ["jaws", "jaws_jtm"], "cori")
    # the same interpreter where the role users reach it passes
    assert interp.resolve_python("/usr/bin/python3", version, ["jaws", "jaws_jtm"],
                                 "cori") == "/usr/bin/python3"


# --- the real code (needs a JAWS checkout) -----------------------------------------------------

CHECKOUT = os.environ.get("JAWS_CHECKOUT")


@pytest.mark.skipif(not CHECKOUT, reason="set JAWS_CHECKOUT to a JAWS checkout (e.g. "
                    "JAWS_CHECKOUT=/work/jaws) to run the real JAWS code under a fake twin; "
                    "CI has no checkout")
def test_real_code_twin_of_jgi_runs_the_real_programs(run_suites, pytester, port_offset):
    """A fake twin of jgi runs the checkout's jaws-site and jtm against the run's servers."""
    _require_servers()
    if os.geteuid() == 0 and not have_role_users():
        pytest.skip("as root the twin needs the role users (scripts/create-users.sh)")
    python = os.environ.get("JAWS_PYTHON") or interp.find_python("3.8")
    if python is None:
        pytest.skip("no Python 3.8 here; set JAWS_PYTHON to one the role users can run")
    result = run_suites("--jaws-site=jgi", "--jaws-fake", "--jaws-env=dev",
                        f"--jaws-source={CHECKOUT}", f"--jaws-python={python}",
                        suites=["test_dependencies.py", "test_health.py"])
    out = result.stdout.str()
    assert "dependency MySQL 127.0.0.1:" in out, out
    assert result.ret == 0, out
    assert not _server_leftovers(pytester.path)


# --- declared JAWS behaviour: central's auth and rest on every interface ----------------------

def test_a_twin_of_the_real_code_expects_what_the_site_declares():
    """Site central declares auth and rest on every interface (central/jaws_central/cli.py)."""
    from pytest_jaws.plan.plan import make_plan
    base = Path("/nonexistent/base")  # planned only
    model, replaced = fake_twin(MODEL, "central", source_given=True, python="/usr/bin/python3")
    plan = make_plan(model, "central", "dev", base)
    public = {n: p.declared for n, p in plan.programs.items() if p.public}
    assert public == {"auth": "central/jaws_central/cli.py", "rest": "central/jaws_central/cli.py"}
    assert any("declared JAWS behaviour kept" in r and "central/jaws_central/cli.py" in r
               for r in replaced)
    fakes, _ = fake_twin(MODEL, "central")  # the fakes listen on loopback only
    plan = make_plan(fakes, "central", "dev", base)
    assert not [n for n, p in plan.programs.items() if p.public]


def test_a_declared_program_must_be_one_of_the_site():
    from helpers import sites_data

    from pytest_jaws.errors import SitesError
    from pytest_jaws.sites.sites import validate_sites
    data = sites_data()
    data["sites"]["central"]["declared"][0]["programs"] = ["auth", "nosuch"]
    with pytest.raises(SitesError, match=r"sites\.central\.declared\.0\.programs\.1: 'nosuch' "
                       r"is not a program of this site"):
        validate_sites(data, "sites.yaml")


def _all_interfaces_auth(declare: bool):
    """Return the local site with auth on every interface, as real central's; declared or not."""
    from helpers import sites_data
    data = sites_data()
    site = data["sites"]["local"]
    site["overrides"] = {"auth": {"args": ["--fault", "all-interfaces"]}}
    if declare:
        site["declared"] = [{"behaviour": "binds-all-interfaces", "programs": ["auth"],
                             "source": "central/jaws_central/cli.py"}]
    return data


@pytest.mark.slow
def test_declared_behaviour_passes_the_port_check_and_undeclared_fails(run_suites):
    """The same listener on 0.0.0.0: declared, the check passes; undeclared, it fails naming why."""
    args = ("--jaws-site=local", "--jaws-env=dev", "-k", "binds_the_expected_address")
    declared = run_suites(*args, sites=_all_interfaces_auth(True), suites=["test_ports.py"])
    assert declared.ret == 0, declared.stdout.str()
    undeclared = run_suites(*args, sites=_all_interfaces_auth(False), suites=["test_ports.py"])
    assert undeclared.ret == pytest.ExitCode.TESTS_FAILED
    undeclared.stdout.fnmatch_lines([
        "*auth port * listens on [[]'0.0.0.0'[]], expected only 127.0.0.1 (not declared public: "
        "sites.yaml public_services, or declared binds-all-interfaces with the JAWS file that "
        "does it)*"])


def test_the_printed_down_command_of_a_real_code_twin_names_its_checkout_and_python(tmp_path):
    """Without them --jaws-down would make the fakes' twin, and leave the run's servers up."""
    from pytest_jaws.deploy import commands
    from pytest_jaws.plugin import options
    settings = options.resolve({"jaws_site": "jgi", "jaws_fake": True, "jaws_env": "dev",
                                "jaws_source": str(FAKE_CHECKOUT),
                                "jaws_python": "/opt/python3.8/bin/python3.8"},
                               tmp_path, check_users=False)
    line = commands.down_command(settings, "dev", tmp_path / "base")
    assert f"--jaws-source={FAKE_CHECKOUT}" in line
    assert "--jaws-python=/opt/python3.8/bin/python3.8" in line


# --- the sites a central twin serves: stand-ins on the run's RabbitMQ --------------------------

def test_a_central_twin_of_the_real_code_gets_stand_ins_for_its_sites():
    from pytest_jaws.plan.plan import make_plan
    model, replaced = fake_twin(MODEL, "central", source_given=True, python="/usr/bin/python3")
    plan = make_plan(model, "central", "dev", Path("/nonexistent/base"))
    assert plan.servers is not None
    assert plan.servers.peers == ("JAWS_CORI", "JAWS_JGI", "JAWS_TAHOMA", "JAWS_AWS")
    assert any("stand-ins answering its RPC" in r for r in replaced)
    cori, _ = fake_twin(MODEL, "cori", source_given=True, python="/usr/bin/python3")
    plan = make_plan(cori, "cori", "dev", Path("/nonexistent/base"))
    assert plan.servers is not None and plan.servers.peers == ()


def _rpc_call(port: int, password: str, queue: str, method: str) -> dict:
    """Send one JSON-RPC request as jaws_rpc's client does (reply_to, correlation id); the answer."""
    import json
    import uuid

    import pika
    conn = pika.BlockingConnection(pika.ConnectionParameters(
        host="127.0.0.1", port=port, virtual_host="jaws_dev",
        credentials=pika.PlainCredentials("jaws", password)))
    try:
        channel = conn.channel()
        callback = channel.queue_declare(queue="", exclusive=True).method.queue
        corr = str(uuid.uuid4())
        channel.basic_publish(exchange="", routing_key=queue, body=json.dumps(
            {"jsonrpc": "2.0", "method": method, "params": {}}),
            properties=pika.BasicProperties(reply_to=callback, correlation_id=corr))
        for _method, props, body in channel.consume(callback, auto_ack=True,
                                                    inactivity_timeout=30):
            assert body is not None, f"no answer on {queue} within 30 s"
            if props.correlation_id == corr:
                return json.loads(body)
        raise AssertionError("unreachable")
    finally:
        conn.close()


def _rabbit_plan(tmp_path, port_offset, peers=()):
    """Return the plan of a run-started RabbitMQ alone, on the test's own ports, under ``tmp_path``."""
    _require_servers()
    from pytest_jaws.plan.serverplan import ServersPlan
    return ServersPlan(start=("rabbitmq",), directory=tmp_path / "servers", marker=str(tmp_path),
                       ports=runservers.server_ports(0, port_offset), vhosts=("jaws_dev",),
                       peers=peers)


@pytest.mark.slow
def test_site_stand_ins_answer_server_status_as_a_site_and_nothing_else(tmp_path, port_offset):
    plan = _rabbit_plan(tmp_path, port_offset, peers=("JAWS_CORI",))
    password = "p" * 24
    try:
        runservers.ensure(plan, {"RMQ_PASSWORD": password})
        port = plan.ports["rabbitmq"]
        assert _rpc_call(port, password, "JAWS_CORI", "server_status") == \
            {"jsonrpc": "2.0", "result": {}}
        other = _rpc_call(port, password, "JAWS_CORI", "submit_run")
        assert other["error"]["message"] == "stand-in of a site: no method 'submit_run'"
    finally:
        runservers.stop(plan)
    assert not _server_leftovers(tmp_path) and not (tmp_path / "servers").exists()


@pytest.mark.slow
def test_rabbitmq_that_misses_its_first_start_is_started_once_more(tmp_path, port_offset,
                                                                    monkeypatch):
    plan = _rabbit_plan(tmp_path, port_offset)
    # the first start is given no time to open its port: killed, and started once more
    monkeypatch.setattr(rabbitstart, "RABBIT_FIRST_TIMEOUT", 0.01)
    try:
        runservers.ensure(plan, {"RMQ_PASSWORD": "q" * 24})
        with socket.create_connection(("127.0.0.1", plan.ports["rabbitmq"]), timeout=5):
            pass
        servers = [p for p in runservers.running(plan) if "beam" in p.name()]
        assert len(servers) == 1, f"one RabbitMQ VM expected, found {servers}"
        assert (plan.directory / "rabbit-console.log").is_file()
    finally:
        runservers.stop(plan)
    assert not _server_leftovers(tmp_path) and not (tmp_path / "servers").exists()


def test_rabbitmq_that_never_starts_is_named_with_its_console_output(tmp_path, port_offset,
                                                                     monkeypatch):
    plan = _rabbit_plan(tmp_path, port_offset)
    # a broken installation: the server program says why and exits, both times
    broken = tmp_path / "rabbitmq-server"
    broken.write_text("#!/bin/sh\necho 'cannot boot: no erlang' >&2\nexit 78\n")
    broken.chmod(0o755)
    monkeypatch.setattr(rabbitstart, "RABBIT_SERVER", broken)
    with pytest.raises(DependencyError) as caught:
        runservers.ensure(plan, {"RMQ_PASSWORD": "q" * 24})
    message = str(caught.value)
    assert "RabbitMQ (started a second time) did not accept connections" in message
    assert "cannot boot: no erlang" in message
    assert not _server_leftovers(tmp_path) and not (tmp_path / "servers").exists()



def test_rabbitmq_whose_start_script_exits_0_is_started_again_at_once(tmp_path, port_offset,
                                                                      monkeypatch):
    """As RabbitMQ's start script does when its VM fails to boot (``wait ... || true``)."""
    plan = _rabbit_plan(tmp_path, port_offset)
    quits = tmp_path / "rabbitmq-server"
    quits.write_text("#!/bin/sh\necho 'BOOT FAILED: could not bind to distribution port' >&2\n"
                     "exit 0\n")
    quits.chmod(0o755)
    monkeypatch.setattr(rabbitstart, "RABBIT_SERVER", quits)
    # mirakuru alone waits a whole timeout for a process that exited 0: with this, the test
    # would hang for it instead of failing at once
    monkeypatch.setattr(rabbitstart, "RABBIT_FIRST_TIMEOUT", 600.0)
    with pytest.raises(DependencyError) as caught:
        runservers.ensure(plan, {"RMQ_PASSWORD": "q" * 24})
    message = str(caught.value)
    assert ("RabbitMQ (started a second time) did not accept connections on "
            f"127.0.0.1:{plan.ports['rabbitmq']} (it exited with status 0 before it opened the "
            "port)") in message, message
    assert "BOOT FAILED: could not bind to distribution port" in message
    assert not _server_leftovers(tmp_path) and not (tmp_path / "servers").exists()


def _connection_from(port: int) -> tuple[socket.socket, socket.socket]:
    """Return an open connection whose local end is 127.0.0.1:``port``, and its listener.

    Not a listener on ``port`` (mirakuru would call the server already running): what an
    outgoing connection that took ``port`` as its ephemeral port looks like.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    client = socket.socket()
    # closed with a reset, not into TIME_WAIT: the next test on this offset binds it again
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.bind(("127.0.0.1", port))
    client.connect(listener.getsockname())
    return client, listener


def _mysql_plan(tmp_path, port_offset):
    """Return the plan of a run-started MariaDB alone, on a port no socket has used yet.

    A port the kernel gives (bound, never connected, so in no TIME_WAIT that would keep
    :func:`_connection_from` from binding it), not the offset's: a MariaDB of an earlier test
    on this offset leaves its port in TIME_WAIT.
    """
    from pytest_jaws.plan.serverplan import ServersPlan
    _require_servers()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return ServersPlan(start=("mysql",), directory=tmp_path / "servers", marker=str(tmp_path),
                       ports=dict(runservers.server_ports(0, port_offset), mysql=port),
                       databases=("jaws_x",))


def _taken_at_first_start(monkeypatch, port: int, release_after: float | None = None
                          ) -> list[socket.socket]:
    """Have a connection take ``port`` (:func:`_connection_from`) as MariaDB first starts.

    After pre-flight found it free; closed ``release_after`` seconds later, else by the caller.
    :returns: the connection's sockets, once it is made.
    """
    from pytest_jaws.deploy import mariadbstart
    held: list[socket.socket] = []
    real = mariadbstart.run_server

    def taken(server, name, log, console=None):
        if not held:
            held.extend(_connection_from(port))
            if release_after is not None:
                threading.Timer(release_after, lambda: [s.close() for s in held]).start()
        return real(server, name, log, console)

    monkeypatch.setattr(mariadbstart, "run_server", taken)
    return held


@pytest.mark.slow
def test_mariadb_whose_port_is_taken_as_it_binds_is_started_once_more(tmp_path, port_offset,
                                                                       monkeypatch):
    from pytest_jaws.deploy import mariadbstart
    plan = _mysql_plan(tmp_path, port_offset)
    port = plan.ports["mysql"]
    # free at pre-flight; a connection takes it just before mysqld binds it, for 1 s
    _taken_at_first_start(monkeypatch, port, release_after=1.0)
    try:
        runservers.ensure(plan, {"DB_PASSWORD": "m" * 24})
        assert _listening({port}) == {port}
        log = (plan.directory / "mysql.log").read_text()
        assert mariadbstart.BIND_ERROR in log, "the first start did not meet the taken port"
    finally:
        runservers.stop(plan)
    assert not _server_leftovers(tmp_path) and not (tmp_path / "servers").exists()


def test_mariadb_whose_port_stays_taken_is_named(tmp_path, port_offset, monkeypatch):
    from pytest_jaws.deploy import mariadbstart, serverports
    plan = _mysql_plan(tmp_path, port_offset)
    port = plan.ports["mysql"]
    held = _taken_at_first_start(monkeypatch, port)
    monkeypatch.setattr(mariadbstart, "wait_free",
                        lambda ports: serverports.wait_free(ports, timeout=0.5))
    try:
        with pytest.raises(DependencyError) as caught:
            runservers.ensure(plan, {"DB_PASSWORD": "m" * 24})
    finally:
        for sock in held:
            sock.close()
    message = str(caught.value)
    assert f"the run-started MariaDB did not accept connections on 127.0.0.1:{port}" in message
    assert mariadbstart.BIND_ERROR in message, message
    assert not _server_leftovers(tmp_path) and not (tmp_path / "servers").exists()
