"""The deployments of one pytest run: deployed together on first use, torn down at the end.

All selected environments are deployed concurrently (one thread each) the first time any test
asks for one; each environment's outcome is kept separately, so a failed environment errors
its own tests only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import deploy
from .options import Settings
from .plan import EnvironmentPlan, make_plan


class DeploymentManager:
    """Owns every :class:`pytest_jaws.deploy.Deployment` of a run.

    :param settings: resolved options.
    :param basedir: where the environment directories go (seconds and ports are per plan).
    :param progress: called as ``progress(env, step, seconds)`` from deploying threads.
    """

    def __init__(self, settings: Settings, basedir: Path,
                 progress: deploy.Progress | None = None):
        self.settings = settings
        self.basedir = basedir
        self.progress = progress or (lambda *_: None)
        self.plans: dict[str, EnvironmentPlan] = {
            env: make_plan(settings.model, settings.site, env, basedir,
                           port_offset=settings.port_offset)
            for env in settings.envs
        }
        self.results: dict[str, deploy.Deployment | BaseException] = {}
        self.down: set[str] = set()
        self._lock = threading.Lock()

    def _deploy_one(self, env: str) -> deploy.Deployment | BaseException:
        try:
            return deploy.apply(self.plans[env], self.progress)
        except Exception as exc:  # noqa: BLE001 - kept per environment, raised to its tests
            return exc

    def deploy_all(self) -> None:
        """Deploy every environment not yet attempted, concurrently."""
        with self._lock:
            todo = [env for env in self.plans if env not in self.results]
            if not todo:
                return
            with ThreadPoolExecutor(len(todo)) as pool:
                for env, outcome in zip(todo, pool.map(self._deploy_one, todo), strict=True):
                    self.results[env] = outcome

    def get(self, env: str) -> deploy.Deployment:
        """The deployment of ``env``, deploying all environments on first call.

        :raises deploy.DeploymentError: (or another error) when ``env`` could not be deployed.
        """
        if env not in self.results:
            self.deploy_all()
        outcome = self.results[env]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def deployments(self) -> list[deploy.Deployment]:
        """The environments that were deployed successfully and are not torn down."""
        return [d for d in self.results.values()
                if isinstance(d, deploy.Deployment) and d.env not in self.down]

    def teardown_all(self, report: Callable[[str], None] | None = None) -> list[str]:
        """Tear every successful deployment down, concurrently.

        :returns: error messages of teardowns that left processes behind (empty when clean).
        """
        deps = self.deployments()
        errors: list[str] = []
        if not deps:
            return errors

        def down(dep: deploy.Deployment) -> str | None:
            try:
                deploy.teardown(dep)
            except Exception as exc:  # noqa: BLE001 - collected and reported
                return str(exc)
            return None

        with ThreadPoolExecutor(len(deps)) as pool:
            errors = [e for e in pool.map(down, deps) if e]
        self.down.update(dep.env for dep in deps)
        return errors
