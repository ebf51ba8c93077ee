"""Directories of a deployment, through :mod:`pytest_jaws.host.safefs`'s path resolution.

A base directory is used only when nobody but root or the invoking user can change it; a
directory that already exists is reused only when its owner is the expected one and no other
user may write to it; new directories get their owner, group and mode through the file
descriptor. Every refusal is an :class:`UnsafePathError` that says what to do.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import UnsafePathError
from .safefs import (
    DIR_FLAGS,
    check_reusable_dir,
    components,
    describe_dir,
    link_may_be_followed,
    open_dir,
    others_may_write,
    owner_name,
    split_parent,
    trusted_uids,
)


def check_base(path: Path | str, create: bool = False, mode: int = 0o755) -> None:
    """Check (and with ``create``, make) a base directory before anything is put in it.

    The base must be a directory owned by the invoking user and not writable by others; every
    directory above it must be owned by root or the invoking user and not writable by others
    unless sticky (``/tmp``). A missing base is created when ``create`` (missing parents too).

    :raises UnsafePathError: naming the directory and its owner, and what to do.
    """
    path = os.path.abspath(os.fspath(path))
    parts = components(path)
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
            if not link_may_be_followed(parent_st, st):
                raise UnsafePathError(
                    f"{where} (above the base directory {path}) is a symbolic link owned by "
                    f"{owner_name(st.st_uid)} in a directory others may write; use a base "
                    "directory whose path has no such link")
            continue
        if last:
            check_reusable_dir(where, st)
            continue
        if st.st_uid not in trusted_uids():
            raise UnsafePathError(
                f"{describe_dir(where, st)}, above the base directory {path}, is owned by "
                f"another user, who could swap the base directory for their own; choose a "
                "base directory whose parents belong to root or to you")
        if others_may_write(st) and not st.st_mode & stat.S_ISVTX:
            raise UnsafePathError(
                f"{describe_dir(where, st)}, above the base directory {path}, is writable by "
                "every user and not sticky; choose another base directory")


def ensure_dir(path: Path | str, mode: int, owner: tuple[int, int] | None = None, *,
               shared_gid: int | None = None) -> None:
    """Create directory ``path`` (its parent must exist) or reuse it; set mode and owner by fd.

    Mode and owner are set through its file descriptor.

    An existing directory is reused only when it is a directory (a link is refused, never
    followed), owned by the invoking user (and not writable by others) or by ``owner``'s uid
    (a role user's own directory, whose mode is set right after).

    :param owner: ``(uid, gid)`` to give it, or None to keep the invoking user.
    :param shared_gid: a role's setgid directory of a deployment run without root
        (:func:`pytest_jaws.host.perms.shared_gid`): an existing one may be writable by this group
        (not by others), as the deployment made it.
    :raises UnsafePathError: naming the path and what was found there.
    """
    parent, name = split_parent(path)
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
                    and st.st_uid == os.geteuid() and not others_may_write(st)):
                pass  # the role's shared directory, as a deployment without root makes it
            elif owner is None or st.st_uid != owner[0] or owner[0] == os.geteuid():
                check_reusable_dir(path, st, allowed)
            elif not stat.S_ISDIR(st.st_mode):
                raise UnsafePathError(f"{path} exists and is not a directory; remove it") from None
        fd = os.open(name, DIR_FLAGS, dir_fd=dfd)
        try:
            if owner is not None:
                _check_handover(path, fd, owner[0])
                os.fchown(fd, *owner)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
    finally:
        os.close(dfd)


def _check_handover(path: Path | str, fd: int, uid: int) -> None:
    """Refuse to give a directory to user ``uid`` when it holds entries of another user.

    A directory of the runner that a role user is to own holds files of a deployment made as
    another user (``--jaws-site=local``, all root's, then ``local-privsep`` into the same base
    directory): the role could not write them (supervisord would crash on its own log file).

    :raises UnsafePathError: naming the directory, an entry and its owner, and what to do.
    """
    st = os.fstat(fd)
    if st.st_uid == uid:
        return
    for entry in os.scandir(fd):
        found = entry.stat(follow_symlinks=False).st_uid
        if found != uid:
            raise UnsafePathError(
                f"{path} belongs to {owner_name(st.st_uid)} and holds {entry.name} of "
                f"{owner_name(found)}, but this deployment runs its role as "
                f"{owner_name(uid)} there: the base directory holds a deployment made as "
                "other users (another site, e.g. local before local-privsep?): deploy under "
                "another --jaws-basedir, or remove that deployment's files first (a teardown "
                "keeps them)")


def check_output_dir(path: Path | str) -> None:
    """Check that an output directory a person named (``--jaws-plan-dir``) is theirs.

    Owned by the invoking user and not writable by others (a sticky one, like ``/tmp``, is not
    enough here: files go into subdirectories the directory's owner could swap).

    :raises UnsafePathError: naming the directory and its owner.
    """
    dfd = open_dir(path)
    try:
        st = os.fstat(dfd)
    finally:
        os.close(dfd)
    if st.st_uid != os.geteuid() or others_may_write(st):
        raise UnsafePathError(f"{describe_dir(str(path), st)} is not a directory that only you "
                              "can write; give a directory you own")


def make_dirs(path: Path | str, mode: int = 0o755) -> None:
    """Do ``mkdir -p`` for output directories a person named.

    The deepest existing directory is reached through :func:`open_dir` (links refused where they
    may be planted), the missing ones are made with :func:`ensure_dir`.

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
