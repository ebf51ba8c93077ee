"""The XML-RPC client of one supervisord instance, with timeouts and key verification.

The client uses supervisor's own :class:`supervisor.xmlrpc.SupervisorTransport`, given a
connection timeout it does not have on its own; with a key, each connection is first checked
to be answered by the instance's role user (:class:`VerifiedConnection`). Every failure is
translated into a :class:`SupervisorError` that names the instance, its port and the
environment. Starting the instance is :mod:`pytest_jaws.host.instance`'s.
"""

from __future__ import annotations

import http.client
import os
import pwd
import socket
import time
import xmlrpc.client
from urllib.parse import urlparse

from supervisor.xmlrpc import SupervisorTransport

from ..errors import (
    InstanceAuthError,
    InstanceNotRunning,
    InstanceRestarting,
    InstanceTimeout,
    ListenerMismatch,
    SupervisorError,
)
from ..plan.planmodel import InstancePlan
from . import safefs, socktable

#: Seconds an XML-RPC call may take before :class:`InstanceTimeout`.
RPC_TIMEOUT = 5.0


class VerifiedConnection(http.client.HTTPConnection):
    """An HTTP connection that checks who answers, and refuses anyone but ``uid``.

    Once connected and before sending a byte, it checks (see
    :func:`pytest_jaws.host.socktable.peer_uid`); otherwise :class:`ListenerMismatch`, whose message
    names the port, who answers, the expected user and ``withheld`` (what was not sent).
    """

    def __init__(self, host: str, port: int, timeout: float, uid: int, where: str,
                 withheld: str = "the key was not sent"):
        super().__init__(host, port, timeout=timeout)
        self._uid, self._where, self._withheld = uid, where, withheld

    def connect(self) -> None:
        """Connect, then refuse the connection unless ``uid`` owns its other end."""
        super().connect()
        found = socktable.peer_uid(self.sock)
        if found != self._uid:
            self.close()
            who = "nobody known" if found is None else safefs.owner_name(found)
            raise ListenerMismatch(
                f"{self._where}: port {self.port} is answered by {who}, not by the "
                f"{'instance' if 'key' in self._withheld else 'service'}'s user "
                f"{safefs.owner_name(self._uid)}; {self._withheld}. Something else holds the "
                "port (the program exited?); see who with: ss -ltnp")


class TimeoutTransport(SupervisorTransport):
    """SupervisorTransport whose HTTP connections time out after ``timeout`` seconds.

    :param verify_uid: when given, each new connection is checked to be answered by that user
        before anything (the key in the Basic auth header) is sent; otherwise
        :class:`ListenerMismatch` is raised.
    :param where: the instance, for messages.
    """

    def __init__(self, username: str | None, password: str | None, serverurl: str,
                 timeout: float = RPC_TIMEOUT, verify_uid: int | None = None, where: str = ""):
        super().__init__(username, password, serverurl)
        parsed = urlparse(serverurl)
        host, port = parsed.hostname, parsed.port or 80
        if host is None:
            raise ValueError(f"{where or serverurl}: the supervisord URL {serverurl!r} has no host")
        if verify_uid is None:
            self._get_connection = lambda: http.client.HTTPConnection(host, port, timeout=timeout)
        else:
            self._get_connection = lambda: VerifiedConnection(host, port, timeout, verify_uid,
                                                              where)


class _Namespace:
    def __init__(self, client: RpcClient, prefix: str):
        self._client, self._prefix = client, prefix

    def __getattr__(self, name: str):
        return lambda *args: self._client.call(f"{self._prefix}.{name}", *args)


class RpcClient:
    """XML-RPC client of one instance: ``client.supervisor.getState()`` or ``client.call(...)``.

    :param inst: the instance plan (port, name, username).
    :param env: the environment name, for messages.
    :param key: the password, or None to call without credentials.
    :param timeout: seconds per call.
    :param hung: a dict shared by the clients of one deployment: ``{instance name: message}``
        of instances that timed out once. A call to an instance in it fails at once with
        that message (a hung supervisord costs one timeout, not one per test); a timeout adds
        the instance to it. None: never marked.
    :param reload_wait: seconds a call rides through a restart of the instance (SIGHUP, or
        ``supervisorctl reload``): while it answers ``SHUTDOWN_STATE`` or drops the connection
        (broken pipe, reset, then refused while it reopens its port) the call is retried; one
        still failing after that is :class:`InstanceRestarting`. 0: never retried (teardown,
        which shuts the instance down itself).
    Calls raise :class:`InstanceNotRunning`, :class:`InstanceAuthError`,
    :class:`InstanceTimeout`, :class:`ListenerMismatch` (with a key: the port is not answered
    by the role user; the key is only ever sent to the instance's own user) or
    :class:`SupervisorError` (XML-RPC faults), never raw socket errors.
    """

    def __init__(self, inst: InstancePlan, env: str, key: str | None,
                 timeout: float = RPC_TIMEOUT, username: str | None = None,
                 hung: dict[str, str] | None = None, reload_wait: float = 0.0):
        self.inst, self.env, self.timeout, self.hung = inst, env, timeout, hung
        self.reload_wait = reload_wait
        user = (username or inst.username) if key is not None else None
        self._transport = TimeoutTransport(user, key, inst.serverurl, timeout,
                                           role_uid(inst) if key is not None else None,
                                           self.where)
        self._proxy = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=self._transport)

    @property
    def where(self) -> str:
        """``supervisord-jaws (environment dev, port 64101)``."""
        return self.inst.where

    def __getattr__(self, name: str) -> _Namespace:
        """Return the XML-RPC namespace ``name`` (``client.supervisor.getState()``)."""
        if name.startswith("_"):
            raise AttributeError(name)
        return _Namespace(self, name)

    def call(self, method: str, *args):
        """Call an XML-RPC method by its full name; errors translated as the class says.

        Rides through a restart of the instance for up to ``reload_wait`` seconds.
        """
        end = time.monotonic() + self.reload_wait
        restarting = ""
        while True:
            try:
                return self._call_once(method, *args)
            except SupervisorError as exc:
                sign = _restart_sign(exc, restarting)
                if not sign or not self.reload_wait:
                    raise
                restarting = restarting or sign
                if time.monotonic() >= end:
                    raise InstanceRestarting(
                        f"{self.where} was restarting ({restarting}: a SIGHUP to supervisord, "
                        f"or supervisorctl reload) and did not answer {method} within "
                        f"{self.reload_wait:g} s; its programs were restarted too. Find who "
                        f"sent it (supervisord's log: 'received SIGHUP indicating restart "
                        f"request'), and run again") from None
                time.sleep(0.2)

    def _call_once(self, method: str, *args):
        if self.hung is not None and self.inst.name in self.hung:
            raise InstanceTimeout(f"{self.hung[self.inst.name]}; marked hung after that first "
                                  f"timeout: {method} not sent")
        try:
            return getattr(self._proxy, method)(*args)
        except xmlrpc.client.ProtocolError as exc:
            if exc.errcode == 401:
                raise InstanceAuthError(
                    f"{self.where}: authentication failed (HTTP 401) on {method}: the key used "
                    "does not match the instance's key (key mismatch, or a call without a key)"
                ) from None
            raise SupervisorError(f"{self.where}: HTTP {exc.errcode} {exc.errmsg} on {method}") from None
        except ConnectionRefusedError:
            raise InstanceNotRunning(
                f"{self.where} is not running: connection refused on 127.0.0.1:{self.inst.port}"
            ) from None
        except (socket.timeout, TimeoutError):
            message = (f"{self.where}: {method} got no answer within {self.timeout:g} s (hung "
                       "instance?)")
            if self.hung is not None:
                self.hung.setdefault(self.inst.name, message)
            raise InstanceTimeout(message) from None
        except xmlrpc.client.Fault as exc:
            raise SupervisorError(f"{self.where}: {method} failed: {exc.faultString}") from None
        except (OSError, http.client.HTTPException) as exc:
            raise InstanceNotRunning(f"{self.where}: {method} failed: {exc}") from None
        finally:
            # one connection per call, closed here: no socket outlives a call (``-W error``
            # fails on an unclosed one), and a supervisord reloaded by SIGHUP (which drops
            # its connections) costs no broken pipe on the next call
            self._transport.close()


def _restart_sign(exc: SupervisorError, seen: str) -> str:
    """Tell whether ``exc`` is what a restarting supervisord gives; name it, else ''.

    ``SHUTDOWN_STATE`` (it answers so while it stops its programs), a dropped connection, and,
    once one of those was ``seen``, a refused one (it reopens its port).
    """
    text = str(exc)
    if "SHUTDOWN_STATE" in text:
        return "it answered SHUTDOWN_STATE"
    if isinstance(exc, InstanceNotRunning) and any(
            word in text for word in ("Broken pipe", "Connection reset", "closed connection",
                                      "Remote end closed")):
        return "it dropped the connection"
    if seen and isinstance(exc, InstanceNotRunning) and "connection refused" in text:
        return seen
    return ""


def role_uid(inst: InstancePlan) -> int:
    """Return the uid of the instance's role user (the invoking user's when the name is unknown)."""
    try:
        return pwd.getpwnam(inst.user).pw_uid
    except KeyError:
        return os.geteuid()



def restart_programs(client: RpcClient, group: str, names: list[str]) -> None:
    """Restart the programs ``names`` of process group ``group``, as ``supervisorctl restart`` does.

    Stop, waiting; one that is not running is started. A start that supervisord refuses at
    once with ``SPAWN_ERROR`` (the program died as it was spawned; supervisor/rpcinterface.py
    ``startProcess``) is left to the caller's wait for RUNNING, which reports the program's
    failure with its spawn error, exit status and log tail rather than the bare fault.

    :raises SupervisorError: as the instance answers, but for ``SPAWN_ERROR``.
    """
    for name in names:
        full = f"{group}:{name}"
        try:
            client.supervisor.stopProcess(full, True)
        except SupervisorError as exc:
            if "NOT_RUNNING" not in str(exc):
                raise
        try:
            client.supervisor.startProcess(full, False)
        except SupervisorError as exc:
            if "SPAWN_ERROR" not in str(exc):
                raise


def reread_update(client: RpcClient) -> bool:
    """Do ``supervisorctl reread`` + ``update`` over XML-RPC.

    The instance reads its configuration again and restarts the process groups that changed.

    :returns: True when a group was added or changed (its programs restarted).
    :raises SupervisorError: as the instance answers.
    """
    added, changed, removed = client.supervisor.reloadConfig()[0]
    for group in removed + changed:
        client.supervisor.stopProcessGroup(group, True)
        client.supervisor.removeProcessGroup(group)
    for group in changed + added:
        client.supervisor.addProcessGroup(group)
    return bool(changed or added)
