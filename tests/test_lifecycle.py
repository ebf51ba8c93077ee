"""Deployment lifecycle, each case followed by a check that nothing is left.

Interrupts, half-failed setup, a killed supervisord, idempotent redeploy, teardown policy,
stale and foreign state, and xdist - each followed by a check (psutil) that no process of the
deployment and no port of the table is left.
"""

import json
import re
import shlex
import signal
import subprocess
import sys
import time

import psutil
import pytest
from helpers import (
    SUITES,
    assert_nothing_left,
    leftovers,
    listening,
    signal_after_line,
    sites_data,
    table_ports,
)


def _popen_suites(tmp_path, offset, *args):
    cmd = [sys.executable, "-m", "pytest", str(SUITES / "test_health.py"), "-p",
           "no:cacheprovider", f"--basetemp={tmp_path / 'base'}", f"--jaws-port-offset={offset}",
           *args]
    # SIGINT as a terminal delivers it: an xdist worker ignores SIGINT, and a child would inherit
    # that (Python installs its KeyboardInterrupt handler only over the default disposition)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=tmp_path,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_signal_in_the_middle_of_deployment_leaves_nothing(tmp_path, port_offset, sig):
    proc = _popen_suites(tmp_path, port_offset, "--jaws-env=all")
    # instances up, programs not
    out = signal_after_line(proc, "supervisord-jtm started on port", sig)
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out
    assert "jaws teardown (always)" in out, out
    assert_nothing_left(tmp_path, port_offset)


JTM_CANNOT_START = '''
def pytest_jaws_plan(plan, files):
    inst = plan.instances["jtm"]
    text, role, mode = files[str(inst.conf)]
    files[str(inst.conf)] = (text + "\\n[program:broken]\\n", role, mode)
'''


def test_setup_failing_after_the_first_instance_started_leaves_nothing(run_suites):
    result = run_suites("--jaws-env=dev", "-k", "program_running", suites=["test_health.py"],
                        conftest=JTM_CANNOT_START)
    result.assert_outcomes(errors=8)
    result.stdout.fnmatch_lines([
        "*deployment of dev failed: supervisord-jtm (environment dev, port *) failed to start: "
        "*exited 2*",
        "*program section program:broken does not specify a command*",
    ])
    # the jaws instance was up (its programs were spawned) when the jtm instance failed
    assert re.search(r"supervisord-jaws +jaws-site-daemon +(STARTING|RUNNING) +\d+", result.stdout.str())


KILL_SUPERVISORD = '''
import os, signal, psutil

def test_a_kill_supervisord_jtm(jaws_deployment):
    pid = jaws_deployment.pids["jtm"]
    os.kill(pid, signal.SIGKILL)
    psutil.Process(pid).wait(10) if psutil.pid_exists(pid) else None

def test_b_needs_it_afterwards(jaws_deployment):
    pass
'''


def test_supervisord_killed_mid_run_errors_the_next_test_and_orphans_are_ended(run_suites,
                                                                              pytester):
    (pytester.path / "test_kill.py").write_text(KILL_SUPERVISORD)
    result = run_suites("--jaws-env=dev", "-p", "no:randomly", suites=["../test_kill.py"])
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([
        "*supervisord-jtm (environment dev, port *) died during the run: PID * is gone; "
        "processes of the deployment still alive: [[]*[]] (teardown ends them)*"])


def _report(path):
    data = json.loads(path.read_text())
    env = data["environments"][0]
    pids = {p["name"]: p["pid"] for p in env["programs"]}
    pids.update({i["name"]: i["pid"] for i in env["instances"]})
    return env["changes"]["summary"], pids


@pytest.mark.slow
def test_redeploy_reuses_what_runs_and_restarts_only_what_changed(run_suites, pytester):
    base = pytester.path / "deployments"
    common = ["--jaws-env=staging", f"--jaws-basedir={base}", "-k", "program_running"]
    first = pytester.path / "first.json"
    try:
        run_suites(*common, "--jaws-teardown=never", f"--jaws-report={first}",
                   suites=["test_health.py"]).assert_outcomes(passed=8)
        second = pytester.path / "second.json"
        result = run_suites(*common, "--jaws-teardown=never", f"--jaws-report={second}",
                            suites=["test_health.py"])
        result.assert_outcomes(passed=8)
        result.stdout.fnmatch_lines(["*supervisord-jaws reused on port*",
                                     "*jaws staging: deployed at * (unchanged)*",
                                     "*left up at*", "*bin/supervisorctl -c *supervisord-jtm.conf status*"])
        assert _report(first)[0] == "deployed"
        summary, pids = _report(second)
        assert summary == "unchanged" and pids == _report(first)[1]

        data = sites_data()
        data["sites"]["local"]["overrides"] = {"jaws-cromwell": {"args": ["--label", "v2"]}}
        third = pytester.path / "third.json"
        result = run_suites(*common, "--jaws-teardown=never", f"--jaws-report={third}",
                            sites=data, suites=["test_health.py"])
        result.assert_outcomes(passed=8)
        summary, changed = _report(third)
        assert summary == "changed: restarted jaws-cromwell"
        assert {n for n in pids if pids[n] != changed[n]} == {"jaws-cromwell"}
    finally:
        run_suites(*common, "--jaws-teardown=always", suites=["test_health.py"])


@pytest.mark.slow
def test_on_success_policy_leaves_a_failed_run_up_and_says_how_to_reach_it(run_suites, pytester):
    base = pytester.path / "deployments"
    data = sites_data()
    data["sites"]["local"]["overrides"] = {"auth": {"args": ["--fault", "unhealthy"]}}
    try:
        result = run_suites("--jaws-env=dev", f"--jaws-basedir={base}", "--jaws-teardown=on-success",
                            "-k", "service_healthy", sites=data, suites=["test_health.py"])
        result.assert_outcomes(passed=2, failed=1)
        conf = base / "jaws-supervisord-dev" / "supervisord-jaws.conf"
        result.stdout.fnmatch_lines([f"*jaws dev: left up at {conf.parent}; reach it with:",
                                     f"  {conf.parent}/bin/supervisorctl -c {conf} status"])
        status = subprocess.run([str(conf.parent / "bin" / "supervisorctl"), "-c", str(conf),
                                 "status"], capture_output=True, text=True)
        assert status.returncode == 0 and "jaws-dev:jaws-site-daemon" in status.stdout
    finally:
        run_suites("--jaws-env=dev", f"--jaws-basedir={base}", "-k", "service_healthy",
                   sites=data, suites=["test_health.py"])


def test_stale_pidfile_is_cleaned_and_foreign_supervisord_left_alone(run_suites, pytester,
                                                                      port_offset):
    base = pytester.path / "deployments"
    stale = base / "jaws-supervisord-dev" / "jaws" / "supervisord.pid"
    stale.parent.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale.write_text(f"{dead.pid}\n")
    # A foreign supervisord (another directory, its own identifier) on staging's jtm port.
    port = 64112 + port_offset
    foreign_dir = pytester.path / "foreign"
    foreign_dir.mkdir()
    conf = foreign_dir / "supervisord.conf"
    conf.write_text(f"[inet_http_server]\nport=127.0.0.1:{port}\nusername=x\npassword=y\n"
                    f"[supervisord]\nidentifier=someone-else\nlogfile={foreign_dir}/log\n"
                    f"pidfile={foreign_dir}/pid\nnodaemon=true\n"
                    "[rpcinterface:supervisor]\n"
                    "supervisor.rpcinterface_factory=supervisor.rpcinterface:make_main_rpcinterface\n")
    foreign = subprocess.Popen([sys.executable, "-m", "supervisor.supervisord", "-c", str(conf)])
    try:
        for _ in range(100):
            if listening({port}):
                break
            time.sleep(0.05)
        result = run_suites("--jaws-env=dev,staging", f"--jaws-basedir={base}", "-k",
                            "program_running", suites=["test_health.py"])
        result.assert_outcomes(passed=8, errors=8)
        # the holder's command line is cut to a bound in the message: how much of its -c path
        # shows depends on how long the interpreter's path is (a CI run's was cut there)
        result.stdout.fnmatch_lines([
            f"*port {port} needed by supervisord-jtm (environment staging) is already in use by "
            f"PID {foreign.pid} (user *): *supervisor.supervisord -c *"])
        assert not stale.exists() or stale.read_text().strip() != str(dead.pid)
        assert psutil.Process(foreign.pid).is_running(), "the foreign supervisord was touched"
    finally:
        foreign.terminate()
        foreign.wait(15)


@pytest.mark.slow
def test_xdist_deploys_each_environment_once_with_the_same_results(run_suites):
    plain = run_suites("--jaws-env=all", "-q")
    counts = plain.parseoutcomes()
    result = run_suites("--jaws-env=all", "-n", "4")
    assert result.parseoutcomes() == counts, result.stdout.str()
    started = [line for line in result.stdout.lines if "supervisord-jaws started on port" in line]
    assert sorted(line.split("]")[0] for line in started) == [
        "jaws [dev", "jaws [prod", "jaws [staging"], started
    assert "jaws teardown (always)" in result.stdout.str()


@pytest.mark.slow
def test_changed_key_restarts_only_that_supervisord_and_keeps_working(run_suites, pytester,
                                                                      monkeypatch):
    base = pytester.path / "deployments"
    common = ["--jaws-env=dev", f"--jaws-basedir={base}", "-k", "program_running"]
    first, second = pytester.path / "first.json", pytester.path / "second.json"
    try:
        run_suites(*common, "--jaws-teardown=never", f"--jaws-report={first}",
                   suites=["test_health.py"]).assert_outcomes(passed=8)
        monkeypatch.setenv("JAWS_SUPERVISOR_KEY_LOCAL_DEV_JAWS", "a-rotated-key-42")
        result = run_suites(*common, "--jaws-teardown=never", f"--jaws-report={second}",
                            suites=["test_health.py"])
        result.assert_outcomes(passed=8)
        summary, after = _report(second)
        before = _report(first)[1]
        assert summary == "key changed: restarted supervisord-jaws"
        assert after["supervisord-jtm"] == before["supervisord-jtm"]
        assert after["supervisord-jaws"] != before["supervisord-jaws"]
        conf = base / "jaws-supervisord-dev" / "supervisord-jaws.conf"
        status = subprocess.run([str(conf.parent / "bin" / "supervisorctl"), "-c", str(conf),
                                 "status"], capture_output=True, text=True)
        assert status.returncode == 0, status.stdout + status.stderr
    finally:
        run_suites(*common, suites=["test_health.py"])


@pytest.mark.slow
def test_left_up_without_basedir_is_found_again_by_the_next_run(run_suites, port_offset):
    common = ["--jaws-env=prod", "-k", "program_running"]
    try:
        first = run_suites(*common, "--jaws-teardown=never", suites=["test_health.py"])
        first.assert_outcomes(passed=8)
        stable = f"pytest-jaws-{__import__('getpass').getuser()}/local+{port_offset}"
        first.stdout.fnmatch_lines([f"*jaws prod: deployed at */{stable}/jaws-supervisord-prod*"])
        second = run_suites(*common, "--jaws-teardown=never", suites=["test_health.py"])
        second.assert_outcomes(passed=8)
        second.stdout.fnmatch_lines(["*jaws prod: deployed at * (unchanged)*"])
    finally:
        run_suites(*common, "--jaws-teardown=on-success", suites=["test_health.py"])


@pytest.mark.slow
def test_take_down_command_removes_a_deployment_left_up(run_suites, pytester, port_offset):
    """The command every "left up" message shows takes the deployment down.

    No process, no port of the table left; a second call finds nothing to do.
    """
    base = pytester.path / "left up"
    result = run_suites("--jaws-env=dev", f"--jaws-basedir={base}", "--jaws-teardown=never",
                        "-k", "program_running", suites=["test_health.py"])
    result.assert_outcomes(passed=8)
    line = next(ln for ln in result.stdout.lines if "take it down with: " in ln)
    command = shlex.split(line.split("take it down with: ", 1)[1])
    assert command[:2] == ["pytest", "--jaws-down"] and f"--jaws-port-offset={port_offset}" in command
    assert leftovers(base) and listening(table_ports(port_offset))
    done = subprocess.run([sys.executable, "-m", *command], capture_output=True, text=True,
                          timeout=120, cwd=pytester.path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"jaws dev: took down site local under {base}" in done.stdout
    # what it leaves on disk is said, with its place
    assert f"its files stay in {base / 'jaws-supervisord-dev'} (configurations, logs, keys " \
           "and secrets" in done.stdout, done.stdout
    assert_nothing_left(base, port_offset)
    again = subprocess.run([sys.executable, "-m", *command], capture_output=True, text=True,
                           timeout=120, cwd=pytester.path)
    assert again.returncode == 0 and "nothing of site local is up" in again.stdout, again.stdout


@pytest.mark.slow
def test_next_run_ends_what_a_killed_supervisord_of_a_left_up_deployment_left(run_suites,
                                                                             pytester):
    """The next run ends the orphans of a SIGKILLed supervisord-jtm by PID and deploys again.

    A deployment left up whose supervisord-jtm is SIGKILLed keeps jaws-jtm and jaws-cromwell
    running (orphans); the next run on that directory ends them by PID and deploys again,
    instead of blaming their ports.
    """
    base = pytester.path / "deployments"
    common = ["--jaws-env=dev", f"--jaws-basedir={base}", "-k", "program_running"]
    run_suites(*common, "--jaws-teardown=never", suites=["test_health.py"]).assert_outcomes(
        passed=8)
    pid = int((base / "jaws-supervisord-dev" / "jtm" / "supervisord.pid").read_text())
    children = psutil.Process(pid).children(recursive=True)
    psutil.Process(pid).kill()
    psutil.Process(pid).wait(10) if psutil.pid_exists(pid) else None
    assert any(c.is_running() for c in children)  # the orphans
    result = run_suites(*common, "--jaws-teardown=always", suites=["test_health.py"])
    result.assert_outcomes(passed=8)
    result.stdout.fnmatch_lines(["*ended * processes left behind by this deployment's killed "
                                 "supervisord (PIDs *)*"])
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
