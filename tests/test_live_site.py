"""Deploying over a live site safely (issue 13).

Checks that disturb service are deselected where they must not run, and every user switch is
proven before a check relies on it.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest
from helpers import failed_tests, have_role_users, needs_root_and_users

from pytest_jaws import errors
from pytest_jaws.deploy import replaced
from pytest_jaws.host import become, portholders, processes
from pytest_jaws.plugin import destructive
from pytest_jaws.plugin.options import resolve

ROOT = Path(__file__).resolve().parent.parent


# --- destructive checks ---------------------------------------------------------------------

def _settings(site: str, env: str, **extra):
    values = {"jaws_site": site, "jaws_env": env, **extra}
    return resolve(values, ROOT, check_users=False)


def test_a_real_site_deselects_destructive_checks_in_every_environment():
    skip = destructive.deselected_envs(_settings("cori", "all"))
    assert sorted(skip) == ["dev", "prod", "staging"]
    assert "site cori is a real site" in skip["prod"]
    assert "--jaws-allow-destructive" in skip["prod"]


def test_allow_destructive_runs_them_on_a_real_site_outside_prod():
    assert destructive.deselected_envs(
        _settings("cori", "dev,staging", jaws_allow_destructive=True)) == {}


def test_fake_sites_run_destructive_checks_and_twins_keep_them_off_prod():
    assert destructive.deselected_envs(_settings("local", "all")) == {}
    twin = destructive.deselected_envs(_settings("cori", "all", jaws_fake=True))
    assert list(twin) == ["prod"]


def test_recovery_check_is_deselected_on_a_twins_prod_with_the_reason(run_suites):
    result = run_suites("--jaws-site=cori", "--jaws-fake", "--jaws-env=prod", "--co",
                        suites=["test_health.py"])
    result.stdout.fnmatch_lines([
        "jaws: prod: destructive checks deselected: environment prod of real site cori's fake "
        "twin: checks that disturb service (marker jaws_destructive) never run on prod",
        "*2 deselected*"])
    assert "test_killed_program" not in result.stdout.str()
    result = run_suites("--jaws-site=cori", "--jaws-fake", "--jaws-env=dev", "--co",
                        suites=["test_health.py"])
    assert "destructive checks deselected" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*test_killed_program_is_restarted_and_healthy_again*"])
    collected = [line for line in result.stdout.lines if "<Function" in line]
    # marker jaws_last: the restart's wait overlaps every other check
    assert "test_killed_program_is_restarted_and_healthy_again" in collected[-1], collected


@pytest.mark.parametrize("site", ["local", "cori"])
def test_allow_destructive_with_prod_is_a_usage_error(run_suites, pytester, site):
    fake = ["--jaws-fake"] if site == "cori" else []
    result = run_suites(f"--jaws-site={site}", *fake, "--jaws-allow-destructive",
                        "--jaws-env=dev,prod", suites=["test_health.py"], refused=True)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--jaws-allow-destructive with environment prod: checks that "
                                 "disturb service (marker jaws_destructive) never run on prod*"])


# --- proven user switches -------------------------------------------------------------------

ASK_PASSWORD = """#!/bin/sh
# a user switch that asks for a password, as collabsu does
printf 'Password: ' >&2
read -r pw </dev/tty || read -r pw || { echo "ask-password: no password given" >&2; exit 1; }
user=$1; shift; exec runuser -u "$user" -- "$@"
"""


def test_prove_accepts_a_working_switch_and_names_a_failing_one(tmp_path):
    me = pwd.getpwuid(os.geteuid()).pw_name
    become.prove((), me)
    with pytest.raises(errors.SwitchError, match=r"could not become someone-else: 'id -un' "
                                                 rf"printed '{me}', not 'someone-else'"):
        become.prove((), "someone-else")
    with pytest.raises(errors.SwitchError, match="could not become x: 'no-such-switch-cmd "
                                                 "x id -un' cannot run"):
        become.prove(("no-such-switch-cmd", "x"), "x")


def test_a_prompting_switch_fails_at_once_without_a_terminal(tmp_path):
    script = tmp_path / "ask-password"
    script.write_text(ASK_PASSWORD)
    script.chmod(0o755)
    with pytest.raises(errors.SwitchError) as info:
        become.prove((str(script), "nobody"), "nobody")
    assert "could not become nobody: " in str(info.value)
    assert "exited 1: ask-password: no password given" in str(info.value)


BROKEN_SWITCH = '''
import dataclasses
import pytest

@pytest.fixture(scope="session")
def jaws_deployment(jaws_deployment):
    jtm = jaws_deployment.plan.instances["jtm"]
    jaws_deployment.plan.instances["jtm"] = dataclasses.replace(jtm, become=tuple({become!r}))
    return jaws_deployment
'''


@needs_root_and_users
@pytest.mark.parametrize("how", ["missing-user", "asks-password"])
def test_checks_as_the_jtm_user_fail_naming_a_failed_switch(run_suites, pytester, how):
    if how == "missing-user":
        switch = ["runuser", "-u", "no_such_jtm", "--"]
        reason = "*could not become jaws_jtm: 'runuser -u no_such_jtm -- id -un' exited 1: " \
                 "runuser: user no_such_jtm does not exist*"
    else:
        script = pytester.path / "ask-password"
        script.write_text(ASK_PASSWORD)
        script.chmod(0o755)
        switch = [str(script), "jaws_jtm"]
        reason = "*could not become jaws_jtm: '*ask-password jaws_jtm id -un' exited 1: " \
                 "ask-password: no password given*"
    result = run_suites("--jaws-site=local-privsep", "--jaws-env=dev", "-k", "jtm_user",
                        suites=["test_privsep.py"],
                        conftest=BROKEN_SWITCH.format(become=switch))
    assert failed_tests(result) == ["test_jtm_user_cannot_change_what_the_jaws_role_runs[dev]",
                               "test_jtm_user_cannot_read_the_jaws_config_or_key[dev]",
                               "test_jtm_user_cannot_write_into_jaws_directories[dev]"]
    result.stdout.fnmatch_lines([reason])
    assert "passed" not in result.stdout.lines[-1]


# --- instances an operator starts -----------------------------------------------------------

def _as_user(user: str | None, argv: list[str]) -> subprocess.CompletedProcess:
    """Run ``argv`` as ``user`` (None: as this run's user) with a minimal environment.

    The way an operator's shell would; the started supervisord daemonizes.
    """
    prefix = ["runuser", "-u", user, "--"] if user else []
    return subprocess.run([*prefix, *argv], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, env=become.minimal_env())


def _role_readable_base() -> Path:
    """Return a new base directory the role users can reach: ``/tmp/pytest-jaws-live-*``.

    Mode 0755, removed by the test (pytest's own temporary root is 0700 root's).
    """
    base = Path(tempfile.mkdtemp(prefix="pytest-jaws-live-", dir="/tmp"))
    base.chmod(0o755)
    return base


def _stop_supervisord(port: int) -> None:
    """End the supervisord this test started and wait until it and its programs are gone.

    It is found by its port and ended by its PID.
    """
    holder = portholders.holder_of(port)
    if holder is None or not holder.pid:
        return
    tree = processes.descendants(holder.pid)
    os.kill(holder.pid, signal.SIGTERM)
    psutil.wait_procs(tree, timeout=30)


def _printed_after(lines: list[str], header: str) -> list[str]:
    """Return the indented lines that follow the first line ending with ``header``."""
    start = next(i for i, ln in enumerate(lines) if ln.rstrip().endswith(header))
    out = []
    for line in lines[start + 1:]:
        if not line.startswith("  "):
            break
        out.append(line.strip())
    return out


def _verbatim(line: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run a printed command line exactly as printed, through a shell, in ``cwd``.

    ``pytest`` is this interpreter's (a person's shell finds the venv's the same way).
    """
    env = dict(become.minimal_env(), PATH=f"{Path(sys.executable).parent}:"
               f"{become.minimal_env()['PATH']}", TMPDIR=os.environ["TMPDIR"])
    return subprocess.run(line, shell=True, cwd=cwd, capture_output=True, text=True,  # noqa: S602
                          timeout=600, stdin=subprocess.DEVNULL, env=env)


@pytest.mark.slow
def test_operator_started_jtm_of_cori_twin_setup_fails_with_the_command_then_passes(
        run_suites, pytester, port_offset):
    """Done when: the cori twin's by-hand path passes following only the commands it prints.

    While supervisord-jtm (``start: operator``) is not running, setup fails and prints the
    operator's command as the role user runs it (``runuser -u jaws_jtm -- ...`` as root) and the
    command that runs again on the same base directory and ports; the deployment stays in a
    stable directory. Both printed commands, run verbatim, make the suites pass; the printed
    ``--jaws-down`` then ends the operator's instance too.
    """
    first = run_suites("--jaws-site=cori", "--jaws-fake", "--jaws-env=dev", "-k", "identified",
                       suites=["test_health.py"])
    assert first.ret == pytest.ExitCode.TESTS_FAILED
    out = first.stdout.str()
    assert "is started by an operator (sites.yaml roles.jtm.start: operator) and is not " \
           "running; the harness never starts it" in out, out
    user = "jaws_jtm" if os.geteuid() == 0 and have_role_users() else None
    assert f"As user {user or pwd.getpwuid(os.geteuid()).pw_name}, run:" in out
    start = _printed_after(first.stdout.lines, ", run:")
    again = _printed_after(first.stdout.lines, "on the same base directory and ports:")
    assert len(start) == 1 and len(again) == 1, out
    words = shlex.split(start[0])
    assert words[:4] == (["runuser", "-u", "jaws_jtm", "--"] if user else words[:4])
    base = Path(os.environ["TMPDIR"]) / f"pytest-jaws-{pwd.getpwuid(os.geteuid()).pw_name}" \
        / f"cori+{port_offset}"
    directory = base / "jaws-supervisord-dev"
    assert words[-3:] == [str(directory / "bin" / "supervisord"), "-c",
                          str(directory / "supervisord-jtm.conf")]
    assert shlex.split(again[0]) == [
        "pytest", "suites", "--jaws-site=cori", "--jaws-fake", "--jaws-env=dev",
        f"--jaws-basedir={base}", f"--jaws-port-offset={port_offset}"]
    assert (directory / "supervisord-jtm.conf").is_file(), "the deployment was not kept"
    jtm_port = 64111 + port_offset
    try:
        started = _verbatim(start[0], pytester.path)  # what the operator runs
        assert started.returncode == 0, started.stderr
        operator_pid = portholders.holder_of(jtm_port).pid
        assert psutil.Process(operator_pid).username() == (user or pwd.getpwuid(os.geteuid()).pw_name)
        second = _verbatim(again[0], pytester.path)
        assert second.returncode == 0, second.stdout
        assert "supervisord-jtm reused on port" in second.stdout or "passed" in second.stdout
        # the harness never stops what an operator started, and says how to
        assert portholders.holder_of(jtm_port).pid == operator_pid
        down = next(ln.split("take it down with: ", 1)[1] for ln in second.stdout.splitlines()
                    if "started by its operator, is left running" in ln)
        ended = _verbatim(down, pytester.path)
        assert ended.returncode == 0, ended.stdout + ended.stderr
        assert f"took down site cori under {base}: supervisord-jtm (" in ended.stdout, \
            ended.stdout
        assert portholders.holder_of(jtm_port) is None
    finally:
        _stop_supervisord(jtm_port)
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.slow
def test_a_twin_playing_the_operator_passes_the_common_runs_line_in_one_command(
        run_suites, port_offset):
    """Done when: the README's cori-twin line passes as written, with the operator option.

    ``pytest suites --jaws-site=cori --jaws-env=dev --jaws-fake --jaws-play-operator``: the run
    starts supervisord-jtm with the operator's command, as the role user, and ends it at the
    end (run_suites checks that nothing is left).
    """
    result = run_suites("--jaws-site=cori", "--jaws-env=dev", "--jaws-fake",
                        "--jaws-play-operator", "-k", "not killed", "-s")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") and not outcomes.get("failed") \
        and not outcomes.get("errors"), result.stdout.str()


def test_play_operator_without_a_twin_is_a_usage_error(run_suites):
    result = run_suites("--jaws-site=local", "--jaws-play-operator", refused=True)
    result.stderr.fnmatch_lines(["*--jaws-play-operator: only a fake twin (--jaws-fake) may "
                                 "play the operator*"])


# --- adopting live instances ------------------------------------------------------------------

def _jaws_style_conf(plan, inst, key: str, pidfile: Path, logfile: Path, bind: str = "127.0.0.1",
                     auto_logs: bool = False, startretries: int | None = None) -> str:
    """Return a supervisord configuration laid out as JAWS's deploy-supervisord writes it.

    As test/integration/deploy-supervisord writes it: HTTP user ``jaws``, JAWS's identifier,
    pidfile and log names, programs by their shims with JAWS's settings, one group ``jaws-<env>``.
    Differences, for this machine: it listens on ``bind`` (JAWS: 0.0.0.0), the pidfile and log
    are in the role's own directory (JAWS: the group-writable supervisor directory, which the
    harness refuses to reuse), and the fakes get their broker directory. ``auto_logs``: no
    program log settings, as JAWS writes them (supervisord's AUTO child logs).
    """
    lines = ["[inet_http_server]", f"port={bind}:{inst.port}", "username=jaws",
             f"password={key}", "", "[supervisord]", f"logfile={logfile}",
             "logfile_maxbytes=50MB", "logfile_backups=2", "loglevel=info",
             f"pidfile={pidfile}", "nodaemon=false", "minfds=1024", "minprocs=200",
             f"identifier={inst.identifier}", f"directory={inst.directory}",
             f'environment=JAWS_FAKE_BROKER="{plan.broker}"', "",
             "[rpcinterface:supervisor]",
             "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
             "", "[supervisorctl]", f"serverurl=http://127.0.0.1:{inst.port}", "username=jaws",
             f"password={key}", f"prompt={inst.identifier}", ""]
    for prog in inst.programs:
        lines += [f"[program:{prog.name}]", f"command={prog.shim}", "numprocs=1",
                  f"startsecs={prog.startsecs}",
                  f"startretries={prog.startretries if startretries is None else startretries}",
                  "autorestart=unexpected", f"priority={prog.priority}"]
        if not auto_logs:  # JAWS writes none: supervisord's AUTO child logs in its TMPDIR
            lines += [f"stdout_logfile={inst.state_dir}/{prog.name}-out.log",
                      f"stderr_logfile={inst.state_dir}/{prog.name}-err.log"]
        lines.append("")
    lines += [f"[group:{inst.process_group}]",
              "programs=" + ",".join(p.name for p in inst.programs), "priority=999", ""]
    return "\n".join(lines)


def _rpc(port: int, key: str):
    import xmlrpc.client
    return xmlrpc.client.ServerProxy(f"http://jaws:{key}@127.0.0.1:{port}/RPC2").supervisor


def _program_pids(port: int, key: str) -> dict[str, int]:
    return {i["name"]: i["pid"] for i in _rpc(port, key).getAllProcessInfo()}


def _wait_running(port: int, key: str, deadline: float = 60.0) -> None:
    end = time.monotonic() + deadline
    while True:
        try:
            infos = _rpc(port, key).getAllProcessInfo()
            if infos and all(i["statename"] == "RUNNING" for i in infos):
                return
        except OSError:
            pass
        assert time.monotonic() < end, f"supervisord on port {port} did not come up"
        time.sleep(0.2)


@pytest.mark.slow
@needs_root_and_users
def test_live_jaws_style_instances_are_adopted_and_only_changed_programs_restart(
        run_suites, port_offset, monkeypatch):
    """Done when: a supervisord pair started by hand from JAWS-style configs is adopted.

    The pair has JAWS's identifiers, pidfile names, HTTP user, keys from the
    JAWS_SUPERVISOR_KEY_* variables; it is adopted by ``pytest suites --jaws-site=<its twin>
    --jaws-env=dev``: the same supervisord PIDs afterwards, only the program whose command (its
    shim) changed restarted, and the replaced files listed with where their previous versions
    are.
    """
    from pytest_jaws.plan.plan import make_plan
    keys = {"jaws": "jaws-live-key-0123456789", "jtm": "jtm-live-key-9876543210"}
    for role, key in keys.items():
        monkeypatch.setenv(f"JAWS_SUPERVISOR_KEY_TAHOMA_DEV_{role.upper()}", key)
    base = _role_readable_base()
    args = ("--jaws-site=tahoma", "--jaws-fake", "--jaws-env=dev", f"--jaws-basedir={base}",
            "--jaws-teardown=never")
    settings = resolve({"jaws_site": "tahoma", "jaws_fake": True, "jaws_env": "dev",
                        "jaws_port_offset": str(port_offset)}, ROOT)
    plan = make_plan(settings.model, "tahoma", "dev", base, port_offset=port_offset)
    insts = plan.instances
    pidfiles = {"jaws": insts["jaws"].state_dir / "jaws-pidfile",
                "jtm": insts["jtm"].state_dir / "cwl-backend-pidfile"}
    try:
        # lay the site down once (files, venvs, shims), then replace its supervisords with
        # JAWS-style ones started by hand, without the harness's pidfile or marker
        first = run_suites(*args, "-k", "identified", suites=["test_health.py"])
        first.assert_outcomes(passed=2)
        for role in insts:
            _stop_supervisord(insts[role].port)
        written = {}
        for role, inst in insts.items():
            text = _jaws_style_conf(plan, inst, keys[role], pidfiles[role],
                                    inst.state_dir / ("jaws-log" if role == "jaws"
                                                      else "cwl-backend-log"))
            inst.conf.write_text(text)
            written[role] = text
        shim = plan.programs["jaws-site-jtm-rpc"].shim
        shim.write_text(shim.read_text().replace(" --log-level DEBUG", " --log-level INFO"))
        for inst in insts.values():
            started = _as_user(inst.user, [
                "env", f"PYTHONPATH={plan.libdir}", "/usr/bin/python3", "-m",
                "supervisor.supervisord", "-c", str(inst.conf)])
            assert started.returncode == 0, started.stderr
        for role, inst in insts.items():
            _wait_running(inst.port, keys[role])
        supervisords = {r: int(pidfiles[r].read_text()) for r in insts}
        assert all(processes.marker_of(pid) is None for pid in supervisords.values())
        before = {r: _program_pids(i.port, keys[r]) for r, i in insts.items()}

        second = run_suites(*args, "-k", "not killed", suites=["test_health.py"])
        outcomes = second.parseoutcomes()
        assert outcomes.get("passed") and not outcomes.get("failed") \
            and not outcomes.get("errors"), second.stdout.str()
        second.stdout.fnmatch_lines([
            "*supervisord-jaws adopted on port*", "*supervisord-jtm adopted on port*"])
        second.stdout.fnmatch_lines([
            "*jaws dev: deployed at * (adopted supervisord-jaws, supervisord-jtm; changed: "
            "restarted jaws-site-jtm-rpc; other settings of supervisord-jaws, supervisord-jtm are "
            "written and apply when it restarts)*"])
        for role, inst in insts.items():
            assert portholders.holder_of(inst.port).pid == supervisords[role], \
                f"{inst.name} was not adopted: another supervisord now holds its port"
            after = _program_pids(inst.port, keys[role])
            restarted = sorted(n for n in after if after[n] != before[role][n])
            assert restarted == (["jaws-site-jtm-rpc"] if role == "jaws" else []), restarted
            backups = sorted(inst.conf.parent.glob(inst.conf.name + ".2*"))
            assert len(backups) == 1 and backups[0].read_text() == written[role]
            second.stdout.fnmatch_lines([
                f"*replaced {inst.conf} (+* -* lines in *); previous version: {backups[0]}*"])
        second.stdout.fnmatch_lines([f"*replaced {shim} (+1 -1 lines); previous version: "
                                     f"{shim}.2*"])
        assert keys["jaws"] not in second.stdout.str() and keys["jtm"] not in second.stdout.str()
    finally:
        for inst in insts.values():
            _stop_supervisord(inst.port)
        shutil.rmtree(base, ignore_errors=True)


def test_supervisord_refusing_the_key_is_named_and_left_alone(run_suites, pytester,
                                                              port_offset):
    """A supervisord on the jtm port with the right identifier but another key is not ours.

    It is not this deployment's: setup fails naming its PID, user and identifier and what to do;
    it keeps running, untouched.
    """
    port = 64111 + port_offset
    conf = pytester.path / "other.conf"
    conf.write_text(f"[inet_http_server]\nport=127.0.0.1:{port}\nusername=jaws\n"
                    "password=another-password-0123\n[supervisord]\n"
                    "identifier=supervisor-backend-dev\n"
                    f"logfile={pytester.path}/other.log\npidfile={pytester.path}/other.pid\n"
                    "[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = "
                    "supervisor.rpcinterface:make_main_rpcinterface\n")
    other = subprocess.Popen([sys.executable, "-m", "supervisor.supervisord", "-n", "-c",
                              str(conf)], stdin=subprocess.DEVNULL, env=become.minimal_env())
    try:
        for _ in range(100):
            if portholders.holder_of(port):
                break
            time.sleep(0.1)
        result = run_suites("--jaws-env=dev", "-k", "identified", suites=["test_health.py"])
        me = pwd.getpwuid(os.geteuid()).pw_name
        result.stdout.fnmatch_lines([
            f"*port {port} needed by supervisord-jtm (environment dev) is already in use by "
            f"PID {other.pid} (user {me}): *supervisor.supervisord -n -c {conf}*",
            "*a supervisord that refuses the key of supervisord-jtm (HTTP user 'jaws'; key from "
            "$JAWS_SUPERVISOR_KEY_LOCAL_DEV_JTM or *supervisord-jtm.key), identifier "
            "'supervisor-backend-dev'; it was left alone. If it is the live instance, set "
            "$JAWS_SUPERVISOR_KEY_LOCAL_DEV_JTM to its password; otherwise stop it*"])
        assert other.poll() is None, "the other supervisord was touched"
    finally:
        other.terminate()
        other.wait(30)


def test_diff_summary_names_sections_never_values():
    old = "[inet_http_server]\npassword=old-secret-value\n[program:a]\ncommand=/x\n"
    new = "[inet_http_server]\npassword=new-secret-value\n[program:a]\ncommand=/y\n"
    summary = replaced.diff_summary(old, new)
    assert summary == "+2 -2 lines in [inet_http_server], [program:a]"
    assert replaced.diff_summary(old, old) == "+0 -0 lines"


CRASHING_JTM = """
def pytest_jaws_plan(plan, files):
    shim = str(plan.programs["jaws-jtm"].shim)
    text, role, mode = files[shim]
    files[shim] = ("#!/bin/bash\\necho jtm-crash-marker >&2\\nexit 1\\n", role, mode)
"""


@pytest.mark.slow
@needs_root_and_users
def test_a_jaws_started_pair_is_read_as_it_is_checked_and_taken_down(run_suites, pytester,
                                                                    port_offset, monkeypatch):
    """Done when (issue 22): a JAWS-style pair under a twin, JAWS's files and one shared password.

    Started as JAWS's scripts do (deploy-supervisord: supervisord-jaws.conf and
    supervisord-cwl-backend.conf, world-readable here, identifiers supervisor-jaws-dev and
    supervisor-backend-dev, HTTP user jaws with one password for both, 0.0.0.0, logs
    jaws-log / cwl-backend-log, no program log settings: AUTO child logs). It is adopted; a
    program that crashes in it is reported with its true exit status and the logs supervisord
    really wrote; no check crashes, the privilege suite names the shared key and the
    world-readable files holding it, the ports suite the 0.0.0.0 binds; the printed
    ``--jaws-down``, run verbatim, ends the pair.
    """
    # the runs' output as a terminal shows it: with CI set, pytest writes the short summary's
    # lines in full, and the checks' own "AssertionError:" reasons would read as crashes below
    monkeypatch.delenv("CI", raising=False)
    from pytest_jaws.plan.plan import make_plan
    shared = "one-shared-jaws-password-0123"  # JAWS: JAWS_SUPERVISORD_PW for both
    for role in ("JAWS", "JTM"):
        monkeypatch.setenv(f"JAWS_SUPERVISOR_KEY_TAHOMA_DEV_{role}", shared)
    base = _role_readable_base()
    args = ("--jaws-site=tahoma", "--jaws-fake", "--jaws-env=dev", f"--jaws-basedir={base}",
            "--jaws-teardown=never")
    settings = resolve({"jaws_site": "tahoma", "jaws_fake": True, "jaws_env": "dev",
                        "jaws_port_offset": str(port_offset)}, ROOT)
    plan = make_plan(settings.model, "tahoma", "dev", base, port_offset=port_offset)
    insts = plan.instances
    confs = {"jaws": insts["jaws"].conf,
             "jtm": insts["jtm"].directory / "supervisord-cwl-backend.conf"}
    logs = {"jaws": insts["jaws"].state_dir / "jaws-log",
            "jtm": insts["jtm"].state_dir / "cwl-backend-log"}
    try:
        run_suites(*args, "-k", "identified", suites=["test_health.py"]).assert_outcomes(passed=2)
        for inst in insts.values():
            _stop_supervisord(inst.port)
        for role, inst in insts.items():
            pidfile = inst.state_dir / ("jaws-pidfile" if role == "jaws" else "cwl-backend-pidfile")
            confs[role].write_text(_jaws_style_conf(plan, inst, shared, pidfile, logs[role],
                                                    bind="0.0.0.0", auto_logs=True,  # noqa: S104
                                                    startretries=1))
            confs[role].chmod(0o644)
            started = _as_user(inst.user, [
                "env", f"PYTHONPATH={plan.libdir}", f"TMPDIR={inst.state_dir}", "/usr/bin/python3",
                "-m", "supervisor.supervisord", "-c", str(confs[role])])
            assert started.returncode == 0, started.stderr
        for inst in insts.values():
            _wait_running(inst.port, shared)
        pair = {r: portholders.holder_of(i.port).pid for r, i in insts.items()}

        crashed = run_suites(*args, "-k", "identified", suites=["test_health.py"],
                             conftest=CRASHING_JTM)
        out = crashed.stdout.str()
        assert "supervisord-jaws adopted on port" in out and "supervisord-jtm adopted" in out, out
        failure = next(ln for ln in crashed.stdout.lines
                       if "program jaws-jtm failed to start" in ln)
        assert "exit status 1," in failure and "exit status 0" not in failure, failure
        crashed.stdout.fnmatch_lines([f"*last lines of {insts['jtm'].state_dir}/jaws-jtm-stderr---"
                                      "supervisor-*.log ---*", "*jtm-crash-marker*"])
        crashed.stdout.fnmatch_lines([f"*supervisord-jtm: last 30 lines of {logs['jtm']} ---*",
                                      "*exited: jaws-jtm (exit status 1; not expected)*"])

        (pytester.path / "conftest.py").unlink()  # jtm's own shim again: restarted, RUNNING
        checked = run_suites(*args, "-k", "not killed",
                             suites=["test_privsep.py", "test_ports.py", "test_health.py"])
        out = checked.stdout.str()
        outcomes = checked.parseoutcomes()
        assert not outcomes.get("errors") and "Error:" not in out.split("short test summary")[-1], out
        assert "FileNotFoundError" not in out and "Traceback" not in out, out
        checked.stdout.fnmatch_lines(["*supervisord-jaws and supervisord-jtm of dev use the same key*"])
        # JAWS's own file, and the backup of the one the harness replaced (kept as it was)
        for path in (confs["jtm"], f"{confs['jaws']}.2*"):
            checked.stdout.fnmatch_lines([f"*{path} (*:* 0644) holds the key of supervisord-jaws "
                                          "and of supervisord-jtm and is readable by every user*"])
        for inst in insts.values():
            checked.stdout.fnmatch_lines([f"*{inst.name} port {inst.port} listens on "
                                          "[[]'0.0.0.0'[]], expected only 127.0.0.1*"])
        for inst in insts.values():
            assert portholders.holder_of(inst.port).pid == pair[inst.key], "pair replaced"
        down = next(ln.split("take it down with: ", 1)[1] for ln in checked.stdout.lines
                    if "take it down with: " in ln)
        assert "--jaws-fake" in down and f"--jaws-port-offset={port_offset}" in down, down
        monkeypatch.delenv("JAWS_SUPERVISOR_KEY_TAHOMA_DEV_JAWS")
        monkeypatch.delenv("JAWS_SUPERVISOR_KEY_TAHOMA_DEV_JTM")
        ended = _verbatim(down, pytester.path)
        assert ended.returncode == 0, ended.stdout + ended.stderr
        assert f"took down site tahoma under {base}: supervisord-jaws, supervisord-jtm" \
            in ended.stdout, ended.stdout
        for role, inst in insts.items():
            assert portholders.holder_of(inst.port) is None, f"{inst.name} still listens"
            assert not psutil.pid_exists(pair[role]) or \
                psutil.Process(pair[role]).status() == psutil.STATUS_ZOMBIE
    finally:
        for inst in insts.values():
            _stop_supervisord(inst.port)
        shutil.rmtree(base, ignore_errors=True)
