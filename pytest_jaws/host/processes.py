"""Processes as the operating system sees them (psutil): a deployment's, and ending them by PID.

Used to find what a deployment started (by the marker variable in its environment), the tree
under a process, and to end processes. Only PIDs are ever signalled; nothing is matched by
name. Who holds a port is :mod:`pytest_jaws.host.portholders`'.

A process's environment is what its owner chose: a marker is evidence only from a process of
the runner or of a role user of the site (:func:`trusted_marker`); another user's
``JAWS_DEPLOYMENT`` is ignored.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection

import psutil

from ..plan.plan import MARKER_VARIABLE


def marker_of(proc: psutil.Process | int) -> str | None:
    """Return the process's ``JAWS_DEPLOYMENT`` value.

    None when unset, gone, or not readable (another user's environment, when not root).
    """
    try:
        proc = proc if isinstance(proc, psutil.Process) else psutil.Process(proc)
        return proc.environ().get(MARKER_VARIABLE)
    except (psutil.Error, OSError):
        return None


def trusted_marker(proc: psutil.Process, trusted: Collection[int] = ()) -> str | None:
    """Return the process's marker when it runs as the runner or as a user in ``trusted``.

    ``trusted``: the uids of the site's role users. Any other user may set ``JAWS_DEPLOYMENT``
    in its own environment to anything (a directory of its own, with a FIFO for the run's owner
    file): from such a process the marker is None.
    """
    try:
        if proc.uids().real not in {os.geteuid(), *trusted}:
            return None
    except psutil.Error:
        return None
    return marker_of(proc)


def marked(marker: str) -> list[psutil.Process]:
    """Every live (not zombie) process whose environment has ``JAWS_DEPLOYMENT=<marker>``."""
    return with_variable(MARKER_VARIABLE, marker)


def with_variable(name: str, value: str) -> list[psutil.Process]:
    """Every live (not zombie) process but this one whose environment has ``name=value``.

    Processes whose environment cannot be read (another user's, when not root) are left out.
    """
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.pid != os.getpid() and proc.environ().get(name) == value and \
                    not exited(proc):
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


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
