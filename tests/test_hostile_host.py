"""Issue 24 (when the host fights back) and issue 23, item 1 (a lock any user could hold).

Each test reproduces one case of the issue the way it happened and shows how it ends now: a
usage error before anything is deployed, or a deployment error that names the cause and what to
do, with nothing left behind.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

import psutil
import pytest
from helpers import (
    SUITES,
    assert_nothing_left,
    have_role_users,
    leftovers,
    signal_after_line,
    sites_data,
    wait_for_line,
)

from pytest_jaws.errors import HostLockBusy, UnsafePathError
from pytest_jaws.host import ephemeral, hostlock

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (CI runs as root)")
needs_attacker = pytest.mark.skipif(
    os.geteuid() != 0 or not have_role_users("jaws_other"),
    reason="needs root and the user jaws_other of scripts/create-users.sh (CI has both)")


@pytest.fixture(autouse=True)
def _end_what_a_failed_test_left(request):
    """After each test, end by PID whatever a deployment under its directories left running.

    A test of this file that fails (a regression) must not leave a deployment up on the host:
    the test's own checks (nothing left) run first, this one only cleans up after them.
    """
    yield
    for name in ("tmp_path", "pytester"):
        value = request.node.funcargs.get(name)
        path = getattr(value, "path", value)
        if path is not None:
            left = leftovers(Path(path))
            for proc in left:
                proc.kill()
            psutil.wait_procs(left, timeout=10)


# --- case 2: warnings as errors ------------------------------------------------------------

@pytest.mark.slow
def test_case_2_the_main_job_passes_with_warnings_as_errors(run_suites, monkeypatch):
    """No socket of the harness is left unclosed (``PytestUnraisableExceptionWarning``).

    The run is a main job of its own, not an xdist worker: this test's worker variable is not
    passed on (pytest-benchmark, where installed, warns at start in an xdist worker, and ``-W
    error`` makes that an INTERNALERROR: a CI run on a machine that has it failed so).
    """
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    result = run_suites("-W", "error", "--jaws-site=local", "--jaws-env=dev")
    assert result.ret == 0, result.stdout.str()
    assert "unclosed" not in result.stdout.str() + result.stderr.str()


# --- case 14: the reserved-ports setting, changed port by port -------------------------------

#: Run in a network namespace of its own (``unshare -n``): its reserved-ports setting starts
#: empty and is this test's alone, whatever else runs on the host.
PRELUDE = textwrap.dedent("""\
    import os, signal, subprocess, sys
    from pytest_jaws.host import ephemeral
    def setting():
        return ephemeral.reserved_text()
    def holder(ports, key):
        # another run: reserves, says so, then waits (killed, or released by closing stdin)
        code = ("import sys; from pytest_jaws.host import ephemeral; "
                f"ephemeral.reserve({set(ports)!r}, {key!r}); print('in', flush=True); "
                f"sys.stdin.read(); ephemeral.release({key!r})")
        proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline() == "in\\n"
        return proc
    def done(proc):
        proc.stdin.close(); assert proc.wait() == 0
    ephemeral.RESERVED_FILE.write_text("1000-1001,50105\\n")  # the administrator's
""")


def in_own_netns(code: str) -> list[str]:
    """Run ``PRELUDE + code`` in a new network namespace; return its printed lines."""
    done = subprocess.run(["unshare", "-n", sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@needs_root
def test_case_14_overlapping_runs_give_back_exactly_what_they_added():
    """Two overlapping runs: each adds what is missing; the setting ends as it began.

    The first to finish keeps what the other still needs (handed over, not removed); the
    administrator's own reservations (1000-1001, 50105) are never touched.
    """
    lines = in_own_netns("""
        a = holder({50101, 50102, 50105}, "run a")
        print(setting())
        b = holder({50102, 50103}, "run b")
        print(setting())
        done(a)
        print(setting())
        done(b)
        print(setting())
    """)
    assert lines == ["1000-1001,50101-50102,50105", "1000-1001,50101-50103,50105",
                     "1000-1001,50102-50103,50105", "1000-1001,50105"]


@needs_root
def test_case_14_a_killed_run_is_undone_by_the_next_one():
    """A run killed with SIGKILL writes nothing back; the next run removes what it had added.

    Also when the next run adds nothing itself (it needs only what is reserved already).
    """
    lines = in_own_netns("""
        a = holder({50101, 50102}, "killed run")
        a.kill(); a.wait()
        print(setting())
        b = holder({50103}, "next run")
        print(setting())
        done(b)
        print(setting())
        c = holder({50106}, "killed again")
        c.kill(); c.wait()
        d = holder({50105}, "needs only the administrator's")
        print(setting())
        done(d)
        print(setting())
    """)
    assert lines == ["1000-1001,50101-50102,50105", "1000-1001,50103,50105", "1000-1001,50105",
                     "1000-1001,50105", "1000-1001,50105"]


@needs_root
def test_case_14_a_deployment_left_up_keeps_its_reservation_while_its_processes_live():
    """A holder added by :func:`ephemeral.hold` (a supervisord) keeps the record alive.

    The deploying process ends; the reservation stays while the supervisord lives, and the next
    run removes it once the supervisord is gone.
    """
    lines = in_own_netns("""
        supervisord = subprocess.Popen(["sleep", "600"])
        code = ("from pytest_jaws.host import ephemeral; "
                "ephemeral.reserve({50101}, 'left up'); "
                f"ephemeral.hold('left up', [{supervisord.pid}])")
        subprocess.run([sys.executable, "-c", code], check=True)
        b = holder({50110}, "next run")
        print(setting())
        done(b)
        supervisord.kill(); supervisord.wait()
        c = holder({50110}, "run after")
        print(setting())
        done(c)
        print(setting())
    """)
    assert lines == ["1000-1001,50101,50105,50110", "1000-1001,50105,50110", "1000-1001,50105"]


@needs_root
def test_case_14_the_main_job_leaves_the_setting_as_it_found_it():
    """The main job (a fake site reserves cromwell's port) in a namespace of its own.

    During the run the port is reserved; afterwards the setting is the administrator's again.
    """
    conftest = textwrap.dedent("""\
        from pytest_jaws.host import ephemeral
        def test_reserved_while_up(jaws_deployment):
            print("DURING", ephemeral.reserved_text())
    """)
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "test_during.py").write_text(conftest)
        lines = in_own_netns(f"""
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
            done = subprocess.run([sys.executable, "-m", "pytest", {str(tmp)!r}, "-s", "-q",
                                   "-p", "no:cacheprovider", "--jaws-site=local",
                                   "--jaws-env=dev", "--basetemp={tmp}/t"],
                                  capture_output=True, text=True)
            print(*[l for l in done.stdout.splitlines() if l.startswith("DURING")])
            print("AFTER", setting(), done.returncode)
        """)
    assert lines == ["DURING 1000-1001,50101,50105", "AFTER 1000-1001,50105 0"]


@pytest.mark.slow
@needs_root
def test_case_14_overlapping_runs_a_killed_one_and_one_more_leave_the_setting_as_before(
        tmp_path):
    """The issue's "done when", in a network namespace of its own.

    The main job A deploys and waits; the project's own tests (their session reserves every
    offset's cromwell ports) and another main job run meanwhile; A is killed with SIGKILL (its
    deployment, left behind, is ended by PID as the next run on its base directory would), and
    one more run follows. The setting is then what it was before any of them.
    """
    (tmp_path / "test_wait.py").write_text(SLEEPING_TEST)
    lines = in_own_netns(f"""
        import time, psutil
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        def pytest_run(*args, **kw):
            return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args]
        main = ["--jaws-site=local", "--jaws-env=dev", "--jaws-port-offset=auto"]
        def marked(p):
            try:
                return "{tmp_path}/a" in p.environ().get("JAWS_DEPLOYMENT", "")
            except psutil.Error:
                return False
        def end_a():  # what the killed run left, ended by PID as the next run there would
            left = [p for p in psutil.process_iter() if marked(p)]
            for p in left:
                p.kill()
            psutil.wait_procs(left, timeout=10)
        a = subprocess.Popen(pytest_run({str(tmp_path / "test_wait.py")!r}, "-s",
                                        "--basetemp={tmp_path}/a", *main),
                             stdout=subprocess.PIPE, text=True, start_new_session=True)
        try:
            while "DEPLOYED" not in a.stdout.readline():
                assert a.poll() is None, "run A ended before it deployed"
            print("A UP", setting() != "1000-1001,50105")
            tests = subprocess.run(pytest_run({str(Path(__file__))!r}, "-k", "case_11_all"),
                                   capture_output=True, text=True)
            b = subprocess.run(pytest_run({str(SUITES / "test_health.py")!r}, "-k",
                                          "instance_running", "--basetemp={tmp_path}/b", *main),
                               capture_output=True, text=True)
            print("B", b.returncode, "TESTS", tests.returncode)
        finally:
            a.kill(); a.wait()
            end_a()
        c = subprocess.run(pytest_run({str(SUITES / "test_health.py")!r}, "-k",
                                      "instance_running", "--basetemp={tmp_path}/c", *main),
                           capture_output=True, text=True)
        print("C", c.returncode)
        print("AFTER", setting())
    """)
    assert lines == ["A UP True", "B 0 TESTS 0", "C 0", "AFTER 1000-1001,50105"], lines


# --- issue 23, item 1: a lock any user could hold --------------------------------------------

@needs_attacker
def test_23_1_another_users_flock_on_the_old_lock_path_does_not_hang_a_root_run(run_suites):
    """The attack as written: jaws_other holds ``$TMPDIR/pytest-jaws-reserved-ports.lock``.

    The run never looks there (its lock is in root's ``/run/pytest-jaws``): it is unaffected.
    """
    old = Path(tempfile.gettempdir()) / "pytest-jaws-reserved-ports.lock"
    planted = not old.exists()  # the attacker's file, removed afterwards: /tmp stays as it was
    attacker = ["runuser", "-u", "jaws_other", "--"]
    try:
        with flock_held(old, *attacker) if _may_create(old) else nullcontext():
            result = run_suites("--jaws-site=local", "--jaws-env=dev", "-k", "instance_running",
                                suites=["test_health.py"])
            result.assert_outcomes(passed=3)
    finally:
        if planted:
            old.unlink(missing_ok=True)


def _may_create(path: Path) -> bool:
    """jaws_other can make or open ``path`` (a file of root's there it may only read: flock too)."""
    return not path.exists() or os.access(path, os.R_OK)


def _wait_for_flock(path: Path) -> None:
    for _ in range(200):
        if path.exists() and "PID" in hostlock.lock_holder(path):
            return
        time.sleep(0.05)
    raise AssertionError(f"the attacker's flock on {path} never showed up in /proc/locks")


@pytest.mark.slow
@needs_root
@pytest.mark.parametrize("sig", [None, signal.SIGTERM, signal.SIGINT, signal.SIGHUP],
                         ids=["no signal", "SIGTERM", "SIGINT", "SIGHUP"])
def test_23_1_a_run_waiting_for_a_held_lock_ends_by_itself_or_by_a_signal(tmp_path, sig):
    """A stuck holder of the reserved-ports lock: the run says it waits, and for whom.

    Without a signal it ends after the bounded wait with an error naming the holder; SIGTERM,
    SIGINT or SIGHUP during the wait end it at once (the wait is cancelled, not timed out).
    In a network namespace of its own, whose setting and lock no other run shares.
    """
    lines = in_own_netns(f"""
        import time
        from pytest_jaws.host import hostlock, reservations
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        path = hostlock.state_dir() / f"reserved-ports-{{reservations.netns()}}.lock"
        holder = subprocess.Popen(["flock", "-x", "-o", str(path), "sleep", "600"],
                                  start_new_session=True)
        while "PID" not in hostlock.lock_holder(path):
            time.sleep(0.05)
        run = subprocess.Popen(
            [sys.executable, "-m", "pytest", {str(SUITES / "test_health.py")!r}, "-p",
             "no:cacheprovider", "-k", "instance_running", "--basetemp={tmp_path}/b",
             "--jaws-site=local", "--jaws-env=dev"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            seen = ""
            while "waiting (at most" not in seen:
                seen = run.stdout.readline()
                assert seen, "the run never said it waits"
            print("WAITING", f"held by PID {{holder.pid}} (user root (uid 0)): flock -x -o" in seen)
            if {int(sig) if sig else 0}:
                run.send_signal({int(sig) if sig else 0})
            out = run.communicate(timeout=120)[0]
        finally:
            os.killpg(holder.pid, signal.SIGKILL); holder.wait()
            if run.poll() is None:
                run.kill()
        print("RC", run.returncode)
        print("TIMED OUT", "for more than 5 s" in out, "CANCELLED", "cancelled while waiting" in out)
    """)
    if sig is None:
        assert lines == ["WAITING True", "RC 1", "TIMED OUT True CANCELLED False"], lines
    else:
        assert lines == ["WAITING True", "RC 2", "TIMED OUT False CANCELLED True"], lines
    assert not leftovers(tmp_path)


@needs_attacker
def test_23_1_a_state_directory_planted_by_another_user_is_refused(monkeypatch):
    """jaws_other makes the state directory first (where a runner's would go): it is refused."""
    shared = Path(tempfile.mkdtemp(prefix="pytest-jaws-tests-shared-"))
    try:
        shared.chmod(0o1777)  # like /tmp
        planted = shared / "state"
        subprocess.run(["runuser", "-u", "jaws_other", "--", "mkdir", "-m", "0777",
                        str(planted)], check=True)
        monkeypatch.setattr(hostlock, "ROOT_STATE_DIR", planted)
        with pytest.raises(UnsafePathError, match=r"state directory .*state \(owner jaws_other "
                                                  r".*\) is not a directory of root .*remove it"):
            ephemeral.reserve({50101}, "planted")
    finally:
        subprocess.run(["rm", "-rf", str(shared)], check=True)


@contextmanager
def flock_held(path: Path, *runuser: str):
    """Hold ``flock -x`` on ``path`` (``runuser -u USER --`` when given) for the ``with`` block.

    Yields the holder (its process group, which this test started, is killed afterwards).
    """
    holder = subprocess.Popen([*runuser, "flock", "-x", "-o", str(path), "sleep", "600"],
                              start_new_session=True)
    try:
        _wait_for_flock(path)
        yield holder
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()


@needs_root
def test_23_1_a_lock_held_too_long_ends_the_wait_naming_its_holder():
    """Whoever holds a lock (only root can, now), the wait ends after its timeout, naming it."""
    path = hostlock.state_dir() / f"test-held-{os.getpid()}.lock"
    try:
        with flock_held(path) as holder, pytest.raises(
                HostLockBusy, match=rf"reserved-ports setting .* is held by PID {holder.pid} "
                                    r"\(user root \(uid 0\)\): flock -x .* sleep 600, for more "
                                    r"than 0.5 s .*end it"):
            with hostlock.host_lock(path.stem, "the reserved-ports setting", timeout=0.5):
                pass
    finally:
        path.unlink(missing_ok=True)


# --- case 1: SIGHUP to pytest ----------------------------------------------------------------

SLEEPING_TEST = '''
import time

def test_sleeps(jaws_deployment):
    print("DEPLOYED", flush=True)
    time.sleep(20)
'''


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM], ids=["SIGHUP", "SIGTERM"])
def test_case_1_a_hang_up_while_a_test_runs_tears_down_like_sigterm(tmp_path, port_offset, sig):
    """A closed terminal or a cancelled job (SIGHUP) ends the run as SIGTERM does.

    The test that sleeps is interrupted, teardown runs and says so, the summary is printed, and
    no process or port of the deployment is left.
    """
    (tmp_path / "test_sleep.py").write_text(SLEEPING_TEST)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", str(tmp_path / "test_sleep.py"), "-s", "-p",
         "no:cacheprovider", f"--basetemp={tmp_path / 'base'}", f"--jaws-port-offset={port_offset}",
         "--jaws-site=local", "--jaws-env=dev"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    out = signal_after_line(proc, "DEPLOYED", sig)
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out
    assert f"KeyboardInterrupt: {sig.name}" in out, out
    assert "jaws teardown (always)" in out, out
    assert "jaws deployment summary" in out, out
    assert_nothing_left(tmp_path, port_offset)


@pytest.mark.parametrize("capture", [["-s"], []], ids=["-s", "captured"])
def test_case_1_a_closed_terminal_tears_down(tmp_path, port_offset, capture):
    """A run on a terminal that goes away: SIGHUP, and every later write to it fails (EIO).

    The run's terminal descriptors (pytest's output capture keeps one more) go to /dev/null,
    so that writing the teardown's lines cannot end the teardown: nothing is left up.
    """
    import pty
    import select
    (tmp_path / "test_sleep.py").write_text(SLEEPING_TEST)
    argv = [sys.executable, "-m", "pytest", str(tmp_path / "test_sleep.py"), *capture, "-p",
            "no:cacheprovider", f"--basetemp={tmp_path / 'base'}",
            f"--jaws-port-offset={port_offset}", "--jaws-site=local", "--jaws-env=dev"]
    pid, terminal = pty.fork()
    if pid == 0:  # the child: pytest on the terminal
        os.chdir(tmp_path)
        os.execv(sys.executable, argv)  # noqa: S606 - the argv above, no shell
    try:
        seen = b""
        needle = b"DEPLOYED" if capture else b"service rest healthy"
        while needle not in seen:
            assert select.select([terminal], [], [], 120)[0], seen.decode(errors="replace")
            seen += os.read(terminal, 4096)
    finally:
        os.close(terminal)  # the terminal goes away
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == pytest.ExitCode.INTERRUPTED
    assert_nothing_left(tmp_path, port_offset)


SLEEPING_TESTS = SLEEPING_TEST + '''

def test_sleeps_too(jaws_deployment):
    time.sleep(20)
'''


@pytest.mark.slow
def test_case_1_a_hang_up_of_the_whole_group_under_xdist_tears_down(tmp_path, port_offset):
    """A closed terminal hangs up the whole process group: the controller and its workers.

    The controller waits for the worker that deployed to let go of the deployment's lock, then
    tears down: nothing is left up.
    """
    (tmp_path / "test_sleep.py").write_text(SLEEPING_TESTS)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", str(tmp_path / "test_sleep.py"), "-n", "2", "-p",
         "no:cacheprovider", f"--basetemp={tmp_path / 'base'}",
         f"--jaws-port-offset={port_offset}", "--jaws-site=local", "--jaws-env=dev"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
        start_new_session=True)
    try:
        wait_for_line(proc, "service rest healthy")
        os.killpg(proc.pid, signal.SIGHUP)  # the group this test started, as a terminal does
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out
    assert "not torn down" not in out and "left up" not in out, out
    assert "jaws teardown (always)" in out, out
    assert_nothing_left(tmp_path, port_offset)



@pytest.mark.slow
@pytest.mark.parametrize("capture", [["-s"], []], ids=["-s", "captured"])
def test_case_1_a_reader_that_goes_away_does_not_leave_the_deployment_up(tmp_path, port_offset,
                                                                          capture):
    """``pytest suites ... | head -30``: the reader closes the pipe while the run goes on.

    Python ignores SIGPIPE, so each later write raises BrokenPipeError; the teardown's first
    line would end the run with everything left up (a fresh-user trial found three supervisords
    and eight programs so). The run's outputs without a reader go to /dev/null before the
    teardown: nothing is left up.
    """
    (tmp_path / "test_sleep.py").write_text(SLEEPING_TEST.replace("time.sleep(20)",
                                                                  "time.sleep(3)"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", str(tmp_path / "test_sleep.py"), *capture, "-p",
         "no:cacheprovider", f"--basetemp={tmp_path / 'base'}", f"--jaws-port-offset={port_offset}",
         "--jaws-site=local", "--jaws-env=dev"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    try:
        wait_for_line(proc, "DEPLOYED" if capture else "service rest healthy")
        assert leftovers(tmp_path), "the deployment was never up: nothing to prove"
        proc.stdout.close()  # the reader goes away, as head does once it has its lines
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert_nothing_left(tmp_path, port_offset)

# --- case 7: the destructive check under -n 3 --dist=each -----------------------------------

@pytest.mark.slow
def test_case_7_the_recovery_kill_happens_once_per_environment_under_dist_each(run_suites,
                                                                              pytester):
    """Every worker runs both halves of the recovery check; only the first one kills.

    The deployment is left up so that its supervisord log can be read: one SIGKILL of the
    program sites.yaml marks ``recovery: true`` (jaws-site-daemon), however many workers.
    """
    base = pytester.path / "left-up"
    common = ["--jaws-site=local", "--jaws-env=dev", f"--jaws-basedir={base}"]
    try:
        result = run_suites(*common, "-n", "3", "--dist=each", "--jaws-teardown=never",
                            "-k", "killed_program", suites=["test_health.py"])
        result.assert_outcomes(passed=6)
        log = (base / "jaws-supervisord-dev" / "jaws" / "supervisord.log").read_text()
        kills = [line for line in log.splitlines() if "terminated by SIGKILL" in line]
        assert len(kills) == 1 and "exited: jaws-site-daemon" in kills[0], kills
    finally:
        run_suites("--jaws-down", *common).stdout.fnmatch_lines(["*took down site local*"])


# --- case 6: SIGHUP to a supervisord (a reload) ----------------------------------------------

HANG_UP_SUPERVISORD = '''
import os, signal

def test_0_hang_up_supervisord_jaws(jaws_deployment):
    os.kill(jaws_deployment.pids["jaws"], signal.SIGHUP)
'''


def test_case_6_checks_after_a_reload_of_supervisord_ride_through_it(run_suites, pytester):
    """SIGHUP to supervisord-jaws restarts it (and its programs); the next checks wait for it.

    Before, the next check failed with a raw ``SHUTDOWN_STATE`` fault or ``Broken pipe``.
    """
    (pytester.path / "test_0_hup.py").write_text(HANG_UP_SUPERVISORD)
    result = run_suites("--jaws-site=local", "--jaws-env=dev", "-p", "no:randomly",
                        suites=["../test_0_hup.py", "test_health.py", "test_privsep.py"])
    assert result.ret == 0, result.stdout.str()
    assert "SHUTDOWN_STATE" not in result.stdout.str()


SLOW_RELOAD = HANG_UP_SUPERVISORD + '''
def test_1_state_during_the_reload(jaws_deployment):
    jaws_deployment.client("jaws", reload_wait=1.0).supervisor.getState()
'''


@pytest.mark.slow
def test_case_6_a_reload_longer_than_the_wait_names_the_restart_and_what_to_do(run_suites,
                                                                              pytester):
    """A program that ignores SIGTERM keeps supervisord in its restart for stopwaitsecs (10 s).

    A call that waits 1 s fails with an error that names the restart, the signal and what to
    do; nothing is left behind.
    """
    data = sites_data()
    data["sites"]["local"]["overrides"] = {
        "jaws-site-daemon": {"command": "sh -c 'trap \"\" TERM; while :; do sleep 0.1; done'"}}
    (pytester.path / "test_0_hup.py").write_text(SLOW_RELOAD)
    result = run_suites("--jaws-site=local", "--jaws-env=dev", "-p", "no:randomly", sites=data,
                        suites=["../test_0_hup.py"])
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*InstanceRestarting: supervisord-jaws (environment dev, port *) was restarting (it "
        "answered SHUTDOWN_STATE: a SIGHUP to supervisord, or supervisorctl reload) and did not "
        "answer supervisor.getState within 1 s; *Find who sent it*"])


# --- cases 3 and 5: a read-only base directory, a full disk ---------------------------------

@pytest.fixture
def small_tmpfs():
    """Mount a tmpfs of ``size`` (``2m``) on a fresh directory; unmounted (and removed) after.

    Call as ``small_tmpfs(size="2m", mode="0755")``; returns the mount point.
    """
    mounted: list[Path] = []

    def mount(size: str = "2m", mode: str = "0755") -> Path:
        where = Path(tempfile.mkdtemp(prefix="pytest-jaws-tests-tmpfs-"))
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode={mode}", "tmpfs",
                        str(where)], check=True)
        mounted.append(where)
        return where

    try:
        yield mount
    finally:
        for where in mounted:
            if subprocess.run(["umount", str(where)]).returncode != 0:
                subprocess.run(["umount", "-l", str(where)], check=True)  # busy: still detach it
            where.rmdir()


@needs_root
@pytest.mark.parametrize("mode", ["0755", "1777"])
def test_case_3_a_read_only_base_directory_is_a_usage_error(run_suites, small_tmpfs, pytester,
                                                            mode):
    """A base directory on a read-only mount: a usage error naming it, before anything is made.

    Also when others may write it (mode 1777, a newcomer's trial): the read-only file system is
    named first, not "chmod go-w", which fails there.
    """
    base = small_tmpfs(mode=mode)
    subprocess.run(["mount", "-o", "remount,ro", str(base)], check=True)
    result = run_suites("--jaws-site=local", "--jaws-env=dev", f"--jaws-basedir={base}",
                        f"--junitxml={pytester.path / 'r.xml'}", refused=True)
    result.stderr.fnmatch_lines([
        f"*pytest-jaws: base directory {base}: {base} is on a read-only file system (mount "
        f"point {base}); nothing can be deployed there: choose a writable --jaws-basedir, or "
        "remount it read-write*"])
    assert not list(base.iterdir())



def test_case_3_a_base_directory_where_no_file_can_be_is_a_usage_error(run_suites, tmp_path):
    """Under a file (``/etc/passwd/x``), or on /proc: refused naming the cause, not the disk.

    A fresh-user trial got "0 KiB and 0 inodes free ... a full disk" for /proc/x, and 87 setup
    errors "taking the run lock: ... Not a directory" with no advice for a path under a file.
    """
    afile = tmp_path / "afile"
    afile.write_text("")
    under_file = run_suites("--jaws-site=local", "--jaws-env=dev",
                            f"--jaws-basedir={afile / 'x'}", refused=True)
    under_file.stderr.fnmatch_lines([
        f"*base directory {afile / 'x'}: {afile} is not a directory, so nothing can be made "
        "under it: choose a --jaws-basedir that is a directory or can be made as one*"])
    on_proc = run_suites("--jaws-site=local", "--jaws-env=dev", "--jaws-basedir=/proc/x",
                         refused=True)
    on_proc.stderr.fnmatch_lines([
        "*base directory /proc/x: /proc is on a file system that holds no files (mount point "
        "/proc, *): choose a --jaws-basedir on a disk*"])
    assert "full disk" not in on_proc.stderr.str()

@needs_root
@pytest.mark.parametrize("free_kib", [48, 300])
def test_case_5_a_nearly_full_base_directory_is_a_usage_error(run_suites, small_tmpfs, free_kib):
    """A 2 MB tmpfs filled until 48 KB (or 300 KB) is free: refused, naming the room and need.

    Before, 48 KB gave ``OSError: [Errno 28] No space left on device`` with no path, and 300 KB
    "Exited too quickly" with empty log tails.
    """
    base = small_tmpfs()
    _fill(base, free_kib)
    result = run_suites("--jaws-site=local", "--jaws-env=dev", f"--jaws-basedir={base / 'b'}",
                        refused=True)
    result.stderr.fnmatch_lines([
        f"*base directory {base / 'b'}: the file system of {base} (mount point {base}) has "
        f"{free_kib} KiB and * inodes free; a deployment of 1 environment(s) needs at least "
        "1024 KiB and 300 inodes (a full disk makes programs exit too quickly with empty "
        "logs): free space there or choose another --jaws-basedir*"])
    assert not (base / "b").exists()


def _fill(base: Path, free_kib: int) -> None:
    """Fill the file system of ``base`` with a file until ``free_kib`` KiB are free."""
    st = os.statvfs(base)
    size = st.f_bavail * st.f_frsize - free_kib * 1024
    with open(base / "fill", "wb") as fh:
        fh.write(b"\0" * size)


FILL_AFTER_PREFLIGHT = '''
import hashlib
import os

def pytest_jaws_plan(plan, files):
    # the disk fills between pre-flight and the writing of the files
    st = os.statvfs(plan.base)
    with open(plan.base.parent / "fill", "wb") as fh:
        fh.write(b"\\0" * (st.f_bavail * st.f_frsize - FREE * 1024))
'''


@needs_root
@pytest.mark.parametrize("free_kib", [8, 300])
def test_case_5_a_disk_that_fills_during_the_deployment_is_named(run_suites, small_tmpfs,
                                                                 free_kib):
    """The disk fills after pre-flight: the deployment error names the file system and the room.

    With 8 KB left a file cannot be written (the error names it); with 300 KB the files fit
    and programs exit too quickly, unable to write their logs (the error adds the room left).
    """
    base = small_tmpfs()
    result = run_suites("--jaws-site=local", "--jaws-env=dev", f"--jaws-basedir={base / 'b'}",
                        "-k", "instance_running", suites=["test_health.py"],
                        conftest=FILL_AFTER_PREFLIGHT.replace("FREE", str(free_kib)))
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines([
        f"*deployment of dev failed: *(the file system of {base}*, mount point {base}, has * "
        "KiB *free* free space there or choose another --jaws-basedir*"])


# --- case 4: ulimit -n 64 ---------------------------------------------------------------------

def _suites_with_limit(tmp_path, port_offset, soft, hard):
    import resource
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(SUITES / "test_health.py"), "-p", "no:cacheprovider",
         "-k", "instance_running", f"--basetemp={tmp_path / 'base'}",
         f"--jaws-port-offset={port_offset}", "--jaws-site=local", "--jaws-env=dev"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard)))


@pytest.mark.skipif(os.geteuid() == 0 and subprocess.run(
    ["sh", "-c", "ulimit -n 64 && ulimit -Hn 2048"], capture_output=True).returncode == 0,
    reason="root here may raise its hard limit again (CAP_SYS_RESOURCE): no limit to refuse")
def test_case_4_a_hard_open_files_limit_below_supervisords_is_a_usage_error(tmp_path,
                                                                           port_offset):
    """``ulimit -n 64`` (soft and hard): one usage error naming the limit, before anything."""
    done = _suites_with_limit(tmp_path, port_offset, 64, 64)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert ("pytest-jaws: the limit of open files is 64 (ulimit -n; hard limit 64): supervisord "
            "needs at least 1024 (its minfds) and cannot raise it past the hard limit; run "
            "pytest where ulimit -Hn is at least 1024") in done.stderr, done.stderr
    assert not (tmp_path / "base" / "jaws").exists()


def test_case_4_a_low_soft_limit_under_a_high_hard_one_deploys(tmp_path, port_offset):
    """``ulimit -Sn 64``: supervisord raises its own soft limit; the run deploys and passes."""
    done = _suites_with_limit(tmp_path, port_offset, 64, 4096)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_nothing_left(tmp_path, port_offset)


# --- case 8: one base directory for local, then local-privsep ----------------------------------

@needs_attacker
def test_case_8_local_privsep_into_a_base_directory_of_local_is_refused(run_suites, pytester):
    """``local`` (all root's) then ``local-privsep`` (roles jaws, jaws_jtm) in one base directory.

    Before, supervisord-jaws crashed with a PermissionError on root's supervisord.log. Now the
    deployment fails before anything starts, naming the directory, root's entry and the role.
    """
    base = pytester.path / "shared-base"
    common = ["--jaws-env=dev", f"--jaws-basedir={base}", "-k", "instance_running"]
    run_suites("--jaws-site=local", *common, suites=["test_health.py"]).assert_outcomes(passed=3)
    result = run_suites("--jaws-site=local-privsep", *common, suites=["test_health.py"])
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines([
        f"*deployment of dev failed: {base}/jaws-supervisord-dev/jaws belongs to root (uid 0) "
        "and holds * of root (uid 0), but this deployment runs its role as jaws (uid *) there: "
        "the base directory holds a deployment made as other users (another site, e.g. local "
        "before local-privsep?): deploy under another --jaws-basedir, or remove that "
        "deployment's files first*"])
    assert "PermissionError" not in result.stdout.str()


# --- case 9: long names ---------------------------------------------------------------------

def test_case_9_a_base_directory_component_over_255_bytes_is_a_usage_error(run_suites):
    """``--jaws-basedir=/tmp/qqq...`` (300 characters in one component): no INTERNALERROR."""
    long = Path(tempfile.gettempdir()) / ("q" * 300)
    result = run_suites("--jaws-site=local", "--jaws-env=dev", f"--jaws-basedir={long}",
                        refused=True)
    result.stderr.fnmatch_lines([
        f"*pytest-jaws: base directory {str(long)[:60]}...: its component {'q' * 40}... has 300 "
        "bytes, and a file name on * may have at most 255: choose a shorter one*"])


def test_case_9_a_program_name_of_250_characters_is_a_usage_error(run_suites):
    """A sites file with a 250-character program name: refused, not an OSError at deploy time."""
    data = sites_data()
    name = "p" * 250
    data["services"][name] = data["services"]["jaws-site-daemon"]
    result = run_suites("--jaws-site=local", "--jaws-env=dev", sites=data, refused=True)
    result.stderr.fnmatch_lines([
        f"*services.{'p' * 40}...: a program name of 250 bytes; at most 128: it names the "
        "program's shim, logs and their temporary files, and a file name may have at most 255 "
        "bytes; use a shorter name*"])


# --- case 10: a missing parent of jtm_scratch --------------------------------------------------

def test_case_10_a_jtm_scratch_under_a_missing_directory_is_a_usage_error(run_suites, tmp_path):
    """``jtm_scratch`` under a directory that does not exist: named in full, before deploying.

    Before, ``FileNotFoundError: … 'nonexistent-hb6'`` named only the leaf, at deploy time.
    """
    data = sites_data()
    missing = tmp_path / "nonexistent-hb6"
    data["sites"]["local"]["config"]["jtm_scratch"] = str(missing / "scratch")
    result = run_suites("--jaws-site=local", "--jaws-env=dev", sites=data, refused=True)
    result.stderr.fnmatch_lines([
        f"*pytest-jaws: {missing}/scratch, the scratch base directory of role jtm (sites.local."
        f"config.jtm_scratch (or scratch)), cannot be made: {missing} does not exist; create "
        f"{missing}, or set jtm_scratch (or scratch) to a directory whose parent exists*"])
    assert not missing.exists()


# --- case 11: empty ini values, all with others, relative ini paths ----------------------------

@pytest.mark.parametrize("key", ["jaws_env", "jaws_site"])
def test_case_11_an_empty_ini_value_is_a_usage_error_like_on_the_command_line(run_suites,
                                                                             pytester, key):
    """``jaws_env =`` in an ini file: refused, naming the key and the file (not the default)."""
    ini = pytester.path / "pytest.ini"
    ini.write_text(f"[pytest]\n{key} =\n")
    result = run_suites("-c", str(ini), offset=False, refused=True)
    result.stderr.fnmatch_lines([f"*pytest-jaws: {key} is empty in {ini} (an unset variable?); "
                                 "give a value or remove the line*"])


def test_case_11_all_combined_with_an_environment_says_so(run_suites):
    """``--jaws-env=all,dev``: not "unknown environment all"."""
    result = run_suites("--jaws-env=all,dev", refused=True)
    result.stderr.fnmatch_lines(["*--jaws-env 'all,dev': all already means every environment "
                                 "(dev, staging, prod) and cannot be combined with others*"])


def test_case_11_a_relative_ini_basedir_is_relative_to_the_ini_file(pytester, monkeypatch):
    """``jaws_basedir = rel`` means ``<ini file's directory>/rel``, wherever pytest runs.

    So ``--jaws-down`` run from the ini file's directory finds what a run from elsewhere left.
    """
    (pytester.path / "pytest.ini").write_text("[pytest]\njaws_basedir = rel\n")
    elsewhere = pytester.path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = pytester.runpytest_inprocess("-c", str(pytester.path / "pytest.ini"),
                                          "--jaws-plan", "-p", "no:cacheprovider")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines([f"*base directory {pytester.path / 'rel'}*"])


# --- case 12: LC_ALL=C, PYTHONUTF8=0 and a non-ASCII base directory -----------------------------

def test_case_12_a_path_that_is_not_text_in_the_locale_is_a_usage_error(tmp_path, port_offset):
    """Under ``LC_ALL=C PYTHONUTF8=0`` a non-ASCII ``--jaws-basedir``: refused, nothing made."""
    base = tmp_path / "basé"
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(SUITES / "test_health.py"), "-p", "no:cacheprovider",
         f"--basetemp={tmp_path / 't'}", f"--jaws-port-offset={port_offset}",
         f"--jaws-basedir={base}"], capture_output=True, env=env, cwd=tmp_path, timeout=300)
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, err
    assert (f"pytest-jaws: jaws_basedir {tmp_path}/bas\\xc3\\xa9 is not text in this locale (ascii: "
            "LC_ALL=C or LANG=C without PYTHONUTF8=1?): run with a UTF-8 locale (LC_ALL=C.UTF-8) "
            "or PYTHONUTF8=1, or choose an ASCII value") in err, err
    assert not base.exists()


# --- case 13: the GitLab job's pre-check with SITE or JAWS_ENV empty ----------------------------

def _ci_precheck() -> str:
    """Return the pre-check line of the integration jobs' before_script, as .gitlab-ci.yml has it."""
    import yaml
    ci = yaml.safe_load((Path(__file__).parent.parent / ".gitlab-ci.yml").read_text())
    lines = [line for line in ci[".integration"]["before_script"] if "cicheck" in line]
    assert len(lines) == 1, ci[".integration"]["before_script"]
    return lines[0]


@pytest.mark.parametrize("variables, expected", [
    ({"SITE": "", "JAWS_ENV": "dev"}, "pytest-jaws CI check: SITE is empty or unset (an unset "
     "CI variable?): set it in the job's variables or its parallel:matrix entry"),
    ({"SITE": "cori", "JAWS_ENV": ""}, "pytest-jaws CI check: JAWS_ENV is empty or unset (an "
     "unset CI variable?): set it in the job's variables or its parallel:matrix entry"),
    ({"SITE": "cori", "JAWS_ENV": "dev"}, "pytest-jaws CI check: missing CI variables (masked + "
     "protected, see docs/gitlab-ci.md): JAWS_SUPERVISOR_KEY_CORI_DEV_JAWS, "
     "JAWS_SUPERVISOR_KEY_CORI_DEV_JTM, JAWS_SECRET_CORI_DEV_DB_PASSWORD"),
], ids=["SITE empty", "JAWS_ENV empty", "variables missing"])
def test_case_13_the_ci_precheck_names_the_empty_variable(variables, expected):
    """The before_script check with ``SITE=`` (``JAWS_ENV=``): not ``KeyError: ''``.

    Nor variable names with a double underscore (``JAWS_SUPERVISOR_KEY_CORI__JAWS``).
    """
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JAWS_SUPERVISOR_KEY_", "JAWS_SECRET_"))}
    command = _ci_precheck().replace("python ", f"{sys.executable} ", 1)  # the job's venv
    done = subprocess.run(["sh", "-c", command], env={**env, **variables},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert expected in done.stderr, done.stderr
    assert "__" not in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_case_7_a_stuck_holder_of_a_once_per_run_action_is_named(tmp_path, monkeypatch):
    """Another process of the run stuck in the action: the wait ends, naming it."""
    from pytest_jaws.errors import DeploymentError
    from pytest_jaws.host import runonce
    monkeypatch.setattr(runonce, "WAIT", 0.5)
    key = "recovery kill of x in dev"
    lock = tmp_path / f"jaws-once-{hashlib.sha256(key.encode()).hexdigest()[:16]}.lock"
    with flock_held(lock) as holder, pytest.raises(
            DeploymentError, match=rf"{key}: another process of this run \(PID {holder.pid} "
                                   r".*\) has been doing it for more than 0.5 s; it is stuck"):
        runonce.RunOnce(tmp_path).do(key, lambda: {"done": True})
    assert runonce.RunOnce(tmp_path).do(key, lambda: {"done": True}) == {"done": True,
                                                                          "first": True}


def test_case_7_a_stuck_worker_holding_the_deployment_lock_is_named(tmp_path, monkeypatch):
    """A worker waiting to attach to another worker's deployment: after the wait, named."""
    from pytest_jaws.errors import DeploymentError
    from pytest_jaws.plugin import xdist
    monkeypatch.setattr(xdist, "LOCK_TIMEOUT", 0.5)
    with flock_held(tmp_path / xdist.LOCK_FILE) as holder, pytest.raises(
            DeploymentError, match=rf"another process of this run \(PID {holder.pid} .*\) has "
                                   r"been deploying for more than 0.5 s while this worker waited"):
        xdist.SharedState(tmp_path).sync(None, deploy_missing=True)
