"""The end of a run: teardown by ``--jaws-teardown``'s policy, the report built and written.

:func:`pytest_sessionfinish`, shielded from SIGINT, SIGTERM and SIGHUP until the terminal
summary is printed, imported into :mod:`pytest_jaws.plugin` (the entry point) so that pytest
finds it there.
"""

from __future__ import annotations

import shutil
import time

import pytest

from ..errors import UnsafePathError
from ..report import report
from . import runstate, xdist
from .runstate import MANAGER, OWN_BASEDIR, REPORT, REPORT_ERROR, RUN_START, SETTINGS, TALLY
from .shield import silence_lost_outputs, teardown_shield


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
