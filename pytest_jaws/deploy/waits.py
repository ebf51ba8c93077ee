"""Waiting for a deployment to come up: instance RUNNING, programs RUNNING, services healthy.

Waits use tenacity with a deadline, poll every 0.05 s, stop at once when a program is FATAL
or the deployment is cancelled, and end in a :class:`DeploymentError` that names what was
last seen - never a bare timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from ..errors import Cancelled, DeploymentError, SupervisorError
from ..host import portholders
from ..host.instance import read_pid
from ..keys import mask
from ..probes import probes
from .livelogs import how_ended, instance_log, log_or_note, program_logs
from .logtail import log_tail
from .result import Deployment

Progress = Callable[[str, str, float], None]
"""``progress(environment, step, seconds since apply began)``."""

#: Seconds a service that answers, but not 200, gets before it is reported unhealthy (its
#: health test then fails by name) instead of failing the whole deployment.
HEALTH_GRACE = 3.0


class _NotYet(Exception):
    pass


def _retrying(timeout: float) -> Retrying:
    return Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(0.05),
                    retry=retry_if_exception_type((_NotYet, SupervisorError)), reraise=False)


def _wait(what: Callable[[], None], timeout: float, describe: Callable[[], str],
          cancel: threading.Event | None = None) -> None:
    def step():
        if cancel is not None and cancel.is_set():
            raise Cancelled("deployment cancelled: the run was interrupted")
        what()
    try:
        for attempt in _retrying(timeout):
            with attempt:
                step()
    except RetryError as exc:
        last = exc.last_attempt.exception()
        raise DeploymentError(f"{describe()}\n(last seen: {mask(str(last))})") from None


def program_failure(dep: Deployment, info: dict, restarted: bool = False) -> str:
    """Message for a program that failed: name, state, spawn error, instance, stderr tail.

    :param restarted: it is RUNNING again after an exit (:func:`restarted_early`): how it
        ended is read as for an exited one.
    """
    prog = dep.plan.programs[info["name"]]
    inst = dep.plan.instances[prog.instance]
    spawnerr = info.get("spawnerr") or info.get("description") or "no spawn error recorded"
    ended = exit_text(dep, prog.instance, dict(info, statename="EXITED") if restarted else info)
    port = f"its port {prog.port}, " if prog.port else ""
    stderr = program_logs(dep, prog.name, info)[0]
    return (f"program {prog.name} failed to start: {spawnerr} (state {info['statename']}, "
            f"{ended}, {port}{inst.name} on port {inst.port}, environment {dep.env})"
            f"\n--- last lines of {stderr} ---\n"
            f"{log_or_note(stderr, log_tail(stderr), 'supervisord reports this log for it')}")


def exit_text(dep: Deployment, role: str, info: dict) -> str:
    """Return ``exit status 3`` or ``terminated by SIGKILL`` as supervisord recorded it.

    See :func:`pytest_jaws.deploy.livelogs.how_ended` (the instance's real log first).
    """
    return how_ended(dep, role, info)


def wait_instance(dep: Deployment, role: str, timeout: float,
                  cancel: threading.Event | None = None) -> None:
    """Wait until ``role``'s supervisord answers ``getState`` RUNNING; record its PID."""
    inst = dep.plan.instances[role]
    client = dep.clients[role]

    def up():
        state = client.supervisor.getState()
        if state.get("statename") != "RUNNING":
            raise _NotYet(f"state {state}")

    def why():
        logfile = instance_log(dep, role)
        return (f"{inst.where} did not answer RUNNING "
                f"within {timeout:g} s\n--- last lines of {logfile} ---\n"
                f"{log_or_note(logfile, log_tail(logfile), 'its configuration names it')}")
    _wait(up, timeout, why, cancel)
    pid = read_pid(inst)
    if pid:
        dep.pids[role] = pid


def wait_programs(dep: Deployment, roles: Sequence[str], start: float, progress: Progress,
                  timeout: float, cancel: threading.Event | None = None) -> None:
    """Wait until every program of ``roles`` is started; a FATAL/EXITED one fails at once.

    Every role's supervisord is asked in each poll (every 0.05 s), so that the programs of all
    of them are watched from their start, and their ``readysecs`` run at the same time.

    Started: RUNNING, and for a program with ``readysecs`` (sites.yaml; its ``startsecs`` is
    0) RUNNING under one PID for that many seconds since it was first seen RUNNING. Such a
    program seen under a second PID, or STARTING or BACKOFF again, exited during its start-up
    (supervisord restarts it at once: with ``startsecs`` 0 no exit is "too quick") and fails
    the deployment like a FATAL one.

    :param start: ``time.monotonic()`` when apply began (progress events are relative to it).
    :param timeout: seconds.
    :raises DeploymentError: naming the program, its state, how it ended and its stderr tail.
    """
    pending = {p.name for role in roles for p in dep.plan.instances[role].programs}
    latest: dict[str, dict] = {}
    first_running: dict[str, tuple[int, float]] = {}  # name -> (PID, monotonic seconds)

    def running():
        now = time.monotonic()
        infos = [i for role in roles for i in dep.clients[role].supervisor.getAllProcessInfo()]
        for info in infos:
            name = info["name"]
            latest[name] = dep.infos[name] = info
            if name not in pending:
                continue
            ready = dep.plan.programs[name].readysecs
            state = info["statename"]
            if state in ("FATAL", "EXITED", "STOPPED", "UNKNOWN"):
                dep.failed_start.append(name)
                raise DeploymentError(program_failure(dep, info))
            if ready and name in first_running and \
                    (state != "RUNNING" or info["pid"] != first_running[name][0]):
                dep.failed_start.append(name)
                raise DeploymentError(program_failure(dep, restarted_early(info, ready), True))
            if state != "RUNNING":
                continue
            since = first_running.setdefault(name, (info["pid"], now))[1]
            if now - since >= ready:
                pending.discard(name)
                progress(dep.env, f"program {name} RUNNING", now - start)
        if pending:
            raise _NotYet(f"not yet started: {', '.join(sorted(pending))}")

    def why():
        parts = [program_failure(dep, latest[n]) if n in latest else f"program {n}: never seen"
                 for n in sorted(pending)]
        return f"programs not RUNNING within {timeout:g} s:\n" + "\n".join(parts)
    _wait(running, timeout, why, cancel)


def restarted_early(info: dict, ready: float) -> dict:
    """Return ``info`` (supervisord's process info) saying that it exited before ``ready`` s.

    The spawn error of a program that did not stay RUNNING under one PID for its ``readysecs``
    (``ready``, seconds): :func:`program_failure` shows it.
    """
    return dict(info, spawnerr=(
        f"it exited within {ready:g} s of going RUNNING (sites.yaml readysecs) and supervisord "
        f"restarted it (startsecs 0: no exit counts as too quick); now PID {info['pid']}"))


def wait_healthy(dep: Deployment, start: float, progress: Progress, timeout: float,
                 grace: float = HEALTH_GRACE, cancel: threading.Event | None = None) -> None:
    """Wait until every HTTP service answers 200.

    Or, after ``grace`` seconds, answers something else or listens on another port: recorded in
    ``dep.unhealthy``.
    """
    pending = {n: p for n, p in dep.plan.programs.items() if p.health_path}
    last: dict[str, probes.Probe] = {}
    answering_since: dict[str, float] = {}

    def healthy():
        now = time.monotonic()
        for name, prog in list(pending.items()):
            result = probes.health(dep.plan, prog)
            last[name] = result
            if result.status or misbound(dep, prog):
                answering_since.setdefault(name, now)
            if result.ok:
                del pending[name]
                dep.healthy_after[name] = now - start
                progress(dep.env, f"service {name} healthy", dep.healthy_after[name])
            elif name in answering_since and now - answering_since[name] >= grace:
                # It answers but not 200, or listens elsewhere: deployed anyway, so that its
                # health and port tests fail and say why.
                del pending[name]
                dep.unhealthy[name] = result.detail
                progress(dep.env, f"service {name} UNHEALTHY: {result.detail}", now - start)
        if pending:
            raise _NotYet(", ".join(last[n].detail for n in pending))

    def why():
        return "services not answering within %g s:\n  %s" % (
            timeout, "\n  ".join(f"{n}: {last[n].detail}" for n in pending if n in last))
    _wait(healthy, timeout, why, cancel)
    for name in dep.plan.programs:
        if name not in dep.unhealthy:
            dep.healthy_after.setdefault(name, time.monotonic() - start)


def misbound(dep: Deployment, prog) -> bool:
    """Tell whether the program listens on TCP, but not on its documented port."""
    pid = dep.infos.get(prog.name, {}).get("pid")
    ports = portholders.tree_listeners(pid) if pid else {}
    return bool(ports) and prog.port not in ports
