"""Issue 16: field cases about runs.

5: a port held by a non-listening socket, 7: bounded output, 8: two runs on one deployment
directory, 9: Ctrl-C during teardown, 10: a hung supervisord. Each test uses the input the
issue describes.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from helpers import SUITES, assert_nothing_left, leftovers, sites_data, wait_for_line

# --- case 5: a port held by a non-listening socket -----------------------------------------


def test_case_5_outgoing_connection_from_the_cromwell_port_fails_preflight(run_suites,
                                                                           port_offset):
    cromwell = 50101 + port_offset
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.socket()
    client.bind(("127.0.0.1", cromwell))  # what the kernel may pick for any connection
    client.connect(server.getsockname())
    accepted, _ = server.accept()
    try:
        result = run_suites("--jaws-env=dev", "-k", "instance_running", suites=["test_health.py"])
    finally:
        for sock in (accepted, client, server):
            sock.close()
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines([
        f"*pre-flight failed: port {cromwell} needed by *cromwell (environment dev) is already "
        f"in use by PID {os.getpid()} (user *): a socket in state ESTABLISHED (127.0.0.1:"
        f"{cromwell} -> 127.0.0.1:*)*"])
    assert "Address already in use" not in result.stdout.str()


def _listener_below_the_ephemeral_range() -> socket.socket:
    """Return a listener on a free port below 32768: a server's fixed port, as supervisord's."""
    for port in range(20000, 21000):
        sock = socket.socket()
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.close()
            continue
        sock.listen()
        return sock
    raise AssertionError("no free port in 20000-20999")


def test_case_5_closed_outgoing_connection_from_the_cromwell_port_fails_preflight(
        run_suites, port_offset):
    """Its TIME_WAIT stops Cromwell's bind for up to 60 s, SO_REUSEADDR or not.

    The connection took cromwell's port as its own, as the kernel may for any connection (it
    lies in the ephemeral range), to a server's fixed port, and closed first.
    """
    cromwell = 50101 + port_offset
    server = _listener_below_the_ephemeral_range()
    remote = server.getsockname()[1]
    client = socket.socket()
    client.bind(("127.0.0.1", cromwell))
    client.connect(server.getsockname())
    accepted, _ = server.accept()
    client.close()  # the client's side closes first: its side stays in TIME_WAIT
    accepted.close()
    server.close()
    probe = socket.socket()
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    with pytest.raises(OSError, match="Address already in use"):
        probe.bind(("127.0.0.1", cromwell))  # what Cromwell would meet
    probe.close()
    result = run_suites("--jaws-env=dev", "-k", "instance_running", suites=["test_health.py"])
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines([
        f"*pre-flight failed: port {cromwell} needed by *cromwell (environment dev) is held by "
        f"someone else, *: a socket in state TIME_WAIT (127.0.0.1:{cromwell} -> 127.0.0.1:"
        f"{remote}): no process: an outgoing connection that took the port as its own and has "
        "closed; the kernel keeps it for up to 60 s, and no server can bind the port until then*",
        "*add --jaws-port-offset=auto*"])
    assert "FATAL" not in result.stdout.str()


def test_case_5_plan_of_a_real_site_states_the_ephemeral_range(pytester):
    result = pytester.runpytest_subprocess("--jaws-site=cori", "--jaws-env=dev", "--jaws-plan")
    assert result.ret == 0
    result.stdout.fnmatch_lines([
        "*ephemeral port range of this host: *-* (net.ipv4.ip_local_port_range); "
        "net.ipv4.ip_local_reserved_ports = *",
    ])
    first, last = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    if first <= 50101 <= last:
        result.stdout.fnmatch_lines(["*in the ephemeral range: jaws-cromwell 50101 (*reserved)*"])


# --- helpers for runs in the background ----------------------------------------------------

def _popen(tmp_path, args, env=None):
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
           f"--basetemp={tmp_path / 'base'}", *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=tmp_path, env=dict(os.environ, **(env or {})))


# --- case 8: two runs on one deployment directory ------------------------------------------

HOLD = '''
import os, pathlib, time

def test_hold(jaws_deployment):
    print("HOLDING", flush=True)
    flag = pathlib.Path(os.environ["JAWS_TEST_FLAG"])
    while not flag.exists():
        time.sleep(0.05)
'''


@pytest.mark.slow
def test_case_8_second_run_on_the_same_directory_fails_preflight_naming_the_first(
        tmp_path, port_offset):
    (tmp_path / "test_hold.py").write_text(HOLD)
    flag = tmp_path / "release"
    base = tmp_path / "shared-base"
    common = [f"--jaws-basedir={base}", f"--jaws-port-offset={port_offset}", "--jaws-env=dev"]
    first = _popen(tmp_path, ["-s", "test_hold.py", *common], {"JAWS_TEST_FLAG": str(flag)})
    try:
        wait_for_line(first, "HOLDING")
        pids = {p.pid for p in leftovers(base)}
        second = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(SUITES / "test_health.py"),
             "-k", "instance_running", f"--basetemp={tmp_path / 'base2'}", *common],
            capture_output=True, text=True, cwd=tmp_path, timeout=300)
        assert second.returncode == pytest.ExitCode.TESTS_FAILED, second.stdout
        assert (f"is in use by another pytest-jaws run (PID {first.pid}: " in second.stdout
                and "test_hold.py" in second.stdout), second.stdout
        assert "unchanged" not in second.stdout
        assert {p.pid for p in leftovers(base)} == pids  # the first run's deployment is intact
        # another directory, same ports: no take-down hint while the first run holds its lock
        third = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(SUITES / "test_health.py"),
             "-k", "instance_running", f"--basetemp={tmp_path / 'base3'}",
             f"--jaws-basedir={tmp_path / 'other'}", *common[1:]],
            capture_output=True, text=True, cwd=tmp_path, timeout=300)
        assert "; of the pytest-jaws deployment" in third.stdout, third.stdout
        assert "--jaws-teardown=always" not in third.stdout, third.stdout
        assert f"in use by the pytest-jaws run PID {first.pid}" in third.stdout, third.stdout
        flag.touch()
        out, _ = first.communicate(timeout=120)
    finally:
        flag.touch()  # on any failure above too: let the first run end and tear down
        if first.poll() is None:
            try:
                first.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                first.kill()
    assert first.returncode == 0, out
    assert "jaws teardown (always)" in out
    assert_nothing_left(tmp_path, port_offset)


# --- case 9: Ctrl-C during teardown ---------------------------------------------------------

@pytest.mark.slow
def test_case_9_ctrl_c_during_teardown_finishes_it_and_prints_the_summary(tmp_path, port_offset):
    data = sites_data()
    # jtm ignores SIGTERM, so supervisord needs its stopwaitsecs to stop it: a slow teardown
    data["sites"]["local"]["overrides"] = {
        "jaws-jtm": {"command": "sh -c 'trap \"\" TERM; while :; do sleep 0.1; done'"}}
    (tmp_path / "sites.yaml").write_text(json.dumps(data))
    report = tmp_path / "report.json"
    proc = _popen(tmp_path, [str(SUITES / "test_health.py"), "-k", "instance_running",
                             f"--jaws-port-offset={port_offset}", "--jaws-env=dev",
                             f"--jaws-sites-file={tmp_path / 'sites.yaml'}",
                             f"--jaws-report={report}"])
    try:
        wait_for_line(proc, "jaws: tearing down")
        for _ in range(3):
            proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "SIGINT received: teardown in progress" in out, out
    assert "KeyboardInterrupt" not in out and "Traceback" not in out, out
    assert "jaws deployment summary" in out and "jaws teardown (always)" in out, out
    assert json.loads(report.read_text())["teardown"]["seconds"] is not None
    assert_nothing_left(tmp_path, port_offset)


# --- case 10: a hung supervisord -----------------------------------------------------------

STOP_JAWS = '''
import os, signal

def test_a_stop_supervisord_jaws(jaws_deployment):
    os.kill(jaws_deployment.pids["jaws"], signal.SIGSTOP)
'''


@pytest.mark.slow
def test_case_10_hung_instance_is_marked_and_later_tests_fail_at_once(run_suites, pytester):
    (pytester.path / "test_stop.py").write_text(STOP_JAWS)
    result = run_suites("--jaws-env=dev", "-p", "no:randomly", "-k", "stop or program_running",
                        suites=["../test_stop.py", "test_health.py"])
    outcomes = result.parseoutcomes()
    assert (outcomes.get("passed"), outcomes.get("failed")) == (1, 1), outcomes
    later = outcomes.get("errors")  # every program test after the first jaws one
    assert later >= 4, outcomes
    out = result.stdout.str()
    # one call really waited (the failed test); every later test failed at once, in setup,
    # with the same message
    marked = [line for line in result.stdout.lines if line.startswith("supervisord-jaws (")
              and line.endswith("got no answer within 5 s (hung instance?); marked hung after "
                                "that first timeout: test not run")]
    # (counted in the error sections only: with CI=true pytest's short summary repeats them)
    assert len(marked) == later, out
    result.stdout.fnmatch_lines(["E * supervisord-jaws (environment dev, port *): "
                                 "supervisor.get* got no answer within 5 s (hung instance?)"])


# --- case 7: bounded output ------------------------------------------------------------------

LOUD = ("sh -c 'i=0; while [ $i -lt 300 ]; do printf \"%03000d\\n\" $i >&2; i=$((i+1)); done; "
        "exit 3'")


@pytest.mark.slow
def test_case_7_loud_failing_program_under_the_smoke_command_stays_small(tmp_path, port_offset):
    data = sites_data()
    data["sites"]["local"]["overrides"] = {"jaws-jtm": {"command": LOUD}}
    (tmp_path / "sites.yaml").write_text(json.dumps(data))
    junit = tmp_path / "reports" / "junit.xml"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(SUITES / "test_health.py"),
         "-n", "3",
         "--jaws-site=local", "--jaws-env=all", f"--junitxml={junit}",
         f"--jaws-report={tmp_path / 'reports' / 'jaws-report.json'}",
         f"--jaws-port-offset={port_offset}", f"--jaws-sites-file={tmp_path / 'sites.yaml'}",
         f"--basetemp={tmp_path / 'base'}"],
        capture_output=True, text=True, cwd=tmp_path, timeout=600)
    out = done.stdout + done.stderr
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, out[-5000:]
    print(f"terminal output {len(out)} bytes, JUnit {junit.stat().st_size} bytes")
    assert len(out) < 1_000_000 and junit.stat().st_size < 1_000_000
    assert "exit status 3" in out
    assert "jaws deployment summary" in out
    errors = ET.parse(junit).getroot().iter("error")  # noqa: S314 - pytest's own JUnit file
    texts = [e.text or "" for e in errors]
    assert len(texts) > 20
    full = [t for t in texts if "--- jaws-jtm stderr" in t]
    assert len(full) == 3, len(full)  # a failed deployment: once per environment
    # one line pointing at the first error (its message and section), no section of its own
    assert all(t.count("see the first error of environment") == 1 for t in texts if t not in full)
    assert not [ln for ln in out.splitlines() if len(ln) > 1000]
    assert_nothing_left(tmp_path, port_offset)


def test_case_5_what_a_server_that_just_exited_leaves_on_its_port_does_not_block_it():
    """Pre-flight does not count a connection a server that exited left closing on its port.

    A server that exits while a client is still connected leaves its side of the connection
    closing (FIN_WAIT2, no owner) on its port: that does not stop the next server (SO_REUSEADDR),
    so pre-flight does not count it (a redeploy right after a teardown must not fail).
    """
    import socket
    import subprocess
    import sys
    import time

    from pytest_jaws.host.portholders import port_users
    server = subprocess.Popen([sys.executable, "-c", (
        "import socket, sys\n"
        "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "s.bind(('127.0.0.1', 0)); s.listen(1); print(s.getsockname()[1], flush=True)\n"
        "c, _ = s.accept(); sys.exit(0)\n")], stdout=subprocess.PIPE, text=True)
    port = int(server.stdout.readline())
    client = socket.create_connection(("127.0.0.1", port))  # kept open: the server closes first
    try:
        server.wait(10)
        time.sleep(0.2)
        states = {c.status for c in __import__("psutil").net_connections("tcp")
                  if c.laddr and c.laddr.port == port and c.pid is None}
        assert states & {"FIN_WAIT2", "FIN_WAIT1"}, states  # the leftover is there
        assert port_users(port, "127.0.0.1") == []
        again = socket.socket()
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))  # and the next server binds
        again.close()
    finally:
        client.close()
