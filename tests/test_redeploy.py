"""A redeploy installs what changed in the checkout (issue 21, item 4).

A git copy of the fake checkout, versioned from git as JAWS's packages are; a commit, then a
redeploy on the same base directory: the new versions are installed, the programs of changed
packages restart and the others keep their PIDs; with no change, nothing is built, installed or
restarted, and the summary says so. The break-on-purpose variant puts the old install back
(pip without --force-reinstall) and shows the installed-content check failing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from helpers import needs_root_and_users, only_failure

from pytest_jaws.install import install, installsteps, servicevenvs, venvstate, wheels
from pytest_jaws.plan.installspec import FAKE_CHECKOUT
from pytest_jaws.plan.plan import make_plan
from pytest_jaws.sites.sites import PACKAGED_SITES_FILE, load_sites

MODEL = load_sites(PACKAGED_SITES_FILE)
SITE_PROGRAMS = ["jaws-site-daemon", "jaws-site-central-rpc", "jaws-site-jtm-rpc"]
MARK = "# a change committed by tests/test_redeploy.py"


def _git(checkout: Path, *args: str) -> str:
    return subprocess.run(("git", "-c", "user.name=t", "-c", "user.email=t@localhost", *args),
                          cwd=checkout, check=True, capture_output=True, text=True).stdout.strip()


def git_checkout(where: Path) -> Path:
    """Copy the fake checkout to ``where`` as a git repository at tag 2.6.0 (what JAWS tags)."""
    shutil.copytree(FAKE_CHECKOUT, where,
                    ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    _git(where, "init", "-q")
    _git(where, "add", "-A")
    _git(where, "commit", "-qm", "the fake checkout")
    _git(where, "tag", "2.6.0")
    return where


def change(checkout: Path, relpath: str, commit: bool = True) -> str:
    """Append a line to a file of the checkout (and commit it); return the short commit."""
    path = checkout / relpath
    path.write_text(path.read_text() + f"{MARK} {len(path.read_text())}\n")
    if commit:
        _git(checkout, "commit", "-qam", f"change {relpath}")
    return _git(checkout, "rev-parse", "--short=6", "HEAD")


def installed_file(venv: Path, relpath: str) -> str:
    """Return the text of ``relpath`` (``jaws_site/cli.py``) as installed in ``venv``."""
    found = list(venv.glob(f"lib/python*/site-packages/{relpath}"))
    assert len(found) == 1, f"{relpath} is not installed in {venv}"
    return found[0].read_text()


def assert_installed(venv: Path, checkout: Path, relpath: str) -> None:
    """Assert that ``venv`` holds ``relpath`` (``site/jaws_site/cli.py``) as the checkout has it."""
    module = relpath.split("/", 1)[1]
    assert installed_file(venv, module) == (checkout / relpath).read_text(), (
        f"{module} installed in {venv} lacks the change in the checkout ({relpath}): the venv "
        "kept the old code")


@pytest.fixture
def venv_plan(tmp_path, monkeypatch):
    """Return a local-venv plan of a git copy of the fake checkout, installable without an index.

    Its bootstrap venv sees this interpreter's supervisor (a .pth), so pip needs no index.
    """
    checkout = git_checkout(tmp_path / "jaws")
    plan = make_plan(MODEL, "local-venv", "dev", tmp_path / "base", source=checkout,
                     python=sys.executable)
    boot = plan.bootstrap_venv
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(boot)], check=True)
    purelib = Path(sysconfig.get_path("purelib", vars={"base": str(boot), "platbase": str(boot)}))
    import supervisor
    (purelib / "harness.pth").write_text(str(Path(supervisor.__file__).parent.parent) + "\n")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    return plan, checkout


def _by_package(result: install.InstallResult) -> dict[str, install.PackageChange]:
    out = {c.package: c for c in result.packages}
    assert len(out) == len(result.packages), result.packages  # one entry per package: venvs agree
    return out


@pytest.mark.slow
def test_commit_installs_new_versions_and_unchanged_checkout_installs_nothing(venv_plan):
    plan, checkout = venv_plan
    first = _by_package(install.install(plan))
    assert {p: (c.old, c.new, c.built, c.reinstalled) for p, c in first.items()} == {
        p: (None, "2.6.0", True, True) for p in ("jaws_rpc", "jaws_site", "jaws_jtm", "jaws_central")}
    assert first["jaws_rpc"].venvs == ("site", "jtm", "central")

    short = change(checkout, "site/jaws_site/cli.py")
    second = _by_package(install.install(plan))
    new = f"2.6.0+1.g{short}"
    assert (second["jaws_site"].old, second["jaws_site"].new) == ("2.6.0", new)
    assert second["jaws_site"].files_changed and second["jaws_site"].reinstalled
    assert not second["jaws_rpc"].files_changed and second["jaws_rpc"].new == new
    assert_installed(plan.venvs["site"].path, checkout, "site/jaws_site/cli.py")
    assert wheels.installed_version(plan.venvs["site"].path, "jaws_site") == new
    assert install.restarts(plan, list(second.values())) == {"jaws_site": SITE_PROGRAMS}
    lines = venvstate.summary_lines([dict(vars(c), venvs=list(c.venvs), restarted=[])
                                     for c in second.values()])
    assert f"  install: jaws_site 2.6.0 -> {new} (site venv)" in lines
    assert (f"  install: jaws_rpc 2.6.0 -> {new} (site, jtm, central venvs); same files, a new "
            "version only: nothing restarted") in lines

    third = install.install(plan)
    assert not any(c.built or c.reinstalled for c in third.packages), third.packages
    assert not [s for s in third.steps if "jaws_" in s], third.steps  # no build, no install
    assert install.restarts(plan, third.packages) == {}
    assert venvstate.summary_lines([dict(vars(c), venvs=list(c.venvs), restarted=[])
                                    for c in third.packages]) == [
        f"  install: nothing changed: jaws_rpc {new}, jaws_site {new}, jaws_jtm {new}, "
        f"jaws_central {new} (no wheel built; nothing installed or restarted for them)"]


def _dirty_redeploy(plan, checkout) -> install.InstallResult:
    """Install a dirty tree, change it again (same version: ``2.6.0+dev``), install again.

    :returns: the second install's result, after checking that every venv holds the change.
    """
    change(checkout, "rpc/jaws_rpc/cli.py", commit=False)
    install.install(plan)
    change(checkout, "rpc/jaws_rpc/cli.py", commit=False)
    again = install.install(plan)
    for venv in plan.venvs.values():
        assert_installed(venv.path, checkout, "rpc/jaws_rpc/cli.py")
    return again


@pytest.mark.slow
def test_dirty_tree_changed_again_is_reinstalled_at_the_same_version(venv_plan):
    plan, checkout = venv_plan
    rpc = _by_package(_dirty_redeploy(plan, checkout))["jaws_rpc"]
    assert (rpc.old, rpc.new, rpc.files_changed, rpc.reinstalled) == (
        "2.6.0+dev", "2.6.0+dev", True, True)
    # jaws_rpc is in every venv: every program restarts but Cromwell (Java, no package of it)
    assert install.restarts(plan, [rpc]) == {"jaws_rpc": [
        *SITE_PROGRAMS, "jaws-jtm", "auth", "rest", "rpc"]}
    assert venvstate.summary_lines([dict(vars(rpc), venvs=list(rpc.venvs), restarted=["auth"])]) == [
        "  install: jaws_rpc 2.6.0+dev -> 2.6.0+dev (site, jtm, central venvs); same version, "
        "other files: reinstalled; restarted auth"]


@pytest.mark.slow
def test_wheel_holds_the_checkout_as_it_is_and_the_build_writes_nothing_into_it(tmp_path):
    """A file deleted from the checkout is gone from the next wheel; no build/ in the checkout.

    Broken on purpose: the same two builds in the checkout's own build/ (what a plain
    ``pip wheel`` does) put the deleted file back into the second wheel.
    """
    package = git_checkout(tmp_path / "jaws") / "site"
    extra = package / "jaws_site" / "extra.py"
    extra.write_text("GONE = False\n")

    def build(house: Path, isolated: bool) -> set[str]:
        import zipfile

        def run(out: Path, env: dict[str, str]) -> None:
            subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                            "--no-build-isolation", "-w", str(out), str(package)], check=True,
                           env=env if isolated else None)
        key = wheels.content(package).key
        return set(zipfile.ZipFile(wheels.build_into_cache(house, "jaws_site", key, run)).namelist())

    assert "jaws_site/extra.py" in build(tmp_path / "house", True)
    extra.unlink()
    assert "jaws_site/extra.py" not in build(tmp_path / "house", True)
    assert not [p.name for p in package.iterdir() if p.name == "build" or p.suffix == ".egg-info"]

    extra.write_text("GONE = False\n")
    build(tmp_path / "plain", False)
    extra.unlink()
    assert "jaws_site/extra.py" in build(tmp_path / "plain", False), "the stale build/ came back"


@pytest.mark.slow
def test_old_install_without_force_reinstall_is_caught_by_the_content_check(venv_plan,
                                                                             monkeypatch):
    """Break on purpose: pip as the old install ran it, which keeps a version it has already."""
    plan, checkout = venv_plan
    monkeypatch.setattr(servicevenvs, "reinstall_argv",
                        lambda plan, venv, wheels: installsteps.pip_argv(plan, venv, *wheels))
    with pytest.raises(AssertionError, match=r"jaws_rpc/cli.py installed in \S+/jaws-dev/site "
                                             r"lacks the change in the checkout \(rpc/jaws_rpc/"
                                             r"cli.py\): the venv kept the old code"):
        _dirty_redeploy(plan, checkout)


def _report(path: Path) -> tuple[dict, dict[str, int]]:
    env = json.loads(path.read_text())["environments"][0]
    pids = {p["name"]: p["pid"] for p in env["programs"]}
    pids.update({i["name"]: i["pid"] for i in env["instances"]})
    return env["changes"], pids


#: A conftest that breaks the harness on purpose: no program restarts for a changed package.
NO_RESTARTS = """
import pytest_jaws.deploy.deploy

pytest_jaws.deploy.deploy.restarts = lambda plan, packages: {}
"""


@pytest.mark.slow
@needs_root_and_users
def test_redeploy_after_a_commit_installs_it_and_restarts_only_its_programs(run_suites, tmp_path):
    """The issue's case, deployed: local-venv from a git copy, a commit in site/, two redeploys.

    The second run installs the new versions and restarts the jaws-site programs only; the
    third, with no change, builds, installs and restarts nothing and says so. The code suite
    passes each time; a fourth run with a harness broken on purpose (it restarts nothing)
    fails it, naming each jaws-site program that runs the old code.
    """
    checkout = git_checkout(tmp_path / "jaws")
    base = Path(os.environ["TMPDIR"]) / "deployments"  # run_suites' TMPDIR: role users reach it
    common = ["--jaws-site=local-venv", "--jaws-env=dev", f"--jaws-source={checkout}",
              f"--jaws-basedir={base}", "--jaws-teardown=never", "-k",
              "program_running or installed_code"]
    suites = ["test_health.py", "test_installed_code.py"]
    reports = [tmp_path / f"run{i}.json" for i in (1, 2, 3)]
    try:
        run_suites(*common, f"--jaws-report={reports[0]}", suites=suites).assert_outcomes(passed=9)
        first, before = _report(reports[0])
        assert first["summary"] == "deployed"
        assert {p["package"]: p["new"] for p in first["packages"]} == dict.fromkeys(
            ("jaws_rpc", "jaws_site", "jaws_jtm", "jaws_central"), "2.6.0")

        new = f"2.6.0+1.g{change(checkout, 'site/jaws_site/cli.py')}"
        second = run_suites(*common, f"--jaws-report={reports[1]}", suites=suites)
        second.assert_outcomes(passed=9)
        changes, after = _report(reports[1])
        assert changes["summary"] == ("changed: installed jaws_rpc, jaws_site, jaws_jtm, "
                                      "jaws_central; restarted " + ", ".join(SITE_PROGRAMS))
        second.stdout.fnmatch_lines([
            f"jaws dev: deployed at {base}/jaws-supervisord-dev (changed: *",
            f"  install: jaws_rpc 2.6.0 -> {new} (site, jtm, central venvs); same files, a new "
            "version only: nothing restarted",
            f"  install: jaws_site 2.6.0 -> {new} (site venv); restarted {', '.join(SITE_PROGRAMS)}",
        ])
        assert_installed(base / "jaws-dev" / "site", checkout, "site/jaws_site/cli.py")
        assert wheels.installed_version(base / "jaws-dev" / "site", "jaws_site") == new
        restarted = sorted(n for n in before if after[n] != before[n])
        assert restarted == sorted(SITE_PROGRAMS), (
            f"restarted {restarted}: the programs of jaws_site and only they must restart")

        third = run_suites(*common, f"--jaws-report={reports[2]}", suites=suites)
        third.assert_outcomes(passed=9)
        changes, again = _report(reports[2])
        assert changes["summary"] == "unchanged" and again == after
        third.stdout.fnmatch_lines([
            f"jaws dev: deployed at {base}/jaws-supervisord-dev (unchanged)",
            f"  install: nothing changed: jaws_rpc {new}, jaws_site {new}, jaws_jtm {new}, "
            f"jaws_central {new} (no wheel built; nothing installed or restarted for them)"])
        assert "wheel from" not in third.stdout.str()  # no build progress line

        # break on purpose: a harness that installs a change but restarts nothing (the old one)
        newer = f"2.6.0+2.g{change(checkout, 'site/jaws_site/cli.py')}"
        broken = run_suites(*common, suites=suites, conftest=NO_RESTARTS)
        only_failure(broken, "test_programs_run_the_code_installed_in_their_venvs[dev]",
                     "*" + "; ".join(
                         f"{name} (PID {after[name]}, started *) runs from the site venv, where "
                         f"jaws_site {newer} went in at *, after it started: it runs the code "
                         "that was there before" for name in SITE_PROGRAMS) + "*")
        assert "runs from the jtm venv" not in broken.stdout.str()  # jaws_jtm's files: the same
    finally:
        run_suites("--jaws-down", *common[:4])
