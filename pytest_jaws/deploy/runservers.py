"""MariaDB and RabbitMQ started by the harness for the run (sites.yaml ``dependencies: {start: true}``).

A site that asks for run-started servers (``local-deps``; a real site's fake twin that runs
the real JAWS code, :mod:`pytest_jaws.sites.twin`) gets, per environment, a MariaDB and a RabbitMQ
of its own on loopback, started from the installed Debian packages (``mariadb-server``,
``rabbitmq-server``) the way pytest-mysql and pytest-rabbitmq start theirs: a mirakuru
``TCPExecutor`` that runs the server and waits for its port. Their ports are
:data:`pytest_jaws.sites.sitemodel.RUN_SERVER_PORTS` shifted with the run's port offset and the
environment's row; their data lives in ``<base>/jaws-servers-<env>`` (mode 0700).

They get what JAWS's configuration files name (:mod:`pytest_jaws.plan.depplan`): user ``jaws``
with the databases of every config file, and the vhosts ``jaws_<env>`` and ``jtm_<env>``.
The passwords are the deployment's secrets (``DB_PASSWORD``, ``RMQ_PASSWORD`` =
``SITE_RMQ_PASSWORD``): the variables when set, else generated once per run by
:func:`set_passwords` (in the environment of the run, so that xdist workers see them).

Every server process carries ``JAWS_RUN_SERVERS=<deployment marker>`` and nothing else of
the caller's environment; :func:`stop` ends them by PID (from any process of the run: the
xdist controller tears down what a worker started) and removes the data directory: nothing is
left, no process, no port, no data.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
from mirakuru import TCPExecutor

from ..errors import DependencyError, DeploymentError
from ..host import ephemeral, processes, safedirs
from ..keys import generate_key, remember
from ..plan.serverplan import ServersPlan
from ..plan.serverplan import run_site as run_site  # these two re-exported: their home is serverplan
from ..plan.serverplan import server_ports as server_ports

if TYPE_CHECKING:
    pass

#: The variable that marks every process of the run-started servers (value: the deployment
#: marker, :data:`pytest_jaws.plan.plan.MARKER_VARIABLE`'s value).
SERVERS_VARIABLE = "JAWS_RUN_SERVERS"
#: The server programs and the Debian package of each (a usage error names the package).
RABBIT_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
RABBIT_CTL = Path("/usr/lib/rabbitmq/bin/rabbitmqctl")
PROGRAMS: dict[str, tuple[tuple[str, ...], str]] = {
    "mysql": (("mysqld", "mariadb-install-db"), "mariadb-server"),
    "rabbitmq": ((str(RABBIT_SERVER), str(RABBIT_CTL), "epmd"), "rabbitmq-server"),
}
#: Seconds a server may take to accept connections.
START_TIMEOUT = 120.0
#: Seconds RabbitMQ's first start may take before it is started once more.
RABBIT_FIRST_TIMEOUT = 60.0
#: Seconds a server may take to stop on SIGTERM before it is killed.
STOP_TIMEOUT = 30.0
#: PATH of the server processes (the caller's PATH is never passed on).
SERVER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def missing_programs(start: Sequence[str]) -> list[str]:
    """Return the Debian packages whose server programs are missing, for the servers ``start``."""
    missing = []
    for key in start:
        programs, package = PROGRAMS[key]
        if not all(shutil.which(p) or Path(p).is_file() for p in programs):
            missing.append(package)
    return missing


def set_passwords(site: str, envs: Sequence[str], start: Sequence[str],
                  environ: dict | os._Environ | None = None) -> None:
    """Give the run-started servers' secrets a value for the run, where no variable sets one.

    ``JAWS_SECRET_<SITE>_<ENV>_DB_PASSWORD`` (MySQL), ``..._RMQ_PASSWORD`` and
    ``..._SITE_RMQ_PASSWORD`` (the one RabbitMQ: both get the same value, the first one set,
    else a generated one). Set in ``environ`` (default: this process's environment, which
    xdist workers inherit); every value is registered for masking.
    """
    from ..sites.sitevars import secret_variable

    target = os.environ if environ is None else environ
    for env in envs:
        groups: list[tuple[str, ...]] = []
        if "mysql" in start:
            groups.append(("DB_PASSWORD",))
        if "rabbitmq" in start:
            groups.append(("RMQ_PASSWORD", "SITE_RMQ_PASSWORD"))
        for names in groups:
            variables = [secret_variable(site, env, n) for n in names]
            value = next((target[v] for v in variables if target.get(v)), None) or generate_key()
            remember(value)
            for variable in variables:
                if not target.get(variable):
                    target[variable] = value
                    if environ is None:
                        _set_here.append(variable)


#: The variables :func:`set_passwords` set in this process's environment (for
#: :func:`forget_passwords`).
_set_here: list[str] = []


def forget_passwords() -> None:
    """Remove from this process's environment the variables :func:`set_passwords` set.

    At the end of a run (``pytest_unconfigure``): a later run in the same process (pytester)
    must not find them.
    """
    while _set_here:
        os.environ.pop(_set_here.pop(), None)


class _Server(TCPExecutor):
    """A mirakuru TCP executor whose process gets only the given environment.

    Not the caller's; and a marker of its own instead of mirakuru's ``mirakuru_uuid``
    starting with this PID, so that mirakuru's exit handler in the process that started it (an
    xdist worker ends before the run does) does not kill it; :func:`stop` ends it by PID.
    """

    def __init__(self, command: list[str], port: int, envvars: dict[str, str],
                 console: Path | None = None, timeout: float = START_TIMEOUT):
        """Run ``command`` (no shell) with only ``envvars``, waiting for 127.0.0.1:``port``.

        :param console: the file (created 0600, never followed if a link) that gets the
            process's standard output and error (what it says before its own log is set up);
            discarded when ``None``.
        :param timeout: seconds the port may take to open before the process is killed.
        """
        self._console = console
        super().__init__(command, host="127.0.0.1", port=port, timeout=timeout,
                         envvars=envvars, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._uuid = f"pytest-jaws:{uuid.uuid4()}"

    @property
    def envvars(self) -> dict[str, str]:
        """Only the given variables and the executor's marker."""
        return dict(self._envvars, mirakuru_uuid=self._uuid)

    def start_detached(self) -> None:
        """Start and wait for the port, then let go of the process.

        mirakuru kills an executor's process when the executor object is collected; the
        servers outlive it (until :func:`stop`).
        """
        output = None
        if self._console is not None:
            output = os.open(self._console,
                             os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
            self._stdout = self._stderr = output
        try:
            self.start()
        finally:
            self.process = None
            if output is not None:
                os.close(output)  # the process has its own copy


def _env(plan: ServersPlan, **more: str) -> dict[str, str]:
    return {"PATH": SERVER_PATH, "LANG": "C.UTF-8", SERVERS_VARIABLE: plan.marker,
            "HOME": str(plan.directory), **more}


def running(plan: ServersPlan) -> list[psutil.Process]:
    """Return the live processes of ``plan``'s servers (found by :data:`SERVERS_VARIABLE`)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.pid != os.getpid() and \
                    proc.environ().get(SERVERS_VARIABLE) == plan.marker and \
                    not processes.exited(proc):
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


#: Seconds a server port taken by a connection (not a listener) is waited for: an outgoing
#: connection that took it as its ephemeral port before it was reserved.
PORT_WAIT = 15.0


def _users(port: int) -> set[str]:
    """Return the states of the sockets bound to ``port`` that keep a server from binding it.

    Every state but TIME_WAIT (the servers bind with SO_REUSEADDR); empty when it is free.
    """
    return {c.status for c in psutil.net_connections("tcp")
            if c.laddr and c.laddr.port == port and c.status != psutil.CONN_TIME_WAIT}


def _server_ports(plan: ServersPlan) -> dict[str, int]:
    names = (["mysql"] if "mysql" in plan.start else []) + \
        (["rabbitmq", "rabbitmq-dist", "epmd"] if "rabbitmq" in plan.start else [])
    return {n: plan.ports[n] for n in names}


def _check_ports(plan: ServersPlan) -> None:
    """Refuse a server port something listens on; wait out a connection that holds one.

    Its ports are reserved first (:func:`ensure`): a connection that holds one ends, and no
    new one takes it.
    """
    deadline = time.monotonic() + PORT_WAIT
    while True:
        used = {n: _users(p) for n, p in _server_ports(plan).items()}
        if not any(used.values()):
            return
        listening = any(psutil.CONN_LISTEN in states for states in used.values())
        if listening or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    busy = [f"{n} {plan.ports[n]}" for n, states in used.items() if states]
    if busy:
        raise DependencyError(
            f"pre-flight failed: the port of the run-started {', '.join(busy)} is in use by "
            "something else; run with --jaws-port-offset=auto (it picks an offset whose ports "
            "are all free), or stop what holds it")


def _start_mysql(plan: ServersPlan, password: str) -> None:
    data = plan.directory / "mysql"
    root = os.geteuid() == 0
    user = ["--user=root"] if root else []
    if not (data / "mysql").is_dir():
        install = ["mariadb-install-db", "--no-defaults", f"--datadir={data}",
                   "--auth-root-authentication-method=socket", "--skip-test-db", *user]
        result = subprocess.run(install, capture_output=True, text=True, env=_env(plan),
                                stdin=subprocess.DEVNULL, timeout=START_TIMEOUT, check=False)
        if result.returncode != 0:
            raise DependencyError(f"the run-started MariaDB could not be initialised in {data}: "
                                  f"'{' '.join(install)}' exited {result.returncode}: "
                                  f"{(result.stderr + result.stdout).strip()[-1500:]}")
    init = plan.directory / "init.sql"  # run by mysqld at start; removed once it is up
    fd = os.open(init, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(_init_sql(plan, password))
    server = _Server(["mysqld", "--no-defaults", f"--datadir={data}", f"--init-file={init}",
                      f"--socket={_socket_dir(plan) / 'mysql.sock'}",
                      f"--port={plan.ports['mysql']}",
                      "--bind-address=127.0.0.1", f"--pid-file={plan.directory / 'mysql.pid'}",
                      f"--log-error={plan.directory / 'mysql.log'}", "--skip-name-resolve",
                      "--innodb-buffer-pool-size=32M",
                      # no io_uring/libaio: with several servers on a host (other runs' MariaDBs)
                      # their setup can fail on the locked-memory limit, and InnoDB aborts
                      "--innodb-use-native-aio=0", *user],
                     plan.ports["mysql"], _env(plan))
    try:
        _run_server(server, "MariaDB", plan.directory / "mysql.log")
        _wait_login(plan, password)  # the init file runs after the port opens
    finally:
        init.unlink(missing_ok=True)


def _start_peers(plan: ServersPlan, password: str) -> None:
    """Start the stand-ins of the sites central serves (:mod:`pytest_jaws.fakes.peers`).

    With the run's interpreter, marked like the servers (ended by :func:`stop`); waits until
    they consume.

    :raises DependencyError: when they exit or do not consume within :data:`START_TIMEOUT`.
    """
    import json
    import sys

    script = Path(__file__).parents[1] / "fakes" / "peers.py"
    log = plan.directory / "peers.log"
    conf = {"host": "127.0.0.1", "port": plan.ports["rabbitmq"], "user": plan.user,
            "vhost": plan.vhosts[0], "queues": list(plan.peers)}
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as out:
        proc = subprocess.Popen(  # the package's own script, no shell
            [sys.executable, str(script)], stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
            env=_env(plan, JAWS_PEERS=json.dumps(conf), JAWS_PEERS_PASSWORD=password))
    deadline = time.monotonic() + START_TIMEOUT
    while "answering on" not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = " | ".join(log.read_text(errors="replace").splitlines()[-5:])
            raise DependencyError(f"the stand-ins of the sites central serves did not start "
                                  f"(exit status {proc.poll()}): {tail or 'no output'}")
        time.sleep(0.1)


def _wait_login(plan: ServersPlan, password: str) -> None:
    """Wait until user ``jaws`` logs in to the run-started MariaDB and sees every database.

    :raises DependencyError: after :data:`START_TIMEOUT` seconds, with the log's tail.
    """
    import pymysql

    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            conn = pymysql.connect(host="127.0.0.1", port=plan.ports["mysql"], user=plan.user,
                                   password=password, connect_timeout=5)
            try:
                for db in plan.databases:
                    conn.select_db(db)
            finally:
                conn.close()
            return
        except pymysql.err.MySQLError as exc:
            if time.monotonic() > deadline:
                log = plan.directory / "mysql.log"
                tail = " | ".join(log.read_text(errors="replace").splitlines()[-5:]) \
                    if log.is_file() else "empty"
                raise DependencyError(f"the run-started MariaDB on 127.0.0.1:"
                                      f"{plan.ports['mysql']} did not give user {plan.user} its "
                                      f"databases ({exc.args[-1]}); its log: {tail}") from None
            time.sleep(0.1)


def _start_rabbitmq(plan: ServersPlan, password: str) -> None:
    ports = plan.ports
    conf = plan.directory / "rabbitmq.conf"
    # rabbitmq.conf (RabbitMQ 3.10 docs, "Configuration"): loopback listener, the JAWS user as
    # the default user on the jaws vhost; no plugins (the management plugin binds every interface)
    text = (f"listeners.tcp.1 = 127.0.0.1:{ports['rabbitmq']}\n"
            f"default_user = {plan.user}\ndefault_pass = {password}\n"
            f"default_vhost = {plan.vhosts[0]}\n"
            "default_permissions.configure = .*\ndefault_permissions.read = .*\n"
            "default_permissions.write = .*\nloopback_users = none\n")
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    (plan.directory / "enabled_plugins").write_text("[].\n")
    env = _rabbit_env(plan)
    epmd = _Server(["epmd", "-port", str(ports["epmd"]), "-address", "127.0.0.1"],
                   ports["epmd"], env)
    epmd.start_detached()
    console = plan.directory / "rabbit-console.log"
    try:
        # a first try that gives up sooner than START_TIMEOUT (RabbitMQ opens its port in a
        # few seconds; once in a loaded CI run its VM started and wrote no line in 120 s)
        _run_server(_Server([str(RABBIT_SERVER)], ports["rabbitmq"], env, console,
                            RABBIT_FIRST_TIMEOUT),
                    "RabbitMQ", plan.directory / "rabbit-logs", console)
    except DependencyError:
        # mirakuru killed the first (its process group and every process it marked); a fresh
        # start with an empty database, once
        shutil.rmtree(plan.directory / "mnesia", ignore_errors=True)
        _run_server(_Server([str(RABBIT_SERVER)], ports["rabbitmq"], env, console),
                    "RabbitMQ (started a second time)", plan.directory / "rabbit-logs", console)
    for vhost in plan.vhosts[1:]:
        _ctl(plan, "add_vhost", vhost)
        _ctl(plan, "set_permissions", "-p", vhost, plan.user, ".*", ".*", ".*")


def _rabbit_env(plan: ServersPlan) -> dict[str, str]:
    ports, d = plan.ports, plan.directory
    return _env(plan, RABBITMQ_NODENAME=f"jaws{ports['rabbitmq']}@localhost",
                RABBITMQ_NODE_IP_ADDRESS="127.0.0.1", RABBITMQ_NODE_PORT=str(ports["rabbitmq"]),
                RABBITMQ_DIST_PORT=str(ports["rabbitmq-dist"]),
                RABBITMQ_CONFIG_FILE=str(d / "rabbitmq.conf"),
                RABBITMQ_ENABLED_PLUGINS_FILE=str(d / "enabled_plugins"),
                RABBITMQ_MNESIA_BASE=str(d / "mnesia"), RABBITMQ_LOG_BASE=str(d / "rabbit-logs"),
                RABBITMQ_PID_FILE=str(d / "rabbit.pid"), ERL_EPMD_PORT=str(ports["epmd"]),
                ERL_EPMD_ADDRESS="127.0.0.1",
                # a crash dump of the Erlang VM (its own, or rabbitmqctl's) in the data
                # directory, removed with it; not in the current directory
                ERL_CRASH_DUMP=str(d / "erl_crash.dump"),
                # Erlang's distribution listener on loopback too (default: every interface)
                RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
                RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}")


def _ctl(plan: ServersPlan, *args: str) -> str:
    result = subprocess.run([str(RABBIT_CTL), *args], capture_output=True, text=True,
                            env=_rabbit_env(plan), stdin=subprocess.DEVNULL, timeout=120,
                            check=False)
    if result.returncode != 0:
        raise DependencyError(f"the run-started RabbitMQ: 'rabbitmqctl {' '.join(args[:2])}' "
                              f"exited {result.returncode}: {result.stderr.strip()[-800:]}")
    return result.stdout


def _run_server(server: _Server, name: str, log: Path, console: Path | None = None) -> None:
    """Start ``server`` and wait for its port.

    :param log: its log file, or the directory of its ``*.log`` files.
    :param console: the file of its standard output and error, if it has one.
    :raises DependencyError: naming the server, its port, mirakuru's reason and the error
        lines and tail of its logs.
    """
    try:
        server.start_detached()
    except Exception as exc:  # noqa: BLE001 - mirakuru's timeout or the process's exit
        tail = ""
        logs = sorted(log.glob("*.log")) if log.is_dir() else [log]
        logs += [console] if console is not None else []
        for path in logs:
            try:
                lines = path.read_text(errors="replace").splitlines()
            except OSError:
                continue
            # its errors first (RabbitMQ logs many lines while it stops), then the last lines
            errors = [ln for ln in lines if "[error]" in ln.lower() or "error" in ln[:60].lower()]
            tail += " | ".join(errors[-5:] + lines[-3:])
        raise DependencyError(f"the run-started {name} did not accept connections on "
                              f"127.0.0.1:{server.port} ({exc}); its log: {tail or 'empty'}") \
            from None


#: The file in the data directory that names the private directory of MariaDB's socket.
SOCKET_DIR_FILE = "socket-dir"


def _socket_dir(plan: ServersPlan) -> Path:
    """Make a private directory for MariaDB's Unix socket (0700, under the temporary directory).

    A base directory may be deeper than a socket path may be long (108 bytes), and MariaDB
    refuses to start then. Its path is recorded in the data directory for :func:`stop`.
    """
    path = Path(tempfile.mkdtemp(prefix="jaws-mysqld-"))
    fd = os.open(plan.directory / SOCKET_DIR_FILE,
                 os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(str(path))
    return path


def _init_sql(plan: ServersPlan, password: str) -> str:
    """Return the SQL that gives MariaDB JAWS's user and databases (``mysqld --init-file``)."""
    quoted = password.replace("\\", "\\\\").replace("'", "\\'")
    lines = []
    for host in ("localhost", "127.0.0.1", "::1"):
        lines += [f"CREATE USER IF NOT EXISTS '{plan.user}'@'{host}' IDENTIFIED BY '{quoted}';",
                  f"ALTER USER '{plan.user}'@'{host}' IDENTIFIED BY '{quoted}';"]
        lines += [f"GRANT ALL ON `{db}`.* TO '{plan.user}'@'{host}';" for db in plan.databases]
    lines += [f"CREATE DATABASE IF NOT EXISTS `{db}`;" for db in plan.databases]
    return "\n".join(lines) + "\n"


def ensure(plan: ServersPlan, passwords: dict[str, str],
           progress: Callable[[str], None] | None = None) -> None:
    """Start the servers of ``plan`` with JAWS's user, databases and vhosts.

    Servers of this deployment found running (an earlier run left it up) are stopped first
    and started again with this run's passwords.

    :param passwords: ``{secret name: value}`` of the deployment (``DB_PASSWORD``,
        ``RMQ_PASSWORD``).
    :raises DependencyError: a port of theirs is taken (naming it and
        ``--jaws-port-offset=auto``), or a server does not start (naming it and its log);
        nothing of them is left then.
    """
    say = progress or (lambda _step: None)
    if running(plan):
        stop(plan)
        say("the run-started MariaDB and RabbitMQ of an earlier run stopped, to start again "
            "with this run's passwords")
    # ports in the ephemeral range reserved while the servers run (as root; given back by
    # stop), so that no outgoing connection takes one
    ephemeral.reserve(set(_server_ports(plan).values()), _reservation(plan))
    try:
        _check_ports(plan)
    except DependencyError:
        ephemeral.release(_reservation(plan))
        raise
    safedirs.ensure_dir(plan.directory, 0o700, None)
    try:
        if "mysql" in plan.start:
            began = time.monotonic()
            _start_mysql(plan, passwords[plan.db_secret])
            say(f"MariaDB started on 127.0.0.1:{plan.ports['mysql']}: "
                f"{time.monotonic() - began:.2f} s")
        if "rabbitmq" in plan.start:
            began = time.monotonic()
            _start_rabbitmq(plan, passwords[plan.rmq_secrets[0]])
            say(f"RabbitMQ started on 127.0.0.1:{plan.ports['rabbitmq']}: "
                f"{time.monotonic() - began:.2f} s")
        if plan.peers:
            _start_peers(plan, passwords[plan.rmq_secrets[0]])
            say(f"stand-ins of the sites central serves answer on {', '.join(plan.peers)}")
    except BaseException:
        stop(plan)
        raise


def _reservation(plan: ServersPlan) -> str:
    """Return the key of the servers' port reservation (:func:`pytest_jaws.host.ephemeral.reserve`)."""
    return f"{plan.marker}#servers"


def stop(plan: ServersPlan) -> None:
    """End every process of ``plan``'s servers by PID and remove their data directory.

    :raises DeploymentError: naming the PIDs that survived SIGTERM and SIGKILL.
    """
    procs = running(plan)
    alive = processes.terminate(procs, STOP_TIMEOUT) if procs else []
    if alive:
        raise DeploymentError("run-started servers survived teardown: "
                              + ", ".join(f"PID {p.pid}" for p in alive))
    ephemeral.release(_reservation(plan))
    if plan.directory.is_dir() and not plan.directory.is_symlink():
        record = plan.directory / SOCKET_DIR_FILE
        socket_dir = Path(record.read_text().strip()) if record.is_file() else None
        if socket_dir is not None and socket_dir.name.startswith("jaws-mysqld-") and \
                socket_dir.is_dir() and not socket_dir.is_symlink() and \
                socket_dir.stat().st_uid == os.geteuid():
            shutil.rmtree(socket_dir, ignore_errors=True)
        shutil.rmtree(plan.directory, ignore_errors=True)
