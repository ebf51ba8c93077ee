"""pytest hooks of pytest-jaws: options, ``--jaws-plan``/``--jaws-down``, configuration, the end.

Options, ``--jaws-plan``/``--jaws-down``, configuration, header, selection, and the end of the
run (teardown, report).

Only wiring lives here; the logic is in options, sites, plan, deploy, probes and report. The
fixtures are in :mod:`pytest_jaws.plugin.fixtures`, the hooks that report on tests in
:mod:`pytest_jaws.plugin.reporting`, xdist's coordination in :mod:`pytest_jaws.plugin.xdist`, the run's
state in :mod:`pytest_jaws.plugin.runstate`.

The subpackage pytest_jaws.plugin: pytest's wiring, and only that. Options, the hooks
pytest-jaws adds, fixtures, the run's state in pytest's stash, the deployments of one run
(manager), xdist coordination, the reporting hooks, teardown shielded from signals.

May import: ``pytest_jaws.report``, ``pytest_jaws.deploy``, ``pytest_jaws.probes``,
``pytest_jaws.install``, ``pytest_jaws.host``, ``pytest_jaws.render``, ``pytest_jaws.plan``,
``pytest_jaws.sites``, ``pytest_jaws.keys``, ``pytest_jaws.errors``. Checked by lint-imports
(pyproject.toml's [tool.importlinter]).
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from ..deploy import down, serverpasswords
from ..deploy.basedir import check_existing, plan_basedir
from ..deploy.files import missing_scratch_parent
from ..errors import OptionsError, PlanError, TeardownError, UnsafePathError
from ..host.hostlimits import check_limits
from ..keys import mask
from ..plan.plan import make_plan
from ..render import render
from ..report import outcomes, planview, report
from ..sites.settings import Settings
from . import destructive, hooks, runstate, xdist
from .optiondefs import FLAGS, GROUP_TITLE, OPTIONS
from .options import resolve
from .runstate import MANAGER, OWN_BASEDIR, REPORT, REPORT_ERROR, RUN_START, SETTINGS, TALLY
from .shield import silence_hung_up_terminals, silence_lost_outputs, teardown_shield

#: The plugin modules this one wires in: the fixtures, and the hooks that report.
pytest_plugins = ("pytest_jaws.plugin.fixtures", "pytest_jaws.plugin.reporting")

#: The signals that end the run like Ctrl-C (teardown still runs): a kill, and a hang-up (a
#: closed terminal, a cancelled CI job), which would otherwise end Python at once.
ENDING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
#: The handlers to restore at the end: signal -> what :func:`signal.signal` returned.
OLD_HANDLERS = pytest.StashKey[dict[int, Callable[[int, FrameType | None], Any] | int | None]]()


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Add pytest-jaws's hooks (:mod:`pytest_jaws.plugin.hooks`: ``pytest_jaws_plan``)."""
    pluginmanager.add_hookspecs(hooks)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Declare the ``--jaws-*`` options and their ini keys (:mod:`pytest_jaws.plugin.optiondefs`)."""
    group = parser.getgroup("jaws", GROUP_TITLE)
    for flag, ini, default, help_text in OPTIONS:
        group.addoption(flag, dest=ini, default=None, help=help_text)
        parser.addini(ini, help=help_text, default=default)
    for flag, ini, help_text in FLAGS:
        group.addoption(flag, dest=ini, action="store_true", default=None, help=help_text)
        parser.addini(ini, help=help_text, type="bool", default=False)


#: The options whose values are paths: relative ones in an ini file are relative to its
#: directory (as pytest's own ``paths`` ini values), not to where pytest runs.
PATH_OPTIONS = ("jaws_sites_file", "jaws_basedir", "jaws_report", "jaws_plan_dir",
                "jaws_source", "jaws_cromwell_jar")


def _ini_value(config: pytest.Config, ini: str) -> str | None:
    """Return the ini file's value of ``ini`` (None when the file does not set it).

    :raises OptionsError: for a key set to nothing (``jaws_env =``), which would otherwise
        silently be the default; the same value on the command line is an error too.
    """
    # the raw ini values: pytest has no public handle that tells "set to nothing" from
    # "not set" (``config.inicfg`` is deprecated), as runstate reads _tmp_path_factory
    raw = getattr(config, "_inicfg", {}).get(ini)
    if raw is None or config.inipath is None:
        return config.getini(ini) or None
    text = raw if isinstance(raw, str) else str(getattr(raw, "value", raw))
    if not text.strip():
        raise OptionsError(f"{ini} is empty in {config.inipath} (an unset variable?); give a "
                           "value or remove the line")
    if ini in PATH_OPTIONS and not Path(text.strip()).is_absolute():
        return str(config.inipath.parent / text.strip())
    return text.strip()


def _check_text(ini: str, value: str | None) -> None:
    """Refuse a value that is not text in this locale (it is written into UTF-8 files).

    Under ``LC_ALL=C`` with ``PYTHONUTF8=0``, Python reads a non-ASCII argument as bytes it
    cannot encode back (surrogate escapes), and the first configuration written failed with a
    ``UnicodeEncodeError``.

    :raises OptionsError: naming the option, the locale and what to do.
    """
    if value is None:
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(value).decode("ascii", "backslashreplace")
        raise OptionsError(
            f"{ini} {shown} is not text in this locale ({sys.getfilesystemencoding()}: "
            "LC_ALL=C or LANG=C without PYTHONUTF8=1?): run with a UTF-8 locale (LC_ALL=C.UTF-8) "
            "or PYTHONUTF8=1, or choose an ASCII value") from None


def _values(config: pytest.Config) -> dict[str, str | None]:
    out = {}
    for _flag, ini, _default, _help in OPTIONS:
        value = config.getoption(ini)
        out[ini] = value if value is not None else _ini_value(config, ini)
        _check_text(ini, out[ini])
    for _flag, ini, _help in FLAGS:
        value = config.getoption(ini)
        out[ini] = bool(value if value is not None else config.getini(ini))
    handed = xdist.controller_values(config)
    if "jaws_port_offset" in handed:
        out["jaws_port_offset"] = handed["jaws_port_offset"]  # the controller's
    return out


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config):
    """Run ``--jaws-plan`` or ``--jaws-down`` instead of the tests.

    ``--jaws-plan``: print the plan of every selected environment, execute nothing, exit 0.
    ``--jaws-down``: take down a deployment left up, run no test.
    """
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
    """Resolve and check the options before anything runs; register markers and plugin objects.

    Bad options, or a configuration supervisord would not read back, are a usage error naming
    the cause. The outcome tally and xdist's plugin objects are registered; SIGTERM and SIGHUP
    then end the run like Ctrl-C, so that teardown still runs.
    """
    config.addinivalue_line("markers", "jaws: a test that uses a JAWS deployment")
    config.addinivalue_line("markers", destructive.MARKER_HELP)
    config.addinivalue_line("markers", destructive.LAST_HELP)
    try:
        config.stash[SETTINGS] = resolve(_values(config), config.rootpath)
        if not hasattr(config, "workerinput"):
            check_existing(config.stash[SETTINGS])
            check_limits()
        _check_renderable(config, config.stash[SETTINGS])
    except (OptionsError, PlanError, UnsafePathError) as exc:
        raise pytest.UsageError(f"pytest-jaws: {exc}") from None
    config.stash[RUN_START] = time.time()
    config.stash[TALLY] = outcomes.OutcomeTally()
    config.pluginmanager.register(config.stash[TALLY], "jaws-outcomes")
    xdist.register(config, lambda: runstate.basedir(config), config.stash[SETTINGS].port_offset)
    # SIGTERM and SIGHUP end the run like Ctrl-C, so that teardown still runs (nothing left
    # behind); a handler someone else installed (not the default) is left alone
    if threading.current_thread() is threading.main_thread():
        old: dict[int, Callable[[int, FrameType | None], Any] | int | None] = {
            sig: signal.signal(sig, _on_ending_signal) for sig in ENDING_SIGNALS
            if signal.getsignal(sig) == signal.SIG_DFL}
        config.stash[OLD_HANDLERS] = old


def _check_renderable(config: pytest.Config, settings: Settings) -> None:
    """Render every environment's configuration once, for a base directory like the run's.

    So that a value supervisord would not read back unchanged (a path with `` #``, a name with
    ``%``...) is a usage error before anything is created.

    :raises PlanError: (:class:`~pytest_jaws.render.confvalue.UnsafeValueError`) naming the value.
    """
    basedir = plan_basedir(settings)
    basetemp = config.getoption("basetemp", None)
    if basetemp and not settings.basedir and not settings.model.sites[settings.site].install_base:
        basedir = Path(basetemp).absolute() / "jaws"
    for env in settings.envs:
        plan = make_plan(settings.model, settings.site, env, basedir,
                         port_offset=settings.port_offset)
        render.render_files(plan, dict.fromkeys(plan.instances, "key"))
        problem = missing_scratch_parent(plan) if settings.fake else None
        if problem:  # a real site's scratch is the site's own, checked where it deploys
            raise PlanError(problem)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Restore SIGTERM's and SIGHUP's handlers; remove a base directory made but not deployed into."""
    for sig, handler in config.stash.get(OLD_HANDLERS, {}).items():
        signal.signal(sig, handler)
    serverpasswords.forget_passwords()  # the run-started servers' generated passwords
    # a fresh base directory this run made (the header names it) but never deployed into
    own = config.stash.get(OWN_BASEDIR, None)
    manager = config.stash.get(MANAGER, None)
    if own is not None and (manager is None or not manager.deployments()):
        shutil.rmtree(own, ignore_errors=True)


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Return the header lines: site, environments, port offset, files, supervisor, warnings.

    Also the sites file, base directory and supervisor version, a fake twin's replacements, a
    site that binds every interface, and what :mod:`pytest_jaws.plugin.destructive` deselects.
    """
    s = config.stash.get(SETTINGS, None)
    if s is None:
        return []
    import supervisor.options
    version = supervisor.options.VERSION
    kind = "fake" if s.fake else "real"
    return [f"jaws: site {s.site} ({kind}), environments {', '.join(s.envs)}, "
            f"port offset {s.port_offset}" + (" (chosen by auto)" if s.offset_lock else ""),
            f"jaws: sites file {s.sites_file}, base directory {runstate.basedir(config)[0]}, "
            f"supervisor {version}"] + [
                f"jaws: fake twin of {s.site}, replaced: {r}" for r in s.replaced] + [
                f"jaws: WARNING: site {s.site} binds every interface ({site.bind}), as its "
                "bind_all_interfaces: true says" for site in [s.model.sites[s.site]]
                if site.bind_all_interfaces] + destructive.header_lines(s)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the checks that disturb service where they must not run; run ``jaws_last`` last.

    Checks marked ``jaws_destructive`` (:mod:`pytest_jaws.plugin.destructive`; the report header says
    why), and the checks marked ``jaws_last`` run after the others.
    """
    settings = config.stash.get(SETTINGS, None)
    if settings is None:
        return
    kept, dropped = destructive.select(items, settings)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = destructive.run_last(kept)


def _teardown_wanted(policy: str, exitstatus: int) -> bool:
    """Tear down by ``--jaws-teardown`` policy and the run's exit status."""
    return policy == "always" or (policy == "on-success" and exitstatus == 0)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int):
    """End the run: tear down (by policy), build and write the report.

    Shielded from SIGINT, SIGTERM and SIGHUP (:mod:`pytest_jaws.plugin.shield`) until the terminal summary is
    printed too: outermost wrapper, around the terminal reporter's own. An output whose reader
    is gone (`pytest ... | head`) goes to /dev/null first
    (:func:`pytest_jaws.plugin.shield.silence_lost_outputs`).
    """
    config = session.config
    role = xdist.role(config)
    if role == "worker":  # the controller tears down, after every worker is done
        return (yield)
    if role == "controller" or config.stash.get(MANAGER, None) is not None:
        with teardown_shield():
            silence_lost_outputs()  # `| head`: a reader gone must not end the teardown
            _finish(session, exitstatus)
            return (yield)
    return (yield)


def _finish(session: pytest.Session, exitstatus: int) -> None:
    """Attach to what xdist workers deployed, snapshot, tear down (by policy), write the report.

    The report is built by :mod:`pytest_jaws.report.report`.
    """
    config = session.config
    manager = runstate.manager(config)
    controller = config.pluginmanager.get_plugin(xdist.CONTROLLER_PLUGIN)
    if controller is not None:
        manager.attach_recorded()
        controller.relay_progress()
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
                               tally.by_env if tally else None,
                               run=(config.stash.get(RUN_START, time.time()), time.time()))
    config.stash[REPORT] = data
    if settings.report:
        try:
            report.write_report(settings.report, data)
        except (OSError, UnsafePathError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            config.stash[REPORT_ERROR] = f"could not write {settings.report}: {why}"
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    manager.release_locks()  # a deployment left up stays up; the next run may take it over


def _on_ending_signal(signum, frame) -> None:
    """SIGTERM or SIGHUP ends the run like Ctrl-C (teardown still runs).

    After SIGHUP the terminal is likely gone: its descriptors go to /dev/null, so that the
    teardown's output cannot end the teardown (:func:`pytest_jaws.plugin.shield.silence_hung_up_terminals`).
    """
    if signum == signal.SIGHUP:
        silence_hung_up_terminals()
    raise KeyboardInterrupt(signal.Signals(signum).name)
