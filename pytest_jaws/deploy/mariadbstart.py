"""The run-started MariaDB: its data directory initialised, the server started, JAWS's user and databases.

``mariadb-install-db`` once, then ``mysqld`` on loopback with an init file that gives user
``jaws`` the databases of every JAWS config file (:mod:`pytest_jaws.plan.depplan`), waited for
until that user logs in and sees them. Its Unix socket lives in a private directory under the
temporary directory, recorded in the data directory (:data:`SOCKET_DIR_FILE`) for
:func:`pytest_jaws.deploy.runservers.stop`.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

from ..errors import DependencyError
from ..plan.serverplan import ServersPlan
from .serverexec import START_TIMEOUT, Server, run_server, server_env
from .serverports import wait_free

#: What mysqld logs when its port is taken as it binds it (errno 98, EADDRINUSE).
BIND_ERROR = "Bind on TCP/IP port. Got error: 98"


def start_mysql(plan: ServersPlan, password: str) -> None:
    """Start MariaDB on ``plan``'s port and wait until user ``jaws`` sees every database.

    :raises DependencyError: when its data directory cannot be initialised, or it does not
        accept connections or give the user its databases (naming its log).
    """
    data = plan.directory / "mysql"
    root = os.geteuid() == 0
    user = ["--user=root"] if root else []
    if not (data / "mysql").is_dir():
        install = ["mariadb-install-db", "--no-defaults", f"--datadir={data}",
                   "--auth-root-authentication-method=socket", "--skip-test-db", *user]
        result = subprocess.run(install, capture_output=True, text=True, env=server_env(plan),
                                stdin=subprocess.DEVNULL, timeout=START_TIMEOUT, check=False)
        if result.returncode != 0:
            raise DependencyError(f"the run-started MariaDB could not be initialised in {data}: "
                                  f"'{' '.join(install)}' exited {result.returncode}: "
                                  f"{(result.stderr + result.stdout).strip()[-1500:]}")
    init = plan.directory / "init.sql"  # run by mysqld at start; removed once it is up
    fd = os.open(init, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(_init_sql(plan, password))
    argv = ["mysqld", "--no-defaults", f"--datadir={data}", f"--init-file={init}",
            f"--socket={_socket_dir(plan) / 'mysql.sock'}", f"--port={plan.ports['mysql']}",
            "--bind-address=127.0.0.1", f"--pid-file={plan.directory / 'mysql.pid'}",
            f"--log-error={plan.directory / 'mysql.log'}", "--skip-name-resolve",
            "--innodb-buffer-pool-size=32M",
            # no io_uring/libaio: with several servers on a host (other runs' MariaDBs)
            # their setup can fail on the locked-memory limit, and InnoDB aborts
            "--innodb-use-native-aio=0", *user]
    try:
        try:
            run_server(Server(argv, plan.ports["mysql"], server_env(plan)), "MariaDB",
                       plan.directory / "mysql.log")
        except DependencyError as exc:
            # the port was free at pre-flight, and taken when mysqld bound it (a connection's
            # TIME_WAIT also keeps it from binding, which is why RUN_SERVER_PORTS lie below
            # the ephemeral range): once nothing but TIME_WAIT holds it, one more start
            if BIND_ERROR not in str(exc) or wait_free({"mysql": plan.ports["mysql"]}):
                raise
            run_server(Server(argv, plan.ports["mysql"], server_env(plan)),
                       "MariaDB (started a second time, its port was taken at the first)",
                       plan.directory / "mysql.log")
        _wait_login(plan, password)  # the init file runs after the port opens
    finally:
        init.unlink(missing_ok=True)



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



#: The file in the data directory that names the private directory of MariaDB's socket.
SOCKET_DIR_FILE = "socket-dir"


def _socket_dir(plan: ServersPlan) -> Path:
    """Make a private directory for MariaDB's Unix socket (0700, under the temporary directory).

    A base directory may be deeper than a socket path may be long (108 bytes), and MariaDB
    refuses to start then. Its path is recorded in the data directory for
    :func:`pytest_jaws.deploy.runservers.stop`.
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

