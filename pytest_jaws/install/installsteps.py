"""The install steps of a plan as commands: what ``--jaws-plan`` shows and install runs.

The argv of each step (create a venv, pip into it, build a wheel), the wheelhouse, the
checkout directories the venvs need and their import names, and :func:`install_commands`,
the whole list in order. Pure: nothing here runs or touches the machine.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from ..plan.installspec import FAKE_CHECKOUT, Command
from ..plan.planmodel import EnvironmentPlan

#: Requirement installed into the bootstrap venv of the ``venv`` runtime.
SUPERVISOR_SPEC = "supervisor>=4.3"
#: The import package of each checkout directory (JAWS's setup.py ``packages``).
IMPORT_NAMES = {"rpc": "jaws_rpc", "site": "jaws_site", "central": "jaws_central", "jtm": "jaws_jtm"}


def wheelhouse(plan: EnvironmentPlan) -> Path:
    """Where the wheels built from the checkout go: ``<base>/jaws-wheelhouse``.

    One directory per package and content (:func:`pytest_jaws.install.wheels.cache_dir`), shared by
    the environments of the base directory.
    """
    return plan.base / "jaws-wheelhouse"


def pip_argv(plan: EnvironmentPlan, venv: Path, *args: str) -> tuple[str, ...]:
    """Return the argv of ``pip install args`` into ``venv`` (the run's pip, the venv's Python)."""
    return (sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
            "--quiet", "--disable-pip-version-check", *args)


def create_argv(plan: EnvironmentPlan, path: Path) -> tuple[str, ...]:
    """Return the argv that creates a venv at ``path`` with the site's Python (its module loaded)."""
    create: tuple[str, ...] = (plan.python, "-m", "venv", "--without-pip", str(path))
    if plan.python_load:
        return ("bash", "-lc", f"{plan.python_load} && {shlex.join(create)}")
    return create


def build_argv(plan: EnvironmentPlan, pkg: str, out: Path) -> tuple[str, ...]:
    """Return the argv that builds the wheel of checkout directory ``pkg`` into ``out``."""
    return (sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
            "--disable-pip-version-check", "-w", str(out), str(plan.source / pkg))


def reinstall_argv(plan: EnvironmentPlan, venv: Path, wheels: list[str]) -> tuple[str, ...]:
    """Put exactly these wheels in, even at an unchanged version (a dirty tree keeps its version)."""
    return pip_argv(plan, venv, "--no-deps", "--force-reinstall", *wheels)


def deps_argv(plan: EnvironmentPlan, venv: Path, wheels: list[str]) -> tuple[str, ...]:
    """Install what the wheels need (nothing when it is in place); the fake checkout: no index."""
    index = ("--no-index",) if plan.source == FAKE_CHECKOUT else ()
    return pip_argv(plan, venv, *index, *wheels)


def needed(plan: EnvironmentPlan) -> list[str]:
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
        steps += [Command(user, create_argv(plan, boot), "create the bootstrap venv",
                          boot / "bin" / "python"),
                  Command(user, pip_argv(plan, boot, SUPERVISOR_SPEC),
                          f"install {SUPERVISOR_SPEC} into the bootstrap venv", None)]
        house = wheelhouse(plan)
        placeholder = {p: str(house / f"{IMPORT_NAMES[p]}-CONTENT"
                              / f"{IMPORT_NAMES[p]}-VERSION-py3-none-any.whl")
                       for p in needed(plan)}
        for pkg in needed(plan):
            steps.append(Command(user, build_argv(plan, pkg, house / f"{IMPORT_NAMES[pkg]}-CONTENT"),
                                 f"build the {IMPORT_NAMES[pkg]} wheel from {plan.source / pkg} "
                                 "(unless one of the same content is in the wheelhouse)", None))
        for venv in plan.venvs.values():
            names = ", ".join(IMPORT_NAMES[p] for p in venv.packages)
            wheels = [placeholder[p] for p in venv.packages]
            steps += [Command(user, create_argv(plan, venv.path), f"create the {venv.name} venv",
                              venv.path / "bin" / "python"),
                      Command(user, reinstall_argv(plan, venv.path, wheels),
                              f"install {names} into the {venv.name} venv (the packages whose "
                              "content it does not hold)", None),
                      Command(user, deps_argv(plan, venv.path, wheels),
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

