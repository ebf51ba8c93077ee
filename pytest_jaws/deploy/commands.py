"""The commands a run prints for a person to run: each must work verbatim, as printed.

A printed ``pytest`` command names everything that finds the deployment again: the site,
``--jaws-fake`` for a twin, a sites file other than the packaged one, the environment, the
base directory and the port offset (without them ``--jaws-down`` looks elsewhere, or is a
usage error). A command for a role user is printed the way that user's switch works on the
site (sites.yaml ``roles.<role>.become``): as one command line where the switch takes a
command (``runuser -u jaws_jtm -- ...``, ``sudo -n -u svc-jtm-user -i ...``), as two steps
where it opens a shell (``collabsu jaws_jtm``, then the command: NERSC's collabsu asks for a
password and takes no command, JAWS ``start_supervisor_services/start_jtm_cori_services.sh``).
"""

from __future__ import annotations

import shlex
from pathlib import Path

from ..host.instance import start_argv
from ..plan.planmodel import InstancePlan
from ..sites.settings import Settings
from ..sites.sites import PACKAGED_SITES_FILE

#: Switch commands that open a shell of the user and take no command to run.
SHELL_SWITCHES = ("collabsu",)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve() or Path(a).read_bytes() == Path(b).read_bytes()
    except OSError:
        return False


def selection_args(settings: Settings, env: str | None = None,
                   base: Path | str | None = None) -> list[str]:
    """Return the options that select this deployment again, in the order a person reads them.

    ``--jaws-site``, ``--jaws-fake`` (a twin; of a checkout: ``--jaws-source`` and
    ``--jaws-python`` too, without which it would be another twin), ``--jaws-sites-file`` (unless it is the
    packaged file or the same text), ``--jaws-env``, ``--jaws-basedir``,
    ``--jaws-port-offset`` (when not 0: the number ``auto`` chose, so that the command finds
    the same ports).
    """
    args = [f"--jaws-site={settings.site}"]
    if settings.replaced:
        args.append("--jaws-fake")
        if settings.source is not None:  # a twin of the real code: the same checkout, interpreter
            args.append(f"--jaws-source={settings.source}")
            python = settings.model.sites[settings.site].python
            if python:
                args.append(f"--jaws-python={python}")
    if not _same_file(settings.sites_file, PACKAGED_SITES_FILE):
        args.append(f"--jaws-sites-file={Path(settings.sites_file).absolute()}")
    if env is not None:
        args.append(f"--jaws-env={env}")
    if base is not None:
        args.append(f"--jaws-basedir={base}")
    if settings.port_offset:
        args.append(f"--jaws-port-offset={settings.port_offset}")
    return args


def down_command(settings: Settings, env: str, base: Path | str) -> str:
    """Return the shell command that takes one left-up environment down.

    ``pytest --jaws-down --jaws-site=S [--jaws-fake] --jaws-env=E --jaws-basedir=DIR
    [--jaws-port-offset=N]``, quoted for a POSIX shell.
    """
    return shlex.join(["pytest", "--jaws-down", *selection_args(settings, env, base)])


def rerun_command(settings: Settings, env: str, base: Path | str, *extra: str) -> str:
    """Return ``pytest suites ...``: the run again, on the same directory and ports."""
    return shlex.join(["pytest", "suites", *selection_args(settings, env, base), *extra])


def as_role_user(inst: InstancePlan, argv: list[str]) -> list[str]:
    """Return the lines a person types to run ``argv`` as the instance's role user.

    One line with the site's switch in front (``runuser -u jaws_jtm -- <argv>``) where the
    switch takes a command; two (``collabsu jaws_jtm``, then ``<argv>``) where it opens a shell;
    ``<argv>`` alone when the runner is that user (no switch).
    """
    command = shlex.join(argv)
    if not inst.become:
        return [command]
    if inst.become[0] in SHELL_SWITCHES:
        return [shlex.join(inst.become), command]
    return [shlex.join([*inst.become, *argv])]


def operator_start(inst: InstancePlan) -> list[str]:
    """Return the lines that start an instance as its role user: its operator's command.

    ``<dir>/bin/supervisord -c <dir>/supervisord-<role>.conf`` behind the site's switch.
    """
    return as_role_user(inst, start_argv(None, _without_become(inst)))  # type: ignore[arg-type]


def _without_become(inst: InstancePlan) -> InstancePlan:
    import dataclasses
    return dataclasses.replace(inst, become=())
