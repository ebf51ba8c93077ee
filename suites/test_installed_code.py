"""Code suite: every program runs the code its venv holds (a redeploy restarted what changed).

Run: ``pytest suites --jaws-site=local-venv --jaws-env=dev``. One test per environment, for
every runtime: the service venvs (the real sites, local-venv) and the light venvs (local,
local-privsep, the fake twins) record when the files of each package went in.
"""

import datetime

from pytest_jaws.install import venvstate

#: Seconds a program's start may seem to precede the install: supervisord reports it in whole
#: seconds. A program left running from before a redeploy started a whole run earlier.
CLOCK_SLACK = 1.5


def _when(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%H:%M:%S UTC")


def test_programs_run_the_code_installed_in_their_venvs(jaws_deployment):
    """Check that each program started after the files of every package of its venv went in.

    A program that started before is running the code that was there before (a redeploy
    installed a change and did not restart it). Cromwell (Java) loads none of the packages; a
    program not running at the moment is left to test_program_running.
    """
    plan = jaws_deployment.plan
    stale = []
    for name, prog in plan.programs.items():
        if prog.java:
            continue
        inst = jaws_deployment.instance_of(name)
        info = jaws_deployment.client(inst.key).supervisor.getProcessInfo(
            f"{inst.process_group}:{name}")
        pid, started = info["pid"], info["start"]  # supervisord's spawn time of that process
        if not pid:
            continue  # not running now (another check may have killed it): its next start is new
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
