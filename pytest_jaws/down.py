"""``pytest --jaws-down``: take down a deployment that a run left up, without running a test.

A run leaves it up with ``--jaws-teardown`` never or on-success; it is found from its base
directory.

The environments are found as the run that deployed them left them: the same site, base
directory and port offset give the same plan, whose pidfiles and marker variable name the
processes (:func:`pytest_jaws.deploy.teardown` shuts each supervisord down over XML-RPC, then
ends by PID anything still carrying the marker).
"""

from __future__ import annotations

import shlex
from pathlib import Path

from . import deploy, processes
from .basedir import stable_basedir
from .files import resolve_keys
from .options import Settings
from .plan import make_plan
from .planmodel import EnvironmentPlan
from .result import Deployment
from .supervisor import read_pid


def down_command(site: str, env: str, base: Path | str, offset: int = 0) -> str:
    """Return the shell command that takes one left-up environment down.

    What every "left up" message shows:
    ``pytest --jaws-down --jaws-site=S --jaws-env=E --jaws-basedir=DIR``.
    """
    args = ["pytest", "--jaws-down", f"--jaws-site={site}", f"--jaws-env={env}",
            f"--jaws-basedir={base}"]
    if offset:
        args.append(f"--jaws-port-offset={offset}")
    return shlex.join(args)


def down_basedir(settings: Settings) -> Path:
    """Return where a left-up deployment of these settings is.

    ``--jaws-basedir``, else the site's install base, else the stable base directory a run with
    ``--jaws-teardown`` never or on-success uses (:func:`pytest_jaws.basedir.stable_basedir`).
    """
    site = settings.model.sites[settings.site]
    if settings.basedir:
        return settings.basedir
    if site.install_base:
        return Path(site.install_base)
    return stable_basedir(settings)


def _is_up(plan: EnvironmentPlan) -> bool:
    pids = [read_pid(inst) for inst in plan.instances.values()]
    return any(pids) or bool(processes.marked(plan.marker))


def take_down(settings: Settings) -> list[str]:
    """Take down every selected environment of ``settings`` that is up.

    :returns: one line per environment saying what was done.
    :raises pytest_jaws.errors.TeardownError: naming the PIDs that survived.
    """
    base = down_basedir(settings)
    lines = []
    for env in settings.envs:
        plan = make_plan(settings.model, settings.site, env, base,
                         port_offset=settings.port_offset)
        if not _is_up(plan):
            lines.append(f"jaws {env}: nothing of site {settings.site} is up under {base}")
            continue
        found = len(processes.marked(plan.marker))
        deploy.teardown(Deployment(plan, resolve_keys(plan)))
        lines.append(f"jaws {env}: took down site {settings.site} under {base} "
                     f"({found} processes ended, none left)")
    return lines
