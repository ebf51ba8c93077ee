"""Stopping a deployment: :func:`teardown` and :func:`dead_instance`.

:func:`teardown` shuts its supervisord instances down and ends by PID whatever of it survives
(found by its marker variable), gives back the ports it reserved; :func:`dead_instance` tells
a deployment whose supervisord died during the run.
"""

from __future__ import annotations

import psutil

from ..errors import SupervisorError, TeardownError
from ..host import ephemeral, processes, safefs
from ..host.instance import read_pid
from ..host.supervisor import role_uid
from ..plan.planmodel import EnvironmentPlan
from . import adopt, runservers
from .result import Deployment


def teardown(dep: Deployment, timeout: float = 15.0, everything: bool = False) -> None:
    """Shut both instances down and make sure nothing of the deployment survives.

    Asks each supervisord to shut down (XML-RPC), waits for it and its programs, then
    terminates by PID any process still carrying the deployment's marker (orphans of a killed
    supervisord). Removes the pidfiles.

    :param everything: also the instances an operator started (sites.yaml ``start:
        operator``) and what runs under them: ``--jaws-down``, asked for by a person. A test
        run's teardown leaves them running (it never started them).
    :raises TeardownError: listing PIDs that survived even SIGKILL.
    """
    plan = dep.plan
    watched: list[psutil.Process] = []
    supervisords: dict[str, psutil.Process] = {}
    everything = everything or plan.play_operator  # the run was their operator
    clients = {role: dep.client(role, timeout=1.0, reload_wait=0.0) for role in plan.instances
               if everything or plan.instances[role].start != "operator"}
    protected = set() if everything else adopt.protected_pids(plan)
    for role, inst in plan.instances.items():
        if role not in clients:
            continue
        pid = read_pid(inst) or dep.pids.get(role)
        if pid and (is_ours(pid, plan, role) or pid == dep.adopted.get(role)) \
                and inst.name not in dep.hung:
            # a hung instance is not waited for: the marker sweep below ends it by PID
            tree = processes.descendants(pid)
            watched += tree
            supervisords.update({role: tree[0]} if tree else {})
        try:
            clients[role].supervisor.shutdown()
        except SupervisorError:
            pass

    def nudge() -> None:  # a request wakes supervisord's 1 s loop, so it reaps at once
        for role, proc in supervisords.items():
            if processes.exited(proc):
                continue  # never call an instance after it has exited
            try:
                clients[role].supervisor.getState()
            except SupervisorError:
                pass
    processes.wait_exited(watched, timeout, nudge)
    leftovers = [p for p in processes.marked(plan.marker)
                 if not processes.exited(p) and p.pid not in protected]
    alive = processes.terminate(leftovers, timeout=5.0) if leftovers else []
    for inst in plan.instances.values():
        pid = read_pid(inst)
        if pid and (not psutil.pid_exists(pid) or processes.exited(psutil.Process(pid))):
            safefs.unlink(inst.pidfile)
    # what this deployment reserved (its record, :mod:`pytest_jaws.host.reservations`), also when
    # another process (--jaws-down) deployed it
    ephemeral.release(plan.marker)
    dep.reserved = set()
    if plan.servers is not None:  # after the programs that use them
        runservers.stop(plan.servers)
    if alive:
        raise TeardownError(f"environment {plan.env}: processes survived teardown: "
                            + ", ".join(f"PID {p.pid}" for p in alive))


def dead_instance(dep: Deployment) -> str | None:
    """Why a deployed environment cannot be used any more (a supervisord died), or None."""
    for role, inst in dep.plan.instances.items():
        pid = dep.pids.get(role)
        adopted = pid is not None and pid == dep.adopted.get(role) and psutil.pid_exists(pid) \
            and not processes.exited(psutil.Process(pid))
        if pid and not adopted and not is_ours(pid, dep.plan, role):
            orphans = [p.pid for p in processes.marked(dep.plan.marker)]
            return (f"{inst.where} died during the run: "
                    f"PID {pid} is gone; processes of the deployment still alive: "
                    f"{orphans or 'none'} (teardown ends them)")
    return None


def is_ours(pid: int, plan: EnvironmentPlan, role: str) -> bool:
    """Tell whether the process carries the deployment's marker and runs as ``role``'s user.

    A pidfile is the role user's to write: it may name any process.
    """
    if processes.marker_of(pid) != plan.marker:
        return False
    try:
        return psutil.Process(pid).uids().real == role_uid(plan.instances[role])
    except psutil.Error:
        return False
