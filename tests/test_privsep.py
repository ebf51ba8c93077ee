"""Privilege separation, for real.

Users jaws and jaws_jtm (as root), keys, protected files, and each check of
suites/test_privsep.py failing when the deployment is broken on purpose.
"""

import os
import pwd

import pytest
from helpers import failed_tests, needs_root_and_users, only_failure, sites_data

PRIVSEP = "test_privsep.py"


@needs_root_and_users
def test_privsep_suite_passes_with_nothing_skipped(run_suites):
    result = run_suites("--jaws-site=local-privsep", "--jaws-env=all", "-rs",
                        suites=[PRIVSEP])
    result.assert_outcomes(passed=34 * 3)


def test_local_site_skips_only_user_distinctness_with_a_reason(run_suites):
    result = run_suites("--jaws-site=local", "--jaws-env=dev", "-rs", suites=[PRIVSEP])
    user = pwd.getpwuid(os.geteuid()).pw_name
    skipped = 5 + 3 + (3 if user == "root" else 0)
    result.assert_outcomes(passed=34 - skipped, skipped=skipped)
    result.stdout.fnmatch_lines([
        f"SKIPPED [[]5[]] *site local runs both roles as user '{user}': user-distinctness*"])


def test_same_key_for_both_instances_fails(run_suites, monkeypatch):
    monkeypatch.setenv("JAWS_SUPERVISOR_KEY_LOCAL_DEV_JAWS", "one-key-for-both")
    monkeypatch.setenv("JAWS_SUPERVISOR_KEY_LOCAL_DEV_JTM", "one-key-for-both")
    result = run_suites("--jaws-env=dev", "-k", "keys_differ or key_is_refused", suites=[PRIVSEP])
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "*supervisord-jaws and supervisord-jtm of dev use the same key*",
        "*accepted the jtm instance's key*",
    ])
    assert "one-key-for-both" not in result.stdout.str() + result.stderr.str()


WORLD_READABLE = '''
import pytest

@pytest.fixture(scope="session")
def jaws_deployment(jaws_deployment):
    jaws_deployment.instances["jaws"].conf.chmod(0o644)
    return jaws_deployment
'''


def test_world_readable_config_fails(run_suites):
    result = run_suites("--jaws-env=dev", "-k", "protected", suites=[PRIVSEP],
                        conftest=WORLD_READABLE)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        "*supervisord-jaws.conf has mode -rw-r--r-- (0o644): others may access it*"])


NO_AUTH = '''
def pytest_jaws_plan(plan, files):
    inst = plan.instances["jaws"]
    text, role, mode = files[str(inst.conf)]
    head, rest = text.split("[supervisord]", 1)
    head = "\\n".join(l for l in head.splitlines() if not l.startswith(("username=", "password=")))
    files[str(inst.conf)] = (head + "\\n[supervisord]" + rest, role, mode)
'''


def test_instance_without_authentication_fails(run_suites):
    result = run_suites("--jaws-env=dev", "-k", "credentials or authentication",
                        suites=[PRIVSEP], conftest=NO_AUTH)
    result.assert_outcomes(passed=4, failed=2)
    result.stdout.fnmatch_lines([
        "*supervisord-jaws (environment dev, port *) answered an XML-RPC call without "
        "credentials*",
        "*supervisord-jaws runs without HTTP authentication*",
    ])


JTM_AS_JAWS = '''
import dataclasses
import pytest

@pytest.fixture(scope="session")
def jaws_manager(jaws_manager):
    # before anything is deployed: the jtm instance planned (and so deployed) as user jaws
    for plan in jaws_manager.plans.values():
        jtm = plan.instances["jtm"]
        plan.instances["jtm"] = dataclasses.replace(
            jtm, user="jaws", group="jaws", become=("runuser", "-u", "jaws", "--"))
    return jaws_manager
'''


@needs_root_and_users
def test_jtm_program_running_as_the_jaws_user_fails(run_suites):
    result = run_suites("--jaws-site=local-privsep", "--jaws-env=dev", "-k",
                        "role_user or distinct_users", suites=[PRIVSEP], conftest=JTM_AS_JAWS)
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines([
        "*supervisord-jtm and supervisord-jaws, supervisord-central of dev all run as 'jaws': "
        "the workload role could control the JAWS services*"])
    result.stdout.fnmatch_lines([
        "*role jtm must run as 'jaws_jtm' (supervisord-jtm and all its programs), but: "
        "*jaws-cromwell (PID *) runs as 'jaws'*"])


def test_key_with_percent_semicolon_and_hash_deploys_and_authenticates(run_suites, monkeypatch):
    monkeypatch.setenv("JAWS_SUPERVISOR_KEY_LOCAL_DEV_JAWS", "a%b;c#d%%e%(here)s")
    monkeypatch.setenv("JAWS_SUPERVISOR_KEY_LOCAL_DEV_JTM", ";#%x-and-16-or-more")
    result = run_suites("--jaws-env=dev", "-k", "keys_differ or key_is_refused or credentials",
                        suites=[PRIVSEP])
    result.assert_outcomes(passed=5)


LEAKY = '''
def test_leaks_the_keys(jaws_deployment):
    print("keys:", jaws_deployment.keys)
    assert jaws_deployment.keys["jaws"] == "not the key", jaws_deployment.keys
'''


def test_keys_never_appear_in_output_or_junit(run_suites, monkeypatch, pytester):
    secret = "s3cr3t-KEY-value-4711"
    monkeypatch.setenv("JAWS_SUPERVISOR_KEY_LOCAL_DEV_JAWS", secret)
    monkeypatch.setenv("JAWS_SUPERVISOR_KEY_LOCAL_DEV_JTM", secret + "-jtm")
    (pytester.path / "test_leaky.py").write_text(LEAKY)
    xml = pytester.path / "junit.xml"
    result = run_suites("--jaws-env=dev", "-rA", f"--junitxml={xml}", "-k", "leaks or keys",
                        suites=[PRIVSEP, "../test_leaky.py"])
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed") == 1 and outcomes.get("passed") == 1, result.stdout.str()
    text = result.stdout.str() + result.stderr.str() + xml.read_text()
    assert "********" in text
    assert secret not in text


# --- nothing writable by a role that does not own it; each role reads its own ---------------

GROUP_WRITABLE = '''
import grp, os
import pytest

@pytest.fixture(scope="session")
def jaws_deployment(jaws_deployment):
    plan = jaws_deployment.plan
    gid = grp.getgrnam("jaws_jtm").gr_gid
    targets = {{"shims": plan.instances["jaws"].install_dir / "shims",
               "venv": plan.venvs["site"].path / "bin",
               "config": next(c.path for c in plan.configs if c.role == "jaws")}}
    path = targets["{what}"]
    os.chown(path, -1, gid)
    os.chmod(path, {mode})
    return jaws_deployment
'''


@needs_root_and_users
@pytest.mark.parametrize(("what", "mode", "shown"), [
    ("shims", "0o775", "*/jaws-dev/shims (owner root, group jaws_jtm, mode drwxrwxr-x)"),
    ("venv", "0o2775", "*/jaws-dev/site/bin (owner root, group jaws_jtm, mode drwxrwsr-x)"),
    # JAWS's own mode for its configuration files (generate-configs: chmod 660), given the
    # jtm group: the jtm user could rewrite the jaws role's configuration
    ("config", "0o660", "*/jaws-dev/configs/jaws-site.conf (owner jaws, group jaws_jtm, mode "
                        "-rw-rw----)"),
])
def test_writable_for_the_jtm_group_fails_naming_path_mode_owner_and_role(run_suites, what,
                                                                         mode, shown):
    result = run_suites("--jaws-site=local-privsep", "--jaws-env=dev", "-k",
                        "bin_shims_venvs", suites=[PRIVSEP],
                        conftest=GROUP_WRITABLE.format(what=what, mode=mode))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"{shown} is writable by jaws_jtm (role jtm), who does not "
                                 "own it*"])


UNREADABLE_OWN = '''
import os
import pytest

@pytest.fixture(scope="session")
def jaws_deployment(jaws_deployment):
    os.chown(jaws_deployment.instances["jtm"].key_file, 0, 0)
    return jaws_deployment
'''


@needs_root_and_users
def test_jtm_key_the_jtm_user_cannot_read_fails(run_suites):
    result = run_suites("--jaws-site=local-privsep", "--jaws-env=dev", "-k",
                        "read_its_own", suites=[PRIVSEP], conftest=UNREADABLE_OWN)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*jaws_jtm (role jtm) cannot read its own */supervisord-jtm.key (owner root, group "
        "root, mode -rw-------)*"])


# --- every file of the deployment, whoever wrote it (issue 22) -----------------------------

BROKEN_FILES = '''
import os
import pytest

@pytest.fixture(scope="session")
def jaws_deployment(jaws_deployment):
    {action}
    return jaws_deployment
'''


def test_a_world_readable_backup_holding_the_key_fails(run_suites):
    """A ``<conf>.<timestamp>`` backup left 0644 (as an adopted JAWS file is) holds the key."""
    backup = ("inst = jaws_deployment.instances['jaws']\n"
              "    path = inst.conf.with_name(inst.conf.name + '.20260101T000000Z')\n"
              "    path.write_text(inst.conf.read_text())\n"
              "    path.chmod(0o644)")
    result = run_suites("--jaws-env=dev", "-k", "holding_a_key", suites=[PRIVSEP],
                        conftest=BROKEN_FILES.format(action=backup))
    only_failure(result, "test_no_file_holding_a_key_or_secret_is_readable_by_another_user[dev]",
                 "*supervisord-jaws.conf.20260101T000000Z (*:* 0644) holds the key of "
                 "supervisord-jaws and is readable by every user*")
    assert "supervisord-jaws.conf (" not in result.stdout.str()  # the 0600 original is fine


def test_a_shim_writable_by_others_fails(run_suites):
    shim = ("shim = jaws_deployment.plan.programs['jaws-jtm'].shim\n"
            "    shim.chmod(0o757)")
    result = run_suites("--jaws-env=dev", "-k", "writable_by_no_other", suites=[PRIVSEP],
                        conftest=BROKEN_FILES.format(action=shim))
    only_failure(result, "test_what_the_roles_run_is_writable_by_no_other_user[dev]",
                 "*shims/jaws-jtm-dev (*:* 0757) is writable by every user*")


def test_a_world_writable_directory_fails_naming_it(run_suites):
    drop = ("drop = jaws_deployment.instances['jaws'].install_dir / 'drop'\n"
            "    drop.mkdir()\n"
            "    drop.chmod(0o777)")
    result = run_suites("--jaws-env=dev", "-k", "world_writable", suites=[PRIVSEP],
                        conftest=BROKEN_FILES.format(action=drop))
    only_failure(result, "test_no_directory_is_world_writable_beyond_what_jaws_needs[dev]",
                 "*jaws-dev/drop (*:* 0777) is writable by every user*")


def test_a_working_directory_opened_as_jaws_opens_it_fails_saying_what_jaws_does(run_suites):
    """The inputs directory made 777, as JAWS's define-env makes it, is named with JAWS's way."""
    wide = ("inputs = next(d[0] for d in jaws_deployment.plan.data_dirs if d[0].name == 'inputs')\n"
            "    inputs.chmod(0o777)")
    result = run_suites("--jaws-env=dev", "-k", "stricter_than_jaws or world_writable",
                        suites=[PRIVSEP], conftest=BROKEN_FILES.format(action=wide))
    assert failed_tests(result) == [
        "test_jaws_working_directories_are_made_stricter_than_jaws[dev]",
        "test_no_directory_is_world_writable_beyond_what_jaws_needs[dev]"], result.stdout.str()
    result.stdout.fnmatch_lines(["*scratch/jaws-dev/inputs is *:* 0777, planned *:* 2750 (written "
                                 "by role jaws, read by role jtm; JAWS: define-env 777, the jtm "
                                 "shim 2775, the daemon shim setfacl rwx *, which pytest-jaws "
                                 "does not copy)*"])


@needs_root_and_users
def test_inputs_cromwell_cannot_read_fail_naming_the_user(run_suites):
    """Cromwell's user cannot read the inputs (the cori failure): named, for real, as jaws_jtm."""
    closed = ("inputs = next(d[0] for d in jaws_deployment.plan.data_dirs if d[0].name == 'inputs')\n"
              "    inputs.chmod(0o2700)")
    result = run_suites("--jaws-site=local-privsep", "--jaws-env=dev", "-k", "reaches",
                        suites=[PRIVSEP], conftest=BROKEN_FILES.format(action=closed))
    only_failure(result, "test_each_role_reaches_the_working_directories_it_needs[dev]",
                 "*jaws_jtm (role jtm) cannot read */scratch/jaws-dev/inputs (owner jaws, group "
                 "jaws_jtm, mode drwx--S---)*")


@needs_root_and_users
def test_jtm_role_given_the_jaws_roles_passwords_is_reported_naming_them(run_suites):
    """JAWS's own layout: no jtm user of its own, so jtm's files hold the jaws role's passwords."""
    data = sites_data()
    config = data["sites"]["local-privsep"]["config"]
    del config["db"]["jtm_user"], config["site_rmq"]["jtm_user"]
    result = run_suites("--jaws-site=local-privsep", "--jaws-env=dev", "-rx", "-k",
                        "holds_no_password", suites=[PRIVSEP], sites=data)
    result.assert_outcomes(xfailed=1)
    result.stdout.fnmatch_lines([
        "XFAIL *test_jtm_role_holds_no_password_of_the_jaws_role[[]dev[]]* JAWS's layout: the "
        "jtm role's files (jaws-jtm.conf, cromwell.conf) hold the jaws role's DB_PASSWORD, "
        "SITE_RMQ_PASSWORD; site local-privsep names no jtm user of its own (sites.yaml "
        "sites.local-privsep.config.db.jtm_user, sites.local-privsep.config.site_rmq.jtm_user)*"])



@needs_root_and_users
def test_one_broker_password_for_central_and_the_site_is_the_layout_not_a_leak(run_suites,
                                                                               monkeypatch):
    """One broker password for central's and the site's broker is JAWS's layout, not a leak.

    RMQ_PASSWORD equal to SITE_RMQ_PASSWORD (one broker, one user: a real-code twin's
    run-started RabbitMQ) is the jtm role's own SITE_RMQ_PASSWORD in its files.
    """
    from pytest_jaws.sites.sitevars import secret_variable
    data = sites_data()
    config = data["sites"]["local-privsep"]["config"]
    del config["db"]["jtm_user"], config["site_rmq"]["jtm_user"]
    for name in ("RMQ_PASSWORD", "SITE_RMQ_PASSWORD"):
        monkeypatch.setenv(secret_variable("local-privsep", "dev", name), "one-broker-pw-0123456789")
    result = run_suites("--jaws-site=local-privsep", "--jaws-env=dev", "-rx", "-k",
                        "holds_no_password", suites=[PRIVSEP], sites=data)
    result.assert_outcomes(xfailed=1)
    result.stdout.fnmatch_lines(["XFAIL *JAWS's layout: the jtm role's files * hold the jaws "
                                 "role's DB_PASSWORD, SITE_RMQ_PASSWORD;*"])

LEAKED_SECRET = '''
def pytest_jaws_plan(plan, files):
    # the jaws role's Globus secret copied into the jtm role's jaws-jtm.conf
    site = next(p for p in files if p.endswith("jaws-site.conf"))
    jtm = next(p for p in files if p.endswith("jaws-jtm.conf"))
    secret = next(line.split("=", 1)[1].strip() for line in files[site][0].splitlines()
                  if line.startswith("client_secret"))
    text, role, mode = files[jtm]
    files[jtm] = (text + "# " + secret + "\\n", role, mode)
'''


@needs_root_and_users
def test_a_jaws_role_password_in_the_jtm_files_fails_naming_it(run_suites):
    result = run_suites("--jaws-site=local-privsep", "--jaws-env=dev", "-k",
                        "holds_no_password", suites=[PRIVSEP], conftest=LEAKED_SECRET)
    only_failure(result, "test_jtm_role_holds_no_password_of_the_jaws_role[dev]",
                 "*the jtm role's files (jaws-jtm.conf, cromwell.conf) hold the value of the "
                 "jaws role's GLOBUS_CLIENT_SECRET, which no program of the jtm role reads*")
