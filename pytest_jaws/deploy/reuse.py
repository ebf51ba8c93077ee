"""What a deployment finds running, and what applying the plan over it changed.

This deployment's own supervisords found by pidfile and marker (a stale pidfile removed),
whether an adopted instance runs the planned programs, the running instances whose key changed
shut down with their old key, and the summary of what an application changed
(:func:`pytest_jaws.deploy.deploy.apply` uses them).
"""

from __future__ import annotations

import os

import psutil

from ..errors import DeploymentError, SupervisorError
from ..host import processes, safefs
from ..host.instance import read_pid
from ..host.supervisor import RpcClient, role_uid
from ..plan.planmodel import EnvironmentPlan
from .files import read_or_none
from .result import Deployment
from .stop import is_ours


def live_instance(plan: EnvironmentPlan, role: str) -> int | None:
    """Return the PID of a running supervisord of this deployment for ``role``, else None.

    Found by pidfile + marker. A pidfile whose process is gone or is not ours is stale and is
    removed.
    """
    inst = plan.instances[role]
    pid = read_pid(inst)
    if pid is None:
        return None
    if is_ours(pid, plan, role):
        return pid
    if _hidden_role_process(pid, inst):
        return None  # run without root: recognised over XML-RPC instead (adopt.find_live)
    safefs.unlink(inst.pidfile)
    return None


def _hidden_role_process(pid: int, inst) -> bool:
    """Tell whether ``pid`` is a live process of another role user hidden from this run.

    Run without root, its environment cannot be read: its pidfile is not stale, only
    unverifiable here.
    """
    if os.geteuid() == 0 or role_uid(inst) == os.geteuid():
        return False
    try:
        return psutil.Process(pid).uids().real == role_uid(inst)
    except psutil.Error:
        return False


def same_programs(dep: Deployment, role: str) -> bool:
    """Tell whether an adopted instance runs the planned programs with the planned commands.

    The commands are the shims; when only other settings differ, its process group is kept (no
    program restarts for that; the settings apply when the supervisord restarts) and only
    programs whose shim changed are restarted.
    """
    inst = dep.plan.instances[role]
    active = {c["name"]: c["command"] for c in dep.clients[role].supervisor.getAllConfigInfo()
              if c["group"] == inst.process_group}
    return active == {p.name: str(p.shim) for p in inst.programs}


def rotate_keys(plan: EnvironmentPlan, running: dict[str, int], keys: dict[str, str]) -> list[str]:
    """Shut down, with its old key, each running instance whose key changed.

    A running instance whose key changed (a new JAWS_SUPERVISOR_KEY_* value) only knows its old
    key, and supervisord reads [inet_http_server] at start only: shut it down with the old key so
    that it starts again with the new one. Removes it from ``running``.

    :returns: the names of the instances shut down for that.
    :raises DeploymentError: when the old key does not work either.
    """
    rotated = []
    for role in list(running):
        inst = plan.instances[role]
        old = read_or_none(inst.key_file)
        if old is None or old.strip() == keys[role]:
            continue
        procs = processes.descendants(running[role])
        try:
            RpcClient(inst, plan.env, old.strip()).supervisor.shutdown()
        except SupervisorError as exc:
            raise DeploymentError(f"{inst.name} (environment {plan.env}) runs with a key that is "
                                  f"neither the new one nor the one in {inst.key_file}: {exc}; "
                                  "stop it by hand (its PID is in "
                                  f"{inst.pidfile}) and deploy again") from None
        processes.wait_exited(procs, 30.0)
        del running[role]
        rotated.append(inst.name)
    return rotated


def changes(plan: EnvironmentPlan, running: dict, restarted: list[str],
            rotated: list[str] | tuple[str, ...] = (), installed: list[str] | None = None) -> dict:
    """Return what an application changed: ``{"summary", "reused_instances", "restarted_programs"}``.

    ``running``: the roles reused (``{role: PID}``); ``rotated``: the instances restarted for a
    changed key; ``installed``: the packages reinstalled. The summary is one line
    (``deployed``, ``unchanged``, ``changed: ...``, ``partly reused: ...``, ``key changed: ...``).
    """
    reused = [plan.instances[r].name for r in running]
    installed = list(dict.fromkeys(installed or []))
    if rotated:
        summary = "key changed: restarted " + ", ".join(rotated)
    elif not running:
        summary = "deployed"
    elif len(running) < len(plan.instances):
        summary = "partly reused: started " + ", ".join(
            i.name for r, i in plan.instances.items() if r not in running)
    elif restarted or installed:
        summary = "changed: " + "; ".join(
            ([f"installed {', '.join(installed)}"] if installed else [])
            + ([f"restarted {', '.join(restarted)}"] if restarted else []))
    else:
        summary = "unchanged"
    return {"summary": summary, "reused_instances": reused, "restarted_programs": restarted}
