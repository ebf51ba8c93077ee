"""Actions done once per run, however the tests are distributed (``-n 3 --dist=each`` too).

A check that disturbs service (the recovery check SIGKILLs a program) must do so once per
environment per run: under ``--dist=each`` every xdist worker runs every test, and under
``--dist=load`` the two halves of a check may land in two workers, each with its own session
fixtures. :class:`RunOnce` runs the action in the first process that asks and records its
JSON result; every other process (and every later call) reads the record.

Without xdist the record is kept in memory; under xdist it is a file in the run's shared
directory (pytest's temporary root, the runner's own), written under a lock there.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from ..errors import DeploymentError
from .hostlock import lock_holder
from .once import RunWide

#: Bytes of a record read back at most.
RECORD_BYTES = 1 << 20
#: Seconds a process waits for another one doing the same action (a kill and its wait: short).
WAIT = 120.0


class RunOnce(RunWide):
    """Do each keyed action once per run (:class:`~pytest_jaws.host.once.RunWide`'s ``shared``)."""

    def do(self, key: str, action: Callable[[], dict]) -> dict:
        """Return the result of ``action`` for ``key``: run now if nobody in this run has yet.

        :param action: returns a JSON-serializable dict (what the other processes need).
        :returns: ``{**result, "first": True}`` where it ran, ``{**result, "first": False}``
            elsewhere.
        :raises DeploymentError: another process of the run held the action's lock longer than
            :data:`WAIT` seconds (named).
        """
        with self._lock:
            if key not in self._seen:
                self._seen[key] = (_do_shared(self.shared, key, action)
                                   if self.shared is not None else {**action(), "first": True})
            elif self._seen[key]["first"]:
                self._seen[key] = {**self._seen[key], "first": False}
            return self._seen[key]

    def peek(self, key: str) -> dict | None:
        """Return the result recorded for ``key`` by any process of the run, None if none yet.

        Never runs the action. Under xdist it waits (up to :data:`WAIT` seconds) for a process
        doing the action now, so an action already begun is seen with its result.

        :raises DeploymentError: as :meth:`do`.
        """
        with self._lock:
            if key in self._seen:
                return self._seen[key]
        if self.shared is None:
            return None
        with _locked(self.shared, key) as record:
            try:
                fd = os.open(record, os.O_RDONLY | os.O_NOFOLLOW)
            except FileNotFoundError:
                return None
            with os.fdopen(fd, "rb") as fh:
                return json.loads(fh.read(RECORD_BYTES))


@contextmanager
def _locked(shared: Path, key: str) -> Iterator[Path]:
    """Hold ``key``'s lock in ``shared``; yield the path of its record."""
    name = "jaws-once-" + hashlib.sha256(key.encode()).hexdigest()[:16]
    lock = FileLock(str(shared / f"{name}.lock"), mode=0o600)
    try:
        lock.acquire(timeout=WAIT)
    except Timeout:
        raise DeploymentError(
            f"{key}: another process of this run ({lock_holder(lock.lock_file)}) has been doing "
            f"it for more than {WAIT:g} s; it is stuck: end that run and start again") from None
    try:
        yield shared / f"{name}.json"
    finally:
        lock.release()


def _do_shared(shared: Path, key: str, action: Callable[[], dict]) -> dict:
    with _locked(shared, key) as record:
        try:
            fd = os.open(record, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            result = action()
            tmp = record.with_suffix(".tmp")
            tmp.write_text(json.dumps(result))
            os.replace(tmp, record)
            return {**result, "first": True}
        with os.fdopen(fd, "rb") as fh:
            return {**json.loads(fh.read(RECORD_BYTES)), "first": False}
