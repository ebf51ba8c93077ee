"""``pytest --jaws-down``: take down a deployment that a run left up, without running a test.

A run leaves it up with ``--jaws-teardown`` never or on-success; it is found from its base
directory.

The environments are found as the run that deployed them left them: the same site, base
directory and port offset give the same plan, whose pidfiles and marker variable name the
processes (:func:`pytest_jaws.deploy.deploy.teardown` shuts each supervisord down over XML-RPC, then
ends by PID anything still carrying the marker).
"""

from __future__ import annotations

import os
from pathlib import Path

import psutil

from ..errors import ForeignInstanceError, TeardownError
from ..host import processes
from ..host.instance import read_pid
from ..plan.plan import make_plan
from ..plan.planmodel import EnvironmentPlan
from ..sites.settings import Settings
from . import adopt, deploy, runservers
from .basedir import stable_basedir
from .files import read_or_none, resolve_keys
from .result import Deployment
from .stop import is_ours


def down_basedir(settings: Settings) -> Path:
    """Return where a left-up deployment of these settings is.

    ``--jaws-basedir``, else the site's install base, else the stable base directory a run with
    ``--jaws-teardown`` never or on-success uses (:func:`pytest_jaws.deploy.basedir.stable_basedir`).
    """
    site = settings.model.sites[settings.site]
    if settings.basedir:
        return settings.basedir
    if site.install_base:
        return Path(site.install_base)
    return stable_basedir(settings)


def _live(plan: EnvironmentPlan, keys: dict[str, str], problems: list[str]) -> dict[str, int]:
    """Return ``{role: supervisord PID}`` of every instance of the plan that is up.

    Found by pidfile and marker (the harness's own), else over XML-RPC on its port
    (:func:`pytest_jaws.deploy.adopt.find_live`: an instance an operator or JAWS's scripts started,
    recognised by its user, key and identifier; the plan takes its HTTP user name). An
    instance on the port that refuses the key or names another identifier is left alone and
    named in ``problems``.
    """
    found: dict[str, int] = {}
    for role, inst in plan.instances.items():
        pid = read_pid(inst)
        if pid and is_ours(pid, plan, role):
            found[role] = pid
            continue
        try:
            live = adopt.find_live(plan, role, keys[role])
        except ForeignInstanceError as exc:
            problems.append(f"{inst.name}: not ended: {exc}")
            continue
        if live is not None:
            adopt.with_username(plan, role, live.username)
            found[role] = live.pid
    return found


def _why_alive(proc: psutil.Process) -> str:
    """Say why a process of the deployment could not be ended."""
    try:
        user = proc.username()
        uid = proc.uids().real
    except psutil.Error:
        return f"PID {proc.pid}: still running"
    if os.geteuid() not in (0, uid):
        return (f"PID {proc.pid} (user {user}): not ended: it is not yours (run --jaws-down as "
                f"root or as {user})")
    return f"PID {proc.pid} (user {user}): survived SIGTERM and SIGKILL"


def deployed_offset(plan: EnvironmentPlan, offset: int) -> tuple[int, Path] | None:
    """Return the port offset an environment was deployed at, read from its written configuration.

    :param plan: the environment planned at port offset ``offset``.
    :returns: (offset, configuration file) from the first instance whose configuration file
        (read without following links) has a ``port=`` line: that port minus the instance's
        port in ``plan``, plus ``offset``. None when no configuration says it.
    """
    for inst in plan.instances.values():
        text = read_or_none(inst.conf, 256 * 1024) or ""
        for line in text.splitlines():
            key, _, value = line.partition("=")
            port = value.rpartition(":")[2].strip()
            if key.strip() == "port" and port.isdigit():
                return int(port) - inst.port + offset, inst.conf
    return None


def take_down(settings: Settings) -> list[str]:
    """Take down every selected environment of ``settings`` that is up: everything of it.

    Every supervisord of the deployment (the harness's, an operator's, one JAWS's scripts
    started and a run adopted) is shut down over XML-RPC with its key, then every process
    still carrying the deployment's marker is ended by PID: operator-started ones too
    (``--jaws-down`` is asked for by a person; a test run's teardown leaves those running).

    It is found at the port offset its configuration was written with, whatever
    ``--jaws-port-offset`` says: planned at another offset, teardown would call each
    supervisord on the wrong port and wait out its timeouts (16 s instead of 1 s) before ending
    the processes by their marker.

    :returns: one line per environment saying what was done (and the offset, when it was not
        the one given).
    :raises pytest_jaws.errors.TeardownError: naming what could not be ended and why.
    """
    base = down_basedir(settings)
    lines = []
    failed = []
    for env in settings.envs:
        plan = make_plan(settings.model, settings.site, env, base,
                         port_offset=settings.port_offset)
        found = deployed_offset(plan, settings.port_offset)
        note = ""
        if found is not None and found[0] != settings.port_offset and found[0] >= 0:
            plan = make_plan(settings.model, settings.site, env, base, port_offset=found[0])
            note = f" (deployed at port offset {found[0]}, read from {found[1]})"
        keys = resolve_keys(plan)
        problems: list[str] = []
        live = _live(plan, keys, problems)
        marked = processes.marked(plan.marker)
        servers = runservers.running(plan.servers) if plan.servers is not None else []
        if not live and not marked and not problems and not servers:
            lines.append(f"jaws {env}: nothing of site {settings.site} is up under {base}")
            continue
        dep = Deployment(plan, keys)
        dep.adopted = dict(live)  # shut down over XML-RPC and waited for, whoever started them
        dep.pids = dict(live)
        watched = {p.pid for pid in live.values() for p in processes.descendants(pid)}
        try:
            deploy.teardown(dep, everything=True)
        except TeardownError:
            pass  # what survived is named below, with the reason
        rest = [p for pid in sorted(watched) for p in [_process(pid)] if p is not None]
        alive = processes.wait_exited(rest, 5.0)  # programs of another user may take a moment
        alive += [p for p in processes.marked(plan.marker)
                  if not processes.exited(p) and p.pid not in {a.pid for a in alive}]
        problems += [_why_alive(p) for p in alive]
        names = ", ".join(plan.instances[r].name for r in live) or "no supervisord"
        ended = len(watched | {p.pid for p in marked}) - len(alive)
        if problems:
            failed.append(f"environment {env} of site {settings.site} under {base}: "
                          + "; ".join(problems))
            lines.append(f"jaws {env}: took down site {settings.site} under {base}{note}: {names} "
                         f"({ended} processes ended); NOT ended: " + "; ".join(problems))
        else:
            lines.append(f"jaws {env}: took down site {settings.site} under {base}{note}: {names} "
                         f"({ended} processes ended, none left); its files stay in "
                         f"{plan.directory} (configurations, logs, keys and secrets: remove the "
                         "directory when you no longer need them)")
    if failed:
        raise TeardownError("\n".join(lines))
    return lines


def _process(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except psutil.Error:
        return None
