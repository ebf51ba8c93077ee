"""The ports of the run-started servers: refused when something listens on one.

A connection (not a listener) that holds one of them, having taken it as its ephemeral port
before :func:`pytest_jaws.deploy.runservers.ensure` reserved it, is waited out for
:data:`PORT_WAIT` seconds.
"""

from __future__ import annotations

import time

import psutil

from ..errors import DependencyError
from ..plan.serverplan import ServersPlan

#: Seconds a server port taken by a connection (not a listener) is waited for: an outgoing
#: connection that took it as its ephemeral port before it was reserved.
PORT_WAIT = 15.0


def _users(port: int) -> set[str]:
    """Return the states of the sockets bound to ``port`` that keep a server from binding it.

    Every state but TIME_WAIT (the servers bind with SO_REUSEADDR); empty when it is free.
    """
    return {c.status for c in psutil.net_connections("tcp")
            if c.laddr and c.laddr.port == port and c.status != psutil.CONN_TIME_WAIT}


def wait_free(ports: dict[str, int], timeout: float = PORT_WAIT) -> dict[str, set[str]]:
    """Wait up to ``timeout`` seconds until no socket but TIME_WAIT is bound to ``ports``.

    :param ports: ``{name: port}``.
    :returns: ``{name: states}`` of the ports still used at the end (empty: all free).
    """
    deadline = time.monotonic() + timeout
    while True:
        used = {n: states for n, p in ports.items() if (states := _users(p))}
        if not used or time.monotonic() > deadline:
            return used
        time.sleep(0.1)


def ports_of(plan: ServersPlan) -> dict[str, int]:
    """Return ``{name: port}`` of the servers ``plan`` starts (epmd's and Erlang's with RabbitMQ)."""
    names = (["mysql"] if "mysql" in plan.start else []) + \
        (["rabbitmq", "rabbitmq-dist", "epmd"] if "rabbitmq" in plan.start else [])
    return {n: plan.ports[n] for n in names}


def check_ports(plan: ServersPlan) -> None:
    """Refuse a server port something listens on; wait out a connection that holds one.

    Its ports are reserved first (:func:`pytest_jaws.deploy.runservers.ensure`): a connection
    that holds one ends, and no new one takes it.
    """
    deadline = time.monotonic() + PORT_WAIT
    while True:
        used = {n: _users(p) for n, p in ports_of(plan).items()}
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

