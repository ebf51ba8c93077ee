"""Writing a deployment's files: directories, configs, keys and shims, with owners and modes.

Every file is written atomically (temporary file, then rename), so a failed or interrupted
deployment never leaves a half-written configuration. Every file-system operation goes through
:mod:`pytest_jaws.safefs` (no link followed where a role user could plant one, owners checked
before a directory is reused, role-owned files read with byte limits).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from . import safefs
from .keys import mask, resolve_key
from .plan import EnvironmentPlan, install_commands
from .render import render_files

#: Lines of a log shown in error messages.
TAIL_LINES = 50


#: Bytes read from the end of a log for :func:`tail`.
TAIL_BYTES = 64 * 1024


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of a text file (from its last 64 KiB), keys masked; '' when
    unreadable. A log that a role user replaced with a link, FIFO or device, or with a file
    that is not theirs, is not read: the text says so instead (see :func:`safefs.read_file`)."""
    try:
        text = safefs.read_file(path, TAIL_BYTES, tail=True).decode("utf-8", "replace")
    except safefs.UnsafePathError as exc:
        return f"(not shown: {exc})"
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
    safefs.write_file(path, text, mode, owner)


def _mkdir(path: Path, mode: int, owner: tuple[int, int] | None) -> None:
    safefs.ensure_dir(path, mode, owner)


def resolve_keys(plan: EnvironmentPlan) -> dict[str, str]:
    """role -> key, from the environment, the key file, or newly generated (see keys.py)."""
    keys = {}
    for role, inst in plan.instances.items():
        keys[role] = resolve_key(inst.key_variable, read_or_none(inst.key_file, KEY_BYTES))[0]
    return keys


class InstallError(RuntimeError):
    """An install step of the ``venv`` runtime failed (its command and output in the message)."""


_wheels: dict[str, str] = {}
_wheel_lock = threading.Lock()


def _local_wheel(spec: str, wheelhouse: Path) -> str:
    """A project directory given as a pip spec, built once into a wheel (pip would otherwise
    build it again for every venv); other specs unchanged."""
    if not Path(spec).is_dir():
        return spec
    with _wheel_lock:
        if spec not in _wheels:
            _mkdir(wheelhouse, 0o755, None)
            before = set(wheelhouse.glob("*.whl"))
            built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                                    "--disable-pip-version-check", "-w", str(wheelhouse), spec],
                                   capture_output=True, text=True, timeout=600)
            new = sorted(set(wheelhouse.glob("*.whl")) - before) or sorted(wheelhouse.glob("*.whl"))
            if built.returncode != 0 or not new:
                raise InstallError(f"could not build a wheel of {spec}:\n{built.stderr[-3000:]}")
            _wheels[spec] = str(new[-1])
            for path in wheelhouse.rglob("*"):
                os.chmod(path, 0o755 if path.is_dir() else 0o644)
            os.chmod(wheelhouse, 0o755)
        return _wheels[spec]


def run_install_commands(plan: EnvironmentPlan) -> list[str]:
    """Run :func:`pytest_jaws.plan.install_commands` in order, skipping those already done
    (their ``creates`` path exists). A local project spec is built into a wheel once.

    :returns: the steps run. :raises InstallError: naming the step, its command and output.
    """
    done = []
    for cmd in install_commands(plan):
        if cmd.creates is not None and cmd.creates.exists():
            continue
        argv = cmd.argv
        if "pip" in argv and "install" in argv:
            argv = (*argv[:-1], _local_wheel(argv[-1], plan.directory.parent / ".wheelhouse"))
        result = subprocess.run(argv, capture_output=True, text=True, timeout=600,
                                stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise InstallError(f"environment {plan.env}: could not {cmd.why}: "
                               f"'{shlex.join(cmd.argv)}' exited {result.returncode}:\n"
                               + mask((result.stderr + result.stdout).strip()[-3000:]))
        if cmd.creates is not None and cmd.creates.name == ".jaws-installed":
            safefs.write_file(cmd.creates, cmd.argv[-1] + "\n", 0o644)
        done.append(cmd.why)
    return done


def install_runtime(plan: EnvironmentPlan) -> None:
    """Put supervisor and the services where the plan's runtime wants them.

    ``copy``: supervisor and pytest_jaws (package root and fakes) into ``<dir>/lib``
    (world-readable, not writable by the role users). ``venv``: the install commands.
    ``current``: nothing.
    """
    if plan.venv is not None:
        run_install_commands(plan)
        return
    if plan.pythonpath is None:
        return
    import supervisor

    import pytest_jaws
    skip = shutil.ignore_patterns("__pycache__", "tests", "*.pyc")
    ours = Path(pytest_jaws.__file__).parent
    target = plan.pythonpath / "pytest_jaws"
    _mkdir(plan.pythonpath, 0o755, None)  # ours and not writable by others, before copying in
    shutil.copytree(Path(supervisor.__file__).parent, plan.pythonpath / "supervisor",
                    ignore=skip, dirs_exist_ok=True)
    _mkdir(target, 0o755, None)
    shutil.copy2(ours / "__init__.py", target / "__init__.py")
    shutil.copytree(ours / "fakes", target / "fakes", ignore=skip, dirs_exist_ok=True)
    for root, _dirs, files in os.walk(plan.pythonpath):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)


#: Most bytes read from a key file (a key is far shorter).
KEY_BYTES = 4096


def read_or_none(path: Path | str, limit: int = 1 << 20) -> str | None:
    """The text of a file (at most ``limit`` bytes), or None when it cannot be read (missing,
    not ours). :raises safefs.UnsafePathError: for a planted link, FIFO or foreign file."""
    return safefs.read_text(path, limit)


def write_files(plan: EnvironmentPlan, keys: dict[str, str],
                rendered: dict[str, tuple[str, str, int]] | None = None) -> None:
    """Create the directory layout and write configs, keys and shims (atomically).

    :param rendered: :func:`pytest_jaws.render.render_files` output, when already made.
    """
    safefs.check_base(plan.directory.parent, create=True)
    _mkdir(plan.directory, 0o755, None)
    _mkdir(plan.directory / "bin", 0o755, None)
    _mkdir(plan.env_dir, 0o755, None)
    _mkdir(plan.env_dir / "shims", 0o755, None)
    install_runtime(plan)
    for role, inst in plan.instances.items():
        owner = _owner(plan, role)
        _mkdir(inst.state_dir, 0o750, owner)
        _mkdir(inst.state_dir / "logs", 0o750, owner)
    for path, (text, role, mode) in (rendered or render_files(plan, keys)).items():
        _write(Path(path), text, mode, _owner(plan, role))
