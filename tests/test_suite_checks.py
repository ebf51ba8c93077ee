"""Every suite check that the other test files do not break yet, broken on purpose.

Each run shows exactly that check failing with a message that names the cause.
"""


import pytest
from helpers import failed_tests, needs_root_and_users, only_failure, sites_data

WRONG_IDENTIFIER = '''
def pytest_jaws_plan(plan, files):
    inst = plan.instances["jtm"]
    text, role, mode = files[str(inst.conf)]
    files[str(inst.conf)] = (text.replace(f"identifier={inst.identifier}",
                                          "identifier=someone-else"), role, mode)
'''


def test_another_identifier_fails_the_identity_check(run_suites):
    result = run_suites("--jaws-env=dev", "-k", "identified", suites=["test_health.py"],
                        conftest=WRONG_IDENTIFIER)
    only_failure(result, "test_instance_running_and_identified[dev-jtm]",
                 "*supervisord-jtm (environment dev, port *) identifies as "
                 "'someone-else', expected 'supervisor-backend-dev': another "
                 "supervisord answers on this port*")


STOP_JTM = '''
import pytest

@pytest.fixture(scope="session")
def jaws_deployment(jaws_deployment):
    jaws_deployment.client("jtm").supervisor.stopProcess("jaws-dev:jaws-jtm")
    return jaws_deployment
'''


def test_stopped_program_fails_its_running_check(run_suites):
    result = run_suites("--jaws-env=dev", "-k", "program_running", suites=["test_health.py"],
                        conftest=STOP_JTM)
    only_failure(result, "test_program_running[dev-jaws-jtm]",
                 "*program jaws-jtm of supervisord-jtm (environment dev, port *) is "
                 "STOPPED (spawn error: none, exit status *)*")


@pytest.mark.parametrize("program, args, test, message", [
    # waits out the probe's whole 10 s deadline: the slow tier
    pytest.param("jaws-cromwell", ["--fault", "unhealthy"], "test_central_status_every_part_up[dev]",
                 "*central-rest reports [[]'LOCAL-Cromwell', 'LOCAL-Site'[]] not UP (of *) after "
                 "10 s: GET http://127.0.0.1:*/api/v2/status -> *'LOCAL-Site': 'DOWN', "
                 "'LOCAL-Cromwell': 'Unknown'*", marks=pytest.mark.slow),
    ("rest", ["--fault", "extra-part"], "test_central_status_names_every_part[dev]",
     "*central-rest status names [[]'GHOST-Site', 'JAWS-Central', 'LOCAL-Cromwell', 'LOCAL-RMQ', "
     "'LOCAL-Site'[]], expected [[]'JAWS-Central', 'LOCAL-Cromwell', 'LOCAL-RMQ', 'LOCAL-Site'[]]*"),
    ("rest", ["--fault", "wrong-info"], "test_central_info_names_environment[dev]",
     "*central-rest info names environment 'prod', expected 'dev'*"),
], ids=["status-down", "status-parts", "info-env"])
def test_central_checks_fail_when_central_says_otherwise(run_suites, program, args, test,
                                                        message):
    data = sites_data()
    data["sites"]["local"]["overrides"] = {program: {"args": args}}
    result = run_suites("--jaws-env=dev", "-k", "central", sites=data,
                        suites=["test_health.py"])
    only_failure(result, test, message)


NO_AUTORESTART = '''
def pytest_jaws_plan(plan, files):
    for inst in plan.instances.values():
        text, role, mode = files[str(inst.conf)]
        files[str(inst.conf)] = (text.replace("autorestart=unexpected", "autorestart=false"),
                                 role, mode)
'''


SHIM_WITHOUT_EXEC = '''
def pytest_jaws_plan(plan, files):
    for prog in plan.programs.values():
        if prog.recovery:  # the service becomes a child of the shim's shell
            text, role, mode = files[str(prog.shim)]
            files[str(prog.shim)] = (text.replace("exec ", "", 1), role, mode)
'''


def test_shim_that_does_not_exec_fails_the_recovery_check(run_suites):
    result = run_suites("--jaws-env=dev", "-k", "killed", suites=["test_health.py"],
                        conftest=SHIM_WITHOUT_EXEC)
    only_failure(result, "test_killed_program_leaves_no_process_behind[dev]",
                 "*jaws-site-daemon killed (PID *): PID * (*jaws-site*daemon*) "
                 "outlived it 3 s later: its command does not exec the service*")


@pytest.mark.slow  # waits out the check's whole deadline, startsecs + 10 s
def test_program_that_is_not_restarted_fails_the_recovery_check(run_suites):
    result = run_suites("--jaws-env=dev", "-k", "killed", suites=["test_health.py"],
                        conftest=NO_AUTORESTART)
    only_failure(result, "test_killed_program_is_restarted_and_healthy_again[dev]",
                 "*jaws-site-daemon killed (PID *) was not restarted within 10 s: "
                 "EXITED*")


CRASH_LOOP = '''
def pytest_jaws_plan(plan, files):
    # jaws-site-central-rpc stays up 1.5 s (longer than the fake sites' readysecs of 0.3 s, so
    # the deployment counts it started every time), then exits 1; supervisord restarts it
    shim = str(plan.programs["jaws-site-central-rpc"].shim)
    text, role, mode = files[shim]
    files[shim] = (text.replace("\\nexec ", "\\necho 'lost the broker (on purpose)' >&2\\n"
                                "sleep 1.5\\nexit 1\\nexec ", 1), role, mode)
'''


def test_crash_looping_program_fails_the_stability_check(run_suites):
    data = sites_data()
    data["sites"]["local"]["watchsecs"] = 3  # longer than one life of the crash loop
    result = run_suites("--jaws-env=dev", "-k", "stayed_up or program_running", sites=data,
                        suites=["test_health.py"], conftest=CRASH_LOOP)
    # RUNNING when asked (so the running check passes it); every other program stayed up
    only_failure(result, "test_program_stayed_up[dev-jaws-site-central-rpc]",
                 "*program jaws-site-central-rpc of supervisord-jaws (environment dev, port *) "
                 "exited * (last: exit status 1) since the deployment settled * s ago: it is "
                 "crash-looping*", "*lost the broker (on purpose)*")



DIES_AFTER_ITS_RESTART = '''
def pytest_jaws_plan(plan, files):
    # the recovery check's program starts once; every later start (the restart after the
    # recovery kill) exits 1 after 0.1 s, sooner than the fake sites' readysecs of 0.3 s
    for prog in plan.programs.values():
        if prog.recovery:
            text, role, mode = files[str(prog.shim)]
            once = str(prog.shim) + ".started"
            files[str(prog.shim)] = (text.replace(
                "\\nexec ", f"\\nif [ -e {once} ]; then echo 'dies after its restart (on "
                f"purpose)' >&2; sleep 0.1; exit 1; fi\\n: > {once}\\nexec ", 1), role, mode)
'''


def test_program_restarted_but_not_staying_up_fails_the_recovery_check(run_suites):
    result = run_suites("--jaws-env=dev", "-k", "killed", suites=["test_health.py"],
                        conftest=DIES_AFTER_ITS_RESTART)
    only_failure(result, "test_killed_program_is_restarted_and_healthy_again[dev]",
                 "*jaws-site-daemon killed (PID *) was restarted as PID * but did not stay up "
                 "for its readysecs (0.3 s, sites.yaml)*")


SHARED_PORTS = '''
import dataclasses
import pytest

@pytest.fixture(scope="session")
def jaws_deployment(jaws_deployment, jaws_manager):
    if jaws_deployment.env == "staging":  # as if staging had been given dev's port row
        dev = jaws_manager.get("dev")
        jaws_deployment.plan = dataclasses.replace(jaws_deployment.plan,
                                                   instances=dev.plan.instances)
    return jaws_deployment
'''


def test_environments_sharing_ports_fail_the_distinct_ports_check(run_suites):
    result = run_suites("--jaws-env=dev,staging", "-k", "distinct_ports",
                        suites=["test_ports.py"], conftest=SHARED_PORTS)
    assert "test_environments_use_distinct_ports[staging]" in failed_tests(result)
    result.stdout.fnmatch_lines(["*environments staging and dev share ports [[]*[]]*"])


OPEN_JAWS_FILES = '''
import pytest

@pytest.fixture(scope="session")
def jaws_deployment(jaws_deployment):
    jaws = jaws_deployment.instances["jaws"]
    jaws.conf.chmod(0o644)
    jaws.state_dir.chmod(0o777)
    return jaws_deployment
'''


@needs_root_and_users
def test_jtm_user_reading_or_writing_jaws_files_fails(run_suites):
    result = run_suites("--jaws-site=local-privsep", "--jaws-env=dev", "-k", "jtm_user",
                        suites=["test_privsep.py"], conftest=OPEN_JAWS_FILES)
    assert failed_tests(result) == ["test_jtm_user_cannot_read_the_jaws_config_or_key[dev]",
                               "test_jtm_user_cannot_write_into_jaws_directories[dev]"]
    result.stdout.fnmatch_lines([
        "*user 'jaws_jtm' (role jtm) can read */supervisord-jaws.conf*",
        "*user 'jaws_jtm' (role jtm) can write into */jaws-supervisord-dev/jaws*"])


NO_SUPERVISORD_USER = '''
def pytest_jaws_plan(plan, files):
    for inst in plan.instances.values():
        text, role, mode = files[str(inst.conf)]
        head, programs = text.split("[rpcinterface:supervisor]", 1)
        head = "\\n".join(line for line in head.splitlines() if not line.startswith("user="))
        files[str(inst.conf)] = (head + "\\n[rpcinterface:supervisor]" + programs, role, mode)
'''


@needs_root_and_users
def test_supervisord_staying_root_fails_the_root_check(run_suites):
    data = sites_data()
    # both roles explicitly root (not "the invoking user"), and no user= for supervisord
    roles = {r: {"user": "root", "group": None, "become": None} for r in ("jaws", "jtm")}
    data["sites"]["rooty"] = dict(data["sites"]["local"], roles=roles,
                                  description="both roles root, by name")
    result = run_suites("--jaws-site=rooty", "--jaws-env=dev", "-k", "stay_root", sites=data,
                        suites=["test_privsep.py"], conftest=NO_SUPERVISORD_USER)
    assert failed_tests(result) == ["test_supervisord_does_not_stay_root[dev-central]",
                               "test_supervisord_does_not_stay_root[dev-jaws]",
                               "test_supervisord_does_not_stay_root[dev-jtm]"]
    result.stdout.fnmatch_lines(["*supervisord-jaws stays root without user=: *supervisord.log: "
                                 "*CRIT Supervisor is running as root*"])


OLD_SUPERVISOR = '''
def pytest_jaws_plan(plan, files):
    # written after the runtime is installed: over the copied supervisor's version.txt
    files[str(plan.libdir / "supervisor" / "version.txt")] = ("4.2.5\\n", "", 0o644)
'''


@needs_root_and_users
def test_old_supervisor_fails_the_version_check(run_suites):
    result = run_suites("--jaws-site=local-privsep", "--jaws-env=dev", "-k", "recent",
                        suites=["test_privsep.py"], conftest=OLD_SUPERVISOR)
    assert failed_tests(result) == ["test_supervisor_is_recent[dev-central]",
                               "test_supervisor_is_recent[dev-jaws]",
                               "test_supervisor_is_recent[dev-jtm]"]
    result.stdout.fnmatch_lines(["*supervisord-jaws runs supervisor 4.2.5; 4.3 or newer is "
                                 "required*"])
