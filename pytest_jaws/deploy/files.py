"""Writing a deployment's files: directories, configs, keys and shims, with owners and modes.

Every file is written atomically (temporary file, then rename), so a failed or interrupted
deployment never leaves a half-written configuration. Every file-system operation goes through
:mod:`pytest_jaws.host.safefs` (no link followed where a role user could plant one, owners checked
before a directory is reused, role-owned files read with byte limits).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import DeploymentError, UnsafePathError
from ..host import safedirs, safefs, saferead
from ..host.perms import data_dir, perm, shared_gid
from ..keys import generate_key, mask, remember, resolve_key
from ..plan.planmodel import EnvironmentPlan
from ..sites.sitevars import check_secret

#: Lines of a log shown in error messages.
TAIL_LINES = 50


#: Bytes read from the end of a log for :func:`tail`.
TAIL_BYTES = 64 * 1024


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    """Return the last ``lines`` lines of a text file (from its last 64 KiB), keys masked.

    '' when unreadable. A log that a role user replaced with a link, FIFO or device, or with a
    file that is not theirs, is not read: the text says so instead (see :func:`saferead.read_file`).
    """
    try:
        text = saferead.read_file(path, TAIL_BYTES, tail=True).decode("utf-8", "replace")
    except UnsafePathError as exc:
        return f"(not shown: {exc})"
    except OSError:
        return ""
    return mask("\n".join(text.splitlines()[-lines:]))


def _write(path: Path, text: str, role: str, mode: int, plan: EnvironmentPlan) -> None:
    p = perm(plan, role, "secret", mode)
    safefs.write_file(path, text, p.mode, p.chown)


def _mkdir(plan: EnvironmentPlan, path: Path) -> None:
    """Make a directory of the runner alone (0755, the runner's group even under a setgid parent).

    As the plan shows it.
    """
    p = perm(plan, "", "runner", 0o755)
    safedirs.ensure_dir(path, p.mode, p.chown)


def _role_dir(plan: EnvironmentPlan, path: Path, role: str, mode: int) -> None:
    """Make a directory the role writes: the role's own as root, else the runner's, shared.

    Shared: the runner's with the role's group, group write and setgid
    (:func:`pytest_jaws.host.perms.perm`).
    """
    p = perm(plan, role, "role-dir", mode)
    safedirs.ensure_dir(path, p.mode, p.chown, shared_gid=shared_gid(plan, role))


def resolve_keys(plan: EnvironmentPlan) -> dict[str, str]:
    """Return instance -> key, from the environment, the key file, or newly generated (keys.py)."""
    keys = {}
    for name, inst in plan.instances.items():
        keys[name] = resolve_key(inst.key_variable, read_or_none(inst.key_file, KEY_BYTES))[0]
    return keys


def resolve_secrets(plan: EnvironmentPlan) -> dict[str, str]:
    """``{secret name: value}`` for the JAWS configuration files of the plan.

    Real sites: from the variables :func:`pytest_jaws.sites.sitevars.secret_variable` names (the
    options check they are set before anything is deployed). Fake sites: the variable when
    set, else generated once and kept in ``<supervisor dir>/jaws-secrets.json`` (0600) for
    the next deployment. Every value is registered for masking.

    :raises KeyError: naming the variable of a real site's missing secret.
    """
    store = plan.directory / "jaws-secrets.json"
    try:
        kept = json.loads(read_or_none(store) or "{}")
    except ValueError:
        kept = {}
    out = {}
    for name, variable in plan.secrets.items():
        if os.environ.get(variable):
            value = check_secret(os.environ[variable], f"${variable}")
        elif not plan.fake:
            raise KeyError(f"secret {name} of site {plan.site} is not set: set ${variable}")
        else:
            value = kept.get(name) or generate_key()
        remember(value)
        out[name] = value
    if plan.fake and out != kept:
        safedirs.check_base(plan.base, create=True)
        _mkdir(plan, plan.directory)
        safefs.write_file(store, json.dumps(out), 0o600, None)
    return out


#: Most bytes read from a key file (a key is far shorter).
KEY_BYTES = 4096


def read_or_none(path: Path | str, limit: int = 1 << 20) -> str | None:
    """Return the text of a file (at most ``limit`` bytes), or None when it cannot be read.

    None when missing or not ours.

    :raises UnsafePathError: for a planted link, FIFO or foreign file.
    """
    return saferead.read_text(path, limit)


def missing_scratch_parent(plan: EnvironmentPlan) -> str | None:
    """Say which scratch directory of the plan cannot be made: its parent's parent is missing.

    :func:`make_directories` makes each scratch directory and, when missing, its parent (the
    scratch base of the sites file), never the directories above (a typo there would make a
    tree anywhere). None when every one can be made.
    """
    made = [plan.base]
    for path, role in plan.scratch_dirs:
        above = path.parent.parent
        if not any(path.is_relative_to(m) for m in made) and not above.exists():
            key = "jtm_scratch (or scratch)" if role == "jtm" else "scratch"
            missing = above
            while not missing.parent.exists() and missing != missing.parent:
                missing = missing.parent
            return (f"{path.parent}, the scratch base directory of role {role} "
                    f"(sites.{plan.site}.config.{key}), cannot be made: {missing} does not "
                    f"exist; create {above}, or set {key} to a directory whose parent exists")
        made += [path, path.parent]
    return None


def make_directories(plan: EnvironmentPlan) -> None:
    """Create the directory layout: supervisor, install, state, log and scratch directories.

    Each with the owner, group and mode of its role (:mod:`pytest_jaws.host.perms`); the runtime
    is installed into it (:func:`pytest_jaws.install.install.install`) before :func:`write_files`.
    """
    problem = missing_scratch_parent(plan)
    if problem:
        raise DeploymentError(problem)
    safedirs.check_base(plan.base, create=True)
    for directory in plan.directories:
        _mkdir(plan, directory)
        _mkdir(plan, directory / "bin")
    for inst in plan.instances.values():
        _mkdir(plan, inst.install_dir)
        _mkdir(plan, inst.install_dir / "shims")
        _mkdir(plan, inst.install_dir / "configs")
        _role_dir(plan, inst.state_dir, inst.role, 0o750)
        _role_dir(plan, inst.state_dir / "logs", inst.role, 0o750)
    for path, role in plan.log_dirs:
        _role_dir(plan, path, role, 0o755)
    for path, role in plan.scratch_dirs:
        if not path.parent.exists():  # <base>/scratch on fake sites; real sites have theirs
            _mkdir(plan, path.parent)
        _role_dir(plan, path, role, 0o750)
    for path, owner, reader, mode, _jaws in plan.data_dirs:
        if not path.parent.exists():  # the data repository's base on fake sites
            _mkdir(plan, path.parent)
        p = data_dir(plan, owner, reader, mode)
        safedirs.ensure_dir(path, p.mode, p.chown,
                            shared_gid=p.chown[1] if p.chown and os.geteuid() != 0 else None)
    if plan.broker:
        _mkdir(plan, plan.broker)
        for vhost, role in ((f"jaws_{plan.env}", "jaws"), (f"jtm_{plan.env}", "jtm")):
            _role_dir(plan, plan.broker / vhost, role, 0o700)


def write_files(plan: EnvironmentPlan, rendered: dict[str, tuple[str, str, int]]) -> None:
    """Write configs, keys and shims, atomically, into the layout of :func:`make_directories`.

    :param rendered: :func:`pytest_jaws.render.render.render_files` output (after the
        ``pytest_jaws_plan`` hook), ``{path: (text, owner role or "", mode)}``.
    """
    for name, (text, role, mode) in rendered.items():
        _write(Path(name), text, role, mode, plan)
