"""Processes and sockets as the operating system sees them (psutil).

Used to find what a deployment started (by the marker variable in its environment), who
holds a port, and which processes listen where. Only PIDs are ever signalled; nothing is
matched by name.
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from .plan import MARKER_VARIABLE
from .runlock import holder as run_holder


@dataclass(frozen=True)
class Holder:
    """A process that holds a TCP port: PID, user and command line (when visible)."""

    pid: int | None
    user: str | None
    cmdline: str | None
    marker: str | None = None
    state: str | None = None
    local: str | None = None
    remote: str | None = None

    def describe(self) -> str:
        """Describe the holder: ``PID 123 (user alice): python -m http.server 5002``.

        Or what is known of it; for a process of another pytest-jaws deployment, how to reuse or
        remove it.
        """
        socket_ = (f"a socket in state {self.state} ({self.local} -> {self.remote or '?'}): "
                   if self.state and self.state != psutil.CONN_LISTEN else "")
        if self.pid is None:
            return (f"{socket_}a process the OS does not let us see (another user's; run as "
                    "root to see it)")
        text = f"PID {self.pid} (user {self.user or '?'}): {socket_}{self.cmdline or '?'}"
        if self.marker and ":" in self.marker:
            where, path = self.marker.split(":", 1)  # <site>/<env>:<base directory>
            env = where.rsplit("/", 1)[-1]
            root = path.removesuffix(f"/jaws-supervisord-{env}")
            base = shlex.quote(root)
            run = run_holder(Path(root) / f"jaws-supervisord-{env}")
            if run:
                text += (f"; it belongs to the pytest-jaws deployment {self.marker}, in use by "
                         f"the pytest-jaws run {run}: wait for that run to end, or deploy on "
                         "other ports (--jaws-port-offset)")
            else:
                site = where.rsplit("/", 1)[0]
                text += (f"; it belongs to the pytest-jaws deployment {self.marker} (left up?): "
                         f"reuse it with --jaws-basedir={base}, or take it down with: "
                         f"pytest --jaws-down --jaws-site={shlex.quote(site)} "
                         f"--jaws-env={shlex.quote(env)} --jaws-basedir={base} "
                         "(and the run's --jaws-port-offset)")
        return text


def marker_of(proc: psutil.Process | int) -> str | None:
    """Return the process's ``JAWS_DEPLOYMENT`` value.

    None when unset, gone, or not readable (another user's environment, when not root).
    """
    try:
        proc = proc if isinstance(proc, psutil.Process) else psutil.Process(proc)
        return proc.environ().get(MARKER_VARIABLE)
    except (psutil.Error, OSError):
        return None


def marked(marker: str) -> list[psutil.Process]:
    """Every live (not zombie) process whose environment has ``JAWS_DEPLOYMENT=<marker>``."""
    return [proc for proc in psutil.process_iter()
            if proc.pid != os.getpid() and marker_of(proc) == marker and not exited(proc)]


def orphans(marker: str) -> list[psutil.Process]:
    """Return the processes of the deployment ``marker`` that no live supervisord of it supervises.

    Their supervisord was killed: every :func:`marked` process that is not a supervisord and has
    no marked supervisord among its ancestors.
    """
    def is_supervisord(proc: psutil.Process) -> bool:
        try:
            return any(part == "supervisor.supervisord" or os.path.basename(part) == "supervisord"
                       for part in proc.cmdline()[:4])
        except psutil.Error:
            return False
    found = []
    for proc in marked(marker):
        if is_supervisord(proc):
            continue
        try:
            parents = proc.parents()
        except psutil.Error:
            continue
        if not any(is_supervisord(p) and marker_of(p) == marker for p in parents):
            found.append(proc)
    return found


def listeners() -> dict[int, list[tuple[str, int | None]]]:
    """``{port: [(address, pid or None), ...]}`` for every listening TCP socket (v4 and v6)."""
    out: dict[int, list[tuple[str, int | None]]] = {}
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr:
            out.setdefault(conn.laddr.port, []).append((conn.laddr.ip, conn.pid))
    return out


def _address(addr) -> str:
    return f"[{addr.ip}]:{addr.port}" if ":" in addr.ip else f"{addr.ip}:{addr.port}"


#: States of a connection that is being closed.
_CLOSING = {psutil.CONN_FIN_WAIT1, psutil.CONN_FIN_WAIT2, psutil.CONN_CLOSING,
            psutil.CONN_LAST_ACK}


def _in_ephemeral_range(port: int) -> bool:
    from .ephemeral import port_range
    span = port_range() or (32768, 60999)
    return span[0] <= port <= span[1]


def port_users(port: int, bind: str | None = None) -> list[Holder]:
    """Return every TCP socket that stops a server from binding ``port``, in any state.

    Listeners on any address, and sockets that merely use the port (an outgoing connection whose
    local port the kernel picked from its ephemeral range) on ``bind`` or a wildcard address.

    TIME_WAIT sockets are left out: they have no owner, and supervisord and the services bind
    with SO_REUSEADDR, which TIME_WAIT does not stop. So are ownerless sockets closing on the
    server side of a connection (FIN_WAIT, CLOSING, LAST_ACK with a client's ephemeral port
    at the other end): what a server that just exited leaves; they were accepted by a
    SO_REUSEADDR listener and do not stop the next one.
    """
    wildcard = {"0.0.0.0", "::", "", "*"}  # noqa: S104 - addresses to recognise, not to bind
    out: list[Holder] = []
    conns = sorted(psutil.net_connections(kind="tcp"), key=lambda c: c.status != psutil.CONN_LISTEN)
    for conn in conns:
        if not conn.laddr or conn.laddr.port != port or conn.status == psutil.CONN_TIME_WAIT:
            continue
        if (conn.pid is None and conn.status in _CLOSING and conn.raddr
                and _in_ephemeral_range(conn.raddr.port)):
            continue
        if (conn.status != psutil.CONN_LISTEN and bind and bind not in wildcard
                and conn.laddr.ip not in wildcard | {bind, f"::ffff:{bind}"}):
            continue  # a connection on another address does not stop binding ``bind``
        state, local = conn.status, _address(conn.laddr)
        remote = _address(conn.raddr) if conn.raddr else None
        if conn.pid is None:
            out.append(Holder(None, None, None, None, state, local, remote))
            continue
        if any(h.pid == conn.pid for h in out):
            continue  # one entry per process (its listener when it has one, see the sort)
        try:
            proc = psutil.Process(conn.pid)
            out.append(Holder(conn.pid, proc.username(), " ".join(proc.cmdline()),
                              marker_of(proc), state, local, remote))
        except psutil.Error:
            out.append(Holder(conn.pid, None, None, None, state, local, remote))
    return out


def holder_of(port: int) -> Holder | None:
    """Who listens on TCP ``port`` (any address), or None when nobody does."""
    for _addr, pid in listeners().get(port, []):
        if pid is None:
            return Holder(None, None, None)
        try:
            proc = psutil.Process(pid)
            return Holder(pid, proc.username(), " ".join(proc.cmdline()), marker_of(proc))
        except psutil.Error:
            return Holder(pid, None, None)
    return None


def terminate(procs: list[psutil.Process], timeout: float = 5.0) -> list[psutil.Process]:
    """SIGTERM the given processes by PID, SIGKILL what is alive after ``timeout`` seconds.

    :returns: the processes still alive afterwards (normally none).
    """
    _send(procs, psutil.Process.terminate)
    alive = wait_exited(procs, timeout)
    _send(alive, psutil.Process.kill)
    return wait_exited(alive, timeout)


def _send(procs: list[psutil.Process], signal_method) -> None:
    for proc in procs:
        try:
            signal_method(proc)
        except psutil.Error:
            pass


def exited(proc: psutil.Process) -> bool:
    """Tell whether the process is gone or a zombie.

    A zombie has exited and is not yet reaped: a daemonized supervisord's parent is PID 1, which
    may reap it much later.
    """
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def wait_exited(procs: list[psutil.Process], timeout: float,
                tick: Callable[[], None] | None = None, interval: float = 0.05
                ) -> list[psutil.Process]:
    """Wait up to ``timeout`` seconds until every process has :func:`exited`.

    ``tick`` is called between checks.

    :returns: the processes still alive.
    """
    deadline = time.monotonic() + timeout
    alive = [p for p in procs if not exited(p)]
    while alive and time.monotonic() < deadline:
        if tick:
            tick()
        time.sleep(interval)
        alive = [p for p in alive if not exited(p)]
    return alive


def descendants(pid: int) -> list[psutil.Process]:
    """Return the process ``pid`` and all its descendants (empty when it is gone)."""
    try:
        proc = psutil.Process(pid)
        return [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return []


def tree_listeners(pid: int) -> dict[int, list[tuple[str, int]]]:
    """``{port: [(address, pid)]}`` of TCP sockets that ``pid`` or a descendant listens on."""
    pids = {p.pid for p in descendants(pid)}
    out: dict[int, list[tuple[str, int]]] = {}
    for port, entries in listeners().items():
        for addr, owner in entries:
            if owner in pids:
                out.setdefault(port, []).append((addr, owner))
    return out
