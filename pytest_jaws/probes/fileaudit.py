"""Every file of a deployment, whoever wrote it: who may read its secrets, who may change it.

The privilege suite's file checks look at the deployment as it is on disk, not only at the
files the harness wrote: an adopted site keeps JAWS's own files (``supervisord-cwl-backend.conf``
and backups ``*.conf.<timestamp>`` with the shared password, group-writable ``bin/`` and venvs).
Directories are walked without following links; who may read or write a path is worked out
from its owner, group (the group's members and the users whose primary group it is) and mode,
so the checks need no user switch and run on a real site's runner too.

On a real site each finding names the JAWS script that sets that permission
(JGI-Bioinformatics/jaws ``test/integration/``: :func:`jaws_script`).
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import stat
from collections.abc import Iterator
from pathlib import Path

from ..errors import UnsafePathError
from ..host.perms import _group_name as _group
from ..host.perms import _user_name as _name
from ..host.saferead import read_file
from ..plan.planmodel import EnvironmentPlan

#: Largest file searched for a key or secret (configurations and backups are far smaller).
SEARCH_BYTES = 1 << 20
#: Everyone: what :func:`readers` and :func:`writers` return for a path open to all users.
EVERYONE = "every user"


def _skipped(plan: EnvironmentPlan) -> set[Path]:
    """Return the directories not searched for secrets: venvs, supervisor's copy, broker, wheels."""
    out = {v.path for v in plan.venvs.values()}
    out |= {p for p in (plan.libdir, plan.bootstrap_venv, plan.broker) if p is not None}
    out.add(plan.base / "jaws-wheelhouse")
    return out


def roots(plan: EnvironmentPlan) -> list[Path]:
    """Return the deployment's top directories: supervisor and install directories, scratch."""
    out = [*plan.directories, *(i.install_dir for i in plan.instances.values())]
    out += [path for path, _role in plan.scratch_dirs]
    out += [d[0] for d in plan.data_dirs]
    return list(dict.fromkeys(out))


def walk(plan: EnvironmentPlan, skip: set[Path] | None = None
         ) -> Iterator[tuple[Path, os.stat_result]]:
    """Yield ``(path, lstat)`` of every directory and file under :func:`roots`, links not followed.

    Directories in ``skip`` are yielded but not entered. A root that does not exist is left out.
    """
    skip = skip if skip is not None else set()
    seen: set[Path] = set()
    for root in roots(plan):
        for top, dirs, files in os.walk(root, followlinks=False):
            here = Path(top)
            if here in seen:
                dirs[:] = []
                continue
            seen.add(here)
            try:
                yield here, os.lstat(here)
            except OSError:
                continue
            if here in skip:
                dirs[:] = []
                continue
            for name in files:
                try:
                    yield here / name, os.lstat(here / name)
                except OSError:
                    continue


def _members(gid: int) -> set[str]:
    try:
        names = set(grp.getgrgid(gid).gr_mem)
    except KeyError:
        return set()
    return names | {p.pw_name for p in pwd.getpwall() if p.pw_gid == gid}


def _who(st: os.stat_result, owner_bit: int, group_bit: int, other_bit: int) -> set[str]:
    if st.st_mode & other_bit:
        return {EVERYONE}
    out = {_name(st.st_uid)} if st.st_mode & owner_bit else set()
    if st.st_mode & group_bit:
        out |= _members(st.st_gid)
    return out


def readers(st: os.stat_result) -> set[str]:
    """Return the users who may read a path by its mode: ``{EVERYONE}`` when others may."""
    return _who(st, stat.S_IRUSR, stat.S_IRGRP, stat.S_IROTH)


def writers(st: os.stat_result) -> set[str]:
    """Return the users who may write a path by its mode: ``{EVERYONE}`` when others may."""
    return _who(st, stat.S_IWUSR, stat.S_IWGRP, stat.S_IWOTH)


def describe(path: Path, st: os.stat_result) -> str:
    """``/x/supervisord-jaws.conf (jaws:jaws_jtm 0644)``."""
    return f"{path} ({_name(st.st_uid)}:{_group(st.st_gid)} {stat.S_IMODE(st.st_mode):04o})"


def secret_values(plan: EnvironmentPlan, keys: dict[str, str]) -> dict[str, tuple[str, set[str]]]:
    """Return ``{value: (what it is, the users allowed to read it)}`` of the deployment's secrets.

    Each instance's key (its role user may read it); the secrets of the JAWS configuration
    files (every role user may: each reads its own configuration), from their variables or,
    on a fake site, the store the harness keeps (read only).
    """
    runner = {plan.deploying_user, "root"}
    out: dict[str, tuple[str, set[str]]] = {}
    for role, inst in plan.instances.items():
        if keys.get(role):
            what, allowed = out.get(keys[role], ("", set()))
            name = f"{what} and of {inst.name}" if what else f"the key of {inst.name}"
            out[keys[role]] = (name, allowed | runner | {inst.user})
    stored: dict = {}
    try:
        stored = json.loads(read_file(plan.directory / "jaws-secrets.json", 1 << 16) or b"{}")
    except (OSError, UnsafePathError, ValueError):
        stored = {}
    users = runner | {i.user for i in plan.instances.values()}
    for name, variable in plan.secrets.items():
        value = os.environ.get(variable) or stored.get(name)
        if value and value not in out:
            out[value] = (f"secret {name}", users)
    return out


def exposed_secrets(plan: EnvironmentPlan, keys: dict[str, str]) -> list[str]:
    """Name each file of the deployment that holds a key or secret another user may read.

    Every regular file under :func:`roots` (not in venvs), whoever wrote it: configurations,
    their ``<file>.<timestamp>`` backups, JAWS's own ``supervisord-cwl-backend.conf``.
    """
    secrets = secret_values(plan, keys)
    problems = []
    for path, st in walk(plan, _skipped(plan)):
        if not stat.S_ISREG(st.st_mode) or st.st_size > SEARCH_BYTES:
            continue
        try:
            text = read_file(path, SEARCH_BYTES).decode("utf-8", "replace")
        except (OSError, UnsafePathError):
            continue
        held = [(what, allowed) for value, (what, allowed) in secrets.items() if value in text]
        if not held:
            continue
        who = readers(st)
        for what, allowed in held:
            extra = who if EVERYONE in who else who - allowed
            if extra:
                problems.append(f"{describe(path, st)} holds {what} and is readable by "
                                + (EVERYONE if EVERYONE in extra else ", ".join(sorted(extra)))
                                + jaws_script(plan, path))
    return problems


def run_paths(plan: EnvironmentPlan) -> list[Path]:
    """Return what the roles run: ``bin/`` and its entries, shims, venvs with their ``bin/``.

    Configurations' directories too: a role that may write there may swap a configuration.
    """
    out: list[Path] = []
    for directory in plan.directories:
        out += [directory, directory / "bin", *_entries(directory / "bin")]
    for inst in plan.instances.values():
        shims = inst.install_dir / "shims"
        out += [inst.install_dir, shims, *_entries(shims), inst.install_dir / "configs"]
    for venv in [*(v.path for v in plan.venvs.values()), plan.bootstrap_venv, plan.libdir]:
        if venv is not None:
            out += [venv, venv / "bin", *_entries(venv / "bin")]
    return list(dict.fromkeys(out))


def _entries(directory: Path) -> list[Path]:
    try:
        return sorted(directory.iterdir())
    except OSError:
        return []


def writable_by_other_roles(plan: EnvironmentPlan) -> list[str]:
    """Name what the roles run that a user other than its owner (and the runner) may change.

    ``bin/``, shims, venvs and the configuration directories (JAWS makes them group-writable by
    the jtm group: ``deploy-supervisord`` ``fix_perms``, ``generate-venvs``).
    """
    problems = []
    allowed = {plan.deploying_user, "root"}
    for path in run_paths(plan):
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISLNK(st.st_mode):
            continue  # a venv's python link: its target is checked where it lives
        extra = writers(st) - allowed - {_name(st.st_uid)}
        if extra:
            problems.append(f"{describe(path, st)} is writable by "
                            + (EVERYONE if EVERYONE in extra else ", ".join(sorted(extra)))
                            + jaws_script(plan, path))
    return problems


def world_writable_dirs(plan: EnvironmentPlan, needed: dict[Path, str]) -> list[str]:
    """Name each directory of the deployment that every user may write, beyond ``needed``.

    :param needed: ``{directory: why JAWS needs it world-writable}``; those are allowed.
    """
    problems = []
    for path, st in walk(plan):
        if stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_IWOTH and path not in needed:
            problems.append(f"{describe(path, st)} is writable by every user"
                            + jaws_script(plan, path))
    return problems


#: The JAWS scripts (test/integration/) that set each kind of path's permission.
SCRIPTS = (
    ("jaws-central-supervisord-", "deploy-central (fix_perms: 770, group of the jaws user)"),
    ("jaws-central-", "deploy-central"),
    ("/bin/", "deploy-supervisord (fix_perms: chmod -R 770, the jtm group)"),
    ("supervisord-", "deploy-supervisord (chmod 660, chgrp the role's group)"),
    ("/configs/cromwell.conf", "deploy-cromwell (chmod 660, the jtm group)"),
    ("/shims/jaws-cromwell", "deploy-cromwell (chmod 770, the jtm group)"),
    ("/configs/", "generate-configs"),
    ("/shims/", "generate-shims (chmod +x, chgrp the jtm group)"),
    ("/inputs", "define-env (setup_dir 777) and the daemon shim (generate-shims: set_jaws_acl)"),
    ("/data-repository-", "define-env (setup_dir 2775) and the daemon shim (set_jaws_acl)"),
    ("/cromwell-executions", "define-env (setup_dir 775, the jtm group)"),
)


def jaws_script(plan: EnvironmentPlan, path: Path) -> str:
    """Return ``; set by JAWS's test/integration/<script>`` for a path on a real site, else ''."""
    if plan.fake:
        return ""
    text = str(path)
    for venv in plan.venvs.values():
        if text == str(venv.path) or text.startswith(f"{venv.path}/"):
            return "; set by JAWS's test/integration/generate-venvs (chmod -R ug+rwX, the jtm group)"
    for needle, script in SCRIPTS:
        if needle in text:
            return f"; set by JAWS's test/integration/{script}"
    if any(text.startswith(f"{d}") for d in plan.directories):
        return "; set by JAWS's test/integration/deploy-supervisord (fix_perms)"
    return "; set by JAWS's test/integration/define-env (setup_dir: 770, the jtm group)"
