"""``--jaws-port-offset=auto``: a port offset whose whole shifted port table is free.

It is held by a host-wide lock so that runs started at the same moment never pick the same
one.

An offset is free when no socket of the machine (listening or not, any state: psutil) is bound
to a port of the shifted table for the selected environments; it is taken when another run
holds its lock (:class:`pytest_jaws.host.runlock.RunLock` on ``<offset>.lock``, its holder's PID and
command line in ``<offset>.run.owner``) in the runner's own 0700 state directory
(:func:`pytest_jaws.host.hostlock.state_dir`: root's under ``/run/pytest-jaws``), checked before each
use: no other user can plant it, hold an offset there or learn the chosen one.

Offsets are multiples of :data:`STEP` (30): the table's ports differ by 0-2, 8-12 and 18-22
within a group and by thousands between groups, so two shifted tables of different multiples
of 30 (up to :data:`LAST`) never share a port.

Note: Cromwell's ports (50101-50103) lie in Linux's default ephemeral range (32768-60999) at
every offset that keeps the table below 65536; the free check covers connections that happen
to use them at the moment of choosing, not later ones.
"""

from __future__ import annotations

from pathlib import Path

import psutil

from ..errors import NoFreeOffset, PlanError, RunLockBusy, UnsafePathError
from ..plan.serverplan import server_ports
from ..sites.sitedeps import Dependencies
from ..sites.sites import SitesFile
from ..sites.sitevars import shifted_ports
from .hostlock import state_dir
from .runlock import RunLock, holder

#: Offsets are multiples of this (see the module docstring).
STEP = 30
#: The first and last offsets tried (64123 + 1410 < 65536).
FIRST, LAST = 30, 1410


def lock_dir() -> Path:
    """Return the runner's own directory of the offsets' locks (``<state dir>/offsets``, 0700).

    :raises NoFreeOffset: when it is not the runner's own (someone planted it), naming it, its
        owner and what to do.
    """
    try:
        return state_dir("offsets")
    except (UnsafePathError, OSError) as exc:
        raise NoFreeOffset(f"--jaws-port-offset=auto keeps its locks in a directory only you can "
                           f"create, hold or read, and cannot use it: {exc}") from None


def bound_ports() -> set[int]:
    """Every local TCP and UDP port some socket of this machine is bound to, in any state."""
    return {c.laddr.port for c in psutil.net_connections("inet") if c.laddr}


#: The file, in an environment's supervisor directory, that records the port offset it was
#: deployed with (``auto`` takes it again for the same base directory).
OFFSET_FILE = "jaws-port-offset"


def recorded(base: Path | None, envs: list[str] | tuple[str, ...]) -> int | None:
    """Return the port offset a deployment under ``base`` was made with, or None.

    Read from ``<base>/jaws-supervisord-<env>/jaws-port-offset`` of the first environment that
    has one (a small file of the runner's, written at deployment).
    """
    if base is None:
        return None
    from .saferead import read_text
    for env in envs:
        try:
            text = read_text(base / f"jaws-supervisord-{env}" / OFFSET_FILE, 64)
        except OSError:
            continue
        if text and text.strip().isdigit():
            return int(text.strip())
    return None


def choose(model: SitesFile, envs: list[str] | tuple[str, ...],
           prefer: int | None = None,
           dependencies: Dependencies | None = None) -> tuple[int, OffsetLock]:
    """Pick the first free offset and lock it, ``prefer`` first, whatever holds its ports.

    Never waits for a lock.

    ``prefer`` is the offset the base directory was deployed with (:func:`recorded`): its ports
    may be held by that deployment itself (an operator's instance left running, a deployment
    left up), so it is taken when its lock is free; pre-flight then tells the deployment's own
    instances from anything else on its ports. With ``dependencies`` that the run starts
    (``start``), their ports (:func:`pytest_jaws.plan.serverplan.server_ports`) must be free too.

    :returns: ``(offset, lock)``; the caller releases the lock (``lock.release()``) when its
        deployment is gone.
    :raises NoFreeOffset: when none of the offsets FIRST..LAST is free (naming up to three
        runs that hold one), or the lock directory is not the runner's own.
    """
    directory = lock_dir()
    if prefer is not None:
        try:
            return prefer, _take(directory, prefer)
        except RunLockBusy:
            pass
    taken = bound_ports()
    held: list[str] = []
    for offset in range(FIRST, LAST + 1, STEP):
        try:
            ports = {p for env in envs for p in shifted_ports(model, env, offset).values()}
            if dependencies is not None and dependencies.start:
                rows = list(model.ports)
                ports |= {p for env in envs
                          for p in server_ports(rows.index(env), offset).values()}
        except PlanError:
            break
        if ports & taken:
            continue
        try:
            lock = _take(directory, offset)
        except RunLockBusy:
            who = holder(directory / str(offset), f"{offset}.lock") or "another pytest-jaws run"
            held.append(f"{offset} by {who}")
            continue
        if ports & bound_ports():  # bound while we locked: let the other one have it
            lock.release()
            continue
        return offset, lock
    runs = f" (held: {'; '.join(held[:3])})" if held else ""
    raise NoFreeOffset(f"--jaws-port-offset=auto: every offset {FIRST}-{LAST} (step {STEP}) has "
                       f"a port of the table in use or is held by another run{runs}; stop a run "
                       "or give an offset")


class OffsetLock:
    """The lock of one offset (:class:`~pytest_jaws.host.runlock.RunLock`) in the state directory."""

    def __init__(self, lock: RunLock):
        self.lock = lock

    @property
    def lock_path(self) -> Path:
        """The lock file in the state directory."""
        return self.lock.lock_path

    def release(self) -> None:
        """Give the lock up."""
        self.lock.release()


def _take(directory: Path, offset: int) -> OffsetLock:
    """Take the lock of ``offset`` at once, or raise :class:`RunLockBusy`."""
    lock = RunLock(directory / str(offset), lock_name=f"{offset}.lock")
    lock.acquire()
    return OffsetLock(lock)
