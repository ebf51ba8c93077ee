"""Taking an environment's directory lock for teardown while xdist workers let go of it.

An interrupted xdist controller reaches its teardown while the worker that deployed may still
be ending, holding the lock (:mod:`pytest_jaws.host.runlock`): :func:`acquire_after_workers`
waits for the run's own children, never for another run.
"""

from __future__ import annotations

import json
import time

import psutil

from ..errors import RunLockBusy, UnsafePathError
from ..host import saferead
from ..host.runlock import RunLock

#: Seconds an interrupted xdist controller waits for its workers to let go of a directory lock.
WORKERS_WAIT = 30.0


def acquire_after_workers(lock: RunLock) -> None:
    """Take ``lock``; while this process has children (xdist workers), wait for them to let go.

    An interrupt that reaches the whole process group (a closed terminal's SIGHUP, a SIGTERM
    to the group) reaches the workers too: the controller gets to its teardown while the worker
    that deployed is still ending, holding the directory's lock. It lets go when it ends.

    :raises RunLockBusy: still held after :data:`WORKERS_WAIT` seconds, or held by another run.
    """
    end = time.monotonic() + WORKERS_WAIT
    while True:
        try:
            lock.acquire()
            return
        except RunLockBusy:
            if time.monotonic() >= end or not _held_by_a_child(lock):
                raise
        time.sleep(0.2)


def _held_by_a_child(lock: RunLock) -> bool:
    """Tell whether the holder the lock's owner file names is a process this one started."""
    try:
        data = json.loads(saferead.read_text(lock.owner_path, 4096) or "{}")
        pid = int(data["pid"])
    except (UnsafePathError, ValueError, KeyError, TypeError):
        return False
    return pid in {p.pid for p in psutil.Process().children(recursive=True)}
