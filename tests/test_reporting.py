"""What a person reads: failure sections, errors, the JSON report, configuration errors.

Failure sections (terminal and JUnit), translated errors, the JSON report, configuration
errors before anything starts, and pytest conventions.
"""

import datetime
import json
import socket
import threading
from pathlib import Path

import jsonschema
import pytest
import yaml
from helpers import leftovers, sites_data

from pytest_jaws import errors
from pytest_jaws.deploy import deploy
from pytest_jaws.host.supervisor import InstanceAuthError, InstanceNotRunning, InstanceTimeout, RpcClient
from pytest_jaws.plan.plan import make_plan
from pytest_jaws.report.report import SCHEMA_FILE
from pytest_jaws.sites.sites import PACKAGED_SITES_FILE, load_sites

SECRET = "k3y-that-must-never-show-%;#"


def test_cromwell_exiting_at_start_shows_state_table_in_terminal_and_junit(
        run_suites, pytester, monkeypatch):
    monkeypatch.setenv("JAWS_SUPERVISOR_KEY_LOCAL_DEV_JTM", SECRET)
    data = sites_data()
    data["sites"]["local"]["overrides"] = {"jaws-cromwell": {"args": ["--fault", "exit"]}}
    data["sites"]["local"]["startsecs"] = 3  # slack for supervisord's loop on a loaded machine
    xml = pytester.path / "junit.xml"
    result = run_suites("--jaws-env=dev", "-rfE", f"--junitxml={xml}", "-k",
                        "program_running and cromwell", sites=data, suites=["test_health.py"])
    result.assert_outcomes(errors=1)
    lines = [
        "*jaws deployment*",
        "*supervisord-jtm*jaws-cromwell*FATAL*Exited too quickly (process log may have details)",
        "*--- jaws-cromwell stderr: last 50 lines of *jaws-cromwell.err.log ---",
        "fake cromwell: refusing to start (--fault exit): simulated startup failure",
        "*--- supervisord-jtm: last 30 lines of *supervisord.log ---",
    ]
    result.stdout.fnmatch_lines(lines)
    junit = xml.read_text()
    assert "Exited too quickly (process log may have details)" in junit
    assert "simulated startup failure" in junit and "FATAL" in junit
    for text in (junit, result.stdout.str(), result.stderr.str()):
        assert SECRET not in text and SECRET.replace("%", "%%") not in text


def test_failing_health_test_junit_has_the_section_and_not_the_key(run_suites, pytester,
                                                                    monkeypatch):
    monkeypatch.setenv("JAWS_SUPERVISOR_KEY_LOCAL_DEV_JAWS", SECRET)
    data = sites_data()
    data["sites"]["local"]["overrides"] = {"auth": {"args": ["--fault", "unhealthy"]}}
    xml = pytester.path / "junit.xml"
    result = run_suites("--jaws-env=dev", f"--junitxml={xml}", "-k", "service_healthy",
                        sites=data, suites=["test_health.py"])
    result.assert_outcomes(passed=2, failed=1)
    junit = xml.read_text()
    assert "jaws deployment" in junit
    assert "--- auth stderr: last 50 lines of" in junit
    assert "GET /tokeninfo HTTP/1.1&quot; 500" in junit or 'GET /tokeninfo HTTP/1.1" 500' in junit
    assert SECRET not in junit and SECRET not in result.stdout.str()


SKIP_ONE = '''
import pytest

def pytest_runtest_setup(item):
    if item.nodeid.endswith("[prod-rest]"):
        pytest.skip("a reason made up by the test")
'''


def test_json_report_after_a_passing_run(run_suites, pytester, port_offset):
    out = pytester.path / "reports" / "jaws.json"
    before = datetime.datetime.now(datetime.timezone.utc)
    result = run_suites("--jaws-env=dev,prod", f"--jaws-report={out}", "-k", "program_running",
                        suites=["test_health.py"], conftest=SKIP_ONE)
    after = datetime.datetime.now(datetime.timezone.utc)
    result.assert_outcomes(passed=15, skipped=1)
    data = json.loads(out.read_text())
    jsonschema.validate(data, json.loads(SCHEMA_FILE.read_text()))
    run = data["run"]  # issue 25: start, end, duration, port offset
    start, end = (datetime.datetime.fromisoformat(run[k].replace("Z", "+00:00"))
                  for k in ("start", "end"))
    assert before <= start < end <= after, run
    assert abs((end - start).total_seconds() - run["seconds"]) < 0.01, run
    assert run["port_offset"] == port_offset and run["port_offset_auto"] is False
    assert [e["name"] for e in data["environments"]] == ["dev", "prod"]
    assert data["environments"][0]["tests"]["skip_reasons"] == {}
    assert data["environments"][1]["tests"]["skip_reasons"] == {
        "a reason made up by the test": ["suites/test_health.py::test_program_running[prod-rest]"]}
    md = out.with_suffix(".md").read_text()
    assert f"run from {run['start']} to {run['end']} ({run['seconds']:.2f} s), port offset " \
        f"{port_offset}\n" in md
    assert "- skipped (1): a reason made up by the test" in md
    for env in data["environments"]:
        assert env["status"] == "deployed"
        names = {p["name"] for p in env["programs"]}
        assert names == {"jaws-site-daemon", "jaws-site-central-rpc", "jaws-site-jtm-rpc",
                         "auth", "rest", "rpc", "jaws-jtm", "jaws-cromwell"}
        for prog in env["programs"]:
            assert prog["state"] == "RUNNING" and prog["pid"] > 0 and prog["user"]
            assert prog["seconds_to_healthy"] > 0
        ports = {p["name"]: p["port"] for p in env["programs"]}
        assert ports["jaws-site-daemon"] is None and ports["jaws-cromwell"] > 50000
    assert out.with_suffix(".md").read_text().startswith("# pytest-jaws report: site local")
    result.stdout.fnmatch_lines(["*jaws deployment summary*", "*jaws-cromwell*RUNNING*"])


@pytest.mark.slow
def test_report_has_the_test_outcomes_per_environment_and_every_table_row(run_suites, pytester):
    """Outcomes per environment (also from xdist workers) and the ids of what did not pass.

    And the Markdown table with the supervisord rows and two decimals, like the terminal's.
    """
    out = pytester.path / "reports" / "jaws.json"
    data = sites_data()
    data["sites"]["local"]["overrides"] = {"auth": {"args": ["--fault", "unhealthy"]}}
    result = run_suites("--jaws-env=dev,prod", f"--jaws-report={out}", "-n", "2", "-k",
                        "service_healthy or instance_running", sites=data,
                        suites=["test_health.py"])
    result.assert_outcomes(passed=10, failed=2)
    report = json.loads(out.read_text())
    jsonschema.validate(report, json.loads(SCHEMA_FILE.read_text()))
    for env in report["environments"]:
        assert env["tests"] == {"passed": 5, "failed": 1, "errors": 0, "skipped": 0, "failing": [
            f"suites/test_health.py::test_service_healthy[{env['name']}-auth]"],
            "skip_reasons": {}}, env["tests"]
    md = out.with_suffix(".md").read_text()
    assert "tests: 5 passed, 1 failed, 0 errors, 0 skipped" in md
    assert "- not passed: `suites/test_health.py::test_service_healthy[dev-auth]`" in md
    assert "| supervisord-central | (supervisord) |" in md
    healthy = [line.rsplit("|", 2)[-2].strip() for line in md.splitlines()
               if line.startswith("| supervisord-") and "(supervisord)" not in line]
    assert healthy and all(h == "-" or (len(h.split(".")[1]) == 2) for h in healthy), healthy
    result.stdout.fnmatch_lines(["jaws dev: tests 5 passed, 1 failed, 0 errors, 0 skipped"])


# --- configuration errors: usage error, key path, nothing deployed -------------------------

def _bad(mutate):
    data = sites_data()
    mutate(data)
    return data


@pytest.mark.parametrize("mutate, expected", [
    (lambda d: d["sites"]["local"]["roles"]["jtm"].update(usr="x"),
     "*sites.local.roles.jtm.usr: unknown key (a typo?)*"),
    (lambda d: d["ports"]["dev"].update(cromwell="fifty"),
     "*ports.dev.cromwell: Input should be a valid integer*"),
    (lambda d: d["sites"]["local"].pop("bind"),
     "*sites.local.bind: required key is missing*"),
    (lambda d: d["sites"]["local"]["programs"]["jtm"].append("cromwel"),
     "*sites.local.programs.jtm.2: unknown program 'cromwel'*"),
    (lambda d: d["ports"]["prod"].update(cromwell=70000),
     "*ports.prod.cromwell: Input should be less than or equal to 65535*"),
    (lambda d: d["sites"]["local"].update(bind="0.0.0.0"),  # noqa: S104 - the bad input
     "*sites.local.bind: '0.0.0.0' listens on every interface*bind_all_interfaces: true*"),
    (lambda d: d["ports"]["dev"].update({"central-auth": True}),
     "*ports.dev.central-auth: Input should be a valid integer*"),
    (lambda d: d["ports"]["dev"].update({"central-auth": "3001"}),
     "*ports.dev.central-auth: Input should be a valid integer*"),
    (lambda d: d["services"]["auth"].update(health="tokeninfo"),
     "*services.auth.health: String should match pattern '^/'*"),
    (lambda d: d["services"]["jaws-jtm"].update(venv="jtmm"),
     "*services.jaws-jtm.venv: Input should be 'site', 'jtm' or 'central'*"),
    (lambda d: d["sites"]["local"].update(bind="10.1.2.3"),
     "*sites.local.bind: a fake site listens on loopback only (127.0.0.1, ::1), not '10.1.2.3'*"),
])
def test_bad_sites_file_is_a_usage_error_before_anything_starts(run_suites, pytester, mutate,
                                                               expected):
    result = run_suites("--jaws-env=dev", sites=_bad(mutate), refused=True)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([expected])
    assert not list(pytester.path.rglob("jaws-supervisord-*"))
    assert not leftovers(pytester.path)


def test_yaml_syntax_error_names_file_line_and_column(run_suites, pytester):
    bad = pytester.path / "broken.yaml"
    bad.write_text("ports:\n  dev: {central-auth: 3001\nsites: [\n")
    result = run_suites(f"--jaws-sites-file={bad}", refused=True)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{bad}:3:*: YAML syntax error*"])


def test_repeated_yaml_key_is_an_error(run_suites, pytester):
    bad = pytester.path / "repeated.yaml"
    text = PACKAGED_SITES_FILE.read_text()
    bad.write_text(text.replace("  local-venv:", "  local:"))
    result = run_suites(f"--jaws-sites-file={bad}", refused=True)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{bad}:*: YAML syntax error: key 'local' repeats (first at "
                                 "line *); YAML would silently keep only the last one*"])


@pytest.mark.parametrize("option, expected", [
    ("--jaws-report={tmp}", "*--jaws-report * is a directory; give a file name*"),
    ("--jaws-report=/etc/hostname/r.json",
     "*--jaws-report /etc/hostname/r.json: cannot create files under /etc/hostname*"),
    ("--jaws-basedir=/tmp/a %(here)s", "*'/tmp/a %(here)s/jaws-supervisord-dev/*' cannot be "
                                       "written into a supervisord configuration*"),
    ("--jaws-site=cori", "*site 'cori' deploys on cori20.nersc.gov (sites.cori.supervisor_host)*"
                         "--jaws-plan*--jaws-fake*"),
])
def test_bad_option_is_a_usage_error_before_anything_starts(run_suites, pytester, option,
                                                             expected):
    result = run_suites(option.format(tmp=pytester.path), offset=False, refused=True)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([expected])
    assert not list(pytester.path.rglob("jaws-supervisord-*"))


@pytest.mark.parametrize("key", ["has space", "tab\there", "{SHA}abcdef"])
def test_unusable_key_is_a_usage_error_that_never_shows_the_key(run_suites, monkeypatch, key):
    monkeypatch.setenv("JAWS_SUPERVISOR_KEY_LOCAL_DEV_JAWS", key)
    result = run_suites("--jaws-env=dev", refused=True)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*supervisor key from $JAWS_SUPERVISOR_KEY_LOCAL_DEV_JAWS *"])
    assert key not in result.stdout.str() + result.stderr.str()


def test_missing_sites_file_names_the_paths_looked_at(run_suites, pytester):
    result = run_suites("--jaws-sites-file=nowhere.yaml", refused=True)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*sites file 'nowhere.yaml' not found (looked at "
                                 f"{pytester.path}/nowhere.yaml); pass an existing file*"])


# --- translated errors ---------------------------------------------------------------------

@pytest.fixture
def deployed(tmp_path, port_offset):
    model = load_sites(PACKAGED_SITES_FILE)
    dep = deploy.apply(make_plan(model, "local", "staging", tmp_path, port_offset=port_offset))
    yield dep
    deploy.teardown(dep)


def test_wrong_key_is_an_authentication_error_naming_the_instance(deployed):
    port = deployed.instances["jtm"].port
    with pytest.raises(InstanceAuthError, match=(
            rf"supervisord-jtm \(environment staging, port {port}\): authentication failed "
            r"\(HTTP 401\).*key mismatch")):
        deployed.client("jtm", key="not-the-key").supervisor.getState()


def test_stopped_instance_is_reported_as_not_running(deployed):
    client = deployed.client("jaws")
    client.supervisor.shutdown()
    deploy.teardown(deployed)
    port = deployed.instances["jaws"].port
    with pytest.raises(InstanceNotRunning, match=(
            rf"supervisord-jaws \(environment staging, port {port}\) is not running: "
            "connection refused")):
        deployed.client("jaws").supervisor.getState()


def test_hanging_instance_times_out(tmp_path, port_offset):
    plan = make_plan(load_sites(PACKAGED_SITES_FILE), "local", "dev", tmp_path,
                     port_offset=port_offset)
    inst = plan.instances["jaws"]
    server = socket.create_server(("127.0.0.1", inst.port))  # accepts, never answers
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    try:
        with pytest.raises(InstanceTimeout, match=(
                rf"supervisord-jaws \(environment dev, port {inst.port}\): "
                r"supervisor.getState got no answer within 1 s")):
            RpcClient(inst, "dev", "key", timeout=1.0).supervisor.getState()
    finally:
        server.close()
        for conn, _addr in accepted:
            conn.close()


def test_fatal_program_message_names_spawn_error_and_stderr(tmp_path, port_offset):
    data = sites_data()
    data["sites"]["local"]["overrides"] = {"jaws-jtm": {"args": ["--fault", "exit"]}}
    data["sites"]["local"]["startsecs"] = 3  # slack for supervisord's loop on a loaded machine
    path = tmp_path / "sites.yaml"
    path.write_text(yaml.safe_dump(data))
    plan = make_plan(load_sites(path), "local", "prod", tmp_path, port_offset=port_offset)
    with pytest.raises(errors.DeploymentError) as info:
        deploy.apply(plan)
    message = str(info.value)
    assert message.startswith("program jaws-jtm failed to start: Exited too quickly")
    assert "supervisord-jtm on port" in message and "environment prod" in message
    assert "fake jtm: refusing to start (--fault exit)" in message
    assert not leftovers(Path(tmp_path))


# --- pytest conventions --------------------------------------------------------------------

def test_help_shows_the_jaws_group_with_every_option(pytester):
    result = pytester.runpytest_subprocess("--help")
    # three instances, not "the supervisord pair" (issue 25)
    result.stdout.fnmatch_lines(
        ["pytest-jaws: deploy and verify JAWS's supervisord instances (jaws, jtm, central):"])
    for option in ("--jaws-site", "--jaws-env", "--jaws-sites-file", "--jaws-basedir",
                   "--jaws-port-offset", "--jaws-teardown", "--jaws-report"):
        result.stdout.fnmatch_lines([f"*{option}=*"])
        result.stdout.fnmatch_lines([f"  {option.lstrip('-').replace('-', '_')} (*"])


def test_fixtures_are_listed_with_docstrings(pytester):
    result = pytester.runpytest_subprocess("--fixtures")
    result.stdout.fnmatch_lines(["jaws_deployment [[]session scope[]]*",
                                 "*Return the deployed environment*"])


def test_header_and_strict_markers(pytester, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(pytester.path))  # the left-up run's stable directory
    pytester.makepyfile("import pytest\n@pytest.mark.jaws\ndef test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("--strict-markers", "--jaws-env=dev,prod")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "jaws: site local (fake), environments dev, prod, port offset 0",
        f"jaws: sites file *sites.yaml, base directory {pytester.path}/*/jaws, supervisor 4.3*"])
    left_up = pytester.runpytest_subprocess("--jaws-env=dev", "--jaws-teardown=never",
                                            "--jaws-port-offset=1395", "--collect-only")
    left_up.stdout.fnmatch_lines(["jaws: sites file *, base directory "
                                  "*/pytest-jaws-*/local+1395, supervisor *"])
