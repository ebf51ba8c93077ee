"""What deploying an environment gives: a :class:`Deployment` and an :class:`EnvOutcome`.

The deployed environment as data (:class:`Deployment`) and the outcome of each environment,
deployed or failed (:class:`EnvOutcome`).

:mod:`pytest_jaws.deploy.deploy` makes them (apply, teardown); this module only holds them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import SupervisorError
from ..host.supervisor import RpcClient
from ..keys import mask
from ..plan.planmodel import EnvironmentPlan, InstancePlan

#: Seconds a call to a deployed instance rides through its restart (a SIGHUP reload stops
#: and starts every program: cromwell's stopwaitsecs can make that long).
RELOAD_WAIT = 30.0


@dataclass(repr=False)
class Deployment:
    """A deployed environment, as the suites see it.

    ``plan`` has every path, port, user and program; ``keys`` maps role -> key (secret: never
    print it); ``clients`` maps role -> :class:`RpcClient`; ``pids`` maps role -> supervisord
    PID; ``infos`` maps program -> its last supervisor process info; ``last_state`` is the
    :meth:`snapshot` taken when setup failed, before teardown; ``changes`` says what apply
    did (``summary``: deployed / unchanged / changed: restarted X, ``reused_instances``,
    ``restarted_programs``, ``packages``: what the install did per package of the
    checkout); ``healthy_after`` maps
    program -> seconds from apply start to healthy; ``dependencies`` what the pre-flight
    checked of MySQL and RabbitMQ (one line per server);
    ``adopted`` maps role -> PID of a live
    supervisord found on its port and taken over (not started by this run, no marker);
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
    changes: dict | None = None
    #: ``{instance name: message}`` of instances that timed out once (hung): every later call
    #: to them fails at once with that message (see :class:`RpcClient`).
    hung: dict[str, str] = field(default_factory=dict)
    #: True once the deployment is up (apply finished, or attached under xdist): only then
    #: does a timeout mark an instance hung (a slow start is waited for, not marked).
    ready: bool = False
    #: Ports this deployment added to ``net.ipv4.ip_local_reserved_ports`` (a fake site's
    #: ports in the ephemeral range, as root), given back at teardown.
    reserved: set[int] = field(default_factory=set)
    dependencies: list[str] = field(default_factory=list)
    adopted: dict[str, int] = field(default_factory=dict)
    #: Programs whose start failed the deployment (:func:`pytest_jaws.deploy.waits.wait_programs`):
    #: a failure's section shows their logs even when they are RUNNING again (with a fake
    #: site's startsecs 0, supervisord restarts them at once).
    failed_start: list[str] = field(default_factory=list)
    #: What :func:`pytest_jaws.deploy.stability.settle` recorded when the deployment settled:
    #: program -> ``{"pid", "start"}`` (supervisord's), role -> the last timestamp of its
    #: supervisord's log, and when (``time.time()``, seconds; None before it settled).
    settled: dict[str, dict] = field(default_factory=dict)
    settled_stamps: dict[str, str] = field(default_factory=dict)
    settled_at: float | None = None

    @property
    def env(self) -> str:
        """The environment name (dev, staging, prod)."""
        return self.plan.env

    @property
    def instances(self) -> dict[str, InstancePlan]:
        """Role -> instance plan."""
        return self.plan.instances

    def client(self, role: str, key: str | None = "own", **kw) -> RpcClient:
        """Return a new XML-RPC client of ``role``'s instance.

        ``key=None`` calls without credentials, another string uses that key instead of the
        instance's own. It shares the deployment's :attr:`hung` marks (``hung=None`` for a client
        that ignores them) and, once the deployment is ready, rides through a restart of the
        instance for :data:`RELOAD_WAIT` seconds (``reload_wait=0`` for one that does not).
        """
        use = self.keys[role] if key == "own" else key
        kw.setdefault("hung", self.hung if self.ready else None)
        # a deployed instance restarted by someone (SIGHUP) is waited for, not a raw error
        kw.setdefault("reload_wait", RELOAD_WAIT if self.ready else 0.0)
        return RpcClient(self.plan.instances[role], self.env, use, **kw)

    def snapshot(self, timeout: float = 3.0) -> dict[str, list[dict] | str]:
        """Return role -> ``getAllProcessInfo()`` of its instance, or the error text.

        The error text when it does not answer (read live, keys masked in errors).
        """
        out: dict[str, list[dict] | str] = {}
        for role in self.plan.instances:
            try:
                out[role] = self.client(role, timeout=timeout).supervisor.getAllProcessInfo()
            except SupervisorError as exc:
                out[role] = mask(str(exc))
        return out

    def __repr__(self) -> str:
        """Name the deployment by site, environment and directory: keys stay out of tracebacks."""
        return f"<Deployment {self.plan.site}/{self.env} at {self.plan.directory}>"

    def instance_of(self, program: str) -> InstancePlan:
        """Return the instance that supervises ``program``."""
        return self.plan.instances[self.plan.programs[program].instance]


@dataclass(frozen=True)
class EnvOutcome:
    """What deploying one environment came to: the one shape its readers read.

    The manager, the plugin hooks and the report read it (built by
    :func:`pytest_jaws.plugin.envoutcome.outcome_of`; under xdist also read back from the worker that
    deployed).

    ``deployment`` is the :class:`Deployment`: up when ``error`` is None; for a failed
    environment the one it reached (its ``last_state`` taken before the teardown), or None
    when it failed before one existed or in another xdist worker. ``error`` is the message
    of the failure (keys masked), None when deployed. ``failure_section`` is the "jaws
    deployment" section of a failed environment, built when it failed (None when deployed:
    the section of a deployed environment is read live).
    """

    env: str
    deployment: Deployment | None = None
    error: str | None = None
    failure_section: str | None = None

    @property
    def deployed(self) -> Deployment | None:
        """The deployment when the environment is up, else None."""
        return self.deployment if self.error is None else None
