"""Attacks on a root-run harness, run as the attacker would run them.

As the jtm role user (``jaws_jtm``) or as another local user (``jaws_other``), against
``local-privsep``.

Each test asserts that the attack fails and that nothing outside the base directory changed
(a decoy of what the attacker aims at, outside the base directory, is compared before and
after). Needs root and the users of scripts/create-users.sh (CI has both); skipped otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import os
import pwd
import shlex
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest
from helpers import have_role_users, sites_data, write_sites

from pytest_jaws import keys
from pytest_jaws.deploy import commands, deploy
from pytest_jaws.deploy.waits import wait_instance
from pytest_jaws.errors import NoFreeOffset
from pytest_jaws.host import hostlock, instance, portoffset, processes, safefs
from pytest_jaws.host.supervisor import SupervisorError
from pytest_jaws.plan.plan import MARKER_VARIABLE, make_plan
from pytest_jaws.probes import probes
from pytest_jaws.report import failure, report
from pytest_jaws.sites.sites import PACKAGED_SITES_FILE, SitesError, load_sites, parse_sites

MODEL = load_sites(PACKAGED_SITES_FILE)
JTM_USER, OTHER_USER = "jaws_jtm", "jaws_other"


pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not have_role_users(OTHER_USER),
    reason="attacks run as root with the users jaws, jaws_jtm and jaws_other of "
           "scripts/create-users.sh (CI has both)")


def as_user(user: str, script: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``sh -c script`` as ``user`` (the attacker's steps), with a clean environment."""
    done = subprocess.run(["runuser", "-u", user, "--", "env", "-i", "PATH=/usr/bin:/bin",
                           "sh", "-c", script], capture_output=True, text=True, timeout=60)
    if check:
        assert done.returncode == 0, f"attacker step failed: {script}\n{done.stderr}"
    return done


def snapshot(*roots: Path) -> dict[str, tuple]:
    """``{path: (type, uid, gid, mode, sha256 of content)}`` for everything under ``roots``."""
    out: dict[str, tuple] = {}
    for root in roots:
        for path in [root, *root.rglob("*")]:
            st = path.lstat()
            digest = (hashlib.sha256(path.read_bytes()).hexdigest()
                      if stat.S_ISREG(st.st_mode) else None)
            out[str(path)] = (stat.S_IFMT(st.st_mode), st.st_uid, st.st_gid,
                              stat.S_IMODE(st.st_mode), digest)
    return out


def _temp_dir(kind: str, mode: int):
    """Make a new directory ``/tmp/pytest-jaws-<kind>-*`` with ``mode``, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=f"pytest-jaws-{kind}-"))
    path.chmod(mode)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def shared_dir():
    """Make a world-writable sticky directory, as /tmp is (the attackers' meeting place)."""
    yield from _temp_dir("shared", 0o1777)


@pytest.fixture
def decoy():
    """Make what the attacker aims at, outside any base directory.

    A root-owned directory (0755) with a root-only file (0600), standing in for /etc and
    /etc/shadow.
    """
    changed = None
    for path in _temp_dir("decoy", 0o755):
        (path / "shadow").write_text("root-only secret\n")
        (path / "shadow").chmod(0o600)
        before = snapshot(path)
        yield path
        changed = path if snapshot(path) != before else None
    # checked once the directory is removed: a failed check left it in /tmp before
    assert changed is None, f"the attack changed {changed}, outside the base directory"


@pytest.fixture
def base():
    """Make a fresh base directory (0755, root's) that the role users can traverse."""
    yield from _temp_dir("sec", 0o755)


@pytest.fixture
def privsep(base, port_offset):
    """``local-privsep`` dev deployed under ``base`` (in this process); torn down after."""
    plan = make_plan(MODEL, "local-privsep", "dev", base, port_offset=port_offset)
    dep = deploy.apply(plan)
    yield dep
    deploy.teardown(dep)


# --- 1. chown through a symlink -----------------------------------------------------------

def test_1_redeploy_does_not_chown_through_a_planted_symlink(privsep, decoy):
    plan = privsep.plan
    logs = plan.instances["jtm"].state_dir / "logs"
    as_user(JTM_USER, f"mv {logs} {logs}.old && ln -s {decoy} {logs}")
    with pytest.raises(safefs.UnsafePathError, match="is a symbolic link") as info:
        deploy.apply(plan)  # the redeploy of a deployment left up
    assert str(logs) in str(info.value) and "remove it" in str(info.value)


# --- 2. a planted base directory ------------------------------------------------------------

def test_2_planted_stable_base_directory_is_refused(run_suites, shared_dir, monkeypatch,
                                                    port_offset, pytester):
    planted = shared_dir / "pytest-jaws-root" / f"local+{port_offset}"
    directory = planted / "jaws-supervisord-dev"
    as_user(OTHER_USER, f"mkdir -p {directory} {planted}/jaws-dev/shims && "
                        f"chmod -R 777 {shared_dir}/pytest-jaws-root && "
                        f"echo planted-key-of-the-attacker-123 > {directory}/supervisord-jaws.key")
    before = snapshot(shared_dir)
    monkeypatch.setenv("TMPDIR", str(shared_dir))
    result = run_suites("--jaws-env=dev", "--jaws-teardown=never", suites=["test_health.py"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{shared_dir}/pytest-jaws-root (owner jaws_other *) is not "
                                 "owned by root*Remove it*"])
    after = {p: v for p, v in snapshot(shared_dir).items() if "pytest-of-" not in p}
    assert after == before


def test_2_base_directory_others_may_write_is_refused(base, port_offset):
    base.chmod(0o775)  # the group could swap the directories of a deployment between two steps
    plan = make_plan(MODEL, "local-privsep", "dev", base, port_offset=port_offset)
    with pytest.raises(safefs.UnsafePathError, match=r"is writable by other users.*chmod go-w"):
        deploy.apply(plan)
    assert not list(base.iterdir())


# --- 7. writes through symlinks ---------------------------------------------------------------

def test_7_report_replaces_planted_links_instead_of_writing_through(run_suites, shared_dir,
                                                                    decoy):
    as_user(OTHER_USER, f"ln -s {decoy}/shadow {shared_dir}/jaws-report.json && "
                        f"ln -s {decoy}/owned {shared_dir}/jaws-report.md")
    result = run_suites("--jaws-env=dev", f"--jaws-report={shared_dir}/jaws-report.json",
                        "-k", "instance_running", suites=["test_health.py"])
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    for name in ("jaws-report.json", "jaws-report.md"):
        st = (shared_dir / name).lstat()
        assert stat.S_ISREG(st.st_mode) and st.st_uid == 0, f"{name} is not root's own file"
    assert (shared_dir / "jaws-report.json").read_text().startswith("{")


def test_7_plan_dir_through_a_planted_link_is_refused(shared_dir, decoy, pytester):
    as_user(OTHER_USER, f"ln -s {decoy} {shared_dir}/plan")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--jaws-plan",
                                           f"--jaws-plan-dir={shared_dir}/plan/")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{shared_dir}/plan is a symbolic link (to {decoy})*never "
                                 "follows such links*"])


def test_7_plan_dir_with_links_planted_inside_is_refused(shared_dir, decoy, pytester):
    # The plan's files are re-rooted under the plan dir: <dir>/tmp/pytest-of-root/...
    as_user(OTHER_USER, f"mkdir -p {shared_dir}/plan/tmp && "
                        f"ln -s {decoy} {shared_dir}/plan/tmp/pytest-of-root")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--jaws-plan",
                                           f"--jaws-plan-dir={shared_dir}/plan")
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # the directory is the attacker's
    result.stderr.fnmatch_lines([f"*{shared_dir}/plan (owner {OTHER_USER} *) is not a directory "
                                 "that only you can write; give a directory you own*"])


def test_7_write_report_in_process_never_follows(shared_dir, decoy):
    as_user(OTHER_USER, f"mkdir {shared_dir}/reports && chmod 777 {shared_dir}/reports && "
                        f"ln -s {decoy}/shadow {shared_dir}/reports/r.json")
    with pytest.raises(safefs.UnsafePathError, match="only you can write"):
        report.write_report(shared_dir / "reports" / "r.json", {"environments": []})


# --- 8. the all-interfaces guard ----------------------------------------------------------

@pytest.mark.parametrize("bind", ["0", "::0", "0:0:0:0:0:0:0:0", "0.0", "::ffff:0.0.0.0"])
def test_8_every_spelling_of_all_interfaces_needs_the_flag(bind, pytester):
    data = sites_data()
    data["sites"]["cori"]["bind"] = bind
    with pytest.raises(SitesError, match=r"sites\.cori\.bind: .* listens on every interface"):
        parse_sites(__import__("yaml").safe_dump(data), "s.yaml")
    path = write_sites(pytester.path / "sites.yaml", data)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--jaws-site=cori",
                                           f"--jaws-sites-file={path}", "--jaws-plan")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*sites.cori.bind: * listens on every interface*"])


def test_8_a_host_name_is_not_a_bind_address():
    data = sites_data()
    data["sites"]["cori"]["bind"] = "jaws.example.org"
    with pytest.raises(SitesError, match="not an IP address"):
        parse_sites(__import__("yaml").safe_dump(data), "s.yaml")


# --- 9. keys --------------------------------------------------------------------------------

def test_9_short_key_is_refused_and_never_becomes_a_mask(run_suites, monkeypatch):
    monkeypatch.setenv("JAWS_SUPERVISOR_KEY_LOCAL_DEV_JTM", "x")
    result = run_suites("--jaws-env=dev", suites=["test_health.py"], refused=True)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*$JAWS_SUPERVISOR_KEY_LOCAL_DEV_JTM has 1 characters; a key "
                                 "needs at least 16*"])
    keys.remember("x")
    assert keys.mask("six x-rays") == "six x-rays"
    assert len(keys.generate_key()) >= 32


# --- 3. the environment leaks ---------------------------------------------------------------

SECRETS = {"JAWS_SUPERVISOR_KEY_LOCAL_PRIVSEP_DEV_JAWS": "jaws-key-from-ci-0123456789",
           "JAWS_SUPERVISOR_KEY_LOCAL_PRIVSEP_DEV_JTM": "jtm-key-from-ci-0123456789",
           "CI_JOB_TOKEN": "ci-job-token-canary-4242", "DEPLOY_PASSWORD": "canary-password-77"}


def _environ_as(user: str, pid: int) -> str:
    return as_user(user, f"cat /proc/{pid}/environ", check=False).stdout


def test_3_jtm_processes_do_not_see_the_callers_environment(monkeypatch, base, port_offset):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    plan = make_plan(MODEL, "local-privsep", "dev", base, port_offset=port_offset)
    dep = deploy.apply(plan)
    try:
        pid = dep.client("jtm").supervisor.getPID()
        seen = [_environ_as(JTM_USER, p.pid) for p in processes.descendants(pid)]
        assert len(seen) == 1 + len(plan.instances["jtm"].programs)
        assert all(seen), "the jtm user could not read its own processes' environment"
        leaked = [name for text in seen for name, value in SECRETS.items() if value in text]
        assert not leaked, f"the jtm user reads {sorted(set(leaked))} in /proc/<pid>/environ"
        assert all(f"{MARKER_VARIABLE}={plan.marker}" in text for text in seen)
    finally:
        deploy.teardown(dep)


def test_3_privsep_suite_with_every_ci_secret_set_finds_none_in_jtm_processes(run_suites,
                                                                              monkeypatch):
    for env in ("DEV", "STAGING", "PROD"):
        for role in ("JAWS", "JTM"):
            monkeypatch.setenv(f"JAWS_SUPERVISOR_KEY_LOCAL_PRIVSEP_{env}_{role}",
                               f"ci-{env}-{role}-key-0123456789".lower())
    monkeypatch.setenv("CI_JOB_TOKEN", SECRETS["CI_JOB_TOKEN"])
    result = run_suites("--jaws-site=local-privsep", "--jaws-env=all", "-rA",
                        suites=["test_privsep.py"])
    result.assert_outcomes(passed=34 * 3)  # the environment check among them, per environment
    result.stdout.fnmatch_lines(["PASSED *test_jtm_processes_hold_no_key_and_no_secret_of_the_"
                                 "harness[[]prod[]]"])
    assert SECRETS["CI_JOB_TOKEN"] not in result.stdout.str()


LEAKY_ENVIRONMENT = '''
import os

def pytest_jaws_plan(plan, files):
    # the harness's CI_JOB_TOKEN leaks into the jtm role's supervisord, so into its programs
    inst = plan.instances["jtm"]
    text, role, mode = files[str(inst.conf)]
    leak = 'CI_JOB_TOKEN="%s",' % os.environ["CI_JOB_TOKEN"]
    files[str(inst.conf)] = (text.replace("\\nenvironment=", "\\nenvironment=" + leak, 1),
                             role, mode)
'''


def test_3_the_suite_check_catches_a_leaking_environment(run_suites, monkeypatch):
    monkeypatch.setenv("CI_JOB_TOKEN", SECRETS["CI_JOB_TOKEN"])
    result = run_suites("--jaws-site=local-privsep", "--jaws-env=dev", "-k",
                        "no_key_and_no_secret", suites=["test_privsep.py"],
                        conftest=LEAKY_ENVIRONMENT)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*processes of role jtm can read secrets in their environment*"
                                 "CI_JOB_TOKEN of the harness's environment*"])
    assert SECRETS["CI_JOB_TOKEN"] not in result.stdout.str()


# --- 4. key capture by squatting a port -------------------------------------------------------

SQUATTER = r'''
import socket, sys, time
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
while True:  # take the port as soon as it is free
    try:
        server.bind(("127.0.0.1", int(sys.argv[1])))
        break
    except OSError:
        time.sleep(0.005)
server.listen(16)
print("listening", flush=True)
while True:
    conn, _ = server.accept()
    conn.settimeout(2)
    try:
        data = conn.recv(65536)
    except OSError:
        data = b""
    with open(sys.argv[2], "ab") as fh:
        fh.write(data + b"\n--\n")
    conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 0\r\n\r\n")
    conn.close()
'''


def squat(port: int, captured: Path) -> subprocess.Popen:
    """As the jtm user: take ``port`` as soon as it is free, and record every request.

    The requests go into ``captured``.
    """
    as_user(JTM_USER, f"touch {captured}")
    return subprocess.Popen(["runuser", "-u", JTM_USER, "--", "/usr/bin/python3", "-c",
                             SQUATTER, str(port), str(captured)],
                            stdout=subprocess.PIPE, text=True)


def assert_no_key_in(captured: Path, dep) -> None:
    """Neither key, nor the Basic auth header of the jaws key, reached the squatter."""
    text = captured.read_text()
    jaws = dep.instances["jaws"]
    basic = base64.b64encode(f"{jaws.username}:{dep.keys['jaws']}".encode()).decode()
    assert "Authorization" not in text and basic not in text
    assert dep.keys["jaws"] not in text and dep.keys["jtm"] not in text


def test_4_a_squatted_supervisord_port_never_receives_the_key(privsep, shared_dir):
    dep = privsep
    jaws = dep.instances["jaws"]
    pid = dep.client("jaws").supervisor.getPID()
    procs = processes.descendants(pid)
    dep.client("jaws").supervisor.shutdown()  # the instance goes away (failed start, teardown)
    assert not processes.wait_exited(procs, 30.0)
    squatter = squat(jaws.port, shared_dir / "captured")
    try:
        assert squatter.stdout.readline().strip() == "listening"
        with pytest.raises(SupervisorError, match="the key was not sent"):
            dep.client("jaws").supervisor.getState()
        deploy.teardown(dep)  # asks supervisord-jaws to shut down, nudges it while waiting
        with pytest.raises(deploy.DeploymentError):
            deploy.apply(dep.plan)  # the next deployment finds the port taken
        assert_no_key_in(shared_dir / "captured", dep)
    finally:
        processes.terminate(processes.descendants(squatter.pid))
        squatter.wait()


@pytest.mark.slow
def test_4_teardown_slowed_down_on_purpose_sends_no_key_to_a_squatter(privsep, shared_dir):
    dep = privsep
    jaws, jtm = dep.instances["jaws"], dep.instances["jtm"]
    cromwell = next(i["pid"] for i in dep.client("jtm").supervisor.getAllProcessInfo()
                    if i["name"] == "jaws-cromwell")
    as_user(JTM_USER, f"kill -STOP {cromwell}")  # its stop now takes stopwaitsecs
    squatter = squat(jaws.port, shared_dir / "captured")
    try:
        deploy.teardown(dep)  # supervisord-jaws exits first; supervisord-jtm waits for cromwell
        assert_no_key_in(shared_dir / "captured", dep)
        assert not processes.marked(dep.plan.marker), f"{jtm.name} left processes behind"
    finally:
        processes.terminate(processes.descendants(squatter.pid))
        squatter.wait()


# --- 5. file disclosure through log tails ------------------------------------------------

def test_5_log_tails_never_show_another_file(privsep, decoy, monkeypatch):
    monkeypatch.setenv("CI_JOB_TOKEN", SECRETS["CI_JOB_TOKEN"])
    jtm = privsep.instances["jtm"]
    logs = jtm.state_dir / "logs"
    as_user(JTM_USER, f"ln -sf /proc/self/environ {logs}/jaws-cromwell.err.log && "
                      f"ln -sf {decoy}/shadow {logs}/jaws-cromwell.out.log && "
                      f"ln -sf {privsep.instances['jaws'].key_file} {logs}/jaws-jtm.err.log")
    section = failure.failure_section(privsep, ["jaws-cromwell", "jaws-jtm"])
    assert SECRETS["CI_JOB_TOKEN"] not in section and "root-only secret" not in section
    assert privsep.keys["jaws"] not in section and "********" not in section
    assert f"(not shown: {logs}/jaws-cromwell.err.log is a symbolic link (to /proc/self/environ)" \
        in section


# --- 6. a hang ------------------------------------------------------------------------------

def test_6_fifo_and_device_logs_are_not_read(privsep):
    jtm = privsep.instances["jtm"]
    as_user(JTM_USER, f"mv {jtm.logfile} {jtm.logfile}.old && mkfifo {jtm.logfile} && "
                      f"ln -sf /dev/zero {jtm.state_dir}/logs/jaws-cromwell.err.log")
    section = failure.failure_section(privsep, ["jaws-cromwell"])  # returns: no hang, no flood
    assert f"{jtm.logfile} is not a regular file (prw" in section
    assert f"{jtm.state_dir}/logs/jaws-cromwell.err.log is a symbolic link (to /dev/zero)" in section
    assert len(section) < 100_000


# --- 10. root everywhere --------------------------------------------------------------------

def test_10_root_running_the_operator_command_starts_the_instance_as_the_role_user(privsep):
    dep = privsep
    jaws = dep.instances["jaws"]
    procs = processes.descendants(dep.client("jaws").supervisor.getPID())
    dep.client("jaws").supervisor.shutdown()
    assert not processes.wait_exited(procs, 30.0)
    # The role user may edit its configuration: it adds a program that would run as root.
    evil = f"\n[program:evil]\ncommand=/bin/sh -c 'id -u > {jaws.state_dir}/evil; exec sleep 60'\n"
    as_user("jaws", f"printf '%s' \"{evil}\" >> {jaws.conf}")
    verbatim = [str(dep.plan.directory / "bin" / "supervisord"), "-c", str(jaws.conf)]
    done = subprocess.run(verbatim, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", MARKER_VARIABLE: dep.plan.marker})
    assert done.returncode == 0, done.stderr
    wait_instance(dep, "jaws", 30.0)
    pid = dep.pids["jaws"]
    users = {p.username() for p in processes.descendants(pid)}
    assert users == {"jaws"}, f"{jaws.name} started by root runs as {users}"
    assert "Supervisor is running as root" not in jaws.logfile.read_text()


# --- 11. tokens -----------------------------------------------------------------------------

def test_11_no_token_on_a_command_line_and_no_predictable_token_accepted(privsep):
    """Another local user finds no usable token on the deployment's command lines.

    It reads every command line of the deployment (``ps``) and tries the token the fake
    central-auth used to accept (``probe-<site>-<env>``): none is on a command line, and
    central-auth accepts none (it has no user database, as the real one has no user without one:
    central/jaws_central/auth.py).
    """
    dep = privsep
    pids = [p.pid for key in dep.instances
            for p in processes.descendants(dep.client(key).supervisor.getPID())]
    listed = as_user(OTHER_USER, f"ps -o args= -p {','.join(map(str, pids))}").stdout
    assert "jaws-central" in listed and "supervisord" in listed  # the attacker sees them all
    for secret in (*dep.keys.values(), "probe-", "--token"):
        assert secret not in listed, "a key or token is on a command line another user can read"
    auth = dep.plan.programs["auth"]
    for token in ("probe-local-privsep-dev", "probe-local-dev", "probe-cori-dev"):
        done = as_user(OTHER_USER, f"python3 -c \"import urllib.request as u, sys; "
                                   f"r = u.Request('{auth.url}/tokeninfo', headers="
                                   f"{{'Authorization': 'Bearer {token}'}});\n"
                                   f"try: u.urlopen(r)\nexcept Exception as e: print(e.code)\"",
                       check=False)
        assert done.stdout.strip() == "401", (token, done.stdout, done.stderr)


# --- 12. a forged marker (issue 23, attack 2) ----------------------------------------------------

LISTENER = r"""
import socket, sys
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen(16)
print("listening", flush=True)
while True:
    server.accept()[0].close()
"""


def attacker_listens(user: str, port: int, marker: str, before: str = "") -> subprocess.Popen:
    """As ``user``: run ``before`` (shell), then listen on ``port`` with ``marker`` in its environment.

    Returns once it listens; end it with :func:`end_attacker`.
    """
    script = f"{before}\nexec /usr/bin/python3 -c '{LISTENER}' {port}"
    proc = subprocess.Popen(["runuser", "-u", user, "--", "env", "-i", "PATH=/usr/bin:/bin",
                             f"{MARKER_VARIABLE}={marker}", "sh", "-c", script],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "listening", "the attacker could not listen"
    return proc


def end_attacker(proc: subprocess.Popen) -> None:
    """End the attacker's process and everything it started, by PID."""
    processes.terminate(processes.descendants(proc.pid))
    proc.wait()


def within(seconds: float, fn):
    """Return what ``fn()`` returns or raises, failing the test when it takes over ``seconds``.

    A hang is the attack: the thread that never returns is left behind and the test fails.
    """
    import threading
    box: dict = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"hung: still running after {seconds} s"
    if "error" in box:
        raise box["error"]
    return box["value"]


def refused_within_10_s(plan, attacker: subprocess.Popen, match: str | None = None) -> str:
    """Return the message of the deployment error ``deploy.apply(plan)`` ends in, within 10 s.

    The attacker's process is ended afterwards, whatever happened.
    """
    try:
        with pytest.raises(deploy.DeploymentError, match=match) as info:
            within(10, lambda: deploy.apply(plan))
    finally:
        end_attacker(attacker)
    return str(info.value)


def _forged_deployment(user: str, shared_dir: Path, lock: str = "held") -> tuple[Path, str]:
    """As ``user``: a deployment directory of its own, its run's owner file a FIFO.

    ``lock``: ``held`` (a lock file the attacker holds) or a path the lock file links to.
    Returns ``(directory, script that holds the lock)``.
    """
    evil = shared_dir / f"evil-{user}"
    as_user(user, f"mkdir -m 755 {evil} && mkfifo {evil}/jaws-supervisord-dev.run.owner")
    if lock == "held":
        as_user(user, f"touch {evil}/jaws-supervisord-dev.run.lock")
        return evil, f"flock -x {evil}/jaws-supervisord-dev.run.lock sleep 120 &\nsleep 0.3"
    as_user(user, f"ln -s {lock} {evil}/jaws-supervisord-dev.run.lock")
    return evil, ""


def test_12_another_users_marker_is_ignored_and_preflight_names_the_squatter(
        base, port_offset, shared_dir, decoy):
    plan = make_plan(MODEL, "local-privsep", "dev", base, port_offset=port_offset)
    port = plan.ports["rest"]
    evil, hold = _forged_deployment(OTHER_USER, shared_dir)
    squatter = attacker_listens(OTHER_USER, port, f"local-privsep/dev:{evil}", hold)
    text = refused_within_10_s(plan, squatter)
    assert f"port {port} needed by rest" in text and f"(user {OTHER_USER})" in text, text
    assert "pytest-jaws deployment" not in text, text


@pytest.mark.parametrize("lock", ["held", "link"])
def test_12_a_role_users_forged_marker_cannot_hang_or_steer_preflight(
        base, port_offset, shared_dir, decoy, lock):
    plan = make_plan(MODEL, "local-privsep", "dev", base, port_offset=port_offset)
    jtm = plan.instances["jtm"]  # its own supervisord port: adopt looks first, then pre-flight
    evil, hold = _forged_deployment(JTM_USER, shared_dir,
                                    "held" if lock == "held" else f"{decoy}/shadow")
    squatter = attacker_listens(JTM_USER, jtm.port, f"local-privsep/dev:{evil}", hold)
    text = refused_within_10_s(plan, squatter)
    assert f"port {jtm.port} needed by {jtm.name}" in text and f"(user {JTM_USER})" in text, text
    if lock == "held":  # the marker is a role user's: trusted, but its owner file is a FIFO
        assert "in use by the pytest-jaws run a process whose owner file is not read: " \
               f"{evil}/jaws-supervisord-dev.run.owner is not a regular file (prw" in text, text
    else:  # the lock file links to root's file: not opened, not truncated (the decoy checks)
        assert f"of another user's pytest-jaws deployment local-privsep/dev:{evil}" in text, text


# --- 13. the auto-offset lock directory (issue 23, attack 3) ---------------------------------

@pytest.fixture
def shared_tmp(shared_dir, monkeypatch):
    """Make ``shared_dir`` (world-writable, sticky) the temporary directory, as /tmp is."""
    monkeypatch.setenv("TMPDIR", str(shared_dir))
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() reads $TMPDIR again
    return shared_dir


def _plant_offsets(shared_dir: Path, decoy: Path, how: str) -> Path:
    """As another user: plant root's offsets directory, a link to ``decoy`` or a directory.

    The planted directory holds every offset's lock, as the attacker would.
    """
    planted = shared_dir / "pytest-jaws-root-offsets"
    if how == "link":
        as_user(OTHER_USER, f"ln -s {decoy} {planted}")
    else:
        as_user(OTHER_USER, f"mkdir -m 777 {planted} && cd {planted} && for o in $(seq 30 30 "
                            "1410); do touch $o.run.lock $o.lock; done")
    return planted


@pytest.mark.parametrize("how", ["link", "directory"])
def test_13_a_planted_offsets_directory_neither_steers_nor_blocks_roots_auto_offset(
        shared_tmp, decoy, how):
    planted = _plant_offsets(shared_tmp, decoy, how)
    before = snapshot(shared_tmp)
    _offset, lock = within(10, lambda: portoffset.choose(MODEL, ["dev"]))
    try:
        assert lock.lock_path.parent == hostlock.ROOT_STATE_DIR / "offsets"  # root's own
    finally:
        lock.release()
    assert snapshot(shared_tmp) == before, f"root used {planted}"


@pytest.mark.parametrize("how", ["link", "directory"])
def test_13_a_planted_state_directory_is_refused_naming_its_owner(shared_tmp, decoy,
                                                                  monkeypatch, how):
    planted = _plant_offsets(shared_tmp, decoy, how)  # where root's state would be, if not /run
    monkeypatch.setattr(hostlock, "ROOT_STATE_DIR", planted)
    before = snapshot(shared_tmp)
    with pytest.raises(NoFreeOffset) as info:
        within(10, lambda: portoffset.choose(MODEL, ["dev"]))
    text = str(info.value)
    assert text.startswith("--jaws-port-offset=auto keeps its locks in a directory only you "
                           "can create, hold or read, and cannot use it: pytest-jaws's state "
                           f"directory {planted} (owner ")
    assert "is not a directory of root (uid 0) closed to others (mode 0700)" in text, text
    assert snapshot(shared_tmp) == before


def test_13_roots_own_offsets_directory_is_private_and_names_the_holders(shared_tmp):
    offset, lock = portoffset.choose(MODEL, ["dev"])
    try:
        st = lock.lock_path.parent.lstat()
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o700)
        listed = as_user(OTHER_USER, f"ls {lock.lock_path.parent}", check=False)
        assert listed.returncode != 0 and str(offset) not in listed.stdout  # not learnt
        with pytest.raises(NoFreeOffset, match=rf"held: {offset} by PID {os.getpid()}: "):
            with pytest.MonkeyPatch.context() as mp:  # only this offset is left
                mp.setattr(portoffset, "FIRST", offset)
                mp.setattr(portoffset, "LAST", offset)
                mp.setattr(portoffset, "bound_ports", set)  # whatever binds its ports now
                portoffset.choose(MODEL, ["dev"])
    finally:
        lock.release()


# --- 14. root running a printed supervisorctl command (issue 23, attack 4) -------------------

#: The environment root types commands in (runuser is in sbin).
ROOT_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
EVIL_PLUGIN = """
import os
def make(controller, **kwargs):
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "ran-as"), "w") as fh:
        fh.write(str(os.getuid()))
    raise SystemExit(0)
"""


def _add_ctlplugin(inst, section: str) -> None:
    """As the role user: add a ``[ctlplugin:x]`` section to its own configuration."""
    as_user(inst.user, f"printf '%s\\n' '' {shlex.quote(section)} >> {inst.conf}")


def test_14_printed_supervisorctl_command_runs_a_role_plugin_as_the_role_not_as_root(
        privsep, shared_dir):
    jtm = privsep.instances["jtm"]
    workdir = shared_dir / "jtm-work"  # a directory the jtm role can write
    as_user(JTM_USER, f"mkdir {workdir} && cat > {workdir}/evilmod.py <<'X'\n{EVIL_PLUGIN}X")
    _add_ctlplugin(jtm, "[ctlplugin:x]\nsupervisor.ctl_factory = evilmod:make")
    [line] = commands.as_role_user(jtm, instance.ctl_argv(jtm, "status"))  # as printed
    printed = shlex.split(line)
    assert printed[:len(jtm.become)] == list(jtm.become) == ["runuser", "-u", JTM_USER, "--"]
    verbatim = printed[len(jtm.become):]  # and the operator's, typed without the switch
    for argv in (printed, verbatim):
        (workdir / "ran-as").unlink(missing_ok=True)
        subprocess.run(argv, cwd=workdir, capture_output=True, text=True, timeout=60,
                       env=ROOT_ENV)
        ran = (workdir / "ran-as").read_text()
        assert ran == str(pwd.getpwnam(JTM_USER).pw_uid), f"{shlex.join(argv)} ran it as uid {ran}"


def test_14_a_role_plugin_factory_cannot_make_root_create_a_file(privsep, decoy):
    jtm = privsep.instances["jtm"]
    _add_ctlplugin(jtm, f"[ctlplugin:y]\nsupervisor.ctl_factory = supervisor.loggers:handle_file"
                        f"\nfilename = {decoy}/created-by-root\nfmt = x")
    verbatim = instance.ctl_argv(jtm, "status")
    for argv in ([*jtm.become, *verbatim], verbatim):
        subprocess.run(argv, cwd="/", capture_output=True, text=True, timeout=60, env=ROOT_ENV)
        assert not (decoy / "created-by-root").exists(), shlex.join(argv)


# --- 15. weak spots (issue 23, item 5) ----------------------------------------------------------

FAKE_PASS = "\x1b[1A\x1b[2K\x1b[32mALL CHECKS PASSED\x1b[0m\nE   \u202e"


def test_15_escape_sequences_a_role_writes_to_its_log_are_shown_escaped(privsep):
    prog = privsep.plan.programs["jaws-cromwell"]
    as_user(JTM_USER, f"printf 'started\\n\\033[1A\\033[2K\\033[32mALL CHECKS PASSED\\r\\n' "
                      f">> {prog.stderr_log}")
    section = failure.failure_section(privsep, ["jaws-cromwell"])
    assert "\\x1b[1A\\x1b[2K\\x1b[32mALL CHECKS PASSED" in section, section
    assert not any(c in section for c in "\x1b\r\x9b"), "a control character reached the section"


def test_15_a_squatters_command_line_reaches_the_error_escaped(base, port_offset, shared_dir):
    plan = make_plan(MODEL, "local-privsep", "dev", base, port_offset=port_offset)
    port = plan.ports["rest"]
    script = shared_dir / "squat.py"
    script.write_text(LISTENER)
    squatter = subprocess.Popen(
        ["runuser", "-u", OTHER_USER, "--", "/usr/bin/python3", str(script), str(port), FAKE_PASS],
        stdout=subprocess.PIPE, text=True)
    assert squatter.stdout.readline().strip() == "listening"
    message = refused_within_10_s(plan, squatter)
    text = failure.mask_report(_report_of(message)).longrepr
    assert "\\x1b[32mALL CHECKS PASSED\\x1b[0m E \\u202e" in text, text  # on one line
    assert not any(c in text for c in "\x1b\r\u202e")


def _report_of(longrepr: str):
    """Return a failed test report whose longrepr is ``longrepr`` (as pytest makes one)."""
    return pytest.TestReport("t.py::t", ("t.py", 0, "t"), {}, "failed", longrepr, "call")


REFUSING = r"""
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.send_response(401)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H)
print("listening", flush=True)
server.serve_forever()
"""


def test_15_adopt_never_reads_the_configuration_a_role_process_names(base, port_offset,
                                                                       shared_dir, tmp_path):
    secret = tmp_path / "root-only.conf"  # a root-only file with an identifier= line
    secret.write_text("[supervisord]\nidentifier=root-only-identifier-4242\n")
    secret.chmod(0o600)
    plan = make_plan(MODEL, "local-privsep", "dev", base, port_offset=port_offset)
    jtm = plan.instances["jtm"]
    script = shared_dir / "supervisord"
    script.write_text(REFUSING)
    script.chmod(0o755)
    # a "supervisord" of the jtm role on its port, refusing the key, "started with -c <root's>"
    fake = subprocess.Popen(["runuser", "-u", JTM_USER, "--", "/usr/bin/python3", str(script),
                             str(jtm.port), "-c", str(secret)], stdout=subprocess.PIPE, text=True)
    assert fake.stdout.readline().strip() == "listening"
    text = refused_within_10_s(plan, fake, match="refuses the key")
    assert "root-only-identifier-4242" not in text
    assert "identifier unknown" in text, text


HEALTHY = r"""
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H)
server.allow_reuse_address = True
print("listening", flush=True)
server.serve_forever()
"""


def test_15_a_squatter_on_a_dead_services_port_fails_the_health_probe(privsep, shared_dir):
    plan = privsep.plan
    cromwell = plan.programs["jaws-cromwell"]
    jtm = plan.instances["jtm"]
    assert probes.health(plan, cromwell).ok  # the real one answers
    privsep.client("jtm").supervisor.stopProcess(f"{jtm.process_group}:jaws-cromwell", True)
    script = shared_dir / "healthy.py"
    script.write_text(HEALTHY)
    squatter = subprocess.Popen(["runuser", "-u", OTHER_USER, "--", "/usr/bin/python3",
                                 str(script), str(cromwell.port)], stdout=subprocess.PIPE,
                                text=True)
    try:
        assert squatter.stdout.readline().strip() == "listening"
        assert probes.http_get(cromwell.url + cromwell.health_path).ok  # it does answer 200
        result = probes.health(plan, cromwell)
    finally:
        end_attacker(squatter)
    assert not result.ok
    assert f"port {cromwell.port} is answered by {OTHER_USER} (uid " in result.detail, \
        result.detail
    assert f"not by the service's user {JTM_USER} (uid" in result.detail
    assert "the request was not sent" in result.detail


def _passwords(text: str) -> set[str]:
    """Every ``password = ...`` value of an ini file's text."""
    return {line.split("=", 1)[1].strip() for line in text.splitlines()
            if line.replace(" ", "").startswith("password=")}


def test_15_the_jtm_user_finds_no_password_of_the_jaws_role_in_its_files(privsep):
    plan = privsep.plan
    jaws_files = [c.path for c in plan.configs if c.role == "jaws"]  # jaws-site, jaws-central
    theirs = set().union(*(_passwords(p.read_text()) for p in jaws_files))
    assert len(theirs) >= 3, theirs  # DB, central's broker, the site's broker at least
    mine = as_user(JTM_USER, "cat " + " ".join(str(c.path) for c in plan.configs
                                               if c.role == "jtm")).stdout
    assert "password" in mine
    held = sorted(p for p in theirs if p in mine)
    assert not held, "the jtm user reads passwords of the jaws role in its own files"


def test_15_a_log_path_the_jtm_role_configures_cannot_show_a_root_file(privsep, decoy):
    jtm = privsep.instances["jtm"]
    prog = privsep.plan.programs["jaws-cromwell"]
    # the jtm user points its program's logs at root's file and makes its supervisord reload
    as_user(JTM_USER, f"t=$(mktemp) && sed 's|^stdout_logfile=.*jaws-cromwell.*|stdout_logfile="
                      f"{decoy}/shadow|; s|^stderr_logfile=.*jaws-cromwell.*|stderr_logfile="
                      f"{decoy}/shadow|' {jtm.conf} > $t && cat $t > {jtm.conf} && rm $t")
    as_user(JTM_USER, f"{jtm.directory}/bin/supervisorctl -c {jtm.conf} update", check=False)
    info = privsep.client("jtm").supervisor.getProcessInfo(f"{jtm.process_group}:jaws-cromwell")
    assert info["stdout_logfile"] == f"{decoy}/shadow", info  # supervisord reports root's file
    section = failure.failure_section(privsep, ["jaws-cromwell"])
    assert "root-only secret" not in section
    assert f"last 50 lines of {prog.stdout_log}" in section, section
