"""Installation: supervisor, the service venvs built from a JAWS checkout, and Cromwell's jar.

Cromwell's jar is checked and put in place by :mod:`pytest_jaws.cromwell`.

Three runtimes (sites.yaml ``runtime``):

* ``venv`` (real sites, local-venv), JAWS's own way (test/integration/generate-venvs,
  deploy-supervisord): a bootstrap venv with supervisor in ``<supervisor dir>/venv``; wheels
  built from the checkout's ``rpc/``, ``site/``, ``central/``, ``jtm/`` into a wheelhouse
  (jaws_rpc first, as JAWS's Makefile does); one venv per service at JAWS's paths
  (``jaws-<env>/site``, ``jaws-<env>/jtm``, ``jaws-central-<env>/central``) with the wheels
  installed by pip, with the site's Python.
* ``current`` and ``copy`` (local, local-privsep): the fast path for the fake checkout only:
  light venvs (``bin/activate``, the console scripts, the packages copied into ``lib/``) run
  by the plan's interpreter; ``copy`` also copies supervisor into ``<supervisor dir>/lib``.

Every step is a :class:`pytest_jaws.installspec.Command` (shown by ``--jaws-plan``) or a copy; a step
whose result is in place is skipped, so a redeploy installs nothing.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from . import safedirs, safefs, saferead
from .cromwell import place_cromwell
from .errors import InstallError
from .installspec import FAKE_CHECKOUT, Command, VenvPlan
from .keys import mask
from .planmodel import EnvironmentPlan

#: Requirement installed into the bootstrap venv of the ``venv`` runtime.
SUPERVISOR_SPEC = "supervisor>=4.3"
#: The import package of each checkout directory (JAWS's setup.py ``packages``).
IMPORT_NAMES = {"rpc": "jaws_rpc", "site": "jaws_site", "central": "jaws_central", "jtm": "jaws_jtm"}
#: Seconds one pip or venv step may take before it fails with :class:`InstallError`.
STEP_TIMEOUT = 300.0


def wheelhouse(plan: EnvironmentPlan) -> Path:
    """Where the wheels built from the checkout go: ``<base>/jaws-wheelhouse``."""
    return plan.base / "jaws-wheelhouse"


def _pip(plan: EnvironmentPlan, venv: Path, *args: str) -> tuple[str, ...]:
    return (sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
            "--quiet", "--disable-pip-version-check", *args)


def _create(plan: EnvironmentPlan, path: Path) -> tuple[str, ...]:
    create: tuple[str, ...] = (plan.python, "-m", "venv", "--without-pip", str(path))
    if plan.python_load:
        return ("bash", "-lc", f"{plan.python_load} && {shlex.join(create)}")
    return create


def install_commands(plan: EnvironmentPlan) -> list[Command]:
    """Return the install steps of the plan, in order, as commands (what ``--jaws-plan`` shows).

    ``venv`` runtime: the bootstrap venv and supervisor; a wheel per checkout directory;
    per service venv: create it, install its wheels. Light runtimes: the copies. Every plan
    with Cromwell: put the jar in place.
    """
    user, steps = plan.deploying_user, []
    boot = plan.bootstrap_venv
    if boot is not None:  # the venv runtime
        steps += [Command(user, _create(plan, boot), "create the bootstrap venv", boot / "bin" / "python"),
                  Command(user, _pip(plan, boot, SUPERVISOR_SPEC),
                          f"install {SUPERVISOR_SPEC} into the bootstrap venv", None)]
        house = wheelhouse(plan)
        needed = dict.fromkeys(p for v in plan.venvs.values() for p in v.packages)
        for pkg in needed:
            steps.append(Command(user, (sys.executable, "-m", "pip", "wheel", "--quiet",
                                        "--no-deps", "--no-build-isolation",
                                        "--disable-pip-version-check", "-w", str(house),
                                        str(plan.source / pkg)),
                                 f"build the {IMPORT_NAMES[pkg]} wheel from {plan.source / pkg}",
                                 None))
        index = ("--no-index",) if plan.source == FAKE_CHECKOUT else ()
        for venv in plan.venvs.values():
            steps.append(Command(user, _create(plan, venv.path), f"create the {venv.name} venv",
                                 venv.path / "bin" / "python"))
            steps.append(Command(user, _pip(plan, venv.path, *index, "--find-links", str(house),
                                            *(IMPORT_NAMES[p] for p in venv.packages)),
                                 f"install {', '.join(IMPORT_NAMES[p] for p in venv.packages)} "
                                 f"into the {venv.name} venv", None))
    else:
        for venv in plan.venvs.values():
            steps.append(Command(user, ("copy", *(IMPORT_NAMES[p] for p in venv.packages),
                                        str(venv.path)),
                                 f"light {venv.name} venv from {plan.source}", None))
        if plan.libdir:
            steps.append(Command(user, ("copy", "supervisor", str(plan.libdir)),
                                 "copy supervisor for the role users", None))
    if plan.cromwell:
        c = plan.cromwell
        what = "build the Cromwell stand-in jar" if c.standin else (
            f"copy {c.source}" if c.source else "use the jar in place")
        steps.append(Command(user, ("cromwell", str(c.source or c.jar), str(c.jar)),
                             f"{what} (Cromwell {c.version})", None))
    return steps


_built: dict[tuple[str, str], str] = {}
_build_lock = threading.Lock()


def _run(argv: tuple[str, ...], why: str, plan: EnvironmentPlan) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=STEP_TIMEOUT,
                                stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise InstallError(f"environment {plan.env}: could not {why}: no result after "
                           f"{STEP_TIMEOUT:g} s ('{shlex.join(argv)}')") from None
    if result.returncode != 0:
        output = (result.stderr + result.stdout).strip()
        raise InstallError(f"environment {plan.env}: could not {why}{_culprit(output, plan)}: "
                           f"'{shlex.join(argv)}' exited {result.returncode}:\n"
                           + mask(output[-3000:]))
    return result.stdout


def _culprit(output: str, plan: EnvironmentPlan) -> str:
    """`` (package X for Python 3.11)`` when pip's output names the dependency that failed."""
    if "Invalid version: ''" in output:
        return (" (the package has no version: JAWS's setup.py reads it from `git describe`; "
                "give --jaws-source a git checkout, not an exported tree)")
    for pattern in (r"No matching distribution found for ([^\s;]+)",
                    r"Failed to build ([^\s]+)", r"Failed building wheel for ([^\s]+)",
                    r"error: subprocess-exited-with-error[\s\S]*?Building wheel for ([^\s]+)",
                    r"ResolutionImpossible[\s\S]*?requested ([^\s]+)"):
        found = re.search(pattern, output)
        if found:
            return f" (package {found.group(1)} for {_python_version(plan)})"
    return f" ({_python_version(plan)})"


def _python_version(plan: EnvironmentPlan) -> str:
    try:
        out = subprocess.run([plan.python, "-c", "import platform;print(platform.python_version())"],
                             capture_output=True, text=True, timeout=10)
        return f"Python {out.stdout.strip() or '?'}"
    except (OSError, subprocess.SubprocessError):
        return f"Python of {plan.python}"


def _build_wheel(cmd: Command, plan: EnvironmentPlan) -> None:
    source = cmd.argv[-1]
    key = (source, str(wheelhouse(plan)))
    with _build_lock:
        if key in _built and Path(_built[key]).is_file():
            return
        house = wheelhouse(plan)
        safedirs.ensure_dir(house, 0o755, None)
        before = set(house.glob("*.whl"))
        _run(cmd.argv, cmd.why, plan)
        new = sorted(set(house.glob("*.whl")) - before) or sorted(house.glob("*.whl"))
        _built[key] = str(new[-1]) if new else ""
        for path in house.rglob("*"):
            os.chmod(path, 0o644)
        os.chmod(house, 0o755)  # noqa: S103 - role users read the wheels


def _installed_stamp(venv: Path, cmd: Command, plan: EnvironmentPlan) -> str:
    digest = hashlib.sha256(shlex.join(cmd.argv).encode())
    for wheel in sorted(wheelhouse(plan).glob("*.whl")):
        digest.update(wheel.name.encode() + hashlib.sha256(wheel.read_bytes()).digest())
    return digest.hexdigest()


def _scripts(pyproject: Path) -> dict[str, str]:
    """``[project.scripts]`` of a pyproject.toml: ``{script: "module:function"}``."""
    scripts, inside = {}, False
    for line in pyproject.read_text().splitlines():
        if line.startswith("["):
            inside = line.strip() == "[project.scripts]"
        elif inside and "=" in line:
            name, target = line.split("=", 1)
            scripts[name.strip()] = target.strip().strip('"')
    return scripts


def light_venv(venv: VenvPlan, source: Path, python: str) -> None:
    """Make a light venv of the fake checkout (what pip would make, without pip).

    ``lib/`` with the packages, ``bin/activate`` and ``bin/<console script>`` run by ``python``.
    """
    lib, bin_dir = venv.path / "lib", venv.path / "bin"
    for path in (venv.path, lib, bin_dir):
        safedirs.ensure_dir(path, 0o755, None)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for pkg in venv.packages:
        shutil.copytree(source / pkg / IMPORT_NAMES[pkg], lib / IMPORT_NAMES[pkg], ignore=skip,
                        dirs_exist_ok=True)
        for name, target in _scripts(source / pkg / "pyproject.toml").items():
            module, func = target.split(":")
            text = (f"#!{python}\n# generated by pytest-jaws: console script {name} ({target})\n"
                    f"import sys\nsys.path.insert(0, {str(lib)!r})\n"
                    f"from {module} import {func}\nsys.exit({func}())\n")
            safefs.write_file(bin_dir / name, text, 0o755)
    safefs.write_file(bin_dir / "activate",
        "# generated by pytest-jaws: a light venv of the fake JAWS checkout (no pip)\n"
        f"VIRTUAL_ENV={shlex.quote(str(venv.path))}\nexport VIRTUAL_ENV\n"
        'PATH="$VIRTUAL_ENV/bin:$PATH"\nexport PATH\n', 0o644)
    for root, _dirs, files in os.walk(venv.path):
        os.chmod(root, 0o755)  # noqa: S103 - role users run what is in it
        for name in files:
            os.chmod(os.path.join(root, name), 0o755 if Path(root) == bin_dir else 0o644)


def copy_supervisor(target: Path) -> None:
    """Copy supervisor into ``target`` (world-readable).

    For role users who cannot read the running interpreter's site-packages.
    """
    import supervisor
    skip = shutil.ignore_patterns("__pycache__", "tests", "*.pyc")
    safedirs.ensure_dir(target, 0o755, None)  # ours and not writable by others, before copying in
    shutil.copytree(Path(supervisor.__file__).parent, target / "supervisor", ignore=skip,
                    dirs_exist_ok=True)
    for root, _dirs, files in os.walk(target):
        os.chmod(root, 0o755)  # noqa: S103 - role users run what is in it
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)


def install(plan: EnvironmentPlan, progress=None) -> list[str]:
    """Run the install steps of :func:`install_commands`, skipping what is in place.

    :param progress: ``progress(step)`` called after each step that ran, with its duration
        (``"build the jaws_rpc wheel from ...: 1.23 s"``).
    :returns: the steps run.
    :raises InstallError: naming the step, the package and the Python version, after at most
        :data:`STEP_TIMEOUT` seconds per step.
    """
    done = []
    for cmd in install_commands(plan):
        if cmd.creates is not None and cmd.creates.exists():
            continue
        began = time.monotonic()
        if cmd.argv[0] == "copy":
            if cmd.argv[1] == "supervisor":
                copy_supervisor(Path(cmd.argv[-1]))
            else:
                venv = next(v for v in plan.venvs.values() if str(v.path) == cmd.argv[-1])
                light_venv(venv, plan.source, plan.python)
        elif cmd.argv[0] == "cromwell":
            place_cromwell(plan)
        elif "wheel" in cmd.argv[:5]:
            _build_wheel(cmd, plan)
        elif "install" in cmd.argv[:6]:
            venv_dir = Path(cmd.argv[4]).parent.parent
            stamp = venv_dir / ".jaws-installed"
            want = _installed_stamp(venv_dir, cmd, plan)
            if (saferead.read_text(stamp, 4096) or "").strip() == want:
                continue  # installed already: no progress line
            _run(cmd.argv, cmd.why, plan)
            safefs.write_file(stamp, want + "\n", 0o644)
        else:
            _run(cmd.argv, cmd.why, plan)
        if progress:
            progress(f"{cmd.why}: {time.monotonic() - began:.2f} s")
        done.append(cmd.why)
    return done


def install_runtime(plan: EnvironmentPlan, progress: Callable[[str, str, float], None],
                    start: float) -> list[str]:
    """Install the runtime (supervisor, the service venvs, Cromwell's jar) as a step of its own.

    Each install step that runs reports ``"<step>: <seconds> s"``, then the whole step
    ``"install (<n> steps run): <seconds> s"``, through ``progress(env, step, seconds since
    start)``. :returns: the steps run. :raises InstallError: as
    :func:`pytest_jaws.install.install`.
    """
    began = time.monotonic()
    done = install(plan, lambda step: progress(plan.env, step, time.monotonic() - start))
    progress(plan.env, f"install ({len(done)} steps run): {time.monotonic() - began:.2f} s",
             time.monotonic() - start)
    return done
