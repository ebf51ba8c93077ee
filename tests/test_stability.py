"""The stability check's logic on a planned (not deployed) environment and written logs.

The check on a real crash-looping deployment is in test_suite_checks.py; these pin what it
counts: exits after the settled log line only, the recovery kill forgiven once, a new PID.
"""

from pytest_jaws.deploy import stability
from pytest_jaws.deploy.result import Deployment
from pytest_jaws.plan.plan import make_plan
from pytest_jaws.sites.sites import PACKAGED_SITES_FILE, load_sites

MODEL = load_sites(PACKAGED_SITES_FILE)
PROGRAM = "jaws-site-central-rpc"
VICTIM = "jaws-site-daemon"
LOG = """\
2026-12-06 22:00:00,100 INFO supervisord started with pid 10
2026-12-06 22:00:01,000 INFO exited: jaws-site-central-rpc (exit status 2; not expected)
2026-12-06 22:00:02,000 INFO success: jaws-site-central-rpc entered RUNNING state
2026-12-06 22:00:09,000 INFO exited: jaws-site-central-rpc (exit status 1; not expected)
2026-12-06 22:00:09,500 INFO stopped: jaws-site-jtm-rpc (terminated by SIGTERM)
2026-12-06 22:00:10,000 INFO exited: jaws-site-daemon (terminated by SIGKILL; not expected)
2026-12-06 22:00:17,000 INFO exited: jaws-site-central-rpc (exit status 1; not expected)
"""


def _dep(tmp_path):
    plan = make_plan(MODEL, "local", "dev", tmp_path / "base")
    dep = Deployment(plan, {})
    inst = plan.instances[plan.programs[PROGRAM].instance]
    inst.logfile.parent.mkdir(parents=True, exist_ok=True)
    inst.logfile.write_text(LOG)
    stderr = plan.programs[PROGRAM].stderr_log
    stderr.parent.mkdir(parents=True, exist_ok=True)
    stderr.write_text("Traceback: lost the broker\x1b[2J\n")
    dep.settled_stamps[inst.key] = "2026-12-06 22:00:02,000"
    dep.settled_at = 1.0
    return dep, inst


def _now(pid, start=100):
    return {"pid": pid, "start": start, "statename": "RUNNING"}


def test_exits_after_the_settled_line_are_counted_and_named(tmp_path):
    dep, inst = _dep(tmp_path)
    exits = stability.exits_since(inst.logfile, PROGRAM, dep.settled_stamps[inst.key])
    assert exits == ["exit status 1", "exit status 1"]
    why = stability.problem(dep, PROGRAM, stability.Watch(
        {"pid": 7, "start": 100}, _now(9, 117), exits, None))
    assert why is not None
    assert (f"program {PROGRAM} of {inst.where} exited 2 times (last: exit status 1) since "
            "the deployment settled") in why
    assert "PID 7 then, 9 now (RUNNING)" in why
    assert "lost the broker\\x1b[2J" in why  # its stderr, control sequences escaped


def test_a_steady_program_and_the_recovery_kill_pass(tmp_path):
    dep, inst = _dep(tmp_path)
    assert stability.problem(dep, PROGRAM, stability.Watch(
        {"pid": 7, "start": 100}, _now(7), [], None)) is None
    exits = stability.exits_since(inst.logfile, VICTIM, dep.settled_stamps[inst.key])
    assert exits == ["terminated by SIGKILL"]
    killed = {"before": _now(5), "at": 2.0}
    assert stability.problem(dep, VICTIM, stability.Watch(
        {"pid": 5, "start": 100}, _now(6, 111), exits, killed)) is None
    # not killed by the recovery check: the same exit and new PID fail
    why = stability.problem(dep, VICTIM, stability.Watch(
        {"pid": 5, "start": 100}, _now(6, 111), exits, None))
    assert why is not None and "exited 1 time (last: terminated by SIGKILL)" in why
    # killed once, but exiting again after: not forgiven
    again = stability.problem(dep, VICTIM, stability.Watch(
        {"pid": 5, "start": 100}, _now(6, 111), [*exits, "exit status 1"], killed))
    assert again is not None and "exited 1 time (last: exit status 1)" in again


def test_a_new_pid_without_a_logged_exit_fails(tmp_path):
    dep, _inst = _dep(tmp_path)
    why = stability.problem(dep, PROGRAM, stability.Watch(
        {"pid": 7, "start": 100}, _now(8, 120), [], None))
    assert why is not None and "was restarted" in why and "PID 7 then, 8 now" in why


def test_a_new_pid_after_a_stop_asked_of_supervisord_passes(tmp_path):
    dep, inst = _dep(tmp_path)  # a reload (SIGHUP) or restart: "stopped:", no exit
    name = "jaws-site-jtm-rpc"
    stamp = dep.settled_stamps[inst.key]
    stops = stability.exits_since(inst.logfile, name, stamp, "stopped")
    assert stops == ["terminated by SIGTERM"]
    assert stability.problem(dep, name, stability.Watch(
        {"pid": 7, "start": 100}, _now(8, 120), [], None, len(stops))) is None
