"""The file system under a base directory: writable, with room, before anything is deployed.

A read-only file system or a full disk found half-way through a deployment gave a traceback
(``OSError: [Errno 30] … run.lock`` at sessionfinish) or ``Errno 28`` with no path. Checked
first, it is a usage error that names the directory, its mount and what to do.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from ..errors import UnsafePathError

#: Bytes a deployment of one environment needs at least under its base directory: a fake
#: site's configs, shims, keys and first logs take about 0.7 MB (measured with --jaws-env=all:
#: 2.1 MB); a real site's venvs take far more (this is a floor, not a promise).
MIN_FREE_PER_ENV = 1 << 20
#: Inodes a deployment of one environment needs at least (about 150 files and directories).
MIN_INODES_PER_ENV = 300


#: Bytes a base directory's path may have: Linux's PATH_MAX (4096) less room for the longest
#: path a deployment makes under it (``jaws-central-supervisord-staging/...``, about 150).
MAX_BASE_PATH = 3900


def check_names(path: Path, what: str) -> None:
    """Refuse a path with a component longer than the file system allows, or too long a whole.

    :param what: what the path is, for the message (``base directory``).
    :raises UnsafePathError: naming the component (its first characters), its length and the
        limit.
    """
    text = os.fsencode(os.path.abspath(path))
    if len(text) > MAX_BASE_PATH:
        raise UnsafePathError(
            f"{what} {os.fsdecode(text[:60])}... has {len(text)} bytes; at most {MAX_BASE_PATH} "
            "(the deployment's own paths go under it, and a path may have at most 4096): choose "
            "a shorter one")
    where = nearest_existing(Path(os.fsdecode(text)))
    try:
        limit = os.pathconf(where, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    for part in text.split(b"/"):
        if len(part) > limit:
            raise UnsafePathError(
                f"{what} {os.fsdecode(text[:60])}...: its component "
                f"{os.fsdecode(part[:40])}... has {len(part)} bytes, and a file name on "
                f"{mount_point(where)} may have at most {limit}: choose a shorter one")


def nearest_existing(path: Path) -> Path:
    """Return ``path`` or its nearest ancestor that exists (what it would be created in)."""
    path = Path(os.path.abspath(path))
    while path != path.parent:
        try:
            os.lstat(path)
            return path
        except OSError:  # missing, or a name too long to exist
            path = path.parent
    return path


def check_writable(path: Path, what: str) -> None:
    """Refuse ``path`` (or, when missing, the directory it would be made in) on a read-only mount.

    Also refused: a path under something that is not a directory (``/etc/passwd/x``), and
    a file system that holds no files (``/proc``, ``/sys``: no blocks at all, statvfs(3)).

    :param what: what the path is, for the message (``base directory``).
    :raises UnsafePathError: naming the path, what is wrong there and what to do.
    """
    where = nearest_existing(path)
    if not where.is_dir():
        raise UnsafePathError(
            f"{what} {path}: {where} is not a directory, so nothing can be made "
            f"{'there' if where == Path(os.path.abspath(path)) else 'under it'}: choose a "
            "--jaws-basedir that is a directory or can be made as one")
    try:
        st = os.statvfs(where)
    except OSError:
        return
    flags = st.f_flag
    if st.f_blocks == 0:
        raise UnsafePathError(
            f"{what} {path}: {where} is on a file system that holds no files (mount point "
            f"{mount_point(where)}, a kernel's virtual file system such as /proc or /sys): "
            "choose a --jaws-basedir on a disk, e.g. under $TMPDIR or your home directory")
    if flags & os.ST_RDONLY:
        raise UnsafePathError(
            f"{what} {path}: {where} is on a read-only file system (mount point "
            f"{mount_point(where)}); nothing can be deployed there: choose a writable "
            "--jaws-basedir, or remount it read-write")


def free_space(path: Path) -> tuple[int, int] | None:
    """Return ``(bytes, inodes)`` free for the runner on the file system of ``path``, or None."""
    try:
        st = os.statvfs(nearest_existing(path))
    except OSError:
        return None
    return st.f_bavail * st.f_frsize, st.f_favail


def check_room(path: Path, what: str, envs: int) -> None:
    """Refuse ``path`` when its file system has less room than ``envs`` environments need.

    :param what: what the path is, for the message (``base directory``).
    :raises UnsafePathError: naming the path, its mount, what is free and what is needed.
    """
    free = free_space(path)
    if free is None:
        return
    need, inodes = MIN_FREE_PER_ENV * envs, MIN_INODES_PER_ENV * envs
    if free[0] < need or (free[1] < inodes and free[1] != 0):
        where = nearest_existing(path)
        raise UnsafePathError(
            f"{what} {path}: the file system of {where} (mount point {mount_point(where)}) has "
            f"{free[0] // 1024} KiB and {free[1]} inodes free; a deployment of {envs} "
            f"environment(s) needs at least {need // 1024} KiB and {inodes} inodes (a full "
            "disk makes programs exit too quickly with empty logs): free space there or choose "
            "another --jaws-basedir")


def low_space_hint(path: Path, envs: int = 1) -> str:
    """Return a sentence for a failure message when ``path``'s file system is (nearly) full, else ''."""
    free = free_space(path)
    if free is None or free[0] >= MIN_FREE_PER_ENV * envs:
        return ""
    where = nearest_existing(path)
    return (f" (the file system of {where}, mount point {mount_point(where)}, has only "
            f"{free[0] // 1024} KiB free: a full disk? programs that cannot write their logs "
            "exit at once; free space there or choose another --jaws-basedir)")


def mount_point(path: Path) -> Path:
    """Return the mount point of the file system ``path`` is on."""
    path = Path(os.path.abspath(path))
    while not os.path.ismount(path) and path != path.parent:
        path = path.parent
    return path


def os_error(exc: OSError, doing: str) -> str:
    """Say what an ``OSError`` of the file system means: the path, the cause, what to do.

    ``taking the run lock: /b/x.run.lock: No space left on device (the file system of /b, mount
    point /, has 0 bytes free): free space there or choose another --jaws-basedir``.
    """
    if isinstance(exc, shutil.Error) and exc.args and isinstance(exc.args[0], list) \
            and exc.args[0]:  # copytree: a list of (source, target, why); name the first
        _src, target, why = exc.args[0][0]
        code = errno.ENOSPC if f"[Errno {errno.ENOSPC}]" in why else None
        exc = OSError(code, os.strerror(code) if code else why.split("]")[-1].strip(), target)
    what = f"{doing}: " + (f"{exc.filename}: " if exc.filename else "") + (exc.strerror or str(exc))
    if exc.errno == errno.ENOSPC:
        if not exc.filename:
            return f"{what}: a file system is full; free space, or choose another --jaws-basedir"
        where = nearest_existing(Path(exc.filename))
        free = free_space(where)
        room = f"{free[0] // 1024} KiB and {free[1]} inodes free" if free else "no room"
        return (f"{what} (the file system of {where}, mount point {mount_point(where)}, has "
                f"{room}): free space there or choose another --jaws-basedir")
    if exc.errno == errno.EROFS:
        return f"{what}: choose a writable --jaws-basedir, or remount it read-write"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"{what}: the runner may not write there; choose another --jaws-basedir"
    return what
