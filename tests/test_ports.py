"""Port mapping: pre-flight, wrong ports, stray listeners, bind addresses, table validation."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from helpers import (
    SUITES,
    have_role_users,
    leftovers,
    only_failure,
    run_in_own_netns,
    sites_data,
)

PORTS_SUITE = "test_ports.py"


@pytest.fixture
def foreign_listener(port_offset):
    """Start a process that is not ours listening on staging's central-rest port (5002 + offset)."""
    port = 5002 + port_offset
    proc = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                             str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    proc.stdout.readline()  # "Serving HTTP on ..." once it listens
    yield port, proc.pid
    proc.terminate()
    proc.wait(10)


def test_foreign_listener_fails_only_its_environment(run_suites, foreign_listener):
    port, pid = foreign_listener
    result = run_suites("--jaws-env=all", "-k", "accepts_connections", suites=[PORTS_SUITE])
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 12 and outcomes.get("errors") == 6, result.stdout.str()
    result.stdout.fnmatch_lines([
        f"*deployment of staging failed: pre-flight failed: port {port} needed by rest "
        f"(environment staging) is already in use by PID {pid} (user *): *http.server*",
        "*nothing was started; stop that process, or deploy on ports nobody uses with "
        "--jaws-port-offset=auto",
    ])
    result.stdout.no_fnmatch_line("*ERROR*dev-*")
    assert "jaws staging: deployed at" not in result.stdout.str()
    assert f"jaws staging: NOT DEPLOYED: pre-flight failed: port {port} needed by rest" \
        in result.stdout.str()


#: A listener that jaws_other runs: the system Python, which every user may run.
OTHER_LISTENER = ("import socket, sys, time; s = socket.socket(); s.bind(('127.0.0.1', 64101)); "
                  "s.listen(); print('listening', flush=True); time.sleep(600)")


@pytest.mark.skipif(os.geteuid() != 0 or not have_role_users("jaws_other")
                    or not shutil.which("unshare"),
                    reason="another user's listener on 64101, in a network namespace of its own: "
                           "needs root and jaws_other of scripts/create-users.sh (CI has both)")
def test_the_literal_main_job_names_another_users_listener_and_offers_auto():
    """Issue 25: the main job, verbatim, meets jaws_other's listener on the documented 64101.

    In a network namespace of the test's own, so that 64101 is the documented port itself and
    nobody else's run on this host is disturbed.
    """
    tmp = Path(tempfile.mkdtemp(prefix="pytest-jaws-tests-other-"))
    tmp.chmod(0o755)
    script = (f"runuser -u jaws_other -- /usr/bin/python3 -c \"{OTHER_LISTENER}\" > {tmp}/l &\n"
              f"while ! grep -q listening {tmp}/l; do sleep 0.05; done\n"
              "status=0; pytest suites --jaws-site=local --jaws-env=dev || status=$?\n"
              "kill $!; exit $status\n")
    try:
        result = run_in_own_netns(script, tmp, timeout=300)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = result.stdout
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, out + result.stderr
    first = next(line for line in out.splitlines() if "pre-flight failed" in line)
    assert ("port 64101 needed by supervisord-jaws (environment dev) is held by someone else, "
            "not by a deployment of yours left up: PID ") in first, first
    assert "(user jaws_other): /usr/bin/python3 -c import socket" in first, first
    assert "nothing was started; deploy on ports nobody uses: add --jaws-port-offset=auto" in out
    assert "--jaws-down" not in out
    # the full message once; every other test of dev one line that points at it, and says
    # what to do (a newcomer reads these lines, not the first error's)
    pointers = [ln for ln in out.splitlines() if "(full message: see the first error" in ln]
    assert pointers and out.count("-- jaws deployment --") <= 1, out
    assert all("add --jaws-port-offset=auto (full message" in ln for ln in pointers), pointers


@pytest.mark.slow
def test_your_deployment_left_up_is_named_with_jaws_down(pytester, port_offset, monkeypatch):
    """A deployment of yours that a run left up holds the ports: reuse it, or take it down."""
    monkeypatch.setenv("TMPDIR", str(pytester.path))
    left = pytester.path / "left"
    common = [str(SUITES / "test_health.py"), "-k", "instance_running", "-p", "no:cacheprovider",
              "--jaws-env=dev", f"--jaws-port-offset={port_offset}"]
    try:
        first = pytester.runpytest_subprocess(*common, f"--jaws-basedir={left}",
                                              "--jaws-teardown=never")
        first.assert_outcomes(passed=3)
        second = pytester.runpytest_subprocess(*common, f"--jaws-basedir={pytester.path / 'b'}")
        second.stdout.fnmatch_lines([
            f"*port {64101 + port_offset} needed by supervisord-jaws (environment dev) is already "
            f"in use by PID *; of your pytest-jaws deployment local/dev:{left}, left up by a run",
            f"*your deployment local/dev:{left} that a run left up: reuse it with "
            f"--jaws-basedir={left}, or take it down with: pytest --jaws-down --jaws-site=local "
            f"--jaws-env=dev --jaws-basedir={left}",
            "*nothing was started; reuse or take down your deployment as above, or deploy on "
            "ports nobody uses with --jaws-port-offset=auto"])
        assert "someone else" not in second.stdout.str()
    finally:
        # as offered: without the offset, which --jaws-down reads from the written configuration
        down = pytester.runpytest_subprocess("--jaws-down", "--jaws-site=local", "--jaws-env=dev",
                                             f"--jaws-basedir={left}")
    down.stdout.fnmatch_lines([f"jaws dev: took down site local under {left} (deployed at port "
                               f"offset {port_offset}, read from {left}/jaws-supervisord-dev/"
                               "supervisord-jaws.conf): * (* processes ended, none left); "
                               f"its files stay in {left}/jaws-supervisord-dev *"])
    assert not leftovers(left)


def test_fake_on_the_wrong_port_fails_the_port_tests(run_suites, port_offset):
    data = sites_data()
    data["sites"]["local"]["overrides"] = {"jaws-cromwell": {"args": ["--fault", "wrong-port"]}}
    result = run_suites("--jaws-env=dev", sites=data, suites=[PORTS_SUITE])
    expected, actual = 50101 + port_offset, 50108 + port_offset
    result.stdout.fnmatch_lines([
        f"*cromwell does not accept connections on its documented port {expected}*"
        f"listens on [[]{actual}[]]*",
    ])
    failed = {re.search(r"::(\w+)\[", line).group(1) for line in result.stdout.lines
              if line.startswith("FAILED")}
    assert failed == {"test_listener_accepts_connections_on_its_port",
                      "test_listener_binds_the_expected_address",
                      "test_listener_is_the_right_process",
                      "test_no_listener_outside_the_table"}, result.stdout.str()



SOCKET_THIEF = '''
import subprocess, sys
import psutil
import pytest

@pytest.fixture(scope="session")
def jaws_deployment(jaws_deployment):
    # another process takes a copy of supervisord-jaws's listening socket and keeps it (a
    # leaked descriptor): pidfd_getfd(2), as root
    pid = jaws_deployment.client("jaws").supervisor.getPID()
    port = jaws_deployment.plan.instances["jaws"].port
    fd = next(c.fd for c in psutil.Process(pid).net_connections("tcp")
              if c.status == "LISTEN" and c.laddr.port == port)
    code = ("import ctypes, os, sys, time\\n"
            "libc = ctypes.CDLL(None, use_errno=True)\\n"
            "pidfd = os.pidfd_open(int(sys.argv[1]))\\n"
            "got = libc.syscall(438, pidfd, int(sys.argv[2]), 0)\\n"
            "print('HOLDING' if got >= 0 else 'FAILED', flush=True)\\n"
            "time.sleep(120)\\n")
    thief = subprocess.Popen([sys.executable, "-c", code, str(pid), str(fd)],
                             stdout=subprocess.PIPE, text=True)
    assert thief.stdout.readline().strip() == "HOLDING"
    yield jaws_deployment
    thief.kill()
    thief.wait()
'''


@pytest.mark.skipif(os.geteuid() != 0, reason="pidfd_getfd(2) of supervisord's socket needs root")
def test_another_process_holding_a_supervisords_socket_fails_the_listener_check(run_suites):
    result = run_suites("--jaws-env=dev", "-k", "right_process", suites=[PORTS_SUITE],
                        conftest=SOCKET_THIEF)
    only_failure(result, "test_listener_is_the_right_process[dev-supervisord-jaws]",
                 "*port * is held by PID [[]*[]], expected supervisord-jaws (PID *)*")

def test_stray_listener_of_a_portless_program_is_found(run_suites):
    data = sites_data()
    data["sites"]["local"]["overrides"] = {"jaws-site-daemon": {"args": ["--fault", "stray-listener"]}}
    result = run_suites("--jaws-env=dev", sites=data, suites=[PORTS_SUITE])
    result.assert_outcomes(passed=23, failed=2)
    result.stdout.fnmatch_lines([
        "*program jaws-site-daemon (PID *) has no port in the table but listens on [[]*[]]*",
        "*processes of environment dev listen outside the port table: port *",
    ])


def test_listening_on_all_interfaces_fails_the_address_test(run_suites, port_offset):
    data = sites_data()
    data["sites"]["local"]["overrides"] = {"auth": {"args": ["--fault", "all-interfaces"]}}
    result = run_suites("--jaws-env=dev", "-k", "address", sites=data, suites=[PORTS_SUITE])
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines([
        f"*auth port {3001 + port_offset} listens on [[]'0.0.0.0'[]], expected only 127.0.0.1*",
    ])


TAKEN_AFTER_PREFLIGHT = '''
import socket

HELD = []


def pytest_jaws_plan(plan, files):
    """After pre-flight, as a second run started at the same moment would: bind jaws's port."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", plan.instances["jaws"].port))
    sock.listen()
    HELD.append(sock)
'''


@pytest.mark.slow
def test_port_taken_between_pre_flight_and_start_names_the_race_and_auto(run_suites):
    result = run_suites("--jaws-env=dev", "-k", "identified", suites=["test_health.py"],
                        conftest=TAKEN_AFTER_PREFLIGHT)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([
        "*Another program is already listening on a port*",
        "*port * was free at pre-flight: something bound it since, e.g. another run with the "
        "same port offset started at the same moment; deploy with --jaws-port-offset=auto*"])


def test_repeated_port_is_a_usage_error_naming_both_owners(run_suites):
    data = sites_data()
    data["ports"]["staging"]["cromwell"] = 50101
    result = run_suites("--jaws-env=dev", sites=data, offset=False, refused=True)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        "*ports.staging.cromwell: port 50101 is already used by ports.dev.cromwell*"])


def test_offset_past_the_last_port_is_a_usage_error(run_suites):
    result = run_suites("--jaws-env=prod", "--jaws-port-offset=1500", offset=False, refused=True)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        "*--jaws-port-offset 1500 moves ports.prod.supervisord-jaws (64103) to 65603, "
        "outside 1-65535*"])


@pytest.mark.slow
def test_two_runs_with_the_automatic_offset_started_together_both_pass(pytester):
    """``--jaws-port-offset=auto`` twice at the same moment: two different offsets.

    Both runs pass, nothing left behind.
    """
    (pytester.path / "suites").mkdir()
    for path in SUITES.glob("test_*.py"):
        (pytester.path / "suites" / path.name).write_text(path.read_text())
    cmd = [sys.executable, "-m", "pytest", str(pytester.path / "suites"), "-p",
           "no:cacheprovider", "--jaws-site=local", "--jaws-env=all", "--jaws-port-offset=auto"]
    runs = [subprocess.Popen(cmd, cwd=pytester.path, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outs = [run.communicate(timeout=600)[0] for run in runs]
    offsets = []
    for run, out in zip(runs, outs, strict=True):
        assert run.returncode == 0, out
        offsets += re.findall(r"port offset (\d+) \(chosen by auto\)", out)
    assert len(offsets) == 2 and offsets[0] != offsets[1], offsets
    assert not leftovers(pytester.path)
    # each gave its offset up: no owner file naming a finished run is left in the state directory
    from pytest_jaws.host.portoffset import lock_dir
    left = [o for o in offsets if (lock_dir() / f"{o}.run.owner").exists()]
    assert not left, f"owner files of finished runs left for offsets {left}"
