"""Reading files a role user controls, through :mod:`pytest_jaws.host.safefs`'s path resolution.

Read with a byte limit, only when they are regular files (no FIFO, no device), owned by the
owner of their directory, with one link, and under a timeout: a log that a role user replaced
with a link, a FIFO or another user's file is refused with an :class:`UnsafePathError`.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..errors import UnsafePathError
from .safefs import group_or_others_may_write, open_dir, owner_name, split_parent

_T = TypeVar("_T")

#: Seconds a read of a role-owned file may take (a FUSE mount of a role user could hang it).
READ_TIMEOUT = 5.0


def _run_with_timeout(fn: Callable[[], _T], timeout: float, what: str) -> _T:
    box: dict = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc
    worker = threading.Thread(target=run, daemon=True, name="pytest-jaws-read")
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise UnsafePathError(f"{what}: reading took longer than {timeout:g} s; not read")
    if "error" in box:
        raise box["error"]
    return box["value"]


def read_file(path: Path | str, limit: int, *, tail: bool = False,
              timeout: float = READ_TIMEOUT) -> bytes:
    """Read at most ``limit`` bytes of the regular file ``path`` (the last ones with ``tail``).

    The file is opened without following a link and without blocking (a FIFO cannot hang the
    read). It must be a regular file; when its directory is not the invoking user's (a role
    user's log directory), it must also belong to that directory's owner and have one link
    (no hard link to a file of someone else).

    :raises UnsafePathError: for a link, a non-regular file, a foreign file, or a read that
        takes longer than ``timeout`` seconds.
    :raises OSError: when it cannot be opened (missing, no permission).
    """
    parent, name = split_parent(path)

    def read() -> bytes:
        dfd = open_dir(parent)
        try:
            dir_st = os.fstat(dfd)
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
                             | os.O_CLOEXEC, dir_fd=dfd)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise UnsafePathError(
                        f"{path} is a symbolic link (to {os.readlink(name, dir_fd=dfd)}); "
                        "pytest-jaws does not read files through links") from None
                raise
        finally:
            os.close(dfd)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise UnsafePathError(f"{path} is not a regular file ({stat.filemode(st.st_mode)}"
                                      "); pytest-jaws reads only regular files there")
            if (dir_st.st_uid != os.geteuid() or group_or_others_may_write(dir_st)) and (
                    st.st_uid not in (dir_st.st_uid, _group_writer(dir_st, st))
                    or st.st_nlink != 1):
                raise UnsafePathError(
                    f"{path} belongs to {owner_name(st.st_uid)} and has {st.st_nlink} link(s), "
                    f"in a directory of {owner_name(dir_st.st_uid)}: not a file of that "
                    "directory's owner; pytest-jaws does not read it")
            if tail and st.st_size > limit:
                os.lseek(fd, st.st_size - limit, os.SEEK_SET)
            chunks, left = [], limit
            while left > 0:
                chunk = os.read(fd, min(left, 65536))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)
    return _run_with_timeout(read, timeout, str(path))


def _group_writer(dir_st: os.stat_result, st: os.stat_result) -> int | None:
    """Return the owner of a file a member of a setgid directory's group made there, else None.

    A role's group-writable setgid directory (deployment without root): such a file has the
    directory's group.
    """
    if dir_st.st_mode & stat.S_ISGID and st.st_gid == dir_st.st_gid:
        return st.st_uid
    return None


def read_text(path: Path | str, limit: int = 1 << 20) -> str | None:
    """Return the text of a file read with :func:`read_file` (at most ``limit`` bytes), or None.

    None when it does not exist or cannot be read.

    :raises UnsafePathError: as :func:`read_file`.
    """
    try:
        return read_file(path, limit).decode("utf-8", "replace")
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return None
