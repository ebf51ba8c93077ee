"""Who holds a TCP port, and which processes listen where (psutil).

A holder (:class:`Holder`) is named by PID, user and command line and, for a process of a
pytest-jaws deployment, by whose deployment that is. Its marker is kept only from a process of
the runner or of a role user of the site (``trusted`` in :func:`port_users`, :func:`holder_of`;
:func:`pytest_jaws.host.processes.trusted_marker`); what a trusted marker names is read only
through :mod:`pytest_jaws.host.runlock`'s safe probe.
"""

from __future__ import annotations

import os
import pwd
import shlex
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import psutil

from .printable import printable
from .processes import descendants, trusted_marker
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

    def deployment(self) -> tuple[str, str, Path] | None:
        """Return the pytest-jaws deployment the holder belongs to: (site, env, base directory).

        From its marker ``<site>/<env>:<base>/jaws-supervisord-<env>``; None without one.
        """
        if not self.marker or ":" not in self.marker:
            return None
        where, path = self.marker.split(":", 1)
        site, _, env = where.rpartition("/")
        return site, env, Path(path.removesuffix(f"/jaws-supervisord-{env}"))

    def is_yours(self) -> bool:
        """Tell whether the holder is the runner's own, and no live run uses it.

        A process of the runner's user without a deployment marker, or a process of a pytest-jaws
        deployment whose base directory belongs to the runner's user (its role users' processes
        included) and whose lock no run holds: a deployment a run of yours left up. Another
        user's process, a hidden one, or a deployment in another user's directory or in use by a
        live run is not yours: the runner may not (or should not) stop it.
        """
        found = self.deployment()
        if found is None:
            return self.pid is not None and self.user == _runner_name()
        _site, env, base = found
        try:
            owner = base.lstat().st_uid  # never through a link
        except OSError:
            return False
        return owner == os.geteuid() and not run_holder(base / f"jaws-supervisord-{env}")

    def describe(self) -> str:
        """Describe the holder: ``PID 123 (user alice): python -m http.server 5002``.

        Or what is known of it (its command line on one line, at most 200 characters); for a
        process of a pytest-jaws deployment (its ``marker``, kept only when trusted:
        :func:`trusted_marker`), whose it is (how to reuse or take down your own:
        :meth:`left_up_hint`). The command line and the marker are another user's text: their
        control characters come out escaped (:func:`pytest_jaws.host.printable.printable`).
        """
        return printable(self._describe())

    def _describe(self) -> str:
        socket_ = (f"a socket in state {self.state} ({self.local} -> {self.remote or '?'}): "
                   if self.state and self.state != psutil.CONN_LISTEN else "")
        if self.pid is None and self.state == psutil.CONN_TIME_WAIT:
            return (f"{socket_}no process: an outgoing connection that took the port as its "
                    "own and has closed; the kernel keeps it for up to 60 s, and no server can "
                    "bind the port until then")
        if self.pid is None:
            if os.geteuid() == 0:  # root sees every process: no process holds this socket
                return (f"{socket_}no process (a connection being closed, or a socket of "
                        "another network or process namespace)")
            return (f"{socket_}a process the OS does not let us see (another user's; run as "
                    "root to see it)")
        cmdline = " ".join((self.cmdline or "?").split())
        cmdline = cmdline if len(cmdline) <= 200 else cmdline[:197] + "..."
        text = f"PID {self.pid} (user {self.user or '?'}): {socket_}{cmdline}"
        found = self.deployment()
        if found is None:
            return text
        _site, env, root = found
        run = run_holder(root / f"jaws-supervisord-{env}")
        if run:
            return (f"{text}; of the pytest-jaws deployment {self.marker}, in use by the "
                    f"pytest-jaws run {run}")
        if not self.is_yours():
            return f"{text}; of another user's pytest-jaws deployment {self.marker}"
        return f"{text}; of your pytest-jaws deployment {self.marker}, left up by a run"

    def left_up_hint(self) -> str | None:
        """Return how to reuse or take down the holder's deployment, when it is yours, left up.

        None for anything else: ``--jaws-down`` is offered only for the runner's own.
        """
        found = self.deployment()
        if found is None or not self.is_yours():
            return None
        site, env, root = found
        base = shlex.quote(str(root))
        return printable(f"your deployment {self.marker} that a run left up: reuse it with "
                         f"--jaws-basedir={base}, or take it down with: pytest --jaws-down "
                         f"--jaws-site={shlex.quote(site)} --jaws-env={shlex.quote(env)} "
                         f"--jaws-basedir={base}")


def _runner_name() -> str | None:
    """Return the name of the user this process runs as (None when it has no name)."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return None


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


def port_users(port: int, bind: str | None = None, trusted: Collection[int] = ()
               ) -> list[Holder]:
    """Return every TCP socket that stops a server from binding ``port``, in any state.

    A holder's marker is kept only from the runner's processes and those of ``trusted`` uids
    (:func:`trusted_marker`).

    Listeners on any address, and sockets that merely use the port (an outgoing connection whose
    local port the kernel picked from its ephemeral range) on ``bind`` or a wildcard address.

    TIME_WAIT sockets of a server's side are left out (their other end is a client's port in
    the ephemeral range): supervisord and the services bind with SO_REUSEADDR, which they do
    not stop. A TIME_WAIT of a client's side (its other end a server's fixed port, outside the
    ephemeral range: an outgoing connection that took ``port`` as its own and closed first)
    stops every bind of ``port`` for up to 60 s, SO_REUSEADDR or not, and is a holder (Linux's
    bind conflict rule: both sockets need SO_REUSEADDR). So are ownerless sockets closing on the
    server side of a connection (FIN_WAIT, CLOSING, LAST_ACK with a client's ephemeral port
    at the other end): what a server that just exited leaves; they were accepted by a
    SO_REUSEADDR listener and do not stop the next one.
    """
    wildcard = {"0.0.0.0", "::", "", "*"}  # noqa: S104 - addresses to recognise, not to bind
    out: list[Holder] = []
    conns = sorted(psutil.net_connections(kind="tcp"), key=lambda c: c.status != psutil.CONN_LISTEN)
    for conn in conns:
        if not conn.laddr or conn.laddr.port != port:
            continue
        if conn.status == psutil.CONN_TIME_WAIT and (
                not conn.raddr or _in_ephemeral_range(conn.raddr.port)):
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
                              trusted_marker(proc, trusted), state, local, remote))
        except psutil.Error:
            out.append(Holder(conn.pid, None, None, None, state, local, remote))
    return out


def holder_of(port: int, trusted: Collection[int] = ()) -> Holder | None:
    """Who listens on TCP ``port`` (any address), or None when nobody does.

    Its marker only when it runs as the runner or a ``trusted`` uid (:func:`trusted_marker`).
    """
    for _addr, pid in listeners().get(port, []):
        if pid is None:
            return Holder(None, None, None)
        try:
            proc = psutil.Process(pid)
            return Holder(pid, proc.username(), " ".join(proc.cmdline()),
                          trusted_marker(proc, trusted))
        except psutil.Error:
            return Holder(pid, None, None)
    return None


def tree_listeners(pid: int) -> dict[int, list[tuple[str, int]]]:
    """``{port: [(address, pid)]}`` of TCP sockets that ``pid`` or a descendant listens on."""
    pids = {p.pid for p in descendants(pid)}
    out: dict[int, list[tuple[str, int]]] = {}
    for port, entries in listeners().items():
        for addr, owner in entries:
            if owner in pids:
                out.setdefault(port, []).append((addr, owner))
    return out
