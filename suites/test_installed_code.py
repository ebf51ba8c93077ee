"""Code suite: every program runs the code its venv holds (a redeploy restarted what changed).

Run: ``pytest suites --jaws-site=local-venv --jaws-env=dev``. One test per environment, for
the ``venv`` runtime (the real sites, local-venv); the light runtimes have no installed
packages to compare with and skip.
"""

import datetime

import psutil
import pytest

from pytest_jaws import venvstate

#: Seconds a program's start may seem to precede the install: psutil reckons a process's start
#: from the boot time, which Linux gives in whole seconds. A program left running from before a
#: redeploy started a whole run earlier.
CLOCK_SLACK = 1.5


def _when(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%H:%M:%S UTC")


def test_programs_run_the_code_installed_in_their_venvs(jaws_deployment):
    """Check that each program started after the files of every package of its venv went in.

    A program that started before is running the code that was there before (a redeploy
    installed a change and did not restart it). Cromwell (Java) loads none of the packages.
    """
    plan = jaws_deployment.plan
    if plan.bootstrap_venv is None:
        pytest.skip(f"site {plan.site} runs light venvs (runtime {plan.runtime}): no installed "
                    "packages to compare with")
    stale = []
    for name, prog in plan.programs.items():
        if prog.java:
            continue
        inst = jaws_deployment.instance_of(name)
        pid = jaws_deployment.client(inst.key).supervisor.getProcessInfo(
            f"{inst.process_group}:{name}")["pid"]
        started = psutil.Process(pid).create_time()
        venv = next(v for v in plan.venvs.values() if v.path == prog.venv)
        held = venvstate.read(venv.path)
        assert held, f"{venv.path} has no {venvstate.RECORD}: pytest-jaws did not install it"
        for package, entry in held.items():
            if started < entry["since"] - CLOCK_SLACK:
                stale.append(f"{name} (PID {pid}, started {_when(started)}) runs from the "
                             f"{venv.name} venv, where {package} {entry['version']} went in at "
                             f"{_when(entry['since'])}, after it started: it runs the code "
                             "that was there before")
    assert not stale, "; ".join(stale)
