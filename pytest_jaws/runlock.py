"""One run per deployment directory, held by a lock from pre-flight to teardown.

A run holds a lock on each environment's directory from pre-flight to teardown, so a second
run on the same directory fails pre-flight (naming the first run) instead of reusing, and then
tearing down, a deployment that is in use.

The lock is :class:`filelock.FileLock` on ``<basedir>/jaws-supervisord-<env>.run.lock``
(``flock``: the kernel releases it when the holding process ends, even by SIGKILL); the
holder's PID and command line are in ``....run.owner`` beside it, for the message.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import psutil
from filelock import FileLock, Timeout

from .errors import RunLockBusy

#: Bytes of an owner file read at most (it is a small JSON object).
OWNER_BYTES = 4096


def _paths(directory: Path) -> tuple[Path, Path]:
    directory = Path(directory)
    return (directory.with_name(f"{directory.name}.run.lock"),
            directory.with_name(f"{directory.name}.run.owner"))


def _owner_text(owner: Path) -> str:
    try:
        with open(owner, "rb") as fh:
            data = json.loads(fh.read(OWNER_BYTES).decode("utf-8", "replace"))
        return f"PID {int(data['pid'])}: {str(data['cmdline'])[:500]}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process whose PID is not recorded yet"


class RunLock:
    """The lock of one deployment directory (``plan.directory``).

    :param directory: ``<basedir>/jaws-supervisord-<env>``; the lock and owner files go
        beside it (the base directory is created when missing).
    """

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.lock_path, self.owner_path = _paths(self.directory)
        self._lock: FileLock | None = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._lock is not None

    def acquire(self) -> None:
        """Take the lock now, or fail at once.

        :raises RunLockBusy: when another run holds it, naming that run's PID and command
            line and what to do.
        """
        if self._lock is not None:
            return
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.lock_path), timeout=0, thread_local=False)
        try:
            lock.acquire()
        except Timeout:
            raise RunLockBusy(
                f"{self.directory} is in use by another pytest-jaws run ("
                f"{_owner_text(self.owner_path)}); nothing was started or stopped; wait for "
                "that run to end, or deploy under another --jaws-basedir") from None
        self._lock = lock
        try:
            cmdline = " ".join(psutil.Process().cmdline())
        except psutil.Error:
            cmdline = "?"
        tmp = self.owner_path.with_name(f".{self.owner_path.name}.{os.getpid()}")
        tmp.write_text(json.dumps({"pid": os.getpid(), "cmdline": cmdline}))
        os.replace(tmp, self.owner_path)

    def release(self) -> None:
        """Give the lock up (no-op when not held); removes the owner file."""
        if self._lock is None:
            return
        self.owner_path.unlink(missing_ok=True)
        self._lock.release()
        self._lock = None


def holder(directory: Path) -> str | None:
    """Return who holds the lock of ``directory`` (``PID 123: pytest ...``), or None when no run does.

    Takes the lock for an instant to find out; never waits.
    """
    lock_path, owner = _paths(Path(directory))
    if not lock_path.exists():
        return None
    probe = FileLock(str(lock_path), timeout=0, thread_local=False)
    try:
        probe.acquire()
    except Timeout:
        return _owner_text(owner)
    except OSError:
        return None
    probe.release()
    return None
