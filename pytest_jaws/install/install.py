"""Installation: supervisor, the service venvs built from a JAWS checkout, and Cromwell's jar.

Cromwell's jar is checked and put in place by :mod:`pytest_jaws.install.cromwell`.

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

Every step is a :class:`pytest_jaws.plan.installspec.Command` (shown by ``--jaws-plan``) or a copy; a step
whose result is in place is skipped: wheels are cached by content (:mod:`pytest_jaws.install.wheels`)
and every venv records what it holds (:mod:`pytest_jaws.install.venvstate`), so a redeploy installs
what changed, and :func:`restarts` names the programs to restart for it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from packaging.specifiers import SpecifierSet

from ..errors import InstallError
from ..host import safedirs, safefs
from ..keys import mask
from ..plan.installspec import FAKE_CHECKOUT, Command, PackageChange, VenvPlan
from ..plan.planmodel import EnvironmentPlan
from . import venvstate, wheels
from .cromwell import place_cromwell

#: Requirement installed into the bootstrap venv of the ``venv`` runtime.
SUPERVISOR_SPEC = "supervisor>=4.3"
#: The import package of each checkout directory (JAWS's setup.py ``packages``).
IMPORT_NAMES = {"rpc": "jaws_rpc", "site": "jaws_site", "central": "jaws_central", "jtm": "jaws_jtm"}
#: The version of the packages of a light venv: the fake checkout shipped with pytest-jaws, the
#: only one the light runtimes take, is never the top of a git repository of its own
#: (fakes/checkout/fakeversion.py).
LIGHT_VERSION = "0.0.0+fake"
#: Seconds one pip or venv step may take before it fails with :class:`InstallError`.
STEP_TIMEOUT = 300.0


def wheelhouse(plan: EnvironmentPlan) -> Path:
    """Where the wheels built from the checkout go: ``<base>/jaws-wheelhouse``.

    One directory per package and content (:func:`pytest_jaws.install.wheels.cache_dir`), shared by
    the environments of the base directory.
    """
    return plan.base / "jaws-wheelhouse"


def _pip(plan: EnvironmentPlan, venv: Path, *args: str) -> tuple[str, ...]:
    return (sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
            "--quiet", "--disable-pip-version-check", *args)


def _create(plan: EnvironmentPlan, path: Path) -> tuple[str, ...]:
    create: tuple[str, ...] = (plan.python, "-m", "venv", "--without-pip", str(path))
    if plan.python_load:
        return ("bash", "-lc", f"{plan.python_load} && {shlex.join(create)}")
    return create


def _build_argv(plan: EnvironmentPlan, pkg: str, out: Path) -> tuple[str, ...]:
    return (sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
            "--disable-pip-version-check", "-w", str(out), str(plan.source / pkg))


def _reinstall_argv(plan: EnvironmentPlan, venv: Path, wheels: list[str]) -> tuple[str, ...]:
    """Put exactly these wheels in, even at an unchanged version (a dirty tree keeps its version)."""
    return _pip(plan, venv, "--no-deps", "--force-reinstall", *wheels)


def _deps_argv(plan: EnvironmentPlan, venv: Path, wheels: list[str]) -> tuple[str, ...]:
    """Install what the wheels need (nothing when it is in place); the fake checkout: no index."""
    index = ("--no-index",) if plan.source == FAKE_CHECKOUT else ()
    return _pip(plan, venv, *index, *wheels)


def _needed(plan: EnvironmentPlan) -> list[str]:
    """Return the checkout directories the venvs need, jaws_rpc first (JAWS's Makefile order)."""
    return list(dict.fromkeys(p for v in plan.venvs.values() for p in v.packages))


def install_commands(plan: EnvironmentPlan) -> list[Command]:
    """Return the install steps of the plan, in order, as commands (what ``--jaws-plan`` shows).

    ``venv`` runtime: the bootstrap venv and supervisor; a wheel per checkout directory, into
    ``<wheelhouse>/<package>-<content>`` (skipped when a wheel of the same content is there);
    per service venv: create it, put in the wheels whose content it does not hold, install
    what they need. ``CONTENT`` stands for the content key of
    :func:`pytest_jaws.install.wheels.content` and ``VERSION`` for the version the build gives, both
    known when the checkout is read. Light runtimes: the copies. Every plan with Cromwell: put
    the jar in place.
    """
    user, steps = plan.deploying_user, []
    boot = plan.bootstrap_venv
    if boot is not None:  # the venv runtime
        steps += [Command(user, _create(plan, boot), "create the bootstrap venv", boot / "bin" / "python"),
                  Command(user, _pip(plan, boot, SUPERVISOR_SPEC),
                          f"install {SUPERVISOR_SPEC} into the bootstrap venv", None)]
        house = wheelhouse(plan)
        placeholder = {p: str(house / f"{IMPORT_NAMES[p]}-CONTENT"
                              / f"{IMPORT_NAMES[p]}-VERSION-py3-none-any.whl")
                       for p in _needed(plan)}
        for pkg in _needed(plan):
            steps.append(Command(user, _build_argv(plan, pkg, house / f"{IMPORT_NAMES[pkg]}-CONTENT"),
                                 f"build the {IMPORT_NAMES[pkg]} wheel from {plan.source / pkg} "
                                 "(unless one of the same content is in the wheelhouse)", None))
        for venv in plan.venvs.values():
            names = ", ".join(IMPORT_NAMES[p] for p in venv.packages)
            wheels = [placeholder[p] for p in venv.packages]
            steps += [Command(user, _create(plan, venv.path), f"create the {venv.name} venv",
                              venv.path / "bin" / "python"),
                      Command(user, _reinstall_argv(plan, venv.path, wheels),
                              f"install {names} into the {venv.name} venv (the packages whose "
                              "content it does not hold)", None),
                      Command(user, _deps_argv(plan, venv.path, wheels),
                              f"install what {names} need into the {venv.name} venv", None)]
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
            f"copy {c.source}" if c.source else
            f"use the jar in place, else fetch {c.url}" if c.url else "use the jar in place")
        steps.append(Command(user, ("cromwell", str(c.source or c.jar), str(c.jar)),
                             f"{what} (Cromwell {c.version})", None))
    return steps


_build_lock = threading.Lock()


def _run(argv: tuple[str, ...], why: str, plan: EnvironmentPlan,
         env: dict[str, str] | None = None) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=STEP_TIMEOUT,
                                stdin=subprocess.DEVNULL, env=env)
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
        # a fresh copy: a file deleted from the checkout must not stay behind (lib/ is ours)
        shutil.rmtree(lib / IMPORT_NAMES[pkg], ignore_errors=True)
        shutil.copytree(source / pkg / IMPORT_NAMES[pkg], lib / IMPORT_NAMES[pkg], ignore=skip)
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


@dataclass
class InstallResult:
    """What :func:`install` did: the ``steps`` run and, per package, the :class:`PackageChange`."""

    steps: list[str] = field(default_factory=list)
    packages: list[PackageChange] = field(default_factory=list)


def install(plan: EnvironmentPlan, progress: Callable[[str], None] | None = None) -> InstallResult:
    """Run the install steps of :func:`install_commands`, skipping what is in place.

    A wheel of content already in the wheelhouse is not built again; a venv that holds a
    package's content already gets nothing (see :mod:`pytest_jaws.install.venvstate`).

    :param progress: ``progress(step)`` called after each step that ran, with its duration
        (``"build the jaws_rpc wheel from ...: 1.23 s"``).
    :returns: the steps run and what changed per package.
    :raises InstallError: naming the step, the package and the Python version, after at most
        :data:`STEP_TIMEOUT` seconds per step.
    """
    result = InstallResult()

    def ran(why: str, began: float) -> None:
        if progress:
            progress(f"{why}: {time.monotonic() - began:.2f} s")
        result.steps.append(why)

    boot = plan.bootstrap_venv
    if boot is not None:  # the venv runtime: the same commands as install_commands shows
        _create_venv(plan, boot, "create the bootstrap venv", ran)
        if not _supervisor_in_place(boot):
            began, why = time.monotonic(), f"install {SUPERVISOR_SPEC} into the bootstrap venv"
            _run(_pip(plan, boot, SUPERVISOR_SPEC), why, plan)
            ran(why, began)
        result.packages = _install_service_venvs(plan, ran)
    else:
        result.packages = _install_light_venvs(plan, ran)
        if plan.libdir:
            began = time.monotonic()
            copy_supervisor(plan.libdir)
            ran("copy supervisor for the role users", began)
    if plan.cromwell:
        began = time.monotonic()
        note = place_cromwell(plan)
        ran(install_commands(plan)[-1].why, began)
        if progress and note:
            progress(note)
    return result


def _create_venv(plan: EnvironmentPlan, path: Path, why: str,
                 ran: Callable[[str, float], None]) -> None:
    if not (path / "bin" / "python").exists():
        began = time.monotonic()
        _run(_create(plan, path), why, plan)
        ran(why, began)


def _supervisor_in_place(boot: Path | None) -> bool:
    """Tell whether the bootstrap venv holds a supervisor that :data:`SUPERVISOR_SPEC` allows."""
    have = wheels.installed_version(boot, "supervisor") if boot is not None else None
    return have is not None and SpecifierSet(SUPERVISOR_SPEC[len("supervisor"):]).contains(have)


def _install_service_venvs(plan: EnvironmentPlan,
                           ran: Callable[[str, float], None]) -> list[PackageChange]:
    """Build what is not in the wheelhouse, then bring each service venv to the checkout.

    :returns: per package, what the venvs held before and hold now.
    """
    house = wheelhouse(plan)
    built: dict[str, Path] = {}
    new: set[str] = set()
    contents: dict[str, wheels.Content] = {}
    for pkg in _needed(plan):
        name = IMPORT_NAMES[pkg]
        try:
            contents[pkg] = wheels.content(plan.source / pkg)
        except OSError as exc:
            raise InstallError(f"environment {plan.env}: could not read {plan.source / pkg}: "
                               f"{exc}") from None
        key = contents[pkg].key
        why = f"build the {name} wheel from {plan.source / pkg}"
        with _build_lock:  # the environments of one run share the wheelhouse
            began = time.monotonic()
            found = wheels.cached_wheel(house, name, key)
            if found is None:
                def build(out: Path, env: dict[str, str], pkg: str = pkg, why: str = why) -> None:
                    _run(_build_argv(plan, pkg, out), why, plan, env)
                found = wheels.build_into_cache(house, name, key, build)
                new.add(pkg)
                ran(why, began)
        built[pkg] = found
    changes = []
    for venv in plan.venvs.values():
        _create_venv(plan, venv.path, f"create the {venv.name} venv", ran)
        began = time.monotonic()
        names = ", ".join(IMPORT_NAMES[p] for p in venv.packages)
        held = venvstate.read(venv.path)
        before = {p: wheels.installed_version(venv.path, IMPORT_NAMES[p]) for p in venv.packages}
        stale = [p for p in venv.packages
                 if held.get(IMPORT_NAMES[p], {}).get("key") != contents[p].key
                 or before[p] != wheels.wheel_version(built[p])]
        if stale:
            why = f"install {', '.join(IMPORT_NAMES[p] for p in stale)} into the {venv.name} venv"
            _run(_reinstall_argv(plan, venv.path, [str(built[p]) for p in stale]), why, plan)
            _run(_deps_argv(plan, venv.path, [str(built[p]) for p in venv.packages]),
                 f"install what {names} need into the {venv.name} venv", plan)
            now = time.time()  # when the files went in: what a program must have started after
            venvstate.write(venv.path, {IMPORT_NAMES[p]: {
                "key": contents[p].key, "files": contents[p].files,
                "version": wheels.wheel_version(built[p]),
                "since": held[IMPORT_NAMES[p]]["since"]
                if held.get(IMPORT_NAMES[p], {}).get("files") == contents[p].files
                and "since" in held[IMPORT_NAMES[p]] else now} for p in venv.packages})
            ran(why, began)
        changes += [PackageChange(IMPORT_NAMES[p], (venv.name,), before[p],
                                  wheels.wheel_version(built[p]),
                                  held.get(IMPORT_NAMES[p], {}).get("files") != contents[p].files,
                                  p in stale, p in new)
                    for p in venv.packages]
    return venvstate.merge(changes)


def _digests(plan: EnvironmentPlan) -> dict[str, str]:
    """Return :func:`pytest_jaws.install.wheels.files_digest` of each checkout directory the venvs need.

    :raises InstallError: when the checkout cannot be read.
    """
    try:
        return {p: wheels.files_digest(plan.source / p) for p in _needed(plan)}
    except OSError as exc:
        raise InstallError(f"environment {plan.env}: could not read the checkout "
                           f"{plan.source}: {exc}") from None


def _install_light_venvs(plan: EnvironmentPlan,
                         ran: Callable[[str, float], None]) -> list[PackageChange]:
    """Copy into each light venv the packages whose files it does not hold (all, the first time).

    The same record as a service venv's (:mod:`pytest_jaws.install.venvstate`): a package whose files,
    interpreter and copy are in place is left alone; otherwise the venv is made afresh. The
    light runtimes take only the shipped fake checkout: its files change when pytest-jaws's do.

    :returns: per package, what the venvs held before and hold now.
    """
    files = _digests(plan)
    changes = []
    for venv in plan.venvs.values():
        began = time.monotonic()
        held = venvstate.read(venv.path)
        names = {p: IMPORT_NAMES[p] for p in venv.packages}
        stale = [p for p in venv.packages
                 if held.get(names[p], {}).get("files") != files[p]
                 or held[names[p]].get("python") != plan.python
                 or not (venv.path / "lib" / names[p]).is_dir()]
        record = {names[p]: held[names[p]] for p in venv.packages if p not in stale}
        if stale:
            light_venv(venv, plan.source, plan.python)
            now = time.time()
            record.update({names[p]: {"files": files[p], "python": plan.python, "since": now,
                                      "version": LIGHT_VERSION} for p in stale})
            venvstate.write(venv.path, {names[p]: record[names[p]] for p in venv.packages})
            ran(f"light {venv.name} venv from {plan.source}", began)
        changes += [PackageChange(names[p], (venv.name,), held.get(names[p], {}).get("version"),
                                  record[names[p]]["version"],
                                  held.get(names[p], {}).get("files") != files[p], p in stale)
                    for p in venv.packages]
    return venvstate.merge(changes)


def restarts(plan: EnvironmentPlan, packages: list[PackageChange]) -> dict[str, list[str]]:
    """Return, per package whose files changed, the programs that run from a venv holding it.

    ``{import name: [program, ...]}`` in the plan's order. A change in jaws_site restarts the
    jaws-site-* programs; one in jaws_rpc every program whose venv has it. Java programs
    (Cromwell) load none of the venv's packages and are left out; a package whose version
    alone changed (a commit elsewhere in the checkout) restarts nothing.
    """
    venv_of = {v.path: v.name for v in plan.venvs.values()}
    out: dict[str, list[str]] = {}
    for change in packages:
        if not change.files_changed:
            continue
        names = [p.name for p in plan.programs.values()
                 if not p.java and venv_of.get(p.venv) in change.venvs]
        out.setdefault(change.package, [])
        out[change.package] += [n for n in names if n not in out[change.package]]
    return out


def install_runtime(plan: EnvironmentPlan, progress: Callable[[str, str, float], None],
                    start: float) -> InstallResult:
    """Install the runtime (supervisor, the service venvs, Cromwell's jar) as a step of its own.

    Each install step that runs reports ``"<step>: <seconds> s"``, then the whole step
    ``"install (<n> steps run): <seconds> s"``, through ``progress(env, step, seconds since
    start)``. :returns: what :func:`install` returns. :raises InstallError: as
    :func:`pytest_jaws.install.install.install`.
    """
    began = time.monotonic()
    done = install(plan, lambda step: progress(plan.env, step, time.monotonic() - start))
    progress(plan.env, f"install ({len(done.steps)} steps run): {time.monotonic() - began:.2f} s",
             time.monotonic() - start)
    return done
