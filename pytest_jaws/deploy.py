"""A deployment: plan -> apply (pre-flight, write, start, wait) -> teardown.

:func:`apply` either returns a :class:`Deployment` whose every program is RUNNING and every
HTTP service healthy, or raises :class:`DeploymentError` after removing whatever it had
started. :func:`teardown` stops both instances and verifies by PID that no process of the
deployment (found by its marker variable) survives.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from . import probes, processes
from .keys import mask, resolve_key
from .plan import EnvironmentPlan, InstancePlan
from .render import render_files
from .supervisor import RpcClient, SupervisorError, read_pid, start_instance

Progress = Callable[[str, str, float], None]
"""``progress(environment, step, seconds since apply began)``."""

#: Lines of a log shown in error messages.
TAIL_LINES = 50
#: Seconds a service that answers, but not 200, gets before it is reported unhealthy (its
#: health test then fails by name) instead of failing the whole deployment.
HEALTH_GRACE = 3.0


class DeploymentError(RuntimeError):
    """Setup that cannot finish. The message names the program or port, its supervisor state,
    spawn error and the tail of its stderr log; keys are masked."""


class PortBusyError(DeploymentError):
    """Pre-flight: a port the environment needs is held by another process."""


class TeardownError(RuntimeError):
    """Processes of the deployment survived teardown (listed by PID)."""


class _NotYet(Exception):
    pass


@dataclass(repr=False)
class Deployment:
    """A deployed environment, as the suites see it.

    ``plan`` has every path, port, user and program; ``keys`` maps role -> key (secret: never
    print it); ``clients`` maps role -> :class:`RpcClient`; ``pids`` maps role -> supervisord
    PID; ``infos`` maps program -> its last supervisor process info; ``last_state`` is the
    :meth:`snapshot` taken when setup failed, before teardown; ``healthy_after`` maps
    program -> seconds from apply start to healthy;
    ``unhealthy`` maps a service that answered but never 200 -> the last answer.
    """

    plan: EnvironmentPlan
    keys: dict[str, str]
    clients: dict[str, RpcClient] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)
    healthy_after: dict[str, float] = field(default_factory=dict)
    unhealthy: dict[str, str] = field(default_factory=dict)
    infos: dict[str, dict] = field(default_factory=dict)
    last_state: dict[str, list[dict] | str] | None = None
    steps: list[tuple[str, float]] = field(default_factory=list)

    @property
    def env(self) -> str:
        """The environment name (dev, staging, prod)."""
        return self.plan.env

    @property
    def instances(self) -> dict[str, InstancePlan]:
        """role -> instance plan."""
        return self.plan.instances

    def client(self, role: str, key: str | None = "own", **kw) -> RpcClient:
        """A new XML-RPC client of ``role``'s instance; ``key=None`` calls without credentials,
        another string uses that key instead of the instance's own."""
        use = self.keys[role] if key == "own" else key
        return RpcClient(self.plan.instances[role], self.env, use, **kw)

    def snapshot(self, timeout: float = 3.0) -> dict[str, list[dict] | str]:
        """role -> ``getAllProcessInfo()`` of its instance, or the error text when it does not
        answer (read live, keys masked in errors)."""
        out: dict[str, list[dict] | str] = {}
        for role in self.plan.instances:
            try:
                out[role] = self.client(role, timeout=timeout).supervisor.getAllProcessInfo()
            except SupervisorError as exc:
                out[role] = mask(str(exc))
        return out

    def __repr__(self) -> str:  # keys stay out of tracebacks and logs
        return f"<Deployment {self.plan.site}/{self.env} at {self.plan.directory}>"

    def instance_of(self, program: str) -> InstancePlan:
        """The instance that supervises ``program``."""
        return self.plan.instances[self.plan.programs[program].role]


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of a text file, keys masked ('' when unreadable)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return mask("\n".join(text.splitlines()[-lines:]))


def _owner(plan: EnvironmentPlan, role: str) -> tuple[int, int] | None:
    if not role or os.geteuid() != 0:
        return None
    inst = plan.instances[role]
    import grp
    import pwd
    entry = pwd.getpwnam(inst.user)
    gid = grp.getgrnam(inst.group).gr_gid if inst.group else entry.pw_gid
    return entry.pw_uid, gid


def _write(path: Path, text: str, mode: int, owner: tuple[int, int] | None) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        if owner:
            os.chown(tmp, *owner)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _mkdir(path: Path, mode: int, owner: tuple[int, int] | None) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, mode)
    if owner:
        os.chown(path, *owner)


def preflight(plan: EnvironmentPlan) -> None:
    """Check that every port the environment needs is free.

    :raises PortBusyError: naming the port, the service that needs it and its holder.
    """
    busy = []
    table = processes.listeners()
    for name, port in plan.ports.items():
        if port in table:
            holder = processes.holder_of(port)
            busy.append(f"port {port} needed by {name} (environment {plan.env}) is already in "
                        f"use by {holder.describe() if holder else 'an unknown process'}")
    if busy:
        raise PortBusyError("pre-flight failed, nothing was started:\n  " + "\n  ".join(busy)
                            + "\nstop that process or deploy with another --jaws-port-offset")


def resolve_keys(plan: EnvironmentPlan) -> dict[str, str]:
    """role -> key, from the environment, the key file, or newly generated (see keys.py)."""
    keys = {}
    for role, inst in plan.instances.items():
        try:
            existing = inst.key_file.read_text()
        except OSError:
            existing = None
        keys[role] = resolve_key(inst.key_variable, existing)[0]
    return keys


def install_runtime(plan: EnvironmentPlan) -> None:
    """For the ``copy`` runtime: copy supervisor and pytest_jaws (package root and fakes)
    into ``<dir>/lib`` (world-readable, not writable by the role users). Otherwise nothing."""
    if plan.pythonpath is None:
        return
    import pytest_jaws
    import supervisor
    skip = shutil.ignore_patterns("__pycache__", "tests", "*.pyc")
    ours = Path(pytest_jaws.__file__).parent
    target = plan.pythonpath / "pytest_jaws"
    shutil.copytree(Path(supervisor.__file__).parent, plan.pythonpath / "supervisor",
                    ignore=skip, dirs_exist_ok=True)
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ours / "__init__.py", target / "__init__.py")
    shutil.copytree(ours / "fakes", target / "fakes", ignore=skip, dirs_exist_ok=True)
    for root, dirs, files in os.walk(plan.pythonpath):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)


def write_files(plan: EnvironmentPlan, keys: dict[str, str]) -> None:
    """Create the directory layout and write configs, keys and shims (atomically)."""
    _mkdir(plan.directory, 0o755, None)
    _mkdir(plan.directory / "bin", 0o755, None)
    install_runtime(plan)
    for role, inst in plan.instances.items():
        owner = _owner(plan, role)
        _mkdir(inst.state_dir, 0o750, owner)
        _mkdir(inst.state_dir / "logs", 0o750, owner)
    for path, (text, role, mode) in render_files(plan, keys).items():
        _write(Path(path), text, mode, _owner(plan, role))


def _retrying(timeout: float) -> Retrying:
    return Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(0.1),
                    retry=retry_if_exception_type((_NotYet, SupervisorError)), reraise=False)


def _wait(what: Callable[[], None], timeout: float, describe: Callable[[], str]) -> None:
    try:
        for attempt in _retrying(timeout):
            with attempt:
                what()
    except RetryError as exc:
        last = exc.last_attempt.exception()
        raise DeploymentError(f"{describe()}\n(last seen: {mask(str(last))})") from None


def program_failure(dep: Deployment, info: dict) -> str:
    """Message for a program that failed: name, state, spawn error, instance, stderr tail."""
    prog = dep.plan.programs[info["name"]]
    inst = dep.plan.instances[prog.role]
    spawnerr = info.get("spawnerr") or info.get("description") or "no spawn error recorded"
    return (f"program {prog.name} failed to start: {spawnerr} (state {info['statename']}, "
            f"exit status {info.get('exitstatus')}, {inst.name}, environment {dep.env}, "
            f"port {inst.port})\n--- last lines of {prog.stderr_log} ---\n"
            f"{tail(prog.stderr_log) or '(empty)'}")


def _wait_instance(dep: Deployment, role: str, timeout: float) -> None:
    inst = dep.plan.instances[role]
    client = dep.clients[role]

    def up():
        state = client.supervisor.getState()
        if state.get("statename") != "RUNNING":
            raise _NotYet(f"state {state}")

    def why():
        return (f"{inst.name} (environment {dep.env}, port {inst.port}) did not answer RUNNING "
                f"within {timeout:g} s\n--- last lines of {inst.logfile} ---\n"
                f"{tail(inst.logfile) or '(empty)'}")
    _wait(up, timeout, why)
    pid = read_pid(inst)
    if pid:
        dep.pids[role] = pid


def _wait_programs(dep: Deployment, role: str, start: float, progress: Progress,
                   timeout: float) -> None:
    client = dep.clients[role]
    pending = {p.name for p in dep.plan.instances[role].programs}
    latest: dict[str, dict] = {}

    def running():
        for info in client.supervisor.getAllProcessInfo():
            latest[info["name"]] = dep.infos[info["name"]] = info
            if info["name"] not in pending:
                continue
            if info["statename"] == "RUNNING":
                pending.discard(info["name"])
                progress(dep.env, f"program {info['name']} RUNNING", time.monotonic() - start)
            elif info["statename"] in ("FATAL", "EXITED", "STOPPED", "UNKNOWN"):
                raise DeploymentError(program_failure(dep, info))
        if pending:
            raise _NotYet(f"not yet RUNNING: {', '.join(sorted(pending))}")

    def why():
        parts = [program_failure(dep, latest[n]) if n in latest else f"program {n}: never seen"
                 for n in sorted(pending)]
        return f"programs not RUNNING within {timeout:g} s:\n" + "\n".join(parts)
    _wait(running, timeout, why)


def _wait_healthy(dep: Deployment, start: float, progress: Progress, timeout: float,
                  grace: float = HEALTH_GRACE) -> None:
    pending = {n: p for n, p in dep.plan.programs.items() if p.health_path}
    last: dict[str, probes.Probe] = {}
    answering_since: dict[str, float] = {}

    def healthy():
        now = time.monotonic()
        for name, prog in list(pending.items()):
            result = probes.health(dep.plan, prog)
            last[name] = result
            if result.status or _misbound(dep, prog):
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
    _wait(healthy, timeout, why)
    for name in dep.plan.programs:
        if name not in dep.unhealthy:
            dep.healthy_after.setdefault(name, time.monotonic() - start)


def _misbound(dep: Deployment, prog) -> bool:
    """True when the program listens on TCP, but not on its documented port."""
    pid = dep.infos.get(prog.name, {}).get("pid")
    ports = processes.tree_listeners(pid) if pid else {}
    return bool(ports) and prog.port not in ports


def apply(plan: EnvironmentPlan, progress: Progress | None = None,
          timeout: float = 60.0) -> Deployment:
    """Deploy one environment and wait until it is healthy.

    :param timeout: seconds allowed for each wait (instance up, programs RUNNING, healthy).
    :raises PortBusyError: before anything is written or started.
    :raises DeploymentError: when setup cannot finish; what was started is torn down first.
    """
    progress = progress or (lambda *_: None)
    start = time.monotonic()
    preflight(plan)
    keys = resolve_keys(plan)
    dep = Deployment(plan, keys)
    for role in plan.instances:
        dep.clients[role] = dep.client(role)
    try:
        write_files(plan, keys)
        with ThreadPoolExecutor(2) as pool:
            for fut in [pool.submit(start_instance, plan, i) for i in plan.instances.values()]:
                fut.result()
        for role, inst in plan.instances.items():
            _wait_instance(dep, role, timeout)
            progress(plan.env, f"{inst.name} started on port {inst.port}", time.monotonic() - start)
        for role in plan.instances:
            _wait_programs(dep, role, start, progress, timeout)
        _wait_healthy(dep, start, progress, timeout)
    except BaseException as exc:
        dep.last_state = dep.snapshot()
        if isinstance(exc, Exception):
            exc.deployment = dep  # type: ignore[attr-defined]  # for the failure report
        try:
            teardown(dep)
        except Exception:  # noqa: BLE001 - the setup error is the one to report
            pass
        raise
    return dep


def teardown(dep: Deployment, timeout: float = 15.0) -> None:
    """Shut both instances down and make sure nothing of the deployment survives.

    Asks each supervisord to shut down (XML-RPC), waits for it and its programs, then
    terminates by PID any process still carrying the deployment's marker (orphans of a killed
    supervisord). Removes the pidfiles.

    :raises TeardownError: listing PIDs that survived even SIGKILL.
    """
    plan = dep.plan
    watched: list[psutil.Process] = []
    for role, inst in plan.instances.items():
        pid = read_pid(inst) or dep.pids.get(role)
        if pid and _is_ours(pid, plan):
            watched += processes.descendants(pid)
        try:
            dep.client(role, timeout=3.0).supervisor.shutdown()
        except SupervisorError:
            pass
    psutil.wait_procs(watched, timeout=timeout)
    leftovers = processes.marked(plan.marker)
    alive = processes.terminate(leftovers, timeout=5.0) if leftovers else []
    for inst in plan.instances.values():
        if read_pid(inst) and not psutil.pid_exists(read_pid(inst) or 0):
            inst.pidfile.unlink(missing_ok=True)
    if alive:
        raise TeardownError(f"environment {plan.env}: processes survived teardown: "
                            + ", ".join(f"PID {p.pid}" for p in alive))


def _is_ours(pid: int, plan: EnvironmentPlan) -> bool:
    try:
        return psutil.Process(pid).environ().get("JAWS_DEPLOYMENT") == plan.marker
    except (psutil.Error, OSError):
        return False
