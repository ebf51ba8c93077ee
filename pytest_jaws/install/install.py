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

The parts: the steps as commands (:mod:`pytest_jaws.install.installsteps`), one step run
(:mod:`pytest_jaws.install.runstep`), the service venvs (:mod:`pytest_jaws.install.servicevenvs`)
and the light ones (:mod:`pytest_jaws.install.lightvenv`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from packaging.specifiers import SpecifierSet

from ..plan.installspec import PackageChange
from ..plan.planmodel import EnvironmentPlan
from . import wheels
from .cromwell import place_cromwell
from .installsteps import SUPERVISOR_SPEC, install_commands, pip_argv
from .lightvenv import copy_supervisor, install_light_venvs
from .runstep import run_step
from .servicevenvs import create_venv, install_service_venvs


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
        create_venv(plan, boot, "create the bootstrap venv", ran)
        if not _supervisor_in_place(boot):
            began, why = time.monotonic(), f"install {SUPERVISOR_SPEC} into the bootstrap venv"
            run_step(pip_argv(plan, boot, SUPERVISOR_SPEC), why, plan)
            ran(why, began)
        result.packages = install_service_venvs(plan, ran)
    else:
        result.packages = install_light_venvs(plan, ran)
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


def _supervisor_in_place(boot: Path | None) -> bool:
    """Tell whether the bootstrap venv holds a supervisor that :data:`SUPERVISOR_SPEC` allows."""
    have = wheels.installed_version(boot, "supervisor") if boot is not None else None
    return have is not None and SpecifierSet(SUPERVISOR_SPEC[len("supervisor"):]).contains(have)


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
