"""pytest hooks of pytest-jaws: options, header, parametrization, fixtures, teardown.

Only wiring lives here; the logic is in options, sites, plan, deploy, probes and report.
"""

from __future__ import annotations

import shlex
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from . import deploy, destructive, down, outcomes, planview, render, report
from .basedir import check_existing, choose_basedir, plan_basedir
from .errors import OptionsError, PlanError, TeardownError, UnsafePathError, message_of
from .keys import mask
from .manager import PROGRESS_FILE, DeploymentManager
from .once import FirstShown
from .options import FLAGS, OPTIONS, Settings, resolve
from .plan import make_plan
from .result import EnvOutcome
from .shield import teardown_shield

SETTINGS = pytest.StashKey[Settings]()
MANAGER = pytest.StashKey[DeploymentManager]()
OWN_BASEDIR = pytest.StashKey[Path]()
BASEDIR = pytest.StashKey[tuple]()
PROGRESS_SEEN = pytest.StashKey[int]()
OLD_SIGTERM = pytest.StashKey[object]()
REPORT = pytest.StashKey[dict]()
REPORT_ERROR = pytest.StashKey[str]()
FIRST = pytest.StashKey[FirstShown]()
TALLY = pytest.StashKey[outcomes.OutcomeTally]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("jaws", "pytest-jaws: deploy and verify the JAWS supervisord pair")
    for flag, ini, default, help_text in OPTIONS:
        group.addoption(flag, dest=ini, default=None, help=help_text)
        parser.addini(ini, help=help_text, default=default)
    for flag, ini, help_text in FLAGS:
        group.addoption(flag, dest=ini, action="store_true", default=None, help=help_text)
        parser.addini(ini, help=help_text, type="bool", default=False)


def _values(config: pytest.Config) -> dict[str, str | None]:
    out = {}
    for _flag, ini, _default, _help in OPTIONS:
        value = config.getoption(ini)
        out[ini] = value if value is not None else (config.getini(ini) or None)
    for _flag, ini, _help in FLAGS:
        value = config.getoption(ini)
        out[ini] = bool(value if value is not None else config.getini(ini))
    if "jaws_port_offset" in getattr(config, "workerinput", {}):
        out["jaws_port_offset"] = config.workerinput["jaws_port_offset"]  # the controller's
    return out


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config):
    """``--jaws-plan``: print the plan of every selected environment, execute nothing, exit 0.
    ``--jaws-down``: take down a deployment left up, run no test."""
    if config.getoption("jaws_down"):
        return _take_down(config)
    if not config.getoption("jaws_plan"):
        return None
    try:
        settings = resolve(_values(config), config.rootpath, check_users=False)
        plans = [make_plan(settings.model, settings.site, env, plan_basedir(settings),
                           port_offset=settings.port_offset,
                           source=settings.source, cromwell_jar=settings.cromwell_jar)
                 for env in settings.envs]
        for plan in plans:
            render.render_files(plan, dict.fromkeys(plan.instances, "key"))
    except (OptionsError, PlanError) as exc:
        sys.stderr.write(f"ERROR: pytest-jaws: {exc}\n")
        return pytest.ExitCode.USAGE_ERROR
    description = settings.model.sites[settings.site].description
    for plan in plans:
        sys.stdout.write(planview.plan_text(plan, description))
        target = config.getoption("jaws_plan_dir") or config.getini("jaws_plan_dir")
        if target:
            try:
                written = planview.write_plan_files(plan, Path(target))
            except (OSError, UnsafePathError) as exc:
                sys.stderr.write(f"ERROR: pytest-jaws: --jaws-plan-dir {target}: could not write "
                                 f"the plan files: {exc}\n")
                return pytest.ExitCode.USAGE_ERROR
            sys.stdout.write(f"-- {len(written)} files written under {target}\n")
    sys.stdout.flush()
    return pytest.ExitCode.OK


def _take_down(config: pytest.Config):
    try:
        settings = resolve(_values(config), config.rootpath, check_users=False)
    except OptionsError as exc:
        sys.stderr.write(f"ERROR: pytest-jaws: {exc}\n")
        return pytest.ExitCode.USAGE_ERROR
    try:
        for line in down.take_down(settings):
            sys.stdout.write(line + "\n")
    except (TeardownError, UnsafePathError) as exc:
        sys.stderr.write(f"ERROR: pytest-jaws: {mask(str(exc))}\n")
        return pytest.ExitCode.TESTS_FAILED
    return pytest.ExitCode.OK


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "jaws: a test that uses a JAWS deployment")
    config.addinivalue_line("markers", destructive.MARKER_HELP)
    config.addinivalue_line("markers", destructive.LAST_HELP)
    try:
        config.stash[SETTINGS] = resolve(_values(config), config.rootpath)
        if not hasattr(config, "workerinput"):
            check_existing(config.stash[SETTINGS])
        _check_renderable(config, config.stash[SETTINGS])
    except (OptionsError, PlanError, UnsafePathError) as exc:
        raise pytest.UsageError(f"pytest-jaws: {exc}") from None
    config.stash[TALLY] = outcomes.OutcomeTally()
    config.pluginmanager.register(config.stash[TALLY], "jaws-outcomes")
    # SIGTERM ends the run like Ctrl-C, so that teardown still runs (nothing left behind).
    if (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL):
        config.stash[OLD_SIGTERM] = signal.signal(signal.SIGTERM, _on_sigterm)


def _check_renderable(config: pytest.Config, settings: Settings) -> None:
    """Render every environment's configuration once, for a base directory like the one the
    run will use, so that a value supervisord would not read back unchanged (a path with
    `` #``, a name with ``%``...) is a usage error before anything is created.

    :raises PlanError: (:class:`~pytest_jaws.confvalue.UnsafeValueError`) naming the value.
    """
    basedir = plan_basedir(settings)
    basetemp = config.getoption("basetemp", None)
    if basetemp and not settings.basedir and not settings.model.sites[settings.site].install_base:
        basedir = Path(basetemp).absolute() / "jaws"
    for env in settings.envs:
        plan = make_plan(settings.model, settings.site, env, basedir,
                         port_offset=settings.port_offset)
        render.render_files(plan, dict.fromkeys(plan.instances, "key"))


def pytest_unconfigure(config: pytest.Config) -> None:
    if OLD_SIGTERM in config.stash:
        signal.signal(signal.SIGTERM, config.stash[OLD_SIGTERM])
    # a fresh base directory this run made (the header names it) but never deployed into
    own = config.stash.get(OWN_BASEDIR, None)
    manager = config.stash.get(MANAGER, None)
    if own is not None and (manager is None or not manager.deployments()):
        shutil.rmtree(own, ignore_errors=True)


def pytest_report_header(config: pytest.Config) -> list[str]:
    s = config.stash.get(SETTINGS, None)
    if s is None:
        return []
    import supervisor.options
    version = supervisor.options.VERSION
    kind = "fake" if s.fake else "real"
    return [f"jaws: site {s.site} ({kind}), environments {', '.join(s.envs)}, "
            f"port offset {s.port_offset}" + (" (chosen by auto)" if s.offset_lock else ""),
            f"jaws: sites file {s.sites_file}, base directory {_basedir(config)[0]}, "
            f"supervisor {version}"] + [
                f"jaws: fake twin of {s.site}, replaced: {r}" for r in s.replaced] + [
                f"jaws: WARNING: site {s.site} binds every interface ({site.bind}), as its "
                "bind_all_interfaces: true says" for site in [s.model.sites[s.site]]
                if site.bind_all_interfaces] + destructive.header_lines(s)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the checks that disturb service (marker ``jaws_destructive``) where they must
    not run (:mod:`pytest_jaws.destructive`; the report header says why), and run the checks
    marked ``jaws_last`` after the others."""
    settings = config.stash.get(SETTINGS, None)
    if settings is None:
        return
    kept, dropped = destructive.select(items, settings)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = destructive.run_last(kept)


def _params(settings: Settings) -> dict[str, list[str]]:
    site = settings.model.sites[settings.site]
    programs = site.programs.all()
    services = [p for p in programs if settings.model.services[p].health]
    portless = [p for p in programs if not settings.model.services[p].port]
    listening = [p for p in programs if settings.model.services[p].port]
    instances = list(site.programs.by_instance())
    listening += [f"supervisord-{i}" for i in instances]
    from .dependencies import plan_checks
    from .jawsconf import config_kinds
    dependencies = [c.key for c in plan_checks(site, config_kinds(site), "dev")] or ["none"]
    return {"jaws_program": programs, "jaws_service": services, "jaws_role": instances,
            "jaws_listener": listening, "jaws_portless": portless,
            "jaws_dependency": dependencies}


#: The per-item fixtures, in the order their ids appear in a test id (after the environment).
ITEM_FIXTURES = ("jaws_role", "jaws_program", "jaws_service", "jaws_listener", "jaws_portless",
                 "jaws_dependency")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``jaws_env`` and every per-item fixture a test uses, indirectly (as
    pytest-testinfra parametrizes ``host``): one item per environment x role x program...,
    the full cross product of the fixtures the test asks for, directly or through others."""
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
    """The resolved pytest-jaws settings: site name, environments, sites model, base directory."""
    return pytestconfig.stash[SETTINGS]


@pytest.fixture(scope="session")
def jaws_dependency(request: pytest.FixtureRequest, jaws_manager: DeploymentManager,
                    jaws_env: str):
    """A MySQL or RabbitMQ server the site declares (sites.yaml ``dependencies:``): one test item
    per server (ids ``mysql``, ``rabbitmq``, ``site_rabbitmq``), as its
    :class:`~pytest_jaws.dependencies.DependencyCheck` for ``jaws_env`` (``host``, ``port``,
    ``user``, databases or vhosts in ``targets``). Skips on a site that declares none."""
    if request.param == "none":
        pytest.skip(f"site {jaws_manager.settings.site} declares no dependencies (its fakes "
                    "meet in the fake broker directory; MySQL and RabbitMQ are not used)")
    checks = {c.key: c for c in jaws_manager.plans[jaws_env].dependencies}
    return checks[request.param]


def _xdist_role(config: pytest.Config) -> str:
    """``worker``, ``controller`` (xdist distributes) or ``single``."""
    if hasattr(config, "workerinput"):
        return "worker"
    if config.pluginmanager.getplugin("dsession") is not None:
        return "controller"
    return "single"


def _basedir(config: pytest.Config) -> tuple[Path, Path | None]:
    """``(basedir, shared)``: where the environments go and, under xdist, the shared directory
    of lock, state and progress files. Workers get both from the controller."""
    if hasattr(config, "workerinput"):
        return Path(config.workerinput["jaws_basedir"]), Path(config.workerinput["jaws_shared"])
    if BASEDIR not in config.stash:
        settings = config.stash[SETTINGS]
        # pytest's own temporary root (TempPathFactory is created in pytest_configure).
        root = config._tmp_path_factory.getbasetemp()  # noqa: SLF001
        try:
            basedir, owned = choose_basedir(settings, root)
        except UnsafePathError as exc:
            raise pytest.UsageError(f"pytest-jaws: base directory: {exc}") from None
        if owned:
            config.stash[OWN_BASEDIR] = basedir
        shared = root if _xdist_role(config) == "controller" else None
        config.stash[BASEDIR] = (basedir, shared)
    return config.stash[BASEDIR]


def _manager(config: pytest.Config) -> DeploymentManager:
    if MANAGER not in config.stash:
        settings = config.stash[SETTINGS]
        basedir, shared = _basedir(config)
        try:
            config.stash[MANAGER] = DeploymentManager(settings, basedir, _progress(config),
                                                      shared=shared)
        except PlanError as exc:
            raise pytest.UsageError(f"pytest-jaws: {exc}") from None
    return config.stash[MANAGER]


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """xdist controller: hand every worker the base directory and the shared directory."""
    basedir, shared = _basedir(node.config)
    node.workerinput["jaws_basedir"] = str(basedir)
    node.workerinput["jaws_shared"] = str(shared)
    node.workerinput["jaws_port_offset"] = str(node.config.stash[SETTINGS].port_offset)


@pytest.fixture(scope="session")
def jaws_manager(pytestconfig: pytest.Config) -> DeploymentManager:
    """The run's :class:`~pytest_jaws.manager.DeploymentManager` (deploys, keeps, tears down)."""
    return _manager(pytestconfig)


@pytest.fixture(scope="session")
def jaws_env(request: pytest.FixtureRequest) -> str:
    """The environment under test (``str``: dev, staging or prod): one test item per
    ``--jaws-env`` entry, in port-table order."""
    return request.param


@pytest.fixture(scope="session")
def jaws_role(request: pytest.FixtureRequest, jaws_env: str) -> str:
    """A supervisord instance of the site (``str``: ``jaws``, ``jtm`` or ``central``; the key of
    ``jaws_deployment.instances``): one test item per instance the site runs. Its
    :class:`~pytest_jaws.plan.InstancePlan` is ``jaws_deployment.instances[jaws_role]``, its
    XML-RPC client ``jaws_deployment.client(jaws_role)``."""
    return request.param


@pytest.fixture(scope="session")
def jaws_program(request: pytest.FixtureRequest, jaws_env: str) -> str:
    """A supervised program of the site (``str``, JAWS's program name, e.g.
    ``jaws-site-daemon``, ``jaws-cromwell``, ``rest``): one test item per program. Its
    :class:`~pytest_jaws.plan.ProgramPlan` (port, health path, shim, logs, start seconds) is
    ``jaws_deployment.plan.programs[jaws_program]``."""
    return request.param


@pytest.fixture(scope="session")
def jaws_service(request: pytest.FixtureRequest, jaws_env: str) -> str:
    """A program with an HTTP health endpoint (``str``: e.g. ``jaws-cromwell``, ``auth``,
    ``rest``): one test item per such program; ``jaws_deployment.plan.programs[jaws_service]``
    has its ``url`` (``http://127.0.0.1:<port>``), ``health_path`` and ``health_status``."""
    return request.param


@pytest.fixture(scope="session")
def jaws_listener(request: pytest.FixtureRequest, jaws_env: str) -> str:
    """Everything that listens on a port of the table (``str``: a program name or
    ``supervisord-<instance>``): one item each; its port (TCP, int) is
    ``jaws_deployment.plan.ports[jaws_listener]``."""
    return request.param


@pytest.fixture(scope="session")
def jaws_portless(request: pytest.FixtureRequest, jaws_env: str) -> str:
    """A program without a TCP port (``str``: e.g. ``jaws-site-daemon``, ``jaws-jtm``,
    ``rpc``): one test item each; it must listen nowhere."""
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
                outcome = jaws_manager.outcome(jaws_env)
        else:
            outcome = jaws_manager.outcome(jaws_env)
    except Exception as exc:  # noqa: BLE001 - no traceback: its locals could hold a key
        outcome = EnvOutcome(jaws_env, error=message_of(exc))
    if outcome.deployed is None:
        pytest.fail(mask(f"deployment of {jaws_env} failed: {outcome.error}"), pytrace=False)
    return outcome.deployed


def _first(config: pytest.Config) -> FirstShown:
    """The run's record of which test showed which long text first (xdist-wide)."""
    if FIRST not in config.stash:
        shared = _basedir(config)[1] if _xdist_role(config) != "single" else None
        config.stash[FIRST] = FirstShown(shared)
    return config.stash[FIRST]


def _progress(config: pytest.Config):
    lock = threading.Lock()
    tr = config.pluginmanager.get_plugin("terminalreporter")
    quiet = config.get_verbosity() < 0

    def progress(env: str, step: str, seconds: float) -> None:
        if tr is None or quiet:
            return
        with lock:
            tr.write_line(f"jaws [{env}] {step} ({seconds:.2f} s)")
            tr.flush()  # live: a pipe (CI log, a waiting test) sees it now, not at exit
    return progress


#: Parameters that name the programs a test is about (for the failure section).
PROGRAM_PARAMS = ("jaws_program", "jaws_service", "jaws_listener", "jaws_portless")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Add the "jaws deployment" section to failed tests of a deployment; mask keys."""
    rep = yield
    params = getattr(getattr(item, "callspec", None), "params", {})
    outcomes.tag(rep, params.get("jaws_env"))
    manager = item.config.stash.get(MANAGER, None)
    if rep.failed and manager is not None and params.get("jaws_env") in manager.results:
        env = params["jaws_env"]
        outcome = manager.results[env]
        named = [params[k] for k in PROGRAM_PARAMS if k in params]
        plan = manager.plans[env]
        role = params.get("jaws_role") or next(
            (plan.programs[n].role for n in named if n in plan.programs), None)
        # a failed deployment has one section for the environment; a deployed one, one per
        # instance (and one for tests about neither)
        deployed = outcome.deployed is not None
        where = plan.instances[role].name if role and deployed else "both instances"
        # a failed deployment: the test that showed its full message shows the full section
        key = f"section {env} {where}" if deployed else f"setup {env}"
        first = _first(item.config).claim(key, item.nodeid)
        if first is not None and not deployed and rep.when == "setup":
            # the same setup error in every test of the environment: in full only once
            text = str(rep.longrepr)
            line = next((ln for ln in text.splitlines() if f"deployment of {env} failed" in ln),
                        text.splitlines()[0] if text else "")
            rep.longrepr = (f"{line[:300]} (full message: see the first error of environment "
                            f"{env}: {first})")
        try:
            if first is not None:  # the full section once per environment and instance
                report.add_failure_section(
                    rep, f"(see the first error of environment {env} ({where}) for the full "
                         f"section: {first})")
            elif outcome.deployed is not None:  # read live
                report.add_failure_section(rep, report.failure_section(outcome.deployed, named))
            elif outcome.failure_section:
                report.add_failure_section(rep, outcome.failure_section)
        except Exception as exc:  # noqa: BLE001 - a report must never break the run
            report.add_failure_section(rep, f"(could not read the deployment state: {exc})")
    return report.mask_report(rep)


def _teardown_wanted(policy: str, exitstatus: int) -> bool:
    return policy == "always" or (policy == "on-success" and exitstatus == 0)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int):
    """End of run: tear down (by policy), build and write the report. Shielded from SIGINT and
    SIGTERM (:mod:`pytest_jaws.shield`) until the terminal summary is printed too: outermost
    wrapper, around the terminal reporter's own."""
    config = session.config
    role = _xdist_role(config)
    if role == "worker":
        # the controller tears down, after every worker is done: it takes the directory
        # locks over (a worker that deployed holds them until here)
        if config.stash.get(MANAGER, None) is not None:
            config.stash[MANAGER].release_locks()
        return (yield)
    if role == "controller" or config.stash.get(MANAGER, None) is not None:
        with teardown_shield():
            _finish(session, exitstatus)
            return (yield)
    return (yield)


def _finish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if _xdist_role(config) == "controller":
        manager = _manager(config)
        manager.attach_recorded()
        _print_progress(config)
    else:
        manager = config.stash[MANAGER]
    settings = config.stash[SETTINGS]
    snapshots = {d.env: d.snapshot() for d in manager.deployments()}
    teardown = None
    if _teardown_wanted(settings.teardown, int(exitstatus)):
        tr = config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None and manager.results:  # something of this run may be up
            tr.write_line(f"jaws: tearing down {', '.join(manager.results)} (Ctrl-C is held "
                          "off until it is done)")
            tr.flush()
        start = time.monotonic()
        errors = manager.teardown_all()
        teardown = (time.monotonic() - start, errors)
        if errors:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        own = config.stash.get(OWN_BASEDIR, None)
        if own is not None and not errors and not manager.deployments():
            shutil.rmtree(own, ignore_errors=True)
    tally = config.stash.get(TALLY, None)
    data = report.build_report(settings, manager.results, snapshots, teardown, settings.teardown,
                               tally.by_env if tally else None)
    config.stash[REPORT] = data
    if settings.report:
        try:
            report.write_report(settings.report, data)
        except (OSError, UnsafePathError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            config.stash[REPORT_ERROR] = f"could not write {settings.report}: {why}"
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    manager.release_locks()  # a deployment left up stays up; the next run may take it over


def _print_progress(config: pytest.Config) -> None:
    """xdist controller: show the deploying worker's progress lines that arrived since last."""
    basedir, shared = _basedir(config)
    tr = config.pluginmanager.get_plugin("terminalreporter")
    if shared is None or tr is None or config.get_verbosity() < 0:
        return
    try:
        text = (shared / PROGRESS_FILE).read_text()
    except OSError:
        return
    seen = config.stash.get(PROGRESS_SEEN, 0)
    for line in text[seen:].splitlines():
        tr.write_line(line)
    config.stash[PROGRESS_SEEN] = len(text)


class _ControllerProgress:
    """xdist controller: relays the deploying worker's progress as test reports arrive."""

    def __init__(self, config: pytest.Config):
        self.config = config

    def pytest_runtest_logreport(self, report) -> None:
        _print_progress(self.config)


def pytest_sessionstart(session: pytest.Session) -> None:
    if _xdist_role(session.config) == "controller":
        session.config.pluginmanager.register(_ControllerProgress(session.config),
                                              "jaws-controller-progress")


@pytest.hookimpl(trylast=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test of a deployment whose supervisord died errors here, naming the instance."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    manager = item.config.stash.get(MANAGER, None)
    env = params.get("jaws_env")
    if manager is None or env not in manager.results:
        return
    dep = manager.results[env].deployed
    if dep is not None:
        problem = deploy.dead_instance(dep)
        if problem:
            pytest.fail(problem, pytrace=False)
        for message in dep.hung.values():  # one timeout per hung instance, not per test
            pytest.fail(f"{message}; marked hung after that first timeout: test not run",
                        pytrace=False)


def _on_sigterm(signum, frame) -> None:
    raise KeyboardInterrupt("SIGTERM")


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    data = config.stash.get(REPORT, None)
    manager = config.stash.get(MANAGER, None)
    if data is None or manager is None:
        return
    if not data["environments"] and not data["teardown"]["errors"]:
        return  # nothing was deployed (an xdist controller whose workers used no deployment)
    terminalreporter.section("jaws deployment summary")
    for line in report.summary_lines(data):
        terminalreporter.write_line(line)
    settings = config.stash[SETTINGS]
    for dep in manager.deployments():
        terminalreporter.write_line(f"jaws {dep.env}: left up at {dep.plan.directory}; reach it with:")
        for inst in dep.plan.instances.values():
            terminalreporter.write_line("  " + shlex.join(
                [str(inst.directory / "bin" / "supervisorctl"), "-c", str(inst.conf), "status"]))
        terminalreporter.write_line("  take it down with: " + down.down_command(
            settings.site, dep.env, dep.plan.base, settings.port_offset))
    settings = config.stash[SETTINGS]
    if REPORT_ERROR in config.stash:
        terminalreporter.write_line(f"jaws report: ERROR: {config.stash[REPORT_ERROR]}", red=True)
    elif settings.report:
        terminalreporter.write_line(f"jaws report: {settings.report} "
                                    f"(and {settings.report.with_suffix('.md')})")
