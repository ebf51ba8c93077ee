"""Deploying over a live site: adopt the supervisords already running there.

Leave alone what is not this deployment's. (The previous version of every file replaced is
kept by :mod:`pytest_jaws.deploy.replaced`.)

On a real site the JAWS supervisords run already, started by JAWS's own scripts
(JGI-Bioinformatics/jaws ``test/integration/deploy-supervisord``: identifiers
``supervisor-jaws-<env>`` / ``supervisor-backend-<env>``, pidfiles ``jaws-pidfile`` /
``cwl-backend-pidfile`` beside the configs, HTTP user ``jaws`` for both) or by an operator
(``start_supervisor_services/start_jtm_cori_services.sh``: ``jaws_jtm`` starts its own by
hand). They carry neither the harness's pidfile nor its marker. :func:`find_live` recognises
such an instance by what it answers over XML-RPC on its documented port: run by the role user,
accepting the instance's key, and identifying as the instance's identifier. Anything else on
the port is named (PID, user, identifier) and left alone (:class:`ForeignInstanceError`).
"""

from __future__ import annotations

import dataclasses
import os
import shlex

import psutil

from ..errors import (
    ForeignInstanceError,
    InstanceAuthError,
    OperatorInstanceDown,
    SupervisorError,
    UnsafePathError,
)
from ..host import become, portholders, processes, socktable
from ..host.instance import start_argv
from ..host.supervisor import RpcClient, role_uid
from ..plan.planmodel import EnvironmentPlan, InstancePlan
from .files import read_or_none

#: The HTTP user name JAWS's own configurations give both site supervisords
#: (test/integration/deploy-supervisord: ``username=jaws``).
JAWS_USERNAME = "jaws"
#: Seconds an adoption call may take.
ADOPT_TIMEOUT = 5.0


@dataclasses.dataclass(frozen=True)
class Live:
    """A live instance found on its port.

    Its supervisord ``pid`` and the HTTP ``username`` that its running configuration accepts.
    """

    pid: int
    username: str


def _usernames(inst: InstancePlan) -> list[str]:
    return list(dict.fromkeys([inst.username, JAWS_USERNAME]))


def find_live(plan: EnvironmentPlan, role: str, key: str) -> Live | None:
    """Return the supervisord of ``role`` running on its documented port, recognised over XML-RPC.

    The port's holder runs as the role user, accepts ``key`` (with the harness's HTTP user name
    or JAWS's, ``jaws``) and identifies as the instance's identifier.

    :returns: None when nothing listens on the port, or what listens is not the role user's
        or not a supervisord (pre-flight then names it; nothing, no key, is sent to a process
        of another user).
    :raises ForeignInstanceError: for a supervisord of the role user that refuses the key or
        identifies as something else, named with its PID, user and (when known) identifier,
        and what to do.
    """
    inst = plan.instances[role]
    holder = portholders.holder_of(inst.port, {role_uid(inst)})
    if holder is None or (holder.marker and holder.marker != plan.marker):
        # nothing, or a process of another pytest-jaws deployment: never this one's to adopt
        # (pre-flight names it, whose it is and what to do; no key is sent to it)
        return None
    if not holder.pid:
        # run without root, another user's process is hidden; its socket's owner is not
        # (an operator-started instance of the role user, cori's jtm run by jaws)
        if socktable.listener_uids(inst.port) != {role_uid(inst)}:
            return None
        holder = portholders.Holder(None, inst.user, None)
    else:
        try:
            uid = psutil.Process(holder.pid).uids().real
        except psutil.Error:
            return None
        if uid != role_uid(inst):
            return None  # not the role user's: pre-flight names it; no key is ever sent to it
    busy = (f"pre-flight failed: port {inst.port} needed by {inst.name} (environment "
            f"{plan.env}) is already in use by {holder.describe()}")
    refused = None
    for username in _usernames(inst):
        client = RpcClient(inst, plan.env, key, timeout=ADOPT_TIMEOUT, username=username)
        try:
            ident = client.supervisor.getIdentification()
        except InstanceAuthError:
            refused = username
            continue
        except SupervisorError:
            return None  # not a supervisord: pre-flight names the holder
        if ident != inst.identifier:
            raise ForeignInstanceError(
                f"{busy}\na supervisord of another deployment: identifier {ident!r}, not "
                f"{inst.identifier!r}; it was left alone. Stop it (it is not {inst.name} of "
                f"environment {plan.env}) and deploy again")
        pid = int(client.supervisor.getPID())
        try:
            if psutil.Process(pid).uids().real != role_uid(inst):
                return None
        except psutil.Error:
            return None
        return Live(pid, username)
    raise ForeignInstanceError(
        f"{busy}\na supervisord that refuses the key of {inst.name} (HTTP user {refused!r}; "
        f"key from ${inst.key_variable} or {inst.key_file}), identifier "
        f"{_identifier_of(holder.pid, inst) or 'unknown'}; it was left alone. If it is the live "
        f"instance, set ${inst.key_variable} to its password; otherwise stop it and deploy "
        "again")


def lost_pidfiles(plan: EnvironmentPlan, adopted: dict[str, int]) -> list[str]:
    """Write the pidfile again of each adopted instance that is this deployment's own.

    An instance :func:`find_live` recognised (role user, key, identifier) that also carries the
    deployment's marker is one the harness started whose pidfile was deleted. Its pidfile is
    written again, as the role user (the state directory is the role's), so that the next run
    and ``--jaws-down`` find it by pidfile as before.

    :returns: the roles whose pidfile was written again.
    """
    restored = []
    for role, pid in adopted.items():
        if processes.marker_of(pid) != plan.marker:
            continue
        inst = plan.instances[role]
        done = become.run_as(inst.become, [
            "/bin/sh", "-c", 'umask 022; printf "%s\\n" "$1" > "$2"', "sh", str(pid),
            str(inst.pidfile)])
        if done.returncode == 0:
            restored.append(role)
    return restored


def _identifier_of(pid: int | None, inst: InstancePlan) -> str | None:
    """Return the ``identifier=`` of the configuration a supervisord was started with (``-c``).

    The ``-c`` argument on the command line of another user's (a role user's) process is that
    user's to choose: it is only compared with the plan's configuration path (as text), never
    opened itself, so root reads no file a role process names (a root-only file's
    ``identifier=`` line would otherwise be shown). The runner's own processes' files are
    read. Either is read as a file another user may control (:mod:`pytest_jaws.host.saferead`).
    None when this run may not see it, or a role process runs another configuration.
    """
    if not pid:
        return None
    try:
        proc = psutil.Process(pid)
        argv, uid = proc.cmdline(), proc.uids().real
        conf = argv[argv.index("-c") + 1]
    except (psutil.Error, ValueError, IndexError):
        return None
    if uid != os.geteuid() and os.path.normpath(conf) != str(inst.conf):
        return None  # a role process's choice of file: never opened
    try:
        text = read_or_none(conf, 256 * 1024) or ""
    except UnsafePathError:
        return None
    for line in text.splitlines():
        if line.strip().startswith("identifier="):
            return repr(line.split("=", 1)[1].strip())
    return None


def with_username(plan: EnvironmentPlan, role: str, username: str) -> None:
    """Make the plan use ``username`` for ``role``'s instance.

    That is what its running configuration accepts: the configuration written keeps it, so that
    the live instance and its file agree.
    """
    inst = plan.instances[role]
    if inst.username != username:
        plan.instances[role] = dataclasses.replace(inst, username=username)


def operator_command(inst: InstancePlan) -> str:
    """Return the command an operator runs, as the role user, to start an instance.

    Without the switch to that user: :func:`pytest_jaws.deploy.commands.operator_start` has it.
    """
    return shlex.join(start_argv(None, dataclasses.replace(inst, become=())))  # type: ignore[arg-type]


def operator_down(plan: EnvironmentPlan, inst: InstancePlan,
                  rerun: str | None = None) -> OperatorInstanceDown:
    """Return the error for an operator-started instance that is not running, naming the command.

    The command as the role user runs it (:func:`pytest_jaws.deploy.commands.operator_start`), then
    ``rerun``: the run again on the same directory and ports, when the caller knows it.
    """
    from .commands import operator_start
    steps = "\n".join(f"  {line}" for line in operator_start(inst))
    again = (f"then run again, on the same base directory and ports:\n  {rerun}" if rerun
             else "then run pytest again (the configuration is in place)")
    return OperatorInstanceDown(
        f"{inst.where} is started by an operator (sites.yaml roles.{inst.role}.start: "
        f"operator) and is not running; the harness never starts it. As user {inst.user}, "
        f"run:\n{steps}\n{again}")


def protected_pids(plan: EnvironmentPlan) -> set[int]:
    """Return the PIDs that teardown must not end.

    The supervisords of operator-started instances on their ports (run by their role users) and
    everything under them.
    """
    out: set[int] = set()
    if plan.play_operator:
        return out  # the run started them as their operator: its own to end
    for inst in plan.instances.values():
        if getattr(inst, "start", "harness") != "operator":
            continue
        holder = portholders.holder_of(inst.port)
        if holder is None or not holder.pid:
            continue
        try:
            if psutil.Process(holder.pid).uids().real != role_uid(inst):
                continue
        except psutil.Error:
            continue
        out |= {p.pid for p in processes.descendants(holder.pid)}
    return out


def adopt_running(plan: EnvironmentPlan, running: dict[str, int],
                  keys: dict[str, str]) -> dict[str, int]:
    """Adopt the live instances: ``{role: supervisord PID}`` of those :func:`find_live` finds.

    It looks among the roles not in ``running`` (the harness's own, found by pidfile and marker);
    the plan takes over the HTTP user name each accepts (:func:`with_username`).

    :raises ForeignInstanceError: as :func:`find_live`.
    """
    adopted = {}
    for role in plan.instances:
        if role in running:
            continue
        live = find_live(plan, role, keys[role])
        if live is not None:
            with_username(plan, role, live.username)
            adopted[role] = live.pid
    return adopted
