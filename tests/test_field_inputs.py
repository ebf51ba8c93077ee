"""Issue 16: inputs from the field (cases 3, 4, 6 and 11).

Cases 1 and 2 are in test_escaping.py. Each test uses the input the issue describes.
"""

import os
import shlex
import subprocess

import pytest
import yaml
from helpers import leftovers, sites_data

from pytest_jaws import errors
from pytest_jaws.deploy import deploy
from pytest_jaws.deploy.files import resolve_keys
from pytest_jaws.deploy.result import Deployment
from pytest_jaws.errors import SitesError
from pytest_jaws.plan.plan import make_plan
from pytest_jaws.report.report import summary_lines
from pytest_jaws.sites.sites import PACKAGED_SITES_FILE, parse_sites

# --- case 3: YAML merge keys ----------------------------------------------------------------

MERGED = PACKAGED_SITES_FILE.read_text().replace("  local:\n", "  local: &common\n", 1) + """
  local-copy:
    <<: *common
    description: the local site under another name, written with a merge key
"""


def test_case_3_merge_keys_load_and_the_own_keys_win():
    model = parse_sites(MERGED)
    copy, local = model.sites["local-copy"], model.sites["local"]
    assert copy.description == "the local site under another name, written with a merge key"
    assert (copy.bind, copy.programs, copy.startsecs) == (local.bind, local.programs, local.startsecs)


def test_case_3_a_key_written_twice_beside_a_merge_is_still_an_error():
    text = MERGED + "    description: twice\n"
    with pytest.raises(SitesError, match=r"key 'description' repeats \(first at line \d+\)"):
        parse_sites(text)


def test_case_3_merge_keys_deploy_through_the_plugin(run_suites, pytester):
    (pytester.path / "merged.yaml").write_text(MERGED)
    result = run_suites("--jaws-site=local-copy", "--jaws-env=dev", "-k", "instance_running",
                        f"--jaws-sites-file={pytester.path / 'merged.yaml'}",
                        suites=["test_health.py"])
    result.assert_outcomes(passed=3)


# --- case 4: empty option values -----------------------------------------------------------

@pytest.mark.parametrize("option, expected", [
    ("--jaws-env=dev,,prod", "*--jaws-env 'dev,,prod' has an empty entry (an unset CI "
                             "variable?); give dev, staging, prod, a comma list of them, or all*"),
    ("--jaws-env=", "*--jaws-env is empty (an unset CI variable?); give one of dev, staging, "
                    "prod, a comma list of them, or all*"),
    ("--jaws-site=", "*--jaws-site is empty (an unset CI variable?); give one of local, "
                     "local-privsep, *cori*"),
    ("--jaws-teardown=", "*--jaws-teardown is empty*always, on-success, never*"),
    ("--jaws-port-offset=", "*--jaws-port-offset is empty*a whole number*"),
])
def test_case_4_empty_option_is_a_usage_error_listing_valid_values(run_suites, pytester, option,
                                                                   expected):
    result = run_suites(option, offset=False, refused=True)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([expected])
    assert not list(pytester.path.rglob("jaws-supervisord-*"))


# --- case 6: true exit statuses ------------------------------------------------------------

def test_case_6_fatal_message_has_the_exit_status_supervisord_logged(tmp_path, port_offset):
    data = sites_data()
    # a real site's whole-second startsecs, so that the program ends FATAL ("exited too
    # quickly", XML-RPC's status 0); the fake sites' startsecs 0 would restart it forever
    data["sites"]["local"]["startsecs"] = 1
    data["sites"]["local"]["overrides"] = {
        "jaws-jtm": {"command": "sh -c 'echo jtm gives up >&2; exit 3'"}}
    plan = make_plan(parse_sites(yaml.safe_dump(data)), "local", "prod", tmp_path,
                     port_offset=port_offset)
    attempt = deploy.Attempt(plan)
    with pytest.raises(errors.DeploymentError) as info:
        attempt.run()
    message = str(info.value)
    log = plan.instances["jtm"].logfile.read_text()
    assert "exited: jaws-jtm (exit status 3; not expected)" in log
    assert "exit status 3," in message and "exit status 0" not in message, message
    assert "jtm gives up" in message
    state = attempt.deployment.last_state["jtm"]
    assert [i["exitstatus"] for i in state if i["name"] == "jaws-jtm"] == [0]  # what XML-RPC says
    from pytest_jaws.report.tables import state_table
    row = next(r for r in state_table(attempt.deployment, attempt.deployment.last_state)
               if " jaws-jtm " in r)
    assert row.split()[5] == "3", row
    assert not leftovers(tmp_path)


# --- case 11: small things -----------------------------------------------------------------

def test_case_11_user_name_with_a_colon_is_refused_by_the_schema(run_suites, pytester):
    data = sites_data()
    data["sites"]["local-privsep"]["roles"]["jtm"]["user"] = "jaws:jtm"
    result = run_suites("--jaws-site=local-privsep", sites=data, offset=False, refused=True)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*sites.local-privsep.roles.jtm.user: 'jaws:jtm' is not a valid "
                                 "Unix user name*"])
    assert "useradd --system" not in result.stderr.str()


@pytest.mark.skipif(os.geteuid() != 0, reason="the root check skips only when run as root")
def test_case_11_root_check_skips_for_any_fake_site_whose_role_runs_as_the_invoker(run_suites):
    data = sites_data()
    data["sites"]["my-fake"] = data["sites"]["local"]
    result = run_suites("--jaws-site=my-fake", "--jaws-env=dev", "-rs", "-k", "stay_root",
                        sites=data, suites=["test_privsep.py"])
    result.assert_outcomes(skipped=3)
    result.stdout.fnmatch_lines(["*role * runs as the invoking user, root (site my-fake run by "
                                 "root)*"])


@pytest.mark.slow
def test_case_11_left_up_commands_are_shell_quoted_and_work(run_suites, pytester, port_offset):
    base = pytester.path / "with space"
    plan = make_plan(parse_sites(PACKAGED_SITES_FILE.read_text()), "local", "dev", base,
                     port_offset=port_offset)
    try:
        result = run_suites("--jaws-env=dev", "--jaws-teardown=never", f"--jaws-basedir={base}",
                            "-k", "instance_running", suites=["test_health.py"])
        result.assert_outcomes(passed=3)
        lines = [ln.strip() for ln in result.stdout.lines if "bin/supervisorctl' -c " in ln]
        assert len(lines) == 3 and all("'" in ln for ln in lines), lines
        for line in lines:
            done = subprocess.run(shlex.split(line), capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stdout + done.stderr
    finally:
        deploy.teardown(Deployment(plan, resolve_keys(plan)))
    assert not leftovers(base)


def test_case_11_summary_columns_fit_long_program_names():
    long_name = "a-program-name-longer-than-sixteen"
    data = {"environments": [{
        "name": "dev", "status": "deployed", "directory": "/d", "changes": None, "error": None,
        "instances": [{"name": "supervisord-jaws", "port": 64101, "user": "jaws", "pid": 1}],
        "programs": [{"name": n, "instance": "supervisord-jaws", "port": 5001, "user": "jaws",
                      "state": "RUNNING", "pid": 12345, "seconds_to_healthy": 1.0}
                     for n in ("rest", long_name)]}],
        "teardown": {"seconds": None, "errors": [], "policy": "always"}}
    rows = [ln for ln in summary_lines(data) if ln.startswith("  ")]
    header, *body = rows
    for column in ("state", "pid"):
        ends = {row.index(word) for row in body for word in
                [("RUNNING" if column == "state" else "12345")] if word in row}
        assert len(ends) == 1, rows
    assert header.index("state") == body[-1].index("RUNNING"), rows


def _record_of(plan) -> dict | None:
    """Return the reserved-ports record of ``plan``'s deployment (:mod:`pytest_jaws.host.reservations`)."""
    from pytest_jaws.host import reservations
    with reservations.locked() as book:
        return next((d for d in book.records().values() if d["key"] == plan.marker), None)


@pytest.mark.skipif(os.geteuid() != 0, reason="reserving ports needs root (CI runs as root)")
def test_case_5_a_fake_site_reserves_its_ephemeral_ports_while_it_runs(tmp_path, port_offset):
    """A fake site's ports in the ephemeral range (cromwell's) are reserved while it is up.

    Its record says it needs the port and is held by its supervisords too (this session
    reserved the port already, so it added nothing; tests/test_hostile_host.py shows the adding
    and giving back in a network namespace of its own); at teardown the record goes, and the
    session's reservation stays.
    """
    from pytest_jaws.host import ephemeral
    plan = make_plan(parse_sites(PACKAGED_SITES_FILE.read_text()), "local", "dev", tmp_path,
                     port_offset=port_offset)
    port = plan.port_table["cromwell"]
    dep = deploy.apply(plan)
    try:
        assert port in ephemeral.parse_ranges(ephemeral.reserved_text() or "")
        record = _record_of(plan)
        assert record is not None and port in record["needed"], record
        assert dep.pids and {pid for pid, _ in record["holders"]} >= set(dep.pids.values())
    finally:
        deploy.teardown(dep)
    assert _record_of(plan) is None
    assert port in ephemeral.parse_ranges(ephemeral.reserved_text() or "")


@pytest.mark.skipif(os.geteuid() != 0, reason="reserving ports needs root (CI runs as root)")
def test_case_5_taking_a_left_up_deployment_down_gives_its_reservation_back(tmp_path,
                                                                            port_offset):
    """``--jaws-down`` gives back what the deployment reserved: its record, found by its marker.

    ``--jaws-down`` is a teardown by another process, which did not reserve anything itself.
    """
    from pytest_jaws.deploy import down
    from pytest_jaws.plugin.options import resolve
    plan = make_plan(parse_sites(PACKAGED_SITES_FILE.read_text()), "local", "dev", tmp_path,
                     port_offset=port_offset)
    deploy.apply(plan)  # left up: this process forgets it
    assert _record_of(plan) is not None
    settings = resolve({"jaws_site": "local", "jaws_env": "dev", "jaws_basedir":
                        str(tmp_path), "jaws_port_offset": str(port_offset)}, tmp_path,
                       check_users=False)
    assert any("took down" in line for line in down.take_down(settings))
    assert _record_of(plan) is None
