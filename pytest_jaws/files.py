"""Writing a deployment's files: directories, configs, keys and shims, with owners and modes.

Every file is written atomically (temporary file, then rename), so a failed or interrupted
deployment never leaves a half-written configuration.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .keys import mask, resolve_key
from .plan import EnvironmentPlan
from .render import render_files

#: Lines of a log shown in error messages.
TAIL_LINES = 50


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of a text file, keys masked ('' when unreadable)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return mask("\n".join(text.splitlines()[-lines:]))


def _owner(plan: EnvironmentPlan, role: str) -> tuple[int, int] | None:
    if not role or os.geteuid() != 0:
        return None
    inst = plan.instances[role]
    import grp
    import pwd
    entry = pwd.getpwnam(inst.user)
    gid = grp.getgrnam(inst.group).gr_gid if inst.group else entry.pw_gid
    return entry.pw_uid, gid


def _write(path: Path, text: str, mode: int, owner: tuple[int, int] | None) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        if owner:
            os.chown(tmp, *owner)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _mkdir(path: Path, mode: int, owner: tuple[int, int] | None) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, mode)
    if owner:
        os.chown(path, *owner)


def resolve_keys(plan: EnvironmentPlan) -> dict[str, str]:
    """role -> key, from the environment, the key file, or newly generated (see keys.py)."""
    keys = {}
    for role, inst in plan.instances.items():
        try:
            existing = inst.key_file.read_text()
        except OSError:
            existing = None
        keys[role] = resolve_key(inst.key_variable, existing)[0]
    return keys


def install_runtime(plan: EnvironmentPlan) -> None:
    """For the ``copy`` runtime: copy supervisor and pytest_jaws (package root and fakes)
    into ``<dir>/lib`` (world-readable, not writable by the role users). Otherwise nothing."""
    if plan.pythonpath is None:
        return
    import supervisor

    import pytest_jaws
    skip = shutil.ignore_patterns("__pycache__", "tests", "*.pyc")
    ours = Path(pytest_jaws.__file__).parent
    target = plan.pythonpath / "pytest_jaws"
    shutil.copytree(Path(supervisor.__file__).parent, plan.pythonpath / "supervisor",
                    ignore=skip, dirs_exist_ok=True)
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ours / "__init__.py", target / "__init__.py")
    shutil.copytree(ours / "fakes", target / "fakes", ignore=skip, dirs_exist_ok=True)
    for root, _dirs, files in os.walk(plan.pythonpath):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)


def write_files(plan: EnvironmentPlan, keys: dict[str, str]) -> None:
    """Create the directory layout and write configs, keys and shims (atomically)."""
    _mkdir(plan.directory, 0o755, None)
    _mkdir(plan.directory / "bin", 0o755, None)
    _mkdir(plan.directory / "shims", 0o755, None)
    install_runtime(plan)
    for role, inst in plan.instances.items():
        owner = _owner(plan, role)
        _mkdir(inst.state_dir, 0o750, owner)
        _mkdir(inst.state_dir / "logs", 0o750, owner)
    for path, (text, role, mode) in render_files(plan, keys).items():
        _write(Path(path), text, mode, _owner(plan, role))
