"""``--jaws-port-offset=auto``: a port offset whose whole shifted port table is free.

It is held by a host-wide lock so that runs started at the same moment never pick the same
one.

An offset is free when no socket of the machine (listening or not, any state: psutil) is bound
to a port of the shifted table for the selected environments; it is taken when another run
holds its lock file (:mod:`filelock`, one file per offset in a directory of the invoking user
under the temporary directory). Offsets are multiples of :data:`STEP` (30): the table's ports
differ by 0-2, 8-12 and 18-22 within a group and by thousands between groups, so two shifted
tables of different multiples of 30 (up to :data:`LAST`) never share a port.

Note: Cromwell's ports (50101-50103) lie in Linux's default ephemeral range (32768-60999) at
every offset that keeps the table below 65536; the free check covers connections that happen
to use them at the moment of choosing, not later ones.
"""

from __future__ import annotations

import getpass
import tempfile
from pathlib import Path

import psutil
from filelock import FileLock, Timeout

from .errors import NoFreeOffset, PlanError
from .serverplan import server_ports
from .sitemodel import Dependencies
from .sites import SitesFile
from .sitevars import shifted_ports

#: Offsets are multiples of this (see the module docstring).
STEP = 30
#: The first and last offsets tried (64123 + 1410 < 65536).
FIRST, LAST = 30, 1410


def lock_dir() -> Path:
    """``<tmp>/pytest-jaws-<user>-offsets``: the lock files of the offsets in use."""
    path = Path(tempfile.gettempdir()) / f"pytest-jaws-{getpass.getuser()}-offsets"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


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
           dependencies: Dependencies | None = None) -> tuple[int, FileLock]:
    """Pick the first free offset and lock it; ``prefer`` first, whatever holds its ports.

    ``prefer`` is the offset the base directory was deployed with (:func:`recorded`): its ports
    may be held by that deployment itself (an operator's instance left running, a deployment
    left up), so it is taken when its lock is free; pre-flight then tells the deployment's own
    instances from anything else on its ports. With ``dependencies`` that the run starts
    (``start``), their ports (:func:`pytest_jaws.serverplan.server_ports`) must be free too.

    :returns: ``(offset, lock)``; the caller releases the lock (``lock.release()``) when its
        deployment is gone.
    :raises NoFreeOffset: when none of the offsets FIRST..LAST is free.
    """
    if prefer is not None:
        lock = FileLock(str(lock_dir() / f"{prefer}.lock"))
        try:
            lock.acquire(timeout=0)
            return prefer, lock
        except Timeout:
            pass
    taken = bound_ports()
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
        lock = FileLock(str(lock_dir() / f"{offset}.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            continue
        if ports & bound_ports():  # bound while we locked: let the other one have it
            lock.release()
            continue
        return offset, lock
    raise NoFreeOffset(f"--jaws-port-offset=auto: every offset {FIRST}-{LAST} (step {STEP}) has "
                       "a port of the table in use or is held by another run; stop a run or "
                       "give an offset")
