"""pytest hooks of pytest-jaws: options, configuration, header, selection, signals.

The entry point (``jaws = pytest_jaws.plugin``): pytest registers this module and, by its
``pytest_plugins``, the fixtures and the reporting hooks. ``--jaws-plan``/``--jaws-down``
(:mod:`pytest_jaws.plugin.cmdline`) and the end of the run (teardown, report:
:mod:`pytest_jaws.plugin.finish`) are hooks of their own modules, imported here, where pytest
finds them; SIGTERM and SIGHUP end the run like Ctrl-C.

Only wiring lives here; the logic is in options, sites, plan, deploy, probes and report. The
option values pytest was given are read by :mod:`pytest_jaws.plugin.optionvalues`, the
fixtures are in :mod:`pytest_jaws.plugin.fixtures`, the hooks that report on tests in
:mod:`pytest_jaws.plugin.reporting`, xdist's coordination in :mod:`pytest_jaws.plugin.xdist`, the
run's state in :mod:`pytest_jaws.plugin.runstate`.

The subpackage pytest_jaws.plugin: pytest's wiring, and only that. Options, the hooks
pytest-jaws adds, fixtures, the run's state in pytest's stash, the deployments of one run
(manager), xdist coordination, the reporting hooks, teardown shielded from signals.

May import: ``pytest_jaws.report``, ``pytest_jaws.deploy``, ``pytest_jaws.probes``,
``pytest_jaws.install``, ``pytest_jaws.host``, ``pytest_jaws.render``, ``pytest_jaws.plan``,
``pytest_jaws.sites``, ``pytest_jaws.keys``, ``pytest_jaws.errors``. Checked by lint-imports
(pyproject.toml's [tool.importlinter]).
"""

from __future__ import annotations

import shutil
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from ..deploy import serverpasswords
from ..deploy.basedir import check_existing, plan_basedir
from ..deploy.files import missing_scratch_parent
from ..errors import OptionsError, PlanError, UnsafePathError
from ..host.hostlimits import check_limits
from ..host.portoffset import OffsetLock
from ..plan.plan import make_plan
from ..render import render
from ..report import outcomes
from ..sites.settings import Settings
from . import destructive, hooks, runstate, xdist
from .cmdline import pytest_cmdline_main as pytest_cmdline_main
from .finish import pytest_sessionfinish as pytest_sessionfinish
from .optiondefs import FLAGS, GROUP_TITLE, OPTIONS
from .options import resolve
from .optionvalues import option_values
from .runstate import MANAGER, OWN_BASEDIR, RUN_START, SETTINGS, TALLY
from .shield import silence_hung_up_terminals

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
        config.stash[SETTINGS] = resolve(option_values(config), config.rootpath)
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
    """Restore SIGTERM's and SIGHUP's handlers; remove a base directory made but not deployed into.

    Also give up the lock of the offset ``--jaws-port-offset=auto`` chose (its owner file, which
    names this run, goes with it).
    """
    for sig, handler in config.stash.get(OLD_HANDLERS, {}).items():
        signal.signal(sig, handler)
    serverpasswords.forget_passwords()  # the run-started servers' generated passwords
    # a fresh base directory this run made (the header names it) but never deployed into
    own = config.stash.get(OWN_BASEDIR, None)
    manager = config.stash.get(MANAGER, None)
    if own is not None and (manager is None or not manager.deployments()):
        shutil.rmtree(own, ignore_errors=True)
    # the offset --jaws-port-offset=auto chose: its lock, and the owner file naming this run
    settings = config.stash.get(SETTINGS, None)
    if settings is not None and isinstance(settings.offset_lock, OffsetLock):
        settings.offset_lock.release()


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


def _on_ending_signal(signum, frame) -> None:
    """SIGTERM or SIGHUP ends the run like Ctrl-C (teardown still runs).

    After SIGHUP the terminal is likely gone: its descriptors go to /dev/null, so that the
    teardown's output cannot end the teardown (:func:`pytest_jaws.plugin.shield.silence_hung_up_terminals`).
    """
    if signum == signal.SIGHUP:
        silence_hung_up_terminals()
    raise KeyboardInterrupt(signal.Signals(signum).name)
