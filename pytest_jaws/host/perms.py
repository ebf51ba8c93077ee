"""Owner, group and mode of each path of a deployment, as the runner's privileges allow.

The runner is the user running pytest. As root, the harness gives a role's files and
directories to the role user (chown). Without root (a role user deploys, as JAWS's CI does on
its sites: cori's runner is ``jaws``), it cannot chown; it owns everything it creates and uses
JAWS's mechanism instead, a shared group plus setgid directories
(JGI-Bioinformatics/jaws ``test/integration/define-env``: the jaws user belongs to the jaws
and jtm groups, the jtm user to the jtm group only; ``setup_dir`` chgrp + chmod):

- a secret of another role (its supervisord configuration, key, JAWS configuration) gets
  that role's group and mode 0640: the role reads it through its group and cannot change it;
- a directory another role writes (its supervisord directory and logs, its log and scratch
  directories) gets that role's group, group write and the setgid bit (``2770``/``2775``);
- everything else (``bin/``, ``shims/``, ``configs/``, venvs, the wheelhouse) stays the
  runner's, writable by the runner alone.

JAWS itself is looser: ``deploy-supervisord`` makes the supervisor directory and its
``bin/`` ``770`` group jtm (the jtm role may replace what the jaws role runs),
``generate-venvs`` ``ug+rwX`` the venvs, ``generate-configs`` ``660`` the configuration files
(the jtm role may rewrite ``jaws-jtm.conf``). The harness never gives a group write access to
anything but a directory its role must write.

chgrp to a group needs the runner to be a member; where it is not, the group stays the
runner's and :func:`problems` says so (the options refuse such a deployment, the plan shows
it). Everything here looks at the machine (users, groups, the runner's ids); nothing changes it.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from dataclasses import dataclass

from ..plan.planmodel import EnvironmentPlan

#: Kinds of path: ``runner`` (bin/, shims/, configs/, venvs, the wheelhouse: the runner's
#: alone), ``secret`` (a role's configuration or key), ``role-dir`` (a directory the role
#: writes).
KINDS = ("runner", "secret", "role-dir")


@dataclass(frozen=True)
class Perm:
    """What a path will be: its owner, group and mode, and the chown that gives them.

    ``owner`` and ``group`` are names, ``mode`` the permission bits with setgid, ``chown``
    ``(uid, gid)`` to give it, or None to keep what creating it gives (where the runner cannot
    chgrp, or the role's user or group is unknown here).
    """

    owner: str
    group: str
    mode: int
    chown: tuple[int, int] | None

    def text(self) -> str:
        """``jaws:jaws_jtm 2770``: how the plan shows it."""
        return f"{self.owner}:{self.group} {self.mode:04o}"


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def runner_gids() -> set[int]:
    """Return the groups the runner may chgrp to: its effective and supplementary groups."""
    return {os.getegid(), *os.getgroups()}


def _role_ids(plan: EnvironmentPlan, role: str) -> tuple[str, int, str, int] | None:
    """Return ``(user, uid, group, gid)`` of a role of the plan, None when it has none.

    The group is the role's sites.yaml group, else the user's primary group.

    :raises KeyError: when the user or group does not exist on this machine.
    """
    inst = next((i for i in plan.instances.values() if i.role == role), None)
    if inst is None:
        return None
    entry = pwd.getpwnam(inst.user)
    gid = grp.getgrnam(inst.group).gr_gid if inst.group else entry.pw_gid
    return inst.user, entry.pw_uid, _group_name(gid), gid


def _named(plan: EnvironmentPlan, role: str, mode: int) -> Perm:
    """Return sites.yaml's names for a role whose user or group does not exist here.

    A real site planned elsewhere: shown as root would set them.
    """
    inst = next(i for i in plan.instances.values() if i.role == role)
    return Perm(inst.user, inst.group or inst.user, mode, None)


def perm(plan: EnvironmentPlan, role: str, kind: str, mode: int) -> Perm:
    """Return the owner, group and mode a path of ``role`` gets with this process's privileges.

    ``role`` "" is the runner's own.

    :param kind: one of :data:`KINDS`.
    :param mode: the mode as root would set it (0600 for a secret, 0750 for a role directory).
    A role whose user or group does not exist on this machine (a real site's plan made
    elsewhere) is shown with the names of sites.yaml and ``chown`` None; a deployment never
    gets there (the options check that they exist).
    """
    euid, egid = os.geteuid(), os.getegid()
    me, my_group = _user_name(euid), _group_name(egid)
    try:
        ids = _role_ids(plan, role) if role and kind != "runner" else None
    except KeyError:
        return _named(plan, role, mode)
    if ids is None:  # the runner's: its group set explicitly (a setgid parent would give its own)
        return Perm(me, my_group, mode, (euid, egid))
    user, uid, group, gid = ids
    if euid == 0:
        return Perm(user, group, mode, (uid, gid))
    if gid not in runner_gids():  # chgrp refused: the group stays the runner's
        return Perm(me, my_group, mode, None)
    if uid == euid:  # the runner's own role: its group, the mode as root gives it
        return Perm(me, group, mode, (euid, gid))
    if kind == "secret":  # readable through the group, never writable by the role
        return Perm(me, group, (mode & ~0o077) | 0o040, (euid, gid))
    # a directory the role writes: group write and setgid (JAWS define-env setup_dir)
    shared = (mode & ~0o070) | 0o070 | stat.S_ISGID
    return Perm(me, group, shared, (euid, gid))


def shared_gid(plan: EnvironmentPlan, role: str) -> int | None:
    """Return the gid whose members may write a ``role-dir`` of ``role`` besides its owner.

    That is the role's group when the runner is neither root nor the role user, else None.
    """
    p = perm(plan, role, "role-dir", 0o750)
    if p.chown is None or os.geteuid() == 0 or not p.mode & stat.S_ISGID:
        return None
    return p.chown[1]


def not_member(role: str, user: str, group: str | None) -> str | None:
    """Say why a runner without root cannot give role ``role`` its files; None when it can.

    ``user`` and ``group`` are the role's (group None: the user's primary group). It can as
    root, for its own role, or when it is a member of the group.

    :raises KeyError: for a user or group that does not exist.
    """
    if os.geteuid() == 0:
        return None
    entry = pwd.getpwnam(user)
    gid = grp.getgrnam(group).gr_gid if group else entry.pw_gid
    if entry.pw_uid == os.geteuid() or gid in runner_gids():
        return None
    me = _user_name(os.geteuid())
    name = _group_name(gid)
    return (f"role {role} runs as {user}, and {me} (running pytest, not root) is not a member "
            f"of its group {name}: without root the harness gives {user} its configuration "
            f"and directories through that group (JAWS: the jaws user belongs to the jaws and "
            f"jtm groups, test/integration/define-env); add {me} to it (sudo usermod -a -G "
            f"{name} {me}, then log in again), or run as root")


def problems(plan: EnvironmentPlan) -> list[str]:
    """:func:`not_member` for every role of the plan (empty as root)."""
    out = []
    for role, inst in {i.role: i for i in plan.instances.values()}.items():
        try:
            text = not_member(role, inst.user, inst.group)
        except KeyError:  # not on this machine: the plan shows sites.yaml's names
            continue
        if text:
            out.append(text)
    return out


def data_dir(plan: EnvironmentPlan, owner: str, reader: str, mode: int) -> Perm:
    """Return what a directory that role ``owner`` writes and role ``reader`` reads gets.

    JAWS's working directories (test/integration/define-env): the scratch directories, the
    inputs Cromwell reads, the cromwell-executions jaws-site reads, the data repository. JAWS
    opens them to the jtm group or to everyone (777, 775, 2775 and ACLs); here, as root, they
    are the owner role's, with the reader role's group and ``mode`` (2750: the reader reads
    through its group, nobody else writes). Without root: the runner's, with the group of the
    role that is not the runner (JAWS's shared group), group write when the owner role is not
    the runner (it writes through that group), setgid.
    """
    me, my_group = _user_name(os.geteuid()), _group_name(os.getegid())
    try:
        own, rd = _role_ids(plan, owner), _role_ids(plan, reader)
    except KeyError:
        return _named(plan, owner, mode)
    if own is None or rd is None:
        return perm(plan, owner, "role-dir", mode)
    if os.geteuid() == 0:
        return Perm(own[0], rd[2], mode, (own[1], rd[3]))
    other = rd if own[1] == os.geteuid() else own
    if other[3] not in runner_gids():
        return Perm(me, my_group, mode, None)
    shared = mode | stat.S_ISGID | (0o070 if own[1] != os.geteuid() else 0)
    return Perm(me, other[2], shared, (os.geteuid(), other[3]))
