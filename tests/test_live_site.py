"""Deploying over a live site safely (issue 13): checks that disturb service are deselected
where they must not run, and every user switch is proven before a check relies on it."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from conftest import needs_root_and_users
from pytest_jaws import become, destructive
from pytest_jaws.options import resolve

ROOT = Path(__file__).resolve().parent.parent


needs_root = needs_root_and_users


def _failed(result):
    return sorted(line.split("::", 1)[1].split(" ")[0] for line in result.stdout.lines
                  if line.startswith("FAILED"))


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
        "*1 deselected*"])
    assert "test_killed_program_is_restarted_and_healthy_again" not in result.stdout.str()
    result = run_suites("--jaws-site=cori", "--jaws-fake", "--jaws-env=dev", "--co",
                        suites=["test_health.py"])
    assert "destructive checks deselected" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*test_killed_program_is_restarted_and_healthy_again*"])


@pytest.mark.parametrize("site", ["local", "cori"])
def test_allow_destructive_with_prod_is_a_usage_error(run_suites, pytester, site):
    fake = ["--jaws-fake"] if site == "cori" else []
    result = run_suites(f"--jaws-site={site}", *fake, "--jaws-allow-destructive",
                        "--jaws-env=dev,prod", suites=["test_health.py"])
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
    with pytest.raises(become.SwitchError, match=r"could not become someone-else: 'id -un' "
                                                 rf"printed '{me}', not 'someone-else'"):
        become.prove((), "someone-else")
    with pytest.raises(become.SwitchError, match="could not become x: 'no-such-switch-cmd "
                                                 "x id -un' cannot run"):
        become.prove(("no-such-switch-cmd", "x"), "x")


def test_a_prompting_switch_fails_at_once_without_a_terminal(tmp_path):
    script = tmp_path / "ask-password"
    script.write_text(ASK_PASSWORD)
    script.chmod(0o755)
    with pytest.raises(become.SwitchError) as info:
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


@needs_root
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
    assert _failed(result) == ["test_jtm_user_cannot_change_what_the_jaws_role_runs[dev]",
                               "test_jtm_user_cannot_read_the_jaws_config_or_key[dev]",
                               "test_jtm_user_cannot_write_into_jaws_directories[dev]"]
    result.stdout.fnmatch_lines([reason])
    assert "passed" not in result.stdout.lines[-1]
