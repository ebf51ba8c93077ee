"""The run-started RabbitMQ: epmd, the server, JAWS's vhosts, and the stand-ins of the sites central serves.

RabbitMQ from the Debian package on loopback, its configuration, logs and database in the
data directory, started once more with an empty database when its first start ends or does
not open the port within :data:`RABBIT_FIRST_TIMEOUT`; the vhosts beyond the first added with
``rabbitmqctl``. The stand-ins (:mod:`pytest_jaws.fakes.peers`) consume from it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from ..errors import DependencyError
from ..plan.serverplan import ServersPlan
from .serverexec import START_TIMEOUT, Server, run_server, server_env
from .serverports import wait_free

#: RabbitMQ's programs (Debian package ``rabbitmq-server``).
RABBIT_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
RABBIT_CTL = Path("/usr/lib/rabbitmq/bin/rabbitmqctl")
#: Seconds RabbitMQ's first start may take before it is started once more. It opens its port
#: in 5 to 11 s here, four starting at once on 2 cores (measured 2026-12-07).
RABBIT_FIRST_TIMEOUT = 30.0
#: Seconds the processes of a first try that did not start get to stop before SIGKILL.
FIRST_STOP_TIMEOUT = 5.0


def start_rabbitmq(plan: ServersPlan, password: str) -> None:
    """Start epmd and RabbitMQ on ``plan``'s ports, with user ``jaws`` and every vhost.

    :raises DependencyError: when it does not accept connections a second time, or
        ``rabbitmqctl`` fails (naming the command and its error).
    """
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
    epmd = Server(["epmd", "-port", str(ports["epmd"]), "-address", "127.0.0.1"],
                  ports["epmd"], env)
    epmd.start_detached()
    console = plan.directory / "rabbit-console.log"
    first = Server([str(RABBIT_SERVER)], ports["rabbitmq"], env, console, RABBIT_FIRST_TIMEOUT)
    try:
        run_server(first, "RabbitMQ", plan.directory / "rabbit-logs", console)
    except DependencyError:
        # mirakuru only sent SIGTERM, and an Erlang VM stops slowly on it: every process of
        # the first try ends, and its ports are free, before a fresh start with an empty
        # database, once (else the second finds the distribution port taken:
        # 'dist_port_already_used')
        alive = first.end(FIRST_STOP_TIMEOUT)
        busy = wait_free({n: ports[n] for n in ("rabbitmq", "rabbitmq-dist")})
        if alive or busy:
            raise DependencyError(
                "the run-started RabbitMQ did not start, and its first try could not be ended "
                f"to start it again: PIDs still alive {[p.pid for p in alive]}, ports still "
                f"in use {busy}") from None
        shutil.rmtree(plan.directory / "mnesia", ignore_errors=True)
        run_server(Server([str(RABBIT_SERVER)], ports["rabbitmq"], env, console),
                   "RabbitMQ (started a second time)", plan.directory / "rabbit-logs", console)
    for vhost in plan.vhosts[1:]:
        _ctl(plan, "add_vhost", vhost)
        _ctl(plan, "set_permissions", "-p", vhost, plan.user, ".*", ".*", ".*")


def _rabbit_env(plan: ServersPlan) -> dict[str, str]:
    ports, d = plan.ports, plan.directory
    return server_env(plan, RABBITMQ_NODENAME=f"jaws{ports['rabbitmq']}@localhost",
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




def start_peers(plan: ServersPlan, password: str) -> None:
    """Start the stand-ins of the sites central serves (:mod:`pytest_jaws.fakes.peers`).

    With the run's interpreter, marked like the servers (ended by
    :func:`pytest_jaws.deploy.runservers.stop`); waits until they consume.

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
            env=server_env(plan, JAWS_PEERS=json.dumps(conf), JAWS_PEERS_PASSWORD=password))
    deadline = time.monotonic() + START_TIMEOUT
    while "answering on" not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = " | ".join(log.read_text(errors="replace").splitlines()[-5:])
            raise DependencyError(f"the stand-ins of the sites central serves did not start "
                                  f"(exit status {proc.poll()}): {tail or 'no output'}")
        time.sleep(0.1)

