"""Every piece of pytest-xdist coordination: who deploys, who attaches, who tears down.

With ``-n N`` the controller hands each worker the base directory, the run's shared directory
and the port offset (``workerinput``, :meth:`Controller.pytest_configure_node`). The first
worker that needs the environments deploys them under a file lock in the shared directory and
records each outcome in a state file; the other workers attach to what is recorded (same
plan, same key files) (:class:`SharedState`). Deploying workers append their progress lines
to a file there, which the controller relays as test reports arrive. The controller tears
down once, after every worker is done (it takes the directory locks over).

:func:`register` adds :class:`Worker` or :class:`Controller` as a plugin object only when tests
are distributed, the way xdist registers its ``DSession``; without xdist nothing of this
module is active.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from filelock import FileLock, Timeout

from ..deploy import adopt
from ..deploy.files import resolve_keys
from ..deploy.result import Deployment, EnvOutcome
from ..errors import DeploymentError
from ..host.hostlock import lock_holder
from .manager import MANAGER

if TYPE_CHECKING:
    from .manager import DeploymentManager

#: Seconds a worker waits for another worker's deployment before giving up.
LOCK_TIMEOUT = 900.0
STATE_FILE = "jaws-state.json"
LOCK_FILE = "jaws-state.lock"
PROGRESS_FILE = "jaws-progress.log"
#: The environment variable in which xdist names a worker (``gw0``...): read here only.
WORKER_VARIABLE = "PYTEST_XDIST_WORKER"
WORKER_PLUGIN = "jaws-xdist-worker"
CONTROLLER_PLUGIN = "jaws-xdist-controller"


def worker_name() -> str:
    """Return this process's xdist worker id (``gw0``...), or ``controller`` outside a worker."""
    return os.environ.get(WORKER_VARIABLE, "controller")


def distributed(config: pytest.Config) -> bool:
    """Tell whether xdist will distribute this run's tests (its own test for registering ``DSession``)."""
    return (config.pluginmanager.hasplugin("xdist") and config.getoption("dist", "no") != "no"
            and not config.getoption("collectonly", False))


def register(config: pytest.Config, directories: Callable[[], tuple[Path, Path | None]],
             port_offset: int) -> None:
    """Register :class:`Worker` (in an xdist worker) or :class:`Controller` (when xdist distributes).

    Nothing otherwise.

    :param directories: ``() -> (basedir, shared directory)``, asked when the controller
        hands them to its workers (the base directory is chosen lazily).
    :param port_offset: the run's port offset (an ``auto`` one is chosen by the controller).
    """
    if hasattr(config, "workerinput"):
        config.pluginmanager.register(Worker(config), WORKER_PLUGIN)
    elif distributed(config):
        config.pluginmanager.register(Controller(config, directories, port_offset),
                                      CONTROLLER_PLUGIN)


def role(config: pytest.Config) -> str:
    """``worker``, ``controller`` (xdist distributes) or ``single``."""
    if config.pluginmanager.has_plugin(WORKER_PLUGIN):
        return "worker"
    if config.pluginmanager.has_plugin(CONTROLLER_PLUGIN):
        return "controller"
    return "single"


def controller_values(config: pytest.Config) -> dict[str, str]:
    """Return what the controller handed a worker; elsewhere ``{}``.

    In a worker: ``jaws_basedir``, ``jaws_shared``, ``jaws_port_offset``, all ``str``.
    """
    values = getattr(config, "workerinput", {})
    return {k: v for k, v in values.items() if k.startswith("jaws_")}


class Worker:
    """Plugin object of an xdist worker: it gives its directory locks up at the end.

    The controller tears down, so a worker only gives its directory locks up at the end (the
    controller takes them over).
    """

    def __init__(self, config: pytest.Config):
        self.config = config

    def directories(self) -> tuple[Path, Path]:
        """``(basedir, shared directory)`` as the controller chose them."""
        values = controller_values(self.config)
        return Path(values["jaws_basedir"]), Path(values["jaws_shared"])

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Give up the directory locks this worker holds (it may have deployed)."""
        manager = session.config.stash.get(MANAGER, None)
        if manager is not None:
            manager.release_locks()


class Controller:
    """Plugin object of the xdist controller: hands workers the directories and port offset.

    It also relays the deploying worker's progress lines.

    :param directories: ``() -> (basedir, shared directory)``.
    :param port_offset: the run's port offset, which every worker uses.
    """

    def __init__(self, config: pytest.Config,
                 directories: Callable[[], tuple[Path, Path | None]], port_offset: int):
        self.config = config
        self.directories = directories
        self.port_offset = port_offset
        self._seen = 0

    def pytest_configure_node(self, node) -> None:
        """Hand a worker the base directory, the shared directory, the offset (xdist hook)."""
        basedir, shared = self.directories()
        node.workerinput["jaws_basedir"] = str(basedir)
        node.workerinput["jaws_shared"] = str(shared)
        node.workerinput["jaws_port_offset"] = str(self.port_offset)

    def pytest_runtest_logreport(self, report) -> None:
        """Relay progress lines as test reports arrive."""
        self.relay_progress()

    def relay_progress(self) -> None:
        """Show the deploying worker's progress lines that arrived since last time."""
        _basedir, shared = self.directories()
        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        if shared is None or tr is None or self.config.get_verbosity() < 0:
            return
        try:
            text = (shared / PROGRESS_FILE).read_text()
        except OSError:
            return
        for line in text[self._seen:].splitlines():
            tr.write_line(line)
        self._seen = len(text)


class SharedState:
    """The state file of an xdist run in the ``directory`` shared by its processes.

    It holds the outcome of each environment, recorded by the worker that deployed it (under a
    file lock), read by the others and by the controller.
    """

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def progress_line(self, env: str, step: str, seconds: float) -> None:
        """Append a progress line (for the controller to relay), naming this worker."""
        with open(self.directory / PROGRESS_FILE, "a") as fh:
            fh.write(f"jaws [{env}] {step} ({seconds:.2f} s) [{worker_name()}]\n")

    def _read(self) -> dict:
        try:
            return json.loads((self.directory / STATE_FILE).read_text())
        except (OSError, ValueError):
            return {}

    def sync(self, manager: DeploymentManager, deploy_missing: bool) -> None:
        """Under the file lock: deploy what nobody has deployed yet (when asked), record it, attach.

        ``manager`` is attached to everything recorded.

        :raises DeploymentError: after :data:`LOCK_TIMEOUT` seconds of another process's
            deployment, naming that process.
        """
        lock = FileLock(str(self.directory / LOCK_FILE))
        try:
            lock.acquire(timeout=LOCK_TIMEOUT)
        except Timeout:
            raise DeploymentError(
                f"another process of this run ({lock_holder(lock.lock_file)}) has been deploying "
                f"for more than {LOCK_TIMEOUT:g} s while this worker waited to attach; it is "
                "stuck: end the run and look at that process") from None
        try:
            self._sync_locked(manager, deploy_missing)
        finally:
            lock.release()

    def _sync_locked(self, manager: DeploymentManager, deploy_missing: bool) -> None:
        """Do :meth:`sync`'s work; the caller holds the lock."""
        state = self._read()
        missing = [e for e in manager.plans if e not in state]
        if deploy_missing and missing:
            try:
                manager.deploy_all(missing)
            finally:
                for env in missing:
                    if env in manager.results:
                        state[env] = _record(manager.results[env])
                tmp = self.directory / f"{STATE_FILE}.{os.getpid()}.tmp"
                tmp.write_text(json.dumps(state, indent=1))
                os.replace(tmp, self.directory / STATE_FILE)
        for env, entry in state.items():
            if env in manager.plans and env not in manager.results:
                manager.results[env] = _attach(manager, env, entry)


def _record(outcome: EnvOutcome) -> dict:
    """Return an outcome as JSON-ready data (what another process needs to attach to it)."""
    dep = outcome.deployed
    if dep is None:
        return {"status": "failed", "error": outcome.error, "section": outcome.failure_section}
    return {"status": "deployed", "pids": dep.pids, "healthy_after": dep.healthy_after,
            "unhealthy": dep.unhealthy, "changes": dep.changes,
            "dependencies": dep.dependencies, "adopted": dep.adopted,
            "usernames": {r: i.username for r, i in dep.instances.items()},
            "settled": dep.settled, "settled_stamps": dep.settled_stamps,
            "settled_at": dep.settled_at,
            "worker": worker_name()}


def _attach(manager: DeploymentManager, env: str, entry: dict) -> EnvOutcome:
    """Return the outcome another process recorded, attached to: same plan, same key files."""
    if entry["status"] != "deployed":
        return EnvOutcome(env, None, entry["error"], entry.get("section"))
    plan = manager.plans[env]
    for role_name, username in entry.get("usernames", {}).items():
        adopt.with_username(plan, role_name, username)
    dep = Deployment(plan, resolve_keys(plan))
    dep.adopted = {k: int(v) for k, v in entry.get("adopted", {}).items()}
    for role_name in plan.instances:
        dep.clients[role_name] = dep.client(role_name)
    dep.pids = {k: int(v) for k, v in entry["pids"].items()}
    dep.healthy_after = entry["healthy_after"]
    dep.unhealthy = entry["unhealthy"]
    dep.changes = entry["changes"]
    dep.settled = entry.get("settled", {})
    dep.settled_stamps = entry.get("settled_stamps", {})
    dep.settled_at = entry.get("settled_at")
    dep.ready = True
    dep.dependencies = entry.get("dependencies", [])
    return EnvOutcome(env, dep)
