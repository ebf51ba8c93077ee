"""One run per deployment directory, held by a lock from pre-flight to teardown.

A run holds a lock on each environment's directory from pre-flight to teardown, so a second
run on the same directory fails pre-flight (naming the first run) instead of reusing, and then
tearing down, a deployment that is in use.

The lock is :class:`filelock.FileLock` on ``<basedir>/jaws-supervisord-<env>.run.lock``
(``flock``: the kernel releases it when the holding process ends, even by SIGKILL); the
holder's PID and command line are in ``....run.owner`` beside it, for the message.

:func:`holder` looks at the lock of a directory that a process's marker names, which may be
another user's: it never creates, truncates or writes there, never follows a link, and reads
the owner file only as a regular file of the directory's owner, byte-bounded and without
blocking (:func:`pytest_jaws.host.saferead.read_file`), so a FIFO or a link planted there cannot
hang or steer it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
from pathlib import Path

import psutil
from filelock import FileLock, Timeout

from ..errors import RunLockBusy, UnsafePathError
from .safefs import open_dir, split_parent
from .saferead import read_file

#: Bytes of an owner file read at most (it is a small JSON object).
OWNER_BYTES = 4096


def _paths(directory: Path, lock_name: str | None = None) -> tuple[Path, Path]:
    directory = Path(directory)
    return (directory.with_name(lock_name or f"{directory.name}.run.lock"),
            directory.with_name(f"{directory.name}.run.owner"))


def _owner_text(owner: Path) -> str:
    try:
        data = json.loads(read_file(owner, OWNER_BYTES).decode("utf-8", "replace"))
        return f"PID {int(data['pid'])}: {str(data['cmdline'])[:500]}"
    except UnsafePathError as exc:
        return f"a process whose owner file is not read: {exc}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process whose PID is not recorded yet"


class RunLock:
    """The lock of one deployment directory (``plan.directory``).

    :param directory: ``<basedir>/jaws-supervisord-<env>``; the lock and owner files go
        beside it (the base directory is created when missing).
    :param lock_name: another name of the lock file than ``<directory name>.run.lock``.
    """

    def __init__(self, directory: Path, lock_name: str | None = None):
        self.directory = Path(directory)
        self.lock_path, self.owner_path = _paths(self.directory, lock_name)
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


def is_held(lock_path: Path) -> bool:
    """Tell whether a run holds the lock file ``lock_path`` (a shared lock for an instant).

    Opened read-only, without following a link, without blocking and without creating it; only
    a regular file of its directory's owner with one link counts (anything else: False).
    """
    parent, name = split_parent(lock_path)
    try:
        dfd = open_dir(parent)
    except (OSError, UnsafePathError):
        return False
    try:
        dir_st = os.fstat(dfd)
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
                     | os.O_CLOEXEC, dir_fd=dfd)
    except OSError:
        return False
    finally:
        os.close(dfd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != dir_st.st_uid or st.st_nlink != 1:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            return exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def holder(directory: Path, lock_name: str | None = None) -> str | None:
    """Return who holds the lock of ``directory`` (``PID 123: pytest ...``), or None when no run does.

    Probes the lock for an instant, never waits; ``directory`` may come from another process's
    marker, so nothing there is created, written or followed (see the module docstring).
    """
    lock_path, owner = _paths(Path(directory), lock_name)
    return _owner_text(owner) if is_held(lock_path) else None
