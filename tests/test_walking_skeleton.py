"""End to end: the main job, and deployments broken on purpose (issue: walking skeleton)."""

import pytest
from helpers import sites_data


def test_main_job_passes_on_the_local_site(run_suites):
    result = run_suites("--jaws-site=local", "--jaws-env=dev", suites=["test_health.py"])
    result.assert_outcomes(passed=27)
    result.stdout.fnmatch_lines(["*supervisord-jaws started on port*", "*27 passed*"])


def test_unhealthy_fake_fails_exactly_its_health_test(run_suites, port_offset):
    data = sites_data()
    data["sites"]["local"]["overrides"] = {"auth": {"args": ["--fault", "unhealthy"]}}
    result = run_suites("--jaws-env=dev", sites=data, suites=["test_health.py"])
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed") == 1, result.stdout.str()
    port = 3001 + port_offset
    result.stdout.fnmatch_lines([
        f"*service auth is unhealthy: GET http://127.0.0.1:{port}/tokeninfo -> 500 (expected 401)*",
        "FAILED *test_service_healthy[[]dev-auth[]]*",
    ])


def test_program_exiting_at_start_errors_setup_with_stderr_tail(run_suites):
    data = sites_data()
    data["sites"]["local"]["overrides"] = {"jaws-cromwell": {"args": ["--fault", "exit"]}}
    data["sites"]["local"]["startsecs"] = 3  # slack for supervisord's loop on a loaded machine
    result = run_suites("--jaws-env=dev", "-k", "program_running", sites=data, suites=["test_health.py"])
    outcomes = result.parseoutcomes()
    assert outcomes.get("errors") == 8 and not outcomes.get("passed"), result.stdout.str()
    result.stdout.fnmatch_lines([
        "*program jaws-cromwell failed to start: Exited too quickly*FATAL*supervisord-jtm*",
        "*fake cromwell: refusing to start (--fault exit): simulated startup failure*",
    ])


@pytest.mark.parametrize("option, expected", [
    ("--jaws-site=nowhere", "*unknown site 'nowhere' for --jaws-site; valid: local*"),
    ("--jaws-env=qa", "*unknown environment 'qa' for --jaws-env; valid: dev, staging, prod*"),
    ("--jaws-port-offset=-2000", "*--jaws-port-offset must be 0 or more (added to every port of "
                                 "the table), or auto; got -2000*"),
])
def test_unknown_site_or_env_is_a_usage_error(run_suites, option, expected):
    result = run_suites(option, refused=True)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([expected])
