"""Host-wide locks and records of the runner: in a directory only it can reach, waited for briefly.

Coordination between runs on one host (who reserved which ports, ...) must not live where
another user can create, hold or replace it: a lock file in the shared temporary directory can
be held by anyone who can read it (``flock -x /tmp/x.lock sleep 1d``) and hangs every run.

So the state lives in :func:`state_dir`: ``/run/pytest-jaws`` for root (``/run`` is root's, and
emptied at boot like the kernel settings recorded there), else ``$XDG_RUNTIME_DIR/pytest-jaws``
or ``<tmp>/pytest-jaws-<uid>``; it is made mode 0700 and checked before each use (a real
directory, no link, owned by the runner, reachable by nobody else). Each lock in it
(:func:`host_lock`) is waited for at most :data:`WAIT` seconds, polling, so that SIGINT, SIGTERM
and SIGHUP (which the plugin turns into KeyboardInterrupt in the main thread) and a deployment's
cancel event take effect within a fraction of a second; a lock still held then is
:class:`~pytest_jaws.errors.HostLockBusy` naming its holder (PID, user, command line, from
``/proc/locks``).
"""

from __future__ import annotations

import os
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
from filelock import FileLock, Timeout

from ..errors import HostLockBusy, UnsafePathError
from .safefs import describe_dir, owner_name

#: Root's state directory (``/run``: root's own, a tmpfs emptied at boot).
ROOT_STATE_DIR = Path("/run/pytest-jaws")
#: Seconds a host-wide lock is waited for (its holders keep it for milliseconds).
WAIT = 5.0
#: Seconds between two tries while waiting.
POLL = 0.05


def _candidate() -> Path:
    if os.geteuid() == 0:
        return ROOT_STATE_DIR
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isabs(runtime):
        try:
            st = os.lstat(runtime)
        except OSError:
            st = None
        if (st is not None and stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid()
                and not st.st_mode & 0o077):
            return Path(runtime) / "pytest-jaws"
    return Path(tempfile.gettempdir()) / f"pytest-jaws-{os.geteuid()}"


def state_dir(sub: str = "") -> Path:
    """Return the runner's private state directory (or its subdirectory ``sub``), made if missing.

    Made mode 0700; an existing one is used only when it is a real directory (not a link),
    owned by the running user and closed to everyone else.

    :raises UnsafePathError: naming the directory, its owner and mode, and what to do (someone
        else made it, e.g. planted in the shared temporary directory).
    """
    path = _candidate()
    for where in ([path, path / sub] if sub else [path]):
        try:
            os.mkdir(where, 0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise UnsafePathError(f"cannot make pytest-jaws's state directory {where}: "
                                  f"{exc.strerror}; make it writable for the runner") from None
        st = os.lstat(where)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
            raise UnsafePathError(
                f"pytest-jaws's state directory {describe_dir(str(where), st)} is not a "
                f"directory of {owner_name(os.geteuid())} closed to others (mode 0700): someone "
                "else may have made it to hold or replace the runs' locks and records; remove "
                "it (after checking who made it) and run again")
    return path / sub if sub else path


def lock_holder(path: Path | str) -> str:
    """Name the process holding a ``flock`` on ``path``, from ``/proc/locks``.

    ``PID 123 (user alice (uid 1000)): flock -x ...``, or a sentence saying it is unknown.
    """
    try:
        st = os.stat(path)
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return "a process that cannot be named (no /proc/locks)"
    inode = f":{st.st_ino}"
    for line in lines:
        fields = line.split()
        if len(fields) < 6 or fields[1] == "->" or not fields[5].endswith(inode):
            continue
        major, minor = (int(x, 16) for x in fields[5].split(":")[:2])
        if (major, minor) != (os.major(st.st_dev), os.minor(st.st_dev)):
            continue
        pid = int(fields[4])
        try:
            proc = psutil.Process(pid)
            who = owner_name(proc.uids().real)
            cmd = " ".join(proc.cmdline())[:300]
        except psutil.Error:
            return f"PID {pid} (already gone)"
        return f"PID {pid} (user {who}): {cmd}"
    return "a process that let it go a moment ago (before it could be named)"


@contextmanager
def host_lock(name: str, what: str, timeout: float = WAIT,
              cancel: threading.Event | None = None,
              on_wait: Callable[[str], None] | None = None) -> Iterator[Path]:
    """Hold the host-wide lock ``name`` (a file of :func:`state_dir`) for the ``with`` block.

    :param what: what the lock guards, for the message (``the reserved-ports setting``).
    :param timeout: seconds to wait at most.
    :param cancel: an event that ends the wait early (a deployment being cancelled).
    :param on_wait: called once, with a sentence naming the lock and its holder, when the lock
        is not free at the first try (for a progress line).
    :raises HostLockBusy: still held after ``timeout`` seconds, naming the holder.
    :raises pytest_jaws.errors.Cancelled: when ``cancel`` is set while waiting.
    :raises UnsafePathError: the state directory is not the runner's own (:func:`state_dir`).
    """
    from ..errors import Cancelled
    path = state_dir() / f"{name}.lock"
    lock = FileLock(str(path), mode=0o600)
    end = time.monotonic() + timeout
    while True:
        try:
            lock.acquire(timeout=0)
            break
        except Timeout:
            if on_wait is not None:
                on_wait(f"waiting (at most {timeout:g} s) for the lock of {what}, held by "
                        f"{lock_holder(path)}")
                on_wait = None
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"cancelled while waiting for the lock of {what} ({path})")
        if time.monotonic() >= end:
            raise HostLockBusy(
                f"the lock of {what} ({path}) is held by {lock_holder(path)}, for more than "
                f"{timeout:g} s (its runs hold it for milliseconds): that process is stuck or "
                "hostile; end it, or let it finish, and run again")
        time.sleep(POLL)  # signal handlers run between the tries
    try:
        yield path
    finally:
        lock.release()
