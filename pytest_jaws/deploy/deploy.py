"""A deployment: plan -> apply (pre-flight, write, start or reuse, wait) -> teardown.

:func:`apply` either returns a :class:`Deployment` whose every program is RUNNING and every
HTTP service healthy, or raises :class:`DeploymentError` after removing whatever it had
started. Applied to an environment that is already up from the same directory, it reuses the
running supervisord instances and restarts only what changed (Molecule's idempotence, for
supervisord; what it finds running and what changed: :mod:`pytest_jaws.deploy.reuse`).
:func:`teardown` (:mod:`pytest_jaws.deploy.stop`) stops the instances and verifies by PID that
no process of the deployment (found by its marker variable) survives.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

from ..errors import DeploymentError
from ..host import ephemeral, processes, safefs
from ..host.instance import start_instance
from ..host.portoffset import OFFSET_FILE
from ..host.supervisor import reread_update, restart_programs
from ..install.cromwell import check_cromwell
from ..install.install import install_runtime, restarts
from ..plan.planmodel import EnvironmentPlan
from ..probes import dependencies
from ..render.jawsconf import render_configs
from ..render.render import render_files
from . import adopt, replaced, runservers, serverpasswords, stability
from .commands import operator_start
from .files import make_directories, read_or_none, resolve_keys, resolve_secrets, write_files
from .preflight import preflight
from .result import Deployment
from .reuse import changes, live_instance, rotate_keys, same_programs
from .stop import teardown
from .waits import Progress, wait_healthy, wait_instance, wait_programs

__all__ = ["Attempt", "Deployment", "DeploymentError", "Progress", "apply", "preflight",
           "teardown"]


def apply(plan: EnvironmentPlan, progress: Progress | None = None, timeout: float = 60.0,
          cancel: threading.Event | None = None) -> Deployment:
    """Deploy one environment (or bring a running one up to date) and wait until healthy.

    A supervisord of this deployment that is already running (its pidfile's PID carries the
    deployment's marker) is reused: with unchanged files nothing is restarted; a changed
    program shim restarts only that program; a changed instance configuration is applied as
    supervisorctl's reread/update does (the changed process group restarts); a package of the
    checkout whose files changed restarts the programs that run from a venv holding it
    (:func:`pytest_jaws.install.install.restarts`). What happened is in ``Deployment.changes``
    (``packages``: per package, old and new version, venvs, what restarted for it).

    :param timeout: seconds allowed for each wait (instance up, programs RUNNING, healthy).
    :param cancel: when set (interrupted run), waits stop with :class:`Cancelled`.
    :raises PortBusyError: before anything is written or started.
    :raises pytest_jaws.errors.DependencyError: MySQL or RabbitMQ unusable (pre-flight,
        before anything is written or started; at most about 5 s).
    :raises DeploymentError: when setup cannot finish; what this call started is torn down.
    """
    return Attempt(plan, progress, timeout, cancel).run()


class Attempt:
    """One application of a plan: what :func:`apply` does, keeping the :class:`Deployment`.

    The deployment it builds is in :attr:`deployment` (None until pre-flight has passed), so
    that a caller can report a failed attempt from the state it reached
    (``deployment.last_state``, taken before the teardown) without the exception carrying it.

    :param progress: ``progress(env, step, seconds since the attempt began)``.
    :param timeout: seconds allowed for each wait (instance up, programs RUNNING, healthy).
    :param cancel: when set (interrupted run), waits stop with :class:`Cancelled`.
    :param amend: called as ``amend(plan=plan, files=files)`` with the rendered files before
        they are written, to change them in place (the ``pytest_jaws_plan`` hook,
        :mod:`pytest_jaws.plugin.hooks`).
    :param rerun: the command that runs this deployment again on the same directory and
        ports; an operator-started instance that is down names it after the operator's command.
    """

    def __init__(self, plan: EnvironmentPlan, progress: Progress | None = None,
                 timeout: float = 60.0, cancel: threading.Event | None = None,
                 amend: Callable[..., object] | None = None, rerun: str | None = None):
        self.plan = plan
        self.amend = amend
        self.rerun = rerun
        self.progress: Progress = progress or (lambda *_: None)
        self.timeout = timeout
        self.cancel = cancel
        self.deployment: Deployment | None = None

    def run(self) -> Deployment:
        """Apply the plan (see :func:`apply`, which raises what this raises)."""
        return _apply(self.plan, self.progress, self.timeout, self.cancel, self)


def _apply(plan: EnvironmentPlan, progress: Progress | None, timeout: float,
           cancel: threading.Event | None, attempt: Attempt) -> Deployment:
    """Do the work of :meth:`Attempt.run` (``attempt.deployment`` set as soon as it exists)."""
    progress = progress or (lambda *_: None)
    start = time.monotonic()
    keys = resolve_keys(plan)
    running = {role: pid for role in plan.instances if (pid := live_instance(plan, role))}
    adopted = adopt.adopt_running(plan, running, keys)
    for role in adopt.lost_pidfiles(plan, adopted):  # ours, its pidfile deleted: reused
        inst = plan.instances[role]
        running[role] = adopted.pop(role)
        progress(plan.env, f"{inst.name}: its pidfile {inst.pidfile} was gone; found it on port "
                 f"{inst.port} (PID {running[role]}, this deployment's) and wrote the pidfile "
                 "again", time.monotonic() - start)
    running.update(adopted)
    ours = {p.pid for pid in running.values() for p in processes.descendants(pid)}
    # programs left behind by a supervisord of this deployment that was killed: this run holds
    # the deployment's directory (run lock), so they are ours to end, by PID, before pre-flight
    left = [p for p in processes.orphans(plan.marker) if p.pid not in ours]
    if left:
        pids = sorted(p.pid for p in left)
        processes.terminate(left)
        progress(plan.env, f"ended {len(pids)} processes left behind by this deployment's "
                 f"killed supervisord (PIDs {', '.join(map(str, pids))})",
                 time.monotonic() - start)
    preflight(plan, ignore_pids=ours, reused=set(running))
    if plan.servers is not None:  # MariaDB and RabbitMQ of the run (sites.yaml start: true)
        serverpasswords.set_passwords(plan.site, [plan.env], plan.servers.start)  # where unset
        runservers.ensure(plan.servers, resolve_secrets(plan), lambda step: progress(
            plan.env, step, time.monotonic() - start))
    try:
        checked = dependencies.preflight(plan.dependencies, plan.site, plan.env)
    except BaseException:
        if plan.servers is not None and not running:
            runservers.stop(plan.servers)
        raise
    if checked:
        progress(plan.env, "dependencies checked: " + "; ".join(checked),
                 time.monotonic() - start)
    check_cromwell(plan)
    # a fake site's ports in the ephemeral range (cromwell's 5010x) are reserved while it runs,
    # so that no outgoing connection takes one (as root; given back at teardown)
    reserved = ephemeral.reserve(
        set(plan.ports.values()), plan.marker, cancel,
        lambda text: progress(plan.env, text, time.monotonic() - start)) if plan.fake else set()
    secrets = resolve_secrets(plan)
    rotated = rotate_keys(plan, {r: p for r, p in running.items() if r not in adopted}, keys)
    for name in rotated:
        running.pop(next(r for r, i in plan.instances.items() if i.name == name), None)
    dep = attempt.deployment = Deployment(plan, keys)
    dep.reserved = reserved
    dep.dependencies = checked
    dep.adopted = adopted
    for role in plan.instances:
        dep.clients[role] = dep.client(role)
    rendered = render_files(plan, keys, render_configs(plan, secrets))
    if attempt.amend is not None:
        attempt.amend(plan=plan, files=rendered)
    changed = {path for path, (text, _role, _mode) in rendered.items()
               if read_or_none(path) != text}
    restarted: list[str] = []
    pending: list[str] = []
    kept = replaced.keep_previous([Path(p) for p in changed])
    try:
        make_directories(plan)
        if plan.fake and plan.port_offset:  # so that auto takes the same offset next time
            safefs.write_file(plan.directory / OFFSET_FILE, f"{plan.port_offset}\n", 0o644)
        installed = install_runtime(plan, progress, start)
        by_package = restarts(plan, installed.packages)
        from_packages = {n for names in by_package.values() for n in names}
        write_files(plan, rendered)
        for role, inst in plan.instances.items():
            if inst.start == "operator" and role not in running:
                if not plan.play_operator:
                    raise adopt.operator_down(plan, inst, attempt.rerun)
                progress(plan.env, f"playing the operator of {inst.name}: as user {inst.user}: "
                         + " && ".join(operator_start(inst)), time.monotonic() - start)
        fresh = [inst for role, inst in plan.instances.items() if role not in running]
        # every supervisord at once (each start is a Python start-up that ends when it daemonizes)
        with ThreadPoolExecutor(max(1, len(fresh))) as pool:
            for fut in [pool.submit(start_instance, plan, inst) for inst in fresh]:
                fut.result()
        for role, inst in plan.instances.items():
            wait_instance(dep, role, timeout, cancel)
            if role in adopted:
                dep.pids[role] = adopted[role]
            verb = "adopted" if role in adopted else "reused" if role in running else "started"
            progress(plan.env, f"{inst.name} {verb} on port {inst.port}", time.monotonic() - start)
        if plan.fake:  # a deployment left up keeps its reservation while it runs
            ephemeral.hold(plan.marker, [pid for pid in dep.pids.values() if pid])
        for role in running:
            names = [p.name for p in plan.instances[role].programs
                     if str(p.shim) in changed or p.name in from_packages]
            if str(plan.instances[role].conf) in changed:
                if role in adopted and same_programs(dep, role):
                    pending.append(plan.instances[role].name)
                else:
                    if reread_update(dep.clients[role]):
                        restarted += [p.name for p in plan.instances[role].programs]
                    continue
            restart_programs(dep.clients[role], plan.instances[role].process_group, names)
            restarted += names
        wait_programs(dep, list(plan.instances), start, progress, timeout, cancel)
        wait_healthy(dep, start, progress, timeout, cancel=cancel)
    except BaseException:  # everything, interrupts too: record the state, tear down, re-raise
        dep.last_state = dep.snapshot()
        if not running:  # never tear down a deployment we found running
            try:
                teardown(dep)
            except Exception:  # noqa: BLE001, S110 - the setup error is the one to report
                pass
        raise
    dep.changes = changes(plan, running, restarted, rotated,
                          [c.package for c in installed.packages if c.reinstalled])
    dep.changes["packages"] = [dict(asdict(c), venvs=list(c.venvs), restarted=[
        n for n in by_package.get(c.package, []) if n in restarted])
        for c in installed.packages]
    dep.changes.update(adopted_instances=[plan.instances[r].name for r in adopted],
                       settings_pending=pending,
                       replaced_files=replaced.replaced_report(kept, rendered))
    if adopted:
        dep.changes["summary"] = (f"adopted {', '.join(dep.changes['adopted_instances'])}; "
                                  + dep.changes["summary"])
    if pending:
        dep.changes["summary"] += (f"; other settings of {', '.join(pending)} are written and "
                                   "apply when it restarts")
    for item in dep.changes["replaced_files"]:
        progress(plan.env, f"replaced {item['path']} ({item['summary']}); previous version: "
                 f"{item['backup']}", time.monotonic() - start)
    stability.settle(dep)  # what the stability check compares with (PIDs, log position)
    dep.ready = True
    return dep


