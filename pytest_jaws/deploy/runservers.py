"""MariaDB and RabbitMQ started by the harness for the run (sites.yaml ``dependencies: {start: true}``).

A site that asks for run-started servers (``local-deps``; a real site's fake twin that runs
the real JAWS code, :mod:`pytest_jaws.sites.twin`) gets, per environment, a MariaDB and a RabbitMQ
of its own on loopback, started from the installed Debian packages (``mariadb-server``,
``rabbitmq-server``) the way pytest-mysql and pytest-rabbitmq start theirs: a mirakuru
``TCPExecutor`` that runs the server and waits for its port. Their ports are
:data:`pytest_jaws.sites.sitedeps.RUN_SERVER_PORTS` shifted with the run's port offset and the
environment's row; their data lives in ``<base>/jaws-servers-<env>`` (mode 0700).

They get what JAWS's configuration files name (:mod:`pytest_jaws.plan.depplan`): user ``jaws``
with the databases of every config file, and the vhosts ``jaws_<env>`` and ``jtm_<env>``.
The passwords are the deployment's secrets (``DB_PASSWORD``, ``RMQ_PASSWORD`` =
``SITE_RMQ_PASSWORD``): the variables when set, else generated once per run by
:func:`pytest_jaws.deploy.serverpasswords.set_passwords` (in the environment of the run, so
that xdist workers see them).

Every server process carries ``JAWS_RUN_SERVERS=<deployment marker>`` and nothing else of
the caller's environment; :func:`stop` ends them by PID (from any process of the run: the
xdist controller tears down what a worker started) and removes the data directory: nothing is
left, no process, no port, no data.

The parts: :mod:`pytest_jaws.deploy.serverexec` (the executor),
:mod:`pytest_jaws.deploy.mariadbstart`, :mod:`pytest_jaws.deploy.rabbitstart`,
:mod:`pytest_jaws.deploy.serverports` and :mod:`pytest_jaws.deploy.serverpasswords`.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import psutil

from ..errors import DependencyError, DeploymentError
from ..host import ephemeral, processes, safedirs
from ..plan.serverplan import ServersPlan
from ..plan.serverplan import run_site as run_site  # these two re-exported: their home is serverplan
from ..plan.serverplan import server_ports as server_ports
from .mariadbstart import SOCKET_DIR_FILE, start_mysql
from .rabbitstart import RABBIT_CTL, RABBIT_SERVER, start_peers, start_rabbitmq
from .serverexec import SERVERS_VARIABLE
from .serverports import check_ports, ports_of

#: The server programs and the Debian package of each (a usage error names the package).
PROGRAMS: dict[str, tuple[tuple[str, ...], str]] = {
    "mysql": (("mysqld", "mariadb-install-db"), "mariadb-server"),
    "rabbitmq": ((str(RABBIT_SERVER), str(RABBIT_CTL), "epmd"), "rabbitmq-server"),
}
#: Seconds a server may take to stop on SIGTERM before it is killed.
STOP_TIMEOUT = 30.0


def missing_programs(start: Sequence[str]) -> list[str]:
    """Return the Debian packages whose server programs are missing, for the servers ``start``."""
    missing = []
    for key in start:
        programs, package = PROGRAMS[key]
        if not all(shutil.which(p) or Path(p).is_file() for p in programs):
            missing.append(package)
    return missing


def running(plan: ServersPlan) -> list[psutil.Process]:
    """Return the live processes of ``plan``'s servers (found by :data:`SERVERS_VARIABLE`)."""
    return processes.with_variable(SERVERS_VARIABLE, plan.marker)


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
    ephemeral.reserve(set(ports_of(plan).values()), _reservation(plan))
    try:
        check_ports(plan)
    except DependencyError:
        ephemeral.release(_reservation(plan))
        raise
    safedirs.ensure_dir(plan.directory, 0o700, None)
    try:
        if "mysql" in plan.start:
            began = time.monotonic()
            start_mysql(plan, passwords[plan.db_secret])
            say(f"MariaDB started on 127.0.0.1:{plan.ports['mysql']}: "
                f"{time.monotonic() - began:.2f} s")
        if "rabbitmq" in plan.start:
            began = time.monotonic()
            start_rabbitmq(plan, passwords[plan.rmq_secrets[0]])
            say(f"RabbitMQ started on 127.0.0.1:{plan.ports['rabbitmq']}: "
                f"{time.monotonic() - began:.2f} s")
        if plan.peers:
            start_peers(plan, passwords[plan.rmq_secrets[0]])
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
