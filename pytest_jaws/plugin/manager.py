"""The deployments of one pytest run: deployed together on first use, torn down at the end.

All selected environments are deployed concurrently (one thread each) the first time any test
asks for one; each environment's outcome is kept separately, so a failed environment errors
its own tests only.

Under pytest-xdist every worker's manager has the run's :class:`~pytest_jaws.plugin.xdist.SharedState`:
the first worker that needs the environments deploys them and records their outcomes there;
the other workers attach to what is recorded. Only the controller tears down, after every
worker has finished (:mod:`pytest_jaws.plugin.xdist`).

Each attempt's outcome is built by :func:`pytest_jaws.plugin.envoutcome.outcome_of`; the
directory locks are taken for teardown by :mod:`pytest_jaws.plugin.teardownlock`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import pytest

from ..deploy import adopt, commands, deploy, runservers
from ..deploy.result import Deployment, EnvOutcome
from ..deploy.waits import Progress
from ..errors import Cancelled, DeploymentError, PortBusyError, RunLockBusy
from ..host import filesystem, processes
from ..host.runlock import RunLock
from ..plan.plan import make_plan
from ..plan.planmodel import EnvironmentPlan
from ..sites.settings import Settings
from .envoutcome import outcome_of
from .teardownlock import acquire_after_workers


class SharedState(Protocol):
    """What a manager asks of the run's shared state under xdist (``xdist.SharedState`` has it).

    Declared here, by its use, so that this module does not import :mod:`pytest_jaws.plugin.xdist`
    (which imports this one): the coordination depends on the manager, never the reverse.
    """

    def progress_line(self, env: str, step: str, seconds: float) -> None:
        """Record a progress line of ``env``'s deployment (``seconds`` since its start)."""

    def sync(self, manager: DeploymentManager, deploy_missing: bool) -> None:
        """Deploy what nobody has deployed yet (when ``deploy_missing``) and attach ``manager``."""


#: Where a run keeps its manager (``config.stash``).
MANAGER = pytest.StashKey["DeploymentManager"]()


class DeploymentManager:
    """Owns every :class:`pytest_jaws.deploy.result.Deployment` of a run.

    :param settings: resolved options.
    :param basedir: where the environment directories go.
    :param progress: called as ``progress(env, step, seconds)`` from deploying threads.
    :param shared: xdist only: the run's shared state (outcomes recorded by the worker that
        deployed them; progress lines for the controller).
    :param amend: ``amend(plan=..., files=...)`` changes an environment's rendered files
        before they are written (the ``pytest_jaws_plan`` hook; see :class:`deploy.Attempt`).
    """

    def __init__(self, settings: Settings, basedir: Path,
                 progress: Progress | None = None, shared: SharedState | None = None,
                 amend: Callable[..., object] | None = None):
        self.amend = amend
        self.settings = settings
        self.basedir = basedir
        self.shared = shared
        self._progress = progress or (lambda *_: None)
        self.plans: dict[str, EnvironmentPlan] = {
            env: make_plan(settings.model, settings.site, env, basedir,
                           port_offset=settings.port_offset,
                           source=settings.source, cromwell_jar=settings.cromwell_jar,
                           play_operator=settings.play_operator)
            for env in settings.envs
        }
        self.results: dict[str, EnvOutcome] = {}
        #: One lock per environment directory, held from pre-flight to teardown
        #: (:mod:`pytest_jaws.host.runlock`): one run per deployment directory.
        self.locks: dict[str, RunLock] = {env: RunLock(plan.directory)
                                          for env, plan in self.plans.items()}
        self.down: set[str] = set()
        self.cancel = threading.Event()
        self._lock = threading.Lock()

    def progress(self, env: str, step: str, seconds: float) -> None:
        """Report a step; under xdist also record it for the controller to relay."""
        self._progress(env, step, seconds)
        if self.shared is not None:
            self.shared.progress_line(env, step, seconds)

    def _deploy_one(self, env: str) -> EnvOutcome:
        try:
            self.locks[env].acquire()
        except RunLockBusy as exc:
            return outcome_of(env, None, PortBusyError(f"pre-flight failed: {exc}"))
        except OSError as exc:  # a base directory that went read-only, full, unwritable
            return outcome_of(env, None, DeploymentError(
                f"pre-flight failed: {filesystem.os_error(exc, 'taking the run lock')}"))
        attempt = deploy.Attempt(self.plans[env], self.progress, cancel=self.cancel,
                                 amend=self.amend, rerun=commands.rerun_command(
                                     self.settings, env, self.basedir))
        try:
            attempt.run()
        except Exception as exc:  # noqa: BLE001 - kept per environment, shown in its tests
            return outcome_of(env, attempt, exc)
        return outcome_of(env, attempt)

    def deploy_all(self, envs: list[str] | None = None) -> None:
        """Deploy the given (default: every not yet attempted) environments, concurrently.

        On an interrupt (KeyboardInterrupt, also SIGTERM and SIGHUP, see :mod:`pytest_jaws.plugin`)
        the deployments in flight are cancelled, tear themselves down, and the interrupt is
        re-raised.
        """
        with self._lock:
            todo = [e for e in (envs or self.plans) if e not in self.results]
            if not todo:
                return
            pool = ThreadPoolExecutor(len(todo))
            futures = {env: pool.submit(self._deploy_one, env) for env in todo}
            try:
                for env, fut in futures.items():
                    self.results[env] = fut.result()
            except BaseException:
                self.cancel.set()
                pool.shutdown(wait=True)
                for env, fut in futures.items():
                    if fut.done() and env not in self.results:
                        outcome = fut.result()
                        if outcome.error is not None:  # say what really happened
                            first = outcome.error.splitlines()[0] if outcome.error else ""
                            outcome = outcome_of(env, None, Cancelled(
                                f"interrupted (Ctrl-C, SIGTERM or SIGHUP) while deploying {env}; "
                                f"what was started is torn down ({first})"))
                        self.results[env] = outcome
                raise
            finally:
                pool.shutdown(wait=False)

    def outcome(self, env: str) -> EnvOutcome:
        """Return the outcome of ``env``, deploying (or, under xdist, attaching) on first call."""
        if env not in self.results:
            if self.shared is None:
                self.deploy_all()
            else:
                self.shared.sync(self, deploy_missing=True)
        return self.results[env]

    def get(self, env: str) -> Deployment:
        """Return the deployment of ``env``, deploying (or, under xdist, attaching) on first call.

        :raises DeploymentError: with the message of the failure when ``env`` could not be
            deployed.
        """
        outcome = self.outcome(env)
        if outcome.deployed is None:
            raise DeploymentError(outcome.error)
        return outcome.deployed

    def attach_recorded(self) -> None:
        """Attach to whatever the workers recorded, deploying nothing (the xdist controller)."""
        if self.shared is not None:
            self.shared.sync(self, deploy_missing=False)

    # --- end of run -------------------------------------------------------------------------

    def deployments(self) -> list[Deployment]:
        """Return the environments that were deployed successfully and are not torn down."""
        return [o.deployed for o in self.results.values()
                if o.deployed is not None and o.env not in self.down]

    def teardown_all(self) -> list[str]:
        """Tear every deployment down, concurrently; end the stragglers of the others by marker.

        :func:`deploy.teardown` ends its stragglers by PID; for the planned environments that were
        not deployed (failed, or interrupted half-way), any process still carrying their marker is
        ended by PID.

        :returns: error messages of teardowns that left processes behind (empty when clean).
        """
        self.cancel.set()
        errors: list[str] = []
        mine = {env for env in self.plans if self._claim(env, errors)}
        deps = [dep for dep in self.deployments() if dep.env in mine]

        def down(dep: Deployment) -> str | None:
            try:
                deploy.teardown(dep)
            except Exception as exc:  # noqa: BLE001 - collected and reported
                return str(exc)
            return None

        if deps:
            with ThreadPoolExecutor(len(deps)) as pool:
                errors = [e for e in pool.map(down, deps) if e]
        self.down.update(dep.env for dep in deps)
        torn_down = {dep.env for dep in deps}
        for plan in (p for env, p in self.plans.items() if env not in torn_down and env in mine):
            protected = adopt.protected_pids(plan)
            stray = [p for p in processes.marked(plan.marker) if p.pid not in protected]
            alive = processes.terminate(stray) if stray else []
            if plan.servers is not None:  # the run-started servers of a failed deployment
                try:
                    runservers.stop(plan.servers)
                except DeploymentError as exc:
                    errors.append(f"environment {plan.env}: {exc}")
            if alive:
                errors.append(f"environment {plan.env}: processes survived teardown: "
                              + ", ".join(f"PID {p.pid}" for p in alive))
        self.release_locks()
        return errors

    def _claim(self, env: str, errors: list[str]) -> bool:
        """Hold ``env``'s directory lock for teardown; False when another run holds it.

        The xdist controller takes it over from the worker that deployed. False, with the reason in
        ``errors``, when another run holds it: then nothing of that environment is stopped.
        """
        lock = self.locks[env]
        if lock.held:
            return True
        if env not in self.results and not lock.directory.parent.exists():
            return False  # never deployed, nothing there to sweep
        try:
            acquire_after_workers(lock)
        except (RunLockBusy, OSError) as exc:
            if env in self.results:
                why = filesystem.os_error(exc, "taking the run lock") \
                    if isinstance(exc, OSError) else str(exc)
                errors.append(f"environment {env}: not torn down: {why}")
            return False
        return True

    def release_locks(self) -> None:
        """Give up every directory lock (end of run; a deployment left up stays up)."""
        for lock in self.locks.values():
            lock.release()
