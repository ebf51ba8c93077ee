"""Did a program stay up since the deployment settled? Its PID and its supervisord's log say.

A program that crash-loops (exits, is restarted by supervisord's ``autorestart``, lives longer
than ``startsecs``, exits again) is RUNNING most of the time: a check that only asks for its
state passes it. This module compares what the deployment recorded when it settled (the end of
apply: every program RUNNING, every service healthy) with now:

- the PID and start time supervisord reports (``getProcessInfo``): a new one is a restart;
- the ``exited: <name> (<how>; not expected)`` lines supervisord wrote in its own log after
  the last line it had written when the deployment settled (supervisor/process.py
  ``Subprocess.finish``; a stop the harness asked for, as a redeploy's restart, is logged as
  ``stopped:``, not ``exited:``, and a redeploy restarts before the deployment settles).

The one restart the harness makes on purpose after that, the recovery check's SIGKILL (marker
``jaws_destructive``), is read from its run-wide record (:func:`recovery_key`) and forgiven:
one ``terminated by SIGKILL`` exit, and the PID it changed. A new PID after a ``stopped:``
line (someone asked supervisord to stop or restart it: a reload on SIGHUP) is no crash either;
its exits still count.

The log is compared by its own timestamps (``YYYY-MM-DD HH:MM:SS,mmm``, supervisor/loggers.py,
in supervisord's local time), never against this process's clock: the two may not share a
time zone.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import DeploymentError, SupervisorError, UnsafePathError
from ..host import saferead
from ..host.printable import printable
from ..host.runonce import RunOnce
from ..keys import mask
from .livelogs import instance_log, log_or_note, program_logs
from .logtail import log_tail
from .result import Deployment

#: Bytes read of the end of a supervisord log to find its exits.
LOG_BYTES = 1 << 20
#: Lines of the program's stderr log shown in the message.
STDERR_LINES = 15

_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")
_EVENT = re.compile(r"(?P<kind>exited|stopped): (?P<name>\S+) \((?P<how>[^)]*)\)")


def recovery_key(program: str, env: str) -> str:
    """Return the run-wide key of the recovery check's SIGKILL of ``program`` in ``env``.

    The suite's recovery check does the kill under it (``jaws_once.do``); :func:`problem`
    reads it (``jaws_once.peek``).
    """
    return f"recovery kill of {program} in {env}"


def _log_lines(path: Path) -> list[str]:
    try:
        data = saferead.read_file(path, LOG_BYTES, tail=True)
    except (UnsafePathError, OSError):
        return []
    return data.decode("utf-8", "replace").splitlines()


def last_stamp(path: Path) -> str:
    """Return the timestamp of the last line of a supervisord log, '' when it has none."""
    for line in reversed(_log_lines(path)):
        match = _STAMP.match(line)
        if match:
            return match[1]
    return ""


def settle(dep: Deployment) -> None:
    """Record, now that ``dep`` is up, what :func:`problem` later compares with.

    ``dep.settled``: program -> ``{"pid", "start"}`` from supervisord's ``getAllProcessInfo``;
    ``dep.settled_stamps``: role -> the last timestamp of its supervisord's log
    (:func:`last_stamp`); ``dep.settled_at``: ``time.time()``. A role that does not answer
    is left out (its programs are judged by their log alone).
    """
    for role in dep.plan.instances:
        dep.settled_stamps[role] = last_stamp(instance_log(dep, role))
        try:
            infos = dep.clients[role].supervisor.getAllProcessInfo()
        except SupervisorError:
            continue
        for info in infos:
            dep.settled[info["name"]] = {"pid": info["pid"], "start": info["start"]}
    dep.settled_at = time.time()


def exits_since(logfile: Path, program: str, stamp: str, kind: str = "exited") -> list[str]:
    """Return how ``program`` exited after log time ``stamp``, oldest first.

    Each is what supervisord wrote in the parentheses, up to the first ``;``: ``exit status
    1``, ``terminated by SIGKILL``. ``stamp`` '' means every exit the log's last
    :data:`LOG_BYTES` bytes hold. ``kind="stopped"``: the stops someone asked supervisord for
    instead (``stopped: <name> (terminated by SIGTERM)``: stopProcess, a restart, a reload).
    """
    out = []
    for line in _log_lines(logfile):
        found = _STAMP.match(line)
        if not found or found[1] <= stamp:
            continue
        match = _EVENT.search(line)
        if match and match["kind"] == kind and match["name"] == program:
            out.append(match["how"].split(";")[0].strip())
    return out


@dataclass(frozen=True)
class Watch:
    """What is known of one program since the deployment settled.

    ``settled``: its ``{"pid", "start"}`` then (None when not recorded); ``now``: its
    ``getProcessInfo`` now; ``exits``: :func:`exits_since`; ``killed``: the recovery check's
    record of its SIGKILL (``{"before": process info, "at": seconds}``), None when it was not
    killed; ``stops``: how many times someone asked its supervisord to stop it (a reload, a
    restart: a new PID then is no crash).
    """

    settled: dict | None
    now: dict
    exits: list[str]
    killed: dict | None
    stops: int = 0


def watch(dep: Deployment, program: str) -> Watch:
    """Return what is known of ``program`` since ``dep`` settled (``killed`` None: not read).

    :raises SupervisorError: its supervisord does not answer.
    """
    inst = dep.instance_of(program)
    now = dep.client(inst.key).supervisor.getProcessInfo(f"{inst.process_group}:{program}")
    logfile = instance_log(dep, inst.key)
    stamp = dep.settled_stamps.get(inst.key, "")
    return Watch(dep.settled.get(program), now, exits_since(logfile, program, stamp), None,
                 len(exits_since(logfile, program, stamp, "stopped")))


def check(dep: Deployment, program: str, once: RunOnce) -> str | None:
    """Return why ``program`` did not stay up since ``dep`` settled (:func:`problem`), or None.

    Waits until the site's ``watchsecs`` (sites.yaml; 10 s unless the site sets it) have passed
    since it settled: a crash loop whose lives are shorter shows at least one exit. The recovery check's kill
    is read from ``once`` (the run's :class:`~pytest_jaws.host.runonce.RunOnce`) after the state,
    so that a kill begun before is seen finished and recorded.

    :raises SupervisorError: its supervisord does not answer.
    :raises DeploymentError: the deployment recorded no settled state.
    """
    if dep.settled_at is None:
        raise DeploymentError(f"environment {dep.env} recorded no settled state to compare with")
    window = dep.plan.spec.watchsecs if dep.plan.spec is not None else 10.0
    time.sleep(max(0.0, window - (time.time() - dep.settled_at)))
    seen = watch(dep, program)
    killed = None
    if dep.plan.programs[program].recovery:
        record = once.peek(recovery_key(program, dep.env))
        killed = record if record and "error" not in record else None
    return problem(dep, program, replace(seen, killed=killed))


def problem(dep: Deployment, program: str, seen: Watch) -> str | None:
    """Return why ``program`` did not stay up since ``dep`` settled, or None when it did.

    Unexplained exits (the recovery kill's one ``terminated by SIGKILL`` forgiven) or a PID or
    start time other than the settled ones (unless the recovery check killed it, or its
    supervisord was asked to stop it: the log's ``stopped:``). The message
    names the program, its instance, how many times it exited and the last way, the PIDs, and
    the tail of its stderr log (keys masked, control sequences escaped).
    """
    exits = list(seen.exits)
    if seen.killed is not None and "terminated by SIGKILL" in exits:
        exits.remove("terminated by SIGKILL")
    now, then = seen.now, seen.settled
    moved = (then is not None and seen.killed is None and not seen.stops
             and (now["pid"] != then["pid"] or now["start"] != then["start"]))
    if not exits and not moved:
        return None
    inst = dep.instance_of(program)
    ago = time.time() - dep.settled_at if dep.settled_at else 0.0
    times = f"{len(exits)} time" + ("s" if len(exits) != 1 else "")
    how = (f"exited {times} (last: {exits[-1]})" if exits
           else "was restarted (its supervisord's log does not say how it ended)")
    pids = (f"PID {then['pid']} then, {now['pid']} now ({now['statename']})" if then
            else f"PID {now['pid']} now ({now['statename']})")
    stderr = program_logs(dep, program, now)[0]
    text = log_or_note(stderr, log_tail(stderr, STDERR_LINES),
                       "supervisord reports this log for it")
    return printable(mask(
        f"program {program} of {inst.where} {how} since the deployment settled {ago:.0f} s "
        f"ago: it is crash-looping (supervisord restarts it, autorestart=unexpected); {pids}"
        f"\n--- last lines of {stderr} ---\n{text}"))
