"""The one layer through which pytest-jaws touches the file system of a deployment.

The harness often runs as root among role users (and other local users) who may be hostile.
Every operation here resolves a path one component at a time from ``/`` with directory file
descriptors, and follows a symbolic link only where nobody but root or the invoking user could
have put it: inside a directory owned by one of them that no one else can write to (a sticky
directory such as ``/tmp`` counts only for links owned by root or the invoking user). Inside a
role user's directory, or a directory others can write, a link is refused, never followed.

On top of that:

- the last component of a path is opened with ``O_NOFOLLOW``; chown and chmod go through the
  file descriptor (never through a link);
- a directory that already exists is reused only when its owner is the expected one and no
  other user may write to it;
- files are written atomically: a new temporary file (``O_CREAT|O_EXCL|O_NOFOLLOW``) renamed
  over the target, so a planted link is replaced, never written through;
- files a role user controls are read with a byte limit, only when they are regular files
  (no FIFO, no device), owned by the owner of their directory, with one link, and under a
  timeout (:mod:`pytest_jaws.host.saferead`).

Every refusal is an :class:`UnsafePathError` whose message names the path, what was found
(owner, mode, link) and what to do.
"""

from __future__ import annotations

import errno
import os
import pwd
import secrets
import stat
from pathlib import Path
from typing import TypeVar

from ..errors import UnsafePathError

_T = TypeVar("_T")

#: Most symbolic links followed while resolving one path (as the kernel's limit).
MAX_LINKS = 40

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def owner_name(uid: int) -> str:
    """``alice (uid 1000)``, or ``uid 1000`` when the user is unknown."""
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def trusted_uids() -> set[int]:
    """Return the users whose directories are trusted: root and the invoking user."""
    return {0, os.geteuid()}


def others_may_write(st: os.stat_result) -> bool:
    """Tell whether others (not owner, not group) may write to the file of ``st``."""
    return bool(st.st_mode & stat.S_IWOTH)


def group_or_others_may_write(st: os.stat_result) -> bool:
    """Tell whether the group or others may write to the file of ``st``."""
    return bool(st.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def _dir_is_trusted(st: os.stat_result) -> bool:
    """Tell whether only root or the invoking user can have made the directory's entries.

    It must be owned by one of them and not writable by its group or others (sticky or not: a
    sticky dir is judged per entry). A group-writable one - a role's setgid directory of a
    deployment run without root (:mod:`pytest_jaws.host.perms`) - may hold what the role's user put
    there.
    """
    return st.st_uid in trusted_uids() and not group_or_others_may_write(st)


def link_may_be_followed(dir_st: os.stat_result, link_st: os.stat_result) -> bool:
    """Tell whether a link may be followed: only where nobody else could have put it."""
    if _dir_is_trusted(dir_st):
        return True
    # A sticky, world-writable directory (/tmp): only its owner's or our own links.
    return (dir_st.st_uid in trusted_uids() and bool(dir_st.st_mode & stat.S_ISVTX)
            and link_st.st_uid in trusted_uids())


def components(path: str) -> list[str]:
    """Return the components of ``path``, without empty ones and ``.``."""
    return [c for c in path.split("/") if c and c != "."]


def open_dir(path: Path | str) -> int:
    """Open the directory ``path`` (absolute) and return its file descriptor (caller closes).

    Resolves from ``/`` one component at a time; ``..`` goes up along what was resolved.
    A symbolic link is followed only when :func:`link_may_be_followed` says so.

    :raises UnsafePathError: for a link that may not be followed, or too many links.
    :raises FileNotFoundError: (or another OSError) when a component is missing.
    """
    path = os.path.abspath(os.fspath(path))
    todo = components(path)
    stack = [os.open("/", DIR_FLAGS)]
    walked: list[str] = []
    links = 0
    try:
        while todo:
            name = todo.pop(0)
            if name == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                    walked.pop()
                continue
            here = stack[-1]
            st = os.stat(name, dir_fd=here, follow_symlinks=False)
            where = "/" + "/".join([*walked, name])
            if stat.S_ISLNK(st.st_mode):
                links += 1
                if links > MAX_LINKS:
                    raise UnsafePathError(f"{path}: too many symbolic links")
                dir_st = os.fstat(here)
                target = os.readlink(name, dir_fd=here)
                if not link_may_be_followed(dir_st, st):
                    raise UnsafePathError(
                        f"{where} is a symbolic link (to {target}) in a directory that "
                        f"{owner_name(dir_st.st_uid)} owns or others may write; pytest-jaws "
                        "never follows such links (someone may have planted it): remove it, "
                        "or use a path without it")
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                    walked = []
                todo = components(target) + todo
                continue
            if not stat.S_ISDIR(st.st_mode):
                raise NotADirectoryError(errno.ENOTDIR, "not a directory", where)
            stack.append(os.open(name, DIR_FLAGS, dir_fd=here))
            walked.append(name)
            if not stat.S_ISDIR(os.fstat(stack[-1]).st_mode):  # pragma: no cover - O_DIRECTORY
                raise NotADirectoryError(errno.ENOTDIR, "not a directory", where)
        result = stack.pop()
        return result
    finally:
        for fd in stack:
            os.close(fd)


def split_parent(path: Path | str) -> tuple[str, str]:
    """Return ``(parent directory, last component)`` of the absolute ``path``."""
    path = os.path.abspath(os.fspath(path))
    parent, name = os.path.split(path)
    if not name:
        raise UnsafePathError(f"{path}: not a file or directory name")
    return parent, name


def describe_dir(path: str, st: os.stat_result) -> str:
    """Name a directory with its owner and mode, for messages."""
    return f"{path} (owner {owner_name(st.st_uid)}, mode {stat.filemode(st.st_mode)})"


def check_reusable_dir(path: Path | str, st: os.stat_result | None = None,
                       owners: set[int] | None = None) -> None:
    """Check that an existing directory may be reused.

    It must be a real directory (no link), owned by one of ``owners`` (default: the invoking
    user) and not writable by its group or others (they could swap what is in it between two
    steps).

    :raises UnsafePathError: naming the directory, its owner and mode, and what to do.
    """
    path = os.fspath(path)
    if st is None:
        st = os.lstat(path)
    owners = owners if owners is not None else {os.geteuid()}
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePathError(f"{path} is a symbolic link (to {os.readlink(path)}); pytest-jaws "
                              "never reuses a linked directory: remove the link")
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(f"{path} exists and is not a directory; remove it")
    if st.st_uid not in owners:
        expected = " or ".join(owner_name(u) for u in sorted(owners))
        raise UnsafePathError(
            f"{describe_dir(path, st)} is not owned by {expected}: someone else may have "
            "prepared it (and its keys or shims); pytest-jaws reuses only its own directories. "
            "Remove it (after checking what is inside), or choose another --jaws-basedir")
    if group_or_others_may_write(st):
        raise UnsafePathError(
            f"{describe_dir(path, st)} is writable by other users; pytest-jaws reuses only "
            f"directories others cannot write: chmod go-w {path}, or choose another "
            "--jaws-basedir")


def write_file(path: Path | str, data: str | bytes, mode: int,
               owner: tuple[int, int] | None = None, *, parent_owned: bool = False) -> None:
    """Write ``data`` to ``path`` atomically, replacing a link at ``path``, never writing through it.

    A new temporary file beside it (exclusive, no link followed), mode and owner set through its
    descriptor, then renamed over ``path``.

    :param owner: ``(uid, gid)`` for the file, or None for the invoking user.
    :param parent_owned: for outputs a person asked for (reports, plans): the directory may
        also be a sticky one (``/tmp``, where a rename cannot replace other users' files).
        Otherwise (a deployment's files) it must be the invoking user's and not writable by its
        group or others.
    :raises UnsafePathError: for a directory that may not be written to.
    """
    parent, name = split_parent(path)
    data = data.encode() if isinstance(data, str) else data
    dfd = open_dir(parent)
    try:
        st = os.fstat(dfd)
        if not parent_owned:
            check_reusable_dir(parent, st)
        elif not st.st_mode & stat.S_ISVTX and (
                st.st_uid != os.geteuid() or others_may_write(st)):
            raise UnsafePathError(
                f"{describe_dir(parent, st)} is not a directory that only you can write; "
                f"write {name} into a directory you own")
        tmp = f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=dfd)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                os.fchmod(fh.fileno(), mode)
                if owner is not None:
                    os.fchown(fh.fileno(), *owner)
            os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=dfd)
            except OSError:
                pass
            raise
    finally:
        os.close(dfd)


def unlink(path: Path | str) -> None:
    """Remove the file ``path`` (a link itself, never its target); missing is fine."""
    parent, name = split_parent(path)
    try:
        dfd = open_dir(parent)
    except (FileNotFoundError, NotADirectoryError):
        return
    try:
        os.unlink(name, dir_fd=dfd)
    except FileNotFoundError:
        pass
    finally:
        os.close(dfd)


def is_file(path: Path | str) -> bool:
    """Tell whether ``path`` exists as a regular file (a link does not count)."""
    parent, name = split_parent(path)
    try:
        dfd = open_dir(parent)
    except (OSError, UnsafePathError):
        return False
    try:
        return stat.S_ISREG(os.stat(name, dir_fd=dfd, follow_symlinks=False).st_mode)
    except OSError:
        return False
    finally:
        os.close(dfd)
