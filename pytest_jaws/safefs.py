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
  timeout.

Every refusal is an :class:`UnsafePathError` whose message names the path, what was found
(owner, mode, link) and what to do.
"""

from __future__ import annotations

import errno
import os
import pwd
import secrets
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from .errors import UnsafePathError

_T = TypeVar("_T")

#: Most symbolic links followed while resolving one path (as the kernel's limit).
MAX_LINKS = 40
#: Seconds a read of a role-owned file may take (a FUSE mount of a role user could hang it).
READ_TIMEOUT = 5.0

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def owner_name(uid: int) -> str:
    """``alice (uid 1000)``, or ``uid 1000`` when the user is unknown."""
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def _trusted_uids() -> set[int]:
    return {0, os.geteuid()}


def _others_may_write(st: os.stat_result) -> bool:
    return bool(st.st_mode & stat.S_IWOTH)


def _group_or_others_may_write(st: os.stat_result) -> bool:
    return bool(st.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def _dir_is_trusted(st: os.stat_result) -> bool:
    """Tell whether only root or the invoking user can have made the directory's entries.

    It must be owned by one of them and not writable by its group or others (sticky or not: a
    sticky dir is judged per entry). A group-writable one - a role's setgid directory of a
    deployment run without root (:mod:`pytest_jaws.perms`) - may hold what the role's user put
    there.
    """
    return st.st_uid in _trusted_uids() and not _group_or_others_may_write(st)


def _link_may_be_followed(dir_st: os.stat_result, link_st: os.stat_result) -> bool:
    if _dir_is_trusted(dir_st):
        return True
    # A sticky, world-writable directory (/tmp): only its owner's or our own links.
    return (dir_st.st_uid in _trusted_uids() and bool(dir_st.st_mode & stat.S_ISVTX)
            and link_st.st_uid in _trusted_uids())


def _components(path: str) -> list[str]:
    return [c for c in path.split("/") if c and c != "."]


def open_dir(path: Path | str) -> int:
    """Open the directory ``path`` (absolute) and return its file descriptor (caller closes).

    Resolves from ``/`` one component at a time; ``..`` goes up along what was resolved.
    A symbolic link is followed only when :func:`_link_may_be_followed` says so.

    :raises UnsafePathError: for a link that may not be followed, or too many links.
    :raises FileNotFoundError: (or another OSError) when a component is missing.
    """
    path = os.path.abspath(os.fspath(path))
    todo = _components(path)
    stack = [os.open("/", _DIR_FLAGS)]
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
                if not _link_may_be_followed(dir_st, st):
                    raise UnsafePathError(
                        f"{where} is a symbolic link (to {target}) in a directory that "
                        f"{owner_name(dir_st.st_uid)} owns or others may write; pytest-jaws "
                        "never follows such links (someone may have planted it): remove it, "
                        "or use a path without it")
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                    walked = []
                todo = _components(target) + todo
                continue
            if not stat.S_ISDIR(st.st_mode):
                raise NotADirectoryError(errno.ENOTDIR, "not a directory", where)
            stack.append(os.open(name, _DIR_FLAGS, dir_fd=here))
            walked.append(name)
            if not stat.S_ISDIR(os.fstat(stack[-1]).st_mode):  # pragma: no cover - O_DIRECTORY
                raise NotADirectoryError(errno.ENOTDIR, "not a directory", where)
        result = stack.pop()
        return result
    finally:
        for fd in stack:
            os.close(fd)


def _split(path: Path | str) -> tuple[str, str]:
    path = os.path.abspath(os.fspath(path))
    parent, name = os.path.split(path)
    if not name:
        raise UnsafePathError(f"{path}: not a file or directory name")
    return parent, name


def _describe_dir(path: str, st: os.stat_result) -> str:
    return f"{path} (owner {owner_name(st.st_uid)}, mode {stat.filemode(st.st_mode)})"


def check_reusable_dir(path: Path | str, st: os.stat_result | None = None,
                       owners: set[int] | None = None) -> None:
    """Check that an existing directory may be reused: a real directory (no link), owned by
    one of ``owners`` (default: the invoking user) and not writable by its group or others
    (they could swap what is in it between two steps).

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
            f"{_describe_dir(path, st)} is not owned by {expected}: someone else may have "
            "prepared it (and its keys or shims); pytest-jaws reuses only its own directories. "
            "Remove it (after checking what is inside), or choose another --jaws-basedir")
    if _group_or_others_may_write(st):
        raise UnsafePathError(
            f"{_describe_dir(path, st)} is writable by other users; pytest-jaws reuses only "
            f"directories others cannot write: chmod go-w {path}, or choose another "
            "--jaws-basedir")


def check_base(path: Path | str, create: bool = False, mode: int = 0o755) -> None:
    """Check (and with ``create``, make) a base directory before anything is put in it.

    The base must be a directory owned by the invoking user and not writable by others; every
    directory above it must be owned by root or the invoking user and not writable by others
    unless sticky (``/tmp``). A missing base is created when ``create`` (missing parents too).

    :raises UnsafePathError: naming the directory and its owner, and what to do.
    """
    path = os.path.abspath(os.fspath(path))
    parts = _components(path)
    for i in range(len(parts)):
        where = "/" + "/".join(parts[:i + 1])
        last = i == len(parts) - 1
        try:
            st = os.lstat(where)
        except FileNotFoundError:
            if not create:
                raise
            parent = os.path.dirname(where)
            fd = open_dir(parent)
            try:
                try:
                    os.mkdir(os.path.basename(where), mode, dir_fd=fd)
                except FileExistsError:
                    pass
                st = os.stat(os.path.basename(where), dir_fd=fd, follow_symlinks=False)
            finally:
                os.close(fd)
        if stat.S_ISLNK(st.st_mode) and not last:
            parent_st = os.lstat(os.path.dirname(where))
            if not _link_may_be_followed(parent_st, st):
                raise UnsafePathError(
                    f"{where} (above the base directory {path}) is a symbolic link owned by "
                    f"{owner_name(st.st_uid)} in a directory others may write; use a base "
                    "directory whose path has no such link")
            continue
        if last:
            check_reusable_dir(where, st)
            continue
        if st.st_uid not in _trusted_uids():
            raise UnsafePathError(
                f"{_describe_dir(where, st)}, above the base directory {path}, is owned by "
                f"another user, who could swap the base directory for their own; choose a "
                "base directory whose parents belong to root or to you")
        if _others_may_write(st) and not st.st_mode & stat.S_ISVTX:
            raise UnsafePathError(
                f"{_describe_dir(where, st)}, above the base directory {path}, is writable by "
                "every user and not sticky; choose another base directory")


def ensure_dir(path: Path | str, mode: int, owner: tuple[int, int] | None = None, *,
               shared_gid: int | None = None) -> None:
    """Create directory ``path`` (its parent must exist) or reuse it, then set its mode and
    owner through its file descriptor.

    An existing directory is reused only when it is a directory (a link is refused, never
    followed), owned by the invoking user (and not writable by others) or by ``owner``'s uid
    (a role user's own directory, whose mode is set right after).

    :param owner: ``(uid, gid)`` to give it, or None to keep the invoking user.
    :param shared_gid: a role's setgid directory of a deployment run without root
        (:func:`pytest_jaws.perms.shared_gid`): an existing one may be writable by this group
        (not by others), as the deployment made it.
    :raises UnsafePathError: naming the path and what was found there.
    """
    parent, name = _split(path)
    dfd = open_dir(parent)
    try:
        try:
            os.mkdir(name, 0o700, dir_fd=dfd)
        except FileExistsError:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            allowed = {os.geteuid()} | ({owner[0]} if owner else set())
            if stat.S_ISLNK(st.st_mode):
                raise UnsafePathError(
                    f"{path} is a symbolic link (to {os.readlink(name, dir_fd=dfd)}), where the "
                    "deployment keeps a directory; pytest-jaws never follows, chowns or chmods "
                    f"through links (someone planted it): remove it ({path}) and deploy again"
                ) from None
            if (shared_gid is not None and st.st_gid == shared_gid and stat.S_ISDIR(st.st_mode)
                    and st.st_uid == os.geteuid() and not _others_may_write(st)):
                pass  # the role's shared directory, as a deployment without root makes it
            elif owner is None or st.st_uid != owner[0] or owner[0] == os.geteuid():
                check_reusable_dir(path, st, allowed)
            elif not stat.S_ISDIR(st.st_mode):
                raise UnsafePathError(f"{path} exists and is not a directory; remove it") from None
        fd = os.open(name, _DIR_FLAGS, dir_fd=dfd)
        try:
            if owner is not None:
                os.fchown(fd, *owner)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
    finally:
        os.close(dfd)


def write_file(path: Path | str, data: str | bytes, mode: int,
               owner: tuple[int, int] | None = None, *, parent_owned: bool = False) -> None:
    """Write ``data`` to ``path`` atomically: a new temporary file beside it (exclusive, no
    link followed), mode and owner set through its descriptor, then renamed over ``path`` (a
    link at ``path`` is replaced, never written through).

    :param owner: ``(uid, gid)`` for the file, or None for the invoking user.
    :param parent_owned: for outputs a person asked for (reports, plans): the directory may
        also be a sticky one (``/tmp``, where a rename cannot replace other users' files).
        Otherwise (a deployment's files) it must be the invoking user's and not writable by its
        group or others.
    :raises UnsafePathError: for a directory that may not be written to.
    """
    parent, name = _split(path)
    data = data.encode() if isinstance(data, str) else data
    dfd = open_dir(parent)
    try:
        st = os.fstat(dfd)
        if not parent_owned:
            check_reusable_dir(parent, st)
        elif not st.st_mode & stat.S_ISVTX and (
                st.st_uid != os.geteuid() or _others_may_write(st)):
            raise UnsafePathError(
                f"{_describe_dir(parent, st)} is not a directory that only you can write; "
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


def check_output_dir(path: Path | str) -> None:
    """An output directory a person named (``--jaws-plan-dir``) must be theirs: owned by the
    invoking user and not writable by others (a sticky one, like ``/tmp``, is not enough here:
    files go into subdirectories the directory's owner could swap).

    :raises UnsafePathError: naming the directory and its owner.
    """
    dfd = open_dir(path)
    try:
        st = os.fstat(dfd)
    finally:
        os.close(dfd)
    if st.st_uid != os.geteuid() or _others_may_write(st):
        raise UnsafePathError(f"{_describe_dir(str(path), st)} is not a directory that only you "
                              "can write; give a directory you own")


def make_dirs(path: Path | str, mode: int = 0o755) -> None:
    """``mkdir -p`` for output directories a person named: the deepest existing directory is
    reached through :func:`open_dir` (links refused where they may be planted), the missing
    ones are made with :func:`ensure_dir`.

    :raises UnsafePathError: as :func:`open_dir`.
    """
    path = os.path.abspath(os.fspath(path))
    missing = []
    here = path
    while True:
        try:
            os.close(open_dir(here))
            break
        except FileNotFoundError:
            missing.append(here)
            parent = os.path.dirname(here)
            if parent == here:
                raise
            here = parent
    for directory in reversed(missing):
        ensure_dir(directory, mode)


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
    parent, name = _split(path)

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
            if (dir_st.st_uid != os.geteuid() or _group_or_others_may_write(dir_st)) and (
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
    """The text of a file read with :func:`read_file` (at most ``limit`` bytes), or None when
    it does not exist or cannot be read. :raises UnsafePathError: as :func:`read_file`."""
    try:
        return read_file(path, limit).decode("utf-8", "replace")
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return None


def unlink(path: Path | str) -> None:
    """Remove the file ``path`` (a link itself, never its target); missing is fine."""
    parent, name = _split(path)
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
    """True when ``path`` exists as a regular file (a link does not count)."""
    parent, name = _split(path)
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
