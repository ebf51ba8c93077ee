"""pytest hooks of pytest-jaws: options, header, parametrization, fixtures, teardown.

Only wiring lives here; the logic is in options, sites, plan, deploy, probes and report.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest

from . import deploy, report
from .options import OPTIONS, OptionsError, Settings, resolve
from .plan import PlanError
from .session import DeploymentManager
from .supervisor import SupervisorError

SETTINGS = pytest.StashKey[Settings]()
MANAGER = pytest.StashKey[DeploymentManager]()
OWN_BASEDIR = pytest.StashKey[Path]()
REPORT = pytest.StashKey[dict]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("jaws", "pytest-jaws: deploy and verify the JAWS supervisord pair")
    for flag, ini, default, help_text in OPTIONS:
        group.addoption(flag, dest=ini, default=None, help=help_text)
        parser.addini(ini, help=help_text, default=default)


def _values(config: pytest.Config) -> dict[str, str | None]:
    out = {}
    for _flag, ini, _default, _help in OPTIONS:
        value = config.getoption(ini)
        out[ini] = value if value is not None else (config.getini(ini) or None)
    return out


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "jaws: a test that uses a JAWS deployment")
    try:
        config.stash[SETTINGS] = resolve(_values(config), config.rootpath)
    except OptionsError as exc:
        raise pytest.UsageError(f"pytest-jaws: {exc}") from None


def pytest_report_header(config: pytest.Config) -> list[str]:
    s = config.stash.get(SETTINGS, None)
    if s is None:
        return []
    import supervisor.options
    version = supervisor.options.VERSION
    kind = "fake" if s.fake else "real"
    return [f"jaws: site {s.site} ({kind}), environments {', '.join(s.envs)}, "
            f"port offset {s.port_offset}",
            f"jaws: sites file {s.sites_file}, base directory "
            f"{s.basedir or '(pytest temporary directory)'}, supervisor {version}"]


def _params(settings: Settings) -> dict[str, list[str]]:
    site = settings.model.sites[settings.site]
    programs = site.programs.jaws + site.programs.jtm
    services = [p for p in programs if settings.model.services[p].health]
    portless = [p for p in programs if not settings.model.services[p].port]
    listening = [p for p in programs if settings.model.services[p].port]
    listening += ["supervisord-jaws", "supervisord-jtm"]
    return {"jaws_program": programs, "jaws_service": services, "jaws_role": ["jaws", "jtm"],
            "jaws_listener": listening, "jaws_portless": portless}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "jaws_env" not in metafunc.fixturenames:
        return
    settings = metafunc.config.stash[SETTINGS]
    extra = [name for name in _params(settings) if name in metafunc.fixturenames]
    if not extra:
        metafunc.parametrize("jaws_env", settings.envs, ids=list(settings.envs), scope="session")
        return
    name = extra[0]
    pairs = [(env, item) for env in settings.envs for item in _params(settings)[name]]
    metafunc.parametrize(["jaws_env", name], pairs, ids=[f"{e}-{i}" for e, i in pairs],
                         scope="session")


@pytest.fixture(scope="session")
def jaws_settings(pytestconfig: pytest.Config) -> Settings:
    """The resolved pytest-jaws settings: site name, environments, sites model, base directory."""
    return pytestconfig.stash[SETTINGS]


@pytest.fixture(scope="session")
def jaws_manager(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
                 ) -> DeploymentManager:
    """The run's :class:`~pytest_jaws.session.DeploymentManager` (deploys, keeps, tears down)."""
    if MANAGER not in pytestconfig.stash:
        settings = pytestconfig.stash[SETTINGS]
        basedir = settings.basedir or _default_basedir(pytestconfig, settings, tmp_path_factory)
        try:
            manager = DeploymentManager(settings, basedir, _progress(pytestconfig))
        except PlanError as exc:
            raise pytest.UsageError(f"pytest-jaws: {exc}") from None
        pytestconfig.stash[MANAGER] = manager
    return pytestconfig.stash[MANAGER]


@pytest.fixture(scope="session")
def jaws_env(request: pytest.FixtureRequest) -> str:
    """The environment under test (dev, staging, prod): a parameter, one per ``--jaws-env``."""
    return request.param


@pytest.fixture(scope="session")
def jaws_deployment(request: pytest.FixtureRequest, jaws_manager: DeploymentManager,
                    jaws_env: str) -> deploy.Deployment:
    """The deployed environment ``jaws_env``: a :class:`pytest_jaws.deploy.Deployment` with the
    plan (instances, programs, ports, URLs, users), the XML-RPC clients and the PIDs.

    All selected environments are deployed concurrently on first use; a failed deployment
    errors the tests of its environment with the cause (program, state, spawn error, stderr).
    """
    capman = request.config.pluginmanager.getplugin("capturemanager")
    try:
        if capman is not None and jaws_env not in jaws_manager.results:
            with capman.global_and_fixture_disabled():  # live progress reaches the terminal
                return jaws_manager.get(jaws_env)
        return jaws_manager.get(jaws_env)
    except (deploy.DeploymentError, SupervisorError) as exc:
        message = f"deployment of {jaws_env} failed: {exc}"
    pytest.fail(message, pytrace=False)


def _default_basedir(config: pytest.Config, settings: Settings,
                     factory: pytest.TempPathFactory) -> Path:
    """pytest's temporary directory, except when role users must traverse it: pytest's
    base is private (0700), so then a fresh world-traversable /tmp/pytest-jaws-* directory,
    removed at the end of the run once its deployments are down."""
    if not settings.separate_users:
        return factory.mktemp("jaws", numbered=True)
    path = Path(tempfile.mkdtemp(prefix="pytest-jaws-"))
    path.chmod(0o755)
    config.stash[OWN_BASEDIR] = path
    return path


def _progress(config: pytest.Config):
    lock = threading.Lock()
    tr = config.pluginmanager.get_plugin("terminalreporter")
    quiet = config.get_verbosity() < 0

    def progress(env: str, step: str, seconds: float) -> None:
        if tr is None or quiet:
            return
        with lock:
            tr.write_line(f"jaws [{env}] {step} ({seconds:.2f} s)")
    return progress


#: Parameters that name the programs a test is about (for the failure section).
PROGRAM_PARAMS = ("jaws_program", "jaws_service", "jaws_listener", "jaws_portless")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Add the "jaws deployment" section to failed tests of a deployment; mask keys."""
    rep = yield
    params = getattr(getattr(item, "callspec", None), "params", {})
    manager = item.config.stash.get(MANAGER, None)
    if rep.failed and manager is not None and params.get("jaws_env") in manager.results:
        outcome = manager.results[params["jaws_env"]]
        named = [params[k] for k in PROGRAM_PARAMS if k in params]
        try:
            if isinstance(outcome, deploy.Deployment):
                report.add_failure_section(rep, report.failure_section(outcome, named))
            elif getattr(outcome, "deployment", None) is not None:
                dep = outcome.deployment
                report.add_failure_section(rep, report.failure_section(dep, named,
                                                                       dep.last_state or {}))
        except Exception as exc:  # noqa: BLE001 - a report must never break the run
            report.add_failure_section(rep, f"(could not read the deployment state: {exc})")
    return report.mask_report(rep)


def _teardown_wanted(policy: str, exitstatus: int) -> bool:
    return policy == "always" or (policy == "on-success" and exitstatus == 0)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    manager = config.stash.get(MANAGER, None)
    if manager is None:
        return
    settings = config.stash[SETTINGS]
    snapshots = {d.env: d.snapshot() for d in manager.deployments()}
    teardown = None
    if _teardown_wanted(settings.teardown, int(exitstatus)):
        start = time.monotonic()
        errors = manager.teardown_all()
        teardown = (time.monotonic() - start, errors)
        if errors:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        own = config.stash.get(OWN_BASEDIR, None)
        if own is not None and not errors and not manager.deployments():
            shutil.rmtree(own, ignore_errors=True)
    data = report.build_report(settings, manager.results, snapshots, teardown, settings.teardown)
    config.stash[REPORT] = data
    if settings.report:
        report.write_report(settings.report, data)


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    data = config.stash.get(REPORT, None)
    manager = config.stash.get(MANAGER, None)
    if data is None or manager is None:
        return
    terminalreporter.section("jaws deployment summary")
    for line in report.summary_lines(data):
        terminalreporter.write_line(line)
    for dep in manager.deployments():
        terminalreporter.write_line(f"jaws {dep.env}: left up at {dep.plan.directory}; reach it with:")
        for inst in dep.plan.instances.values():
            terminalreporter.write_line(
                f"  {dep.plan.directory}/bin/supervisorctl -c {inst.conf} status")
    settings = config.stash[SETTINGS]
    if settings.report:
        terminalreporter.write_line(f"jaws report: {settings.report} "
                                    f"(and {settings.report.with_suffix('.md')})")
