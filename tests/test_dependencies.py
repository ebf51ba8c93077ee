"""MySQL and RabbitMQ as real dependencies (issue 14).

The model, the pre-flight, the dependency suite and the fakes of ``local-deps``, against a
real MariaDB and RabbitMQ started for the test session with pytest-mysql and pytest-rabbitmq
(Debian packages mariadb-server and rabbitmq-server). Without the server binaries these tests
skip with that reason, unless ``JAWS_REQUIRE_DEPENDENCY_SERVERS=1`` (CI) makes that a failure.

Each case breaks one thing on purpose and shows the message naming the dependency,
``host:port``, the database or vhost and the cause. Servers listen on loopback ports outside
the port table (and outside every offset of it the tests use); Erlang's epmd is started by the
fixture on a port of its own and ended by PID, so nothing of the servers outlives the session.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from helpers import require_servers, sites_data
from port_for import get_port
from pytest_mysql import factories as mysql_factories
from pytest_rabbitmq import factories as rabbit_factories

from pytest_jaws.deploy import deploy
from pytest_jaws.errors import DependencyError, SitesError
from pytest_jaws.plan.depplan import DependencyCheck, plan_checks
from pytest_jaws.plan.plan import make_plan
from pytest_jaws.probes import dependencies
from pytest_jaws.render.jawsconf import render_configs
from pytest_jaws.sites.sites import load_sites, parse_sites
from pytest_jaws.sites.sitevars import config_kinds, secret_variable

RABBIT_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
RABBIT_CTL = Path("/usr/lib/rabbitmq/bin/rabbitmqctl")
HAVE_SERVERS = bool(shutil.which("mysqld") and shutil.which("mysqld_safe")
                    and shutil.which("mysql_install_db") and shutil.which("epmd")
                    and RABBIT_SERVER.exists() and RABBIT_CTL.exists())
#: Port ranges of the test servers: outside the port table and every offset of it
#: (3001-4413, 5001-6413, 50101-51513, 64101-65533), reserved from the ephemeral range as
#: root (conftest.DEPENDENCY_PORTS).
MYSQL_PORTS, RABBIT_PORTS, DIST_PORTS, EPMD_PORTS = ((43000, 43999), (45000, 45999),
                                                     (46000, 46999), (47000, 47999))
ENVS = ("dev",)
SITE = "local-deps"


def _require_servers() -> None:
    require_servers(HAVE_SERVERS)


def _port(span: tuple[int, int]) -> int:
    """Return a free port of ``span``, in this xdist worker's own tenth of it.

    pytest-mysql names its log after the port it is given, so it gets one port, not a range.
    """
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").lstrip("gw") or 0) % 10
    width = (span[1] - span[0] + 1) // 10
    low = span[0] + worker * width
    return get_port((low, low + width - 1))


_me = psutil.Process().username()
_mysql_proc = mysql_factories.mysql_proc(
    host="127.0.0.1", port=_port(MYSQL_PORTS), user=_me, install_db="mysql_install_db")
_rabbit_proc = rabbit_factories.rabbitmq_proc(
    host="127.0.0.1", port=_port(RABBIT_PORTS), distribution_port=_port(DIST_PORTS),
    server=str(RABBIT_SERVER), ctl=str(RABBIT_CTL))


@pytest.fixture(scope="session")
def epmd():
    """Start Erlang's port mapper on a port of its own (``ERL_EPMD_PORT`` for the session).

    Started here so that RabbitMQ does not start one that outlives the tests; ended by PID.
    """
    _require_servers()
    port = _port(EPMD_PORTS)
    proc = subprocess.Popen(["epmd", "-port", str(port), "-address", "127.0.0.1"])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ERL_EPMD_PORT", str(port))
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"epmd did not listen on {port}") from None
                time.sleep(0.05)
        yield port
    # RabbitMQ's stragglers (its Erlang VM, the ctl VMs) carry ERL_EPMD_PORT=port: by PID
    marked = [p for p in psutil.process_iter() if _env_of(p).get("ERL_EPMD_PORT") == str(port)
              and p.pid != proc.pid and _is_erlang(p)]  # never the MariaDB of the session
    for p in marked:
        p.terminate()
    psutil.wait_procs(marked, timeout=10)
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _is_erlang(proc: psutil.Process) -> bool:
    """Tell whether ``proc`` is an Erlang process of RabbitMQ (its VM, its ctl VMs, helpers)."""
    try:
        return proc.name() in {"beam.smp", "erl", "erl_child_setup", "inet_gethost", "epmd"} or \
            "rabbit" in " ".join(proc.cmdline()[:3])
    except psutil.Error:
        return False


def _env_of(proc: psutil.Process) -> dict:
    try:
        return proc.environ()
    except (psutil.Error, OSError):
        return {}


class Servers:
    """The session's MariaDB and RabbitMQ with user ``jaws``.

    And the ``local-deps`` site pointed at them.
    """

    def __init__(self, mysql, rabbit, password: str):
        self.mysql, self.rabbit, self.password = mysql, rabbit, password
        # rabbitmqctl needs the server's environment as it started (HOME holds the Erlang
        # cookie; mirakuru recomputes it from os.environ, which pytester changes)
        self.rabbit_env = dict(rabbit._popen_kwargs["env"])  # noqa: SLF001 - mirakuru keeps no other

    @property
    def mysql_port(self) -> int:
        """MariaDB's TCP port."""
        return self.mysql.port

    @property
    def rabbit_port(self) -> int:
        """RabbitMQ's AMQP port."""
        return self.rabbit.port

    def sites(self, change=None) -> dict:
        """Return the shipped sites file with local-deps on these servers (``change(site)`` edits)."""
        data = sites_data()
        # given by address: these servers, not run-started ones
        data["sites"][SITE]["dependencies"] = {
            "mysql": {"host": "127.0.0.1", "port": self.mysql_port, "user": "jaws"},
            "rabbitmq": {"host": "127.0.0.1", "port": self.rabbit_port, "user": "jaws"}}
        if change:
            change(data["sites"][SITE])
        return data

    def environ(self, mp: pytest.MonkeyPatch, password: str | None = None) -> None:
        """Set the three password variables of local-deps (every environment)."""
        for env in ("dev", "staging", "prod"):
            for name in ("DB_PASSWORD", "RMQ_PASSWORD", "SITE_RMQ_PASSWORD"):
                mp.setenv(secret_variable(SITE, env, name), password or self.password)

    def ctl_argv(self, *args: str) -> list[str]:
        """``rabbitmqctl ARGS`` with the server's environment, as one argv for ``env``."""
        keep = ("RABBITMQ_NODENAME", "ERL_EPMD_PORT", "HOME")
        return ["env", *(f"{k}={self.rabbit_env[k]}" for k in keep if k in self.rabbit_env),
                str(RABBIT_CTL), *args]

    def ctl(self, *args: str) -> str:
        """Run rabbitmqctl against this server; its output."""
        return subprocess.check_output(self.ctl_argv(*args), env=self.rabbit_env, text=True)

    def root_sql(self, *statements: str) -> None:
        """Run ``statements`` in MariaDB as this Unix user (unix_socket authentication)."""
        import pymysql
        conn = pymysql.connect(unix_socket=self.mysql.unixsocket, user=_me)  # unix_socket auth
        try:
            with conn.cursor() as cur:
                for sql in statements:
                    cur.execute(sql)
            conn.commit()
        finally:
            conn.close()


@pytest.fixture(scope="session")
def servers(request, epmd) -> Iterator[Servers]:
    """Start MariaDB and RabbitMQ for the session (pytest-mysql, pytest-rabbitmq).

    Provisioned as JAWS's generate-configs expects: user jaws, its databases and vhosts for
    ``dev``.
    """
    mysql = request.getfixturevalue("_mysql_proc")
    rabbit = request.getfixturevalue("_rabbit_proc")
    password = secrets.token_urlsafe(24)
    model = load_sites(Path(dependencies.__file__).parents[1] / "sites" / "sites.yaml")
    site = model.sites[SITE]
    servers = Servers(mysql, rabbit, password)
    statements = []
    for host in ("localhost", "127.0.0.1"):
        statements.append(f"CREATE USER 'jaws'@'{host}' IDENTIFIED BY '{password}'")
    for env in ENVS:
        checks = plan_checks(site, config_kinds(site), env)
        for db in checks[0].targets:
            statements.append(f"CREATE DATABASE {db}")
        # a grant on a database that does not exist: "database missing" says "missing"
        for db in [*checks[0].targets, f"nosuch_{env}"]:
            statements += [f"GRANT ALL ON {db}.* TO 'jaws'@'{h}'" for h in ("localhost", "127.0.0.1")]
    servers.root_sql(*statements)
    servers.ctl("add_user", "jaws", password)
    for env in ENVS:
        for vhost in (f"jaws_{env}", f"jtm_{env}"):
            servers.ctl("add_vhost", vhost)
            servers.ctl("set_permissions", "-p", vhost, "jaws", ".*", ".*", ".*")
    yield servers
    _let_a_gone_server_stop(mysql)


def _let_a_gone_server_stop(mysql) -> None:
    """Let pytest-mysql's stop pass when MariaDB is already gone at the end of the session.

    Its stop runs ``mysqladmin shutdown`` on the socket and fails the session when nothing
    answers there, and mirakuru's then fails on mysqld_safe's exit status. In some runs of
    ``pytest tests`` the server was gone by then, after every test that uses it had passed. A
    likely cause, not proven: mirakuru's atexit handler, in every pytest run the tests start
    (they load pytest-mysql), SIGKILLs each process whose ``mirakuru_uuid`` contains that run's
    PID as a substring. Nothing is left to shut down then: the server's process tree is ended
    (mirakuru's kill), and a warning gives its log's tail.
    """
    ping = subprocess.run([mysql.admin_exec, f"--socket={mysql.unixsocket}", "--user=root",
                           "ping"], capture_output=True, text=True, check=False)
    if ping.returncode == 0:
        return
    try:
        tail = Path(mysql.logfile_path).read_text(errors="replace").splitlines()[-5:]
    except OSError:
        tail = []
    warnings.warn(f"MariaDB of the session was gone before its shutdown: {ping.stderr.strip()}; "
                  f"its log ends: {' | '.join(tail)}", stacklevel=1)
    mysql.stop = lambda *_args, **_kwargs: mysql.kill()  # no exit status to judge: it is gone


@pytest.fixture
def with_passwords(servers, monkeypatch) -> Servers:
    servers.environ(monkeypatch)
    return servers


def _plan(tmp_path: Path, data: dict, env: str = "dev", port_offset: int = 0):
    """Plan ``data``'s local-deps site; a plan that is applied takes the test's ``port_offset``.

    At offset 0 its pre-flight would meet whatever else on the host uses the documented ports
    (a main job), and fail on them instead of on the dependency under test.
    """
    model = parse_sites(__import__("yaml").safe_dump(data), "sites.yaml")
    return make_plan(model, SITE, env, tmp_path / "base", port_offset=port_offset)


# --- the model (no servers) -------------------------------------------------------------------

MODEL = load_sites(Path(dependencies.__file__).parents[1] / "sites" / "sites.yaml")


def test_checks_follow_jaws_naming_per_site_and_environment():
    cori = plan_checks(MODEL.sites["cori"], config_kinds(MODEL.sites["cori"]), "dev")
    assert [(c.key, c.address, c.targets) for c in cori] == [
        ("mysql", "jaws-db.lbl.gov:3306", ("jaws_cori_dev", "jtm_cori_dev", "cromwell_cori_dev")),
        ("rabbitmq", "rmq.lbl.gov:5672", ("jaws_dev",)),
        ("site_rabbitmq", "rmq.lbl.gov:5672", ("jaws_dev", "jtm_dev"))]
    tahoma = plan_checks(MODEL.sites["tahoma"], config_kinds(MODEL.sites["tahoma"]), "prod")
    assert tahoma[2].address == "mscjgi-rabbitmq.emsl.pnl.gov:5672"
    central = plan_checks(MODEL.sites["central"], config_kinds(MODEL.sites["central"]), "staging")
    assert [(c.key, c.targets) for c in central] == [("mysql", ("jaws_central_staging",)),
                                                     ("rabbitmq", ("jaws_staging",))]
    assert plan_checks(MODEL.sites["local"], config_kinds(MODEL.sites["local"]), "dev") == ()


def _given_by_address(data: dict) -> dict:
    """Return ``data`` with local-deps's servers given by address (standard loopback ports)."""
    data["sites"][SITE]["dependencies"] = {
        "mysql": {"host": "127.0.0.1", "port": 3306, "user": "jaws"},
        "rabbitmq": {"host": "127.0.0.1", "port": 5672, "user": "jaws"}}
    return data


def test_config_files_take_db_and_amqp_settings_from_the_dependencies(tmp_path):
    data = _given_by_address(sites_data())
    deps = data["sites"][SITE]["dependencies"]
    deps["mysql"].update(port=43999, databases={"jaws-site": "site_db_{env}"})
    deps["site_rabbitmq"] = {"host": "127.0.0.1", "port": 45999, "vhosts": {"jtm": "work_{env}"}}
    plan = _plan(tmp_path, data)
    configs = render_configs(plan, dict.fromkeys(plan.secrets, "s" * 20))
    site_conf = next(t for p, (t, _r, _m) in configs.items() if p.endswith("jaws-site.conf"))
    jtm_conf = next(t for p, (t, _r, _m) in configs.items() if p.endswith("jaws-jtm.conf"))
    assert "port = 43999" in site_conf and "db = site_db_dev" in site_conf
    assert "port = 45999" in jtm_conf and "vhost = work_dev" in jtm_conf
    assert plan.dependencies[0].targets[0] == "site_db_dev"
    assert plan.broker is None  # RPC over the real broker, not the fake broker directory


def test_dependencies_and_config_endpoints_together_are_refused():
    data = sites_data()
    data["sites"][SITE]["config"]["db"] = {"host": "127.0.0.1", "port": 3306}
    with pytest.raises(SitesError, match=r"sites\.local-deps.*config\.db.*declares dependencies"):
        parse_sites(__import__("yaml").safe_dump(data), "sites.yaml")


def test_a_fake_site_depends_on_loopback_only():
    data = _given_by_address(sites_data())
    data["sites"][SITE]["dependencies"]["rabbitmq"]["host"] = "rmq.lbl.gov"
    with pytest.raises(SitesError, match=r"sites\.local-deps\.dependencies\.rabbitmq\.host: .*"
                       r"loopback only.*rmq\.lbl\.gov"):
        parse_sites(__import__("yaml").safe_dump(data), "sites.yaml")


def test_plan_of_cori_lists_the_dependency_checks(pytester):
    result = pytester.runpytest_subprocess("--jaws-site=cori", "--jaws-env=dev", "--jaws-plan",
                                           "-p", "no:cacheprovider")
    assert result.ret == 0
    result.stdout.fnmatch_lines([
        "-- dependency checks, before anything is written or started (connect timeout 5 s each)",
        "*MySQL jaws-db.lbl.gov:3306: login as jaws; databases jaws_cori_dev, jtm_cori_dev, "
        "cromwell_cori_dev*$JAWS_SECRET_CORI_DEV_DB_PASSWORD*",
        "*RabbitMQ (central's broker) rmq.lbl.gov:5672: login as jaws; vhost jaws_dev*",
        "*RabbitMQ (site's broker) rmq.lbl.gov:5672: login as jaws; vhosts jaws_dev, jtm_dev*"])


# --- failures without a server: refused, timed out, no password -------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("kind", ["mysql", "rabbitmq"])
def test_nothing_listening_is_connection_refused(kind):
    port = _free_port()
    check = DependencyCheck(kind, kind, "MySQL" if kind == "mysql" else "RabbitMQ",
                            "127.0.0.1", port, "jaws", "DB_PASSWORD", ("jaws_local_dev",))
    problems = dependencies.run_check(check, "p" * 20)
    assert len(problems) == 1
    assert f"127.0.0.1:{port}" in problems[0] and "jaws_local_dev" in problems[0]
    assert "connection refused (connect timeout 5 s)" in problems[0]


@pytest.mark.parametrize("kind", ["mysql", "rabbitmq"])
def test_a_server_that_never_answers_times_out_with_the_timeout_named(kind):
    listener = socket.create_server(("127.0.0.1", 0))  # accepts (backlog), never speaks
    held: list = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        port = listener.getsockname()[1]
        check = DependencyCheck(kind, kind, kind, "127.0.0.1", port, "jaws", "DB_PASSWORD",
                                ("jtm_dev",))
        problems = dependencies.run_check(check, "p" * 20, timeout=1.0)
    finally:
        stop.set()
        thread.join()
        listener.close()
        for conn in held:
            conn.close()
    assert len(problems) == 1 and f"127.0.0.1:{port}" in problems[0] and "jtm_dev" in problems[0]
    assert "timed out (connect timeout 1 s)" in problems[0]


def test_a_missing_password_variable_is_named_before_anything_is_written(tmp_path, port_offset,
                                                                        monkeypatch):
    for name in ("DB_PASSWORD", "RMQ_PASSWORD", "SITE_RMQ_PASSWORD"):
        monkeypatch.delenv(secret_variable(SITE, "dev", name), raising=False)
    plan = _plan(tmp_path, _given_by_address(sites_data()), port_offset=port_offset)
    with pytest.raises(DependencyError, match=r"MySQL 127\.0\.0\.1:3306: the password of user "
                       r"jaws is not set; set the masked variable "
                       r"\$JAWS_SECRET_LOCAL_DEPS_DEV_DB_PASSWORD"):
        deploy.apply(plan)
    assert not (tmp_path / "base").exists()


# --- against the real servers -----------------------------------------------------------------

@pytest.mark.slow
def test_all_good_direct_checks(with_passwords, tmp_path):
    plan = _plan(tmp_path, with_passwords.sites())
    done = dependencies.preflight(plan.dependencies, SITE, "dev")
    assert done == [
        f"MySQL 127.0.0.1:{with_passwords.mysql_port}: login as jaws; databases jaws_local_dev, "
        "jtm_local_dev, cromwell_local_dev, jaws_central_dev: exists and the user can use it",
        f"RabbitMQ (central's broker) 127.0.0.1:{with_passwords.rabbit_port}: login as jaws; "
        "vhost jaws_dev: exists and a channel opens on it",
        f"RabbitMQ (site's broker) 127.0.0.1:{with_passwords.rabbit_port}: login as jaws; "
        "vhosts jaws_dev, jtm_dev: exists and a channel opens on it"]


@pytest.mark.slow
def test_wrong_password_fails_pre_flight_naming_both_servers(servers, monkeypatch, tmp_path,
                                                            port_offset):
    servers.environ(monkeypatch, password="not-the-password-at-all")
    plan = _plan(tmp_path, servers.sites(), port_offset=port_offset)
    with pytest.raises(DependencyError) as info:
        deploy.apply(plan)
    text = str(info.value)
    assert (f"MySQL 127.0.0.1:{servers.mysql_port} (databases jaws_local_dev, " in text
            and "authentication failed for user jaws (Access denied" in text)
    assert (f"RabbitMQ (central's broker) 127.0.0.1:{servers.rabbit_port} vhost jaws_dev: "
            "authentication failed for user jaws (ACCESS_REFUSED" in text)
    assert "not-the-password-at-all" not in text and "nothing was written or started" in text
    assert not (tmp_path / "base").exists()


@pytest.mark.parametrize("database, cause", [
    ("nosuch_{env}", r"database nosuch_dev: missing \(the database does not exist\)"),
    ("mysql", r"database mysql: missing, or user jaws may not use it \(Access denied for "
              r"user 'jaws'"),
], ids=["missing", "not-granted"])
@pytest.mark.slow
def test_database_missing_is_named(with_passwords, tmp_path, port_offset, database, cause):
    def change(site):
        site["dependencies"]["mysql"]["databases"] = {"jaws-site": database}
    plan = _plan(tmp_path, with_passwords.sites(change), port_offset=port_offset)
    with pytest.raises(DependencyError,
                       match=rf"MySQL 127\.0\.0\.1:{with_passwords.mysql_port} {cause}"):
        deploy.apply(plan)
    assert not (tmp_path / "base").exists()


@pytest.mark.slow
def test_vhost_missing_is_named(with_passwords, tmp_path, port_offset):
    def change(site):
        site["dependencies"]["rabbitmq"]["vhosts"] = {"jaws": "nosuch_{env}"}
    plan = _plan(tmp_path, with_passwords.sites(change), port_offset=port_offset)
    with pytest.raises(DependencyError, match=rf"RabbitMQ \(central's broker\) 127\.0\.0\.1:"
                       rf"{with_passwords.rabbit_port} vhost nosuch_dev: missing \(the vhost "
                       r"does not exist\) \(NOT_ALLOWED - vhost nosuch_dev not found\)"):
        deploy.apply(plan)
    assert not (tmp_path / "base").exists()


@pytest.mark.slow
def test_suites_pass_on_local_deps_and_the_summary_lists_both_dependencies(
        with_passwords, run_suites):
    result = run_suites(f"--jaws-site={SITE}", "--jaws-env=dev", "-rA",
                        sites=with_passwords.sites())
    assert result.ret == 0, result.stdout.str()[-4000:]
    out = result.stdout.str()
    for port, what in ((with_passwords.mysql_port, "MySQL"),
                       (with_passwords.rabbit_port, "RabbitMQ (central's broker)"),
                       (with_passwords.rabbit_port, "RabbitMQ (site's broker)")):
        assert f"  dependency {what} 127.0.0.1:{port}: login as jaws;" in out
    for name in ("test_dependency_usable[dev-mysql]", "test_dependency_usable[dev-rabbitmq]",
                 "test_dependency_usable[dev-site_rabbitmq]",
                 "test_central_rmq_part_is_the_real_broker[dev-rabbitmq]"):
        assert f"PASSED suites/test_dependencies.py::{name}" in out
    assert with_passwords.password not in out


@pytest.mark.slow
def test_broker_down_fails_pre_flight_naming_it_and_starts_nothing(with_passwords, run_suites,
                                                                   pytester):
    servers = with_passwords
    servers.ctl("stop_app")
    try:
        start = time.monotonic()
        result = run_suites(f"--jaws-site={SITE}", "--jaws-env=dev", "--basetemp",
                            str(pytester.path / "bt"), sites=servers.sites())
        took = time.monotonic() - start
    finally:
        servers.ctl("start_app")
    out = result.stdout.str()
    assert result.ret != 0
    assert (f"pre-flight failed (environment dev): RabbitMQ (central's broker) 127.0.0.1:"
            f"{servers.rabbit_port} vhost jaws_dev: connection refused (connect timeout 5 s)"
            in out), out[-3000:]
    assert "FATAL" not in out
    assert not list((pytester.path / "bt").glob("**/jaws-supervisord-dev")), "files were written"
    print(f"broker-down run of the suites took {took:.1f} s")  # measured, not asserted


BROKER_STOPPER = '''
import os, subprocess, time
import pytest

@pytest.fixture(scope="session", autouse=True)
def _stop_broker_once_deployed(jaws_manager):
    dep = jaws_manager.get("dev")
    subprocess.run(os.environ["JAWS_TEST_STOP_BROKER"].split(), check=True,
                   capture_output=True)
    client = dep.client("jaws")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the fakes notice and exit; supervisord gives up
        states = {i["name"]: i["statename"] for i in client.supervisor.getAllProcessInfo()}
        if states.get("jaws-site-daemon") in ("FATAL", "BACKOFF", "EXITED"):
            break
        time.sleep(0.2)
'''


@pytest.mark.slow
def test_broker_stopped_while_deployed_health_and_dependency_suites_say_why(
        with_passwords, run_suites, monkeypatch):
    servers = with_passwords
    monkeypatch.setenv("JAWS_TEST_STOP_BROKER", " ".join(servers.ctl_argv("stop_app")))
    try:
        result = run_suites(f"--jaws-site={SITE}", "--jaws-env=dev", "-rfE",
                            sites=servers.sites(), conftest=BROKER_STOPPER,
                            suites=["test_health.py", "test_dependencies.py"])
    finally:
        servers.ctl("start_app")
    out = result.stdout.str()
    assert result.ret != 0
    where = f"127.0.0.1:{servers.rabbit_port}"
    # the dependency suite: the broker, its address, the vhost, the cause
    assert (f"RabbitMQ (central's broker) {where} vhost jaws_dev: connection refused "
            "(connect timeout 5 s)") in out, out[-4000:]
    # the health suite: jaws-site not RUNNING, and its log says it lost the broker
    # (a FATAL program where startsecs is 1 s or more; a crash loop where it is 0, as here)
    assert "jaws-site-daemon" in out and ("FATAL" in out or "BACKOFF" in out
                                         or "crash-looping" in out)
    assert f"lost RabbitMQ {where} vhost" in out or f"cannot connect to RabbitMQ {where}" in out
    assert "central-rest reports LOCAL-RMQ DOWN" in out or "LOCAL-RMQ" in out


@pytest.mark.slow
def test_nothing_of_the_servers_is_left_behind_by_a_stop(servers):
    """The servers are the session's: they run as processes this session started.

    This only checks mirakuru's marker, and that epmd is the fixture's own (ended by PID at the
    end).
    """
    port = os.environ["ERL_EPMD_PORT"]
    epmds = [p for p in psutil.process_iter(["name", "cmdline"]) if p.info["name"] == "epmd"
             and port in (p.info["cmdline"] or [])]
    assert len(epmds) == 1 and epmds[0].ppid() == os.getpid()
