"""The hooks that report: failure sections, errors of dead deployments, the summary.

The "jaws deployment" section of a failed test (once in full per environment and instance,
keys masked), the error of a test whose deployment died or hung, and the deployment summary
at the end of the terminal output.

What they show is made by :mod:`pytest_jaws.report.failure` (the section) and
:mod:`pytest_jaws.report.report` (the summary); this module only decides where it goes.
"""

from __future__ import annotations

import pytest

from ..deploy import commands, stop
from ..host import portholders
from ..host.instance import ctl_argv
from ..report import failure, outcomes, report
from .runstate import MANAGER, REPORT, REPORT_ERROR, SETTINGS, first_shown

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
        first = first_shown(item.config).claim(key, item.nodeid)
        if first is not None and not deployed and rep.when == "setup":
            # the same setup error in every test of the environment: in full only once
            text = str(rep.longrepr)
            line = next((ln for ln in text.splitlines() if f"deployment of {env} failed" in ln),
                        text.splitlines()[0] if text else "")
            # and what to do about it, when the message offers the automatic offset (a port
            # held by someone else, or taken after pre-flight): a newcomer reads these lines
            advice = next((ln.strip().removeprefix("E").strip() for ln in text.splitlines()
                           if "--jaws-port-offset=auto" in ln and ln != line), "")
            rep.longrepr = (f"{line[:300]}{' ... ' + advice[-200:] if advice else ''} (full "
                            f"message: see the first error of environment {env}: {first})")
        try:
            if first is not None and not deployed and rep.when == "setup":
                pass  # the one-line error above already points at the first error's section
            elif first is not None:  # the full section once per environment and instance
                failure.add_failure_section(
                    rep, f"(see the first error of environment {env} ({where}) for the full "
                         f"section: {first})")
            elif outcome.deployed is not None:  # read live
                failure.add_failure_section(rep, failure.failure_section(outcome.deployed, named))
            elif outcome.failure_section:
                failure.add_failure_section(rep, outcome.failure_section)
        except Exception as exc:  # noqa: BLE001 - a report must never break the run
            failure.add_failure_section(rep, f"(could not read the deployment state: {exc})")
    return failure.mask_report(rep)


@pytest.hookimpl(trylast=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Error a test of a deployment whose supervisord died, naming the instance."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    manager = item.config.stash.get(MANAGER, None)
    env = params.get("jaws_env")
    if manager is None or env not in manager.results:
        return
    dep = manager.results[env].deployed
    if dep is not None:
        problem = stop.dead_instance(dep)
        if problem:
            pytest.fail(problem, pytrace=False)
        for message in dep.hung.values():  # one timeout per hung instance, not per test
            pytest.fail(f"{message}; marked hung after that first timeout: test not run",
                        pytrace=False)


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    """Write the "jaws deployment summary" section: a table per environment, and what is left.

    How to reach (as each instance's role user: :func:`pytest_jaws.deploy.commands.as_role_user`) and
    take down what is left up, and where the report went.
    """
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
            for line in commands.as_role_user(inst, ctl_argv(inst, "status")):
                terminalreporter.write_line("  " + line)
        terminalreporter.write_line("  take it down with: " + commands.down_command(
            settings, dep.env, dep.plan.base))
    for line in _operator_lines(manager, settings):
        terminalreporter.write_line(line)
    if REPORT_ERROR in config.stash:
        terminalreporter.write_line(f"jaws report: ERROR: {config.stash[REPORT_ERROR]}", red=True)
    elif settings.report:
        terminalreporter.write_line(f"jaws report: {settings.report} "
                                    f"(and {settings.report.with_suffix('.md')})")


def _operator_lines(manager, settings) -> list[str]:
    """Name each instance its operator started that the run leaves running, and its take-down.

    Teardown never ends what an operator started (sites.yaml ``start: operator``);
    ``--jaws-down`` does, with the command printed here.
    """
    lines = []
    for env, plan in manager.plans.items():
        if plan.play_operator:
            continue
        running = [inst for inst in plan.instances.values()
                   if inst.start == "operator" and portholders.holder_of(inst.port) is not None]
        if running:
            names = ", ".join(inst.name for inst in running)
            lines.append(f"jaws {env}: {names}, started by its operator, is left running at "
                         f"{plan.directory}; take it down with: "
                         + commands.down_command(settings, env, plan.base))
    return lines
