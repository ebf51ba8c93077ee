"""The fixtures of pytest-jaws and how they are parametrized.

``jaws_env`` and the per-item fixtures (``jaws_role``, ``jaws_program``, ``jaws_service``,
``jaws_listener``, ``jaws_portless``, ``jaws_dependency``) are parametrized indirectly, one
test item per value (:func:`pytest_generate_tests`); ``jaws_deployment`` deploys on first use.
"""

from __future__ import annotations

import pytest

from ..deploy.result import Deployment, EnvOutcome
from ..errors import message_of
from ..host.runonce import RunOnce
from ..keys import mask
from ..sites.settings import Settings
from . import runstate
from .manager import DeploymentManager
from .runstate import SETTINGS


def _params(settings: Settings) -> dict[str, list[str]]:
    site = settings.model.sites[settings.site]
    programs = site.programs.all()
    services = [p for p in programs if settings.model.services[p].health]
    portless = [p for p in programs if not settings.model.services[p].port]
    listening = [p for p in programs if settings.model.services[p].port]
    instances: list[str] = list(site.programs.by_instance())
    listening += [f"supervisord-{i}" for i in instances]
    from ..plan.depplan import plan_checks
    from ..sites.sitevars import config_kinds
    dependencies = [c.key for c in plan_checks(site, config_kinds(site), "dev")] or ["none"]
    return {"jaws_program": programs, "jaws_service": services, "jaws_role": instances,
            "jaws_listener": listening, "jaws_portless": portless,
            "jaws_dependency": dependencies}


#: The per-item fixtures, in the order their ids appear in a test id (after the environment).
ITEM_FIXTURES = ("jaws_role", "jaws_program", "jaws_service", "jaws_listener", "jaws_portless",
                 "jaws_dependency")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``jaws_env`` and every per-item fixture a test uses, indirectly.

    As pytest-testinfra parametrizes ``host``: one item per environment x role x program..., the
    full cross product of the fixtures the test asks for, directly or through others.
    """
    names = set(metafunc.fixturenames)
    wanted = [name for name in ITEM_FIXTURES if name in names]
    if "jaws_env" not in names:
        return
    settings = metafunc.config.stash[SETTINGS]
    metafunc.parametrize("jaws_env", settings.envs, ids=list(settings.envs), scope="session",
                         indirect=True)
    params = _params(settings)
    for name in wanted:
        metafunc.parametrize(name, params[name], ids=params[name], scope="session",
                             indirect=True)


@pytest.fixture(scope="session")
def jaws_settings(pytestconfig: pytest.Config) -> Settings:
    """Return the resolved pytest-jaws settings: site name, environments, sites model, base directory."""
    return pytestconfig.stash[SETTINGS]


@pytest.fixture(scope="session")
def jaws_dependency(request: pytest.FixtureRequest, jaws_manager: DeploymentManager,
                    jaws_env: str):
    """Return a MySQL or RabbitMQ server the site declares (sites.yaml ``dependencies:``).

    One test item per server (ids ``mysql``, ``rabbitmq``, ``site_rabbitmq``), as its
    :class:`~pytest_jaws.plan.depplan.DependencyCheck` for ``jaws_env`` (``host``, ``port``,
    ``user``, databases or vhosts in ``targets``). Skips on a site that declares none. Servers
    the run starts (``dependencies: {start: true}``) come up with the deployment, which this
    then deploys first.
    """
    if request.param == "none":
        pytest.skip(f"site {jaws_manager.settings.site} declares no dependencies (its fakes "
                    "meet in the fake broker directory; MySQL and RabbitMQ are not used)")
    plan = jaws_manager.plans[jaws_env]
    if plan.servers is not None:  # started by the run with the deployment: deploy first,
        jaws_manager.get(jaws_env)  # and a failed deployment (servers gone) errors with its cause
    checks = {c.key: c for c in plan.dependencies}
    return checks[request.param]


@pytest.fixture(scope="session")
def jaws_manager(pytestconfig: pytest.Config) -> DeploymentManager:
    """Return the run's deployment manager (:class:`~pytest_jaws.plugin.manager.DeploymentManager`)."""
    return runstate.manager(pytestconfig)


@pytest.fixture(scope="session")
def jaws_env(request: pytest.FixtureRequest) -> str:
    """Return the environment under test (``str``: dev, staging or prod).

    One test item per ``--jaws-env`` entry, in port-table order.
    """
    return request.param


@pytest.fixture(scope="session")
def jaws_role(request: pytest.FixtureRequest, jaws_env: str) -> str:
    """Return a supervisord instance of the site (``str``: ``jaws``, ``jtm`` or ``central``).

    The key of ``jaws_deployment.instances``: one test item per instance the site runs. Its
    :class:`~pytest_jaws.plan.planmodel.InstancePlan` is ``jaws_deployment.instances[jaws_role]``, its
    XML-RPC client ``jaws_deployment.client(jaws_role)``.
    """
    return request.param


@pytest.fixture(scope="session")
def jaws_program(request: pytest.FixtureRequest, jaws_env: str) -> str:
    """Return a supervised program of the site (``str``, JAWS's program name).

    E.g. ``jaws-site-daemon``, ``jaws-cromwell``, ``rest``: one test item per program. Its
    :class:`~pytest_jaws.plan.planmodel.ProgramPlan` (port, health path, shim, logs, start seconds) is
    ``jaws_deployment.plan.programs[jaws_program]``.
    """
    return request.param


@pytest.fixture(scope="session")
def jaws_service(request: pytest.FixtureRequest, jaws_env: str) -> str:
    """Return a program with an HTTP health endpoint (``str``: e.g. ``jaws-cromwell``, ``auth``).

    One test item per such program; ``jaws_deployment.plan.programs[jaws_service]`` has its
    ``url`` (``http://127.0.0.1:<port>``), ``health_path`` and ``health_status``.
    """
    return request.param


@pytest.fixture(scope="session")
def jaws_listener(request: pytest.FixtureRequest, jaws_env: str) -> str:
    """Return everything that listens on a port of the table, one item each.

    A ``str``: a program name or ``supervisord-<instance>``; its port (TCP, int) is
    ``jaws_deployment.plan.ports[jaws_listener]``.
    """
    return request.param


@pytest.fixture(scope="session")
def jaws_portless(request: pytest.FixtureRequest, jaws_env: str) -> str:
    """Return a program without a TCP port (``str``: e.g. ``jaws-site-daemon``, ``jaws-jtm``, ``rpc``).

    One test item each; it must listen nowhere.
    """
    return request.param


@pytest.fixture(scope="session")
def jaws_once(pytestconfig: pytest.Config) -> RunOnce:
    """Return the run's :class:`pytest_jaws.host.runonce.RunOnce`: ``jaws_once.do(key, action)``.

    ``action`` (returning a JSON-serializable dict) runs once per run, in the first process
    that asks, however xdist distributes the tests (``--dist=each``: every worker asks); the
    others get its recorded result. ``result["first"]`` tells where it ran. For checks that
    disturb service, which must do so once per environment.
    """
    return runstate.run_once(pytestconfig)


@pytest.fixture(scope="session")
def jaws_deployment(request: pytest.FixtureRequest, jaws_manager: DeploymentManager,
                    jaws_env: str) -> Deployment:
    """Return the deployed environment ``jaws_env``: a :class:`pytest_jaws.deploy.result.Deployment`.

    It has the plan (instances, programs, ports, URLs, users), the XML-RPC clients and the PIDs.

    All selected environments are deployed concurrently on first use; a failed deployment
    errors the tests of its environment with the cause (program, state, spawn error, stderr).
    """
    capman = request.config.pluginmanager.getplugin("capturemanager")
    try:
        if capman is not None and jaws_env not in jaws_manager.results:
            with capman.global_and_fixture_disabled():  # live progress reaches the terminal
                outcome = jaws_manager.outcome(jaws_env)
        else:
            outcome = jaws_manager.outcome(jaws_env)
    except Exception as exc:  # noqa: BLE001 - no traceback: its locals could hold a key
        outcome = EnvOutcome(jaws_env, error=message_of(exc))
    if outcome.deployed is None:
        pytest.fail(mask(f"deployment of {jaws_env} failed: {outcome.error}"), pytrace=False)
    return outcome.deployed
