"""A deployment run by a role user, not root (issue 13, part 4), for real.

pytest runs as user jaws - as JAWS's CI runs on cori - with the cori layout: jaws's instance
started by the harness, jaws_jtm's by an operator. Without root the harness cannot chown; it
gives jaws_jtm its files through the group jaws_jtm (scripts/create-users.sh puts jaws in it,
as JAWS's define-env does) and setgid directories. Checked with os.stat against the plan the
same run prints, and by jaws_jtm as an attacker.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import psutil
import pytest
from helpers import needs_root_and_users, sites_data, write_sites

from pytest_jaws.host import become, portholders, processes, socktable

ROOT = Path(__file__).resolve().parent.parent
SITE = "local-nonroot"
#: What the role user's pytest does not need from this interpreter's site-packages.
NOT_NEEDED = ("pip", "setuptools", "hypothesis", "check_jsonschema", "pygments", "__pycache__",
              "__editable__")
#: The privsep checks that run something as the jtm user: jaws cannot switch to jaws_jtm here
#: (runuser needs root; cori's collabsu asks for a password); they fail with "could not become
#: jaws_jtm", and this test does what they do as root below, as jaws_jtm.
AS_JTM = ("jtm_user or jtm_processes or a_jtm_log or bin_shims_venvs or read_its_own "
          "or reaches_the_working or holds_no_password")


def _in_group(user: str, group: str) -> bool:
    return user in grp.getgrnam(group).gr_mem or pwd.getpwnam(user).pw_gid == grp.getgrnam(
        group).gr_gid


def _kit(where: Path) -> tuple[str, dict[str, str]]:
    """Copy pytest-jaws and what it imports where the role users can read it.

    This run's interpreter and checkout may be under /root. The copy is run by the system's
    Python 3 of the same version. Returns ``(python, environment)``.
    """
    python = "/usr/bin/python3"
    version = subprocess.run([python, "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True).stdout.strip()
    if version != str(tuple(sys.version_info[:2])):
        pytest.skip(f"{python} is Python {version}, this run {sys.version_info[:2]}: the role "
                    "user's pytest needs the same version for this run's compiled packages")
    lib = where / "lib"
    shutil.copytree(sysconfig.get_paths()["purelib"], lib, symlinks=True,
                    ignore=lambda _d, names: [n for n in names if n.startswith(NOT_NEEDED)])
    shutil.copytree(ROOT / "pytest_jaws", lib / "pytest_jaws",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "suites", where / "suites", ignore=shutil.ignore_patterns("__pycache__"))
    for path in [where, *where.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    env = {**become.minimal_env(), "PYTHONPATH": str(lib), "PYTHONDONTWRITEBYTECODE": "1"}
    return python, env


def _sites(where: Path, runner: str) -> Path:
    """Write a sites file with site local-nonroot: local-privsep laid out as cori.

    Role jaws is ``runner``, who runs pytest; jaws_jtm's instance is started by an operator.
    """
    data = sites_data()
    site = data["sites"]["local-privsep"]
    site["roles"] = {"jaws": {"user": runner, "group": runner, "become": None},
                     "jtm": {"user": "jaws_jtm", "group": "jaws_jtm",
                             "become": "runuser -u {user} --", "start": "operator"}}
    site["programs"] = {"jaws": site["programs"]["jaws"], "jtm": site["programs"]["jtm"]}
    data["sites"] = {SITE: site}
    sites = write_sites(where / "sites.yaml", data)
    sites.chmod(0o644)
    return sites


def _as_jaws(python, env, where, *args):
    tmp = Path(where) / "tmp-jaws"  # jaws's pytest temporary directories, removed with ``where``
    if not tmp.exists():
        tmp.mkdir(mode=0o700)
        os.chown(tmp, pwd.getpwnam("jaws").pw_uid, grp.getgrnam("jaws").gr_gid)
    return subprocess.run(["runuser", "-u", "jaws", "--", "env", "-i",
                           *(f"{k}={v}" for k, v in env.items()), f"TMPDIR={tmp}",
                           python, "-m", "pytest",
                           "-p", "no:cacheprovider", *args],
                          capture_output=True, text=True, timeout=300, cwd=where,
                          stdin=subprocess.DEVNULL)


def _plan_lines(text: str) -> dict[str, tuple[str, str, str]]:
    """``{path: (owner, group, mode)}`` of the directories and files of a printed plan."""
    out = {}
    for line in text.splitlines():
        found = re.fullmatch(r"   (/\S+)  ([\w-]+):([\w-]+)  ([0-7]{4})", line)
        if found:
            out[found.group(1)] = found.group(2, 3, 4)
    return out


def _stat(path: str) -> tuple[str, str, str]:
    st = os.lstat(path)
    return (pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name,
            f"{stat.S_IMODE(st.st_mode) & 0o7777:04o}")


JTM = ["runuser", "-u", "jaws_jtm", "--"]


@pytest.mark.slow
@needs_root_and_users
def test_deployment_by_the_jaws_user_gives_jtm_its_files_by_group_as_planned(port_offset):
    if not _in_group("jaws", "jaws_jtm"):
        pytest.fail("user jaws is not in group jaws_jtm: run scripts/create-users.sh (as JAWS's "
                    "define-env sets its users up)")
    where = Path(tempfile.mkdtemp(prefix="pytest-jaws-nonroot-", dir="/tmp"))
    jtm_pid = None
    try:
        python, env = _kit(where)
        sites = _sites(where, "jaws")
        base = where / "base"
        base.mkdir()
        os.chown(base, pwd.getpwnam("jaws").pw_uid, grp.getgrnam("jaws").gr_gid)
        args = (f"--jaws-sites-file={sites}", f"--jaws-site={SITE}", "--jaws-env=dev",
                f"--jaws-basedir={base}", f"--jaws-port-offset={port_offset}")

        plan = _as_jaws(python, env, where, *args, "--jaws-plan")
        assert plan.returncode == 0, plan.stdout + plan.stderr
        assert "as jaws (not root: no chown) makes them" in plan.stdout
        planned = _plan_lines(plan.stdout)

        first = _as_jaws(python, env, where, *args, "suites/test_health.py", "-x")
        assert "is started by an operator" in first.stdout, first.stdout
        line = next(ln for ln in first.stdout.splitlines() if "bin/supervisord -c " in ln)
        command = line.strip().lstrip("E").split()
        assert command[:4] == JTM, command  # printed as the site's switch runs it: verbatim
        started = subprocess.run(command, capture_output=True, text=True, timeout=60,
                                 stdin=subprocess.DEVNULL, env=become.minimal_env())
        assert started.returncode == 0, started.stderr
        jtm_pid = portholders.holder_of(64111 + port_offset).pid
        # the second run adopts it: wait until its listeners (its own, Cromwell's) are up and
        # only jaws_jtm's, as pre-flight run by jaws requires of another role's hidden ports
        jtm_uid, owners = pwd.getpwnam("jaws_jtm").pw_uid, {}
        for _ in range(300):
            owners = {p: socktable.listener_uids(p) for p in (64111 + port_offset,
                                                              50101 + port_offset)}
            if all(uids == {jtm_uid} for uids in owners.values()):
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"listeners of the operator-started supervisord-jtm are not only "
                        f"jaws_jtm's (uid {jtm_uid}) after 30 s: {owners}")

        second = _as_jaws(python, env, where, *args, "suites/test_health.py",
                          "suites/test_privsep.py", "-k", f"not ({AS_JTM})", "-rs")
        outcomes = second.stdout.splitlines()[-1]
        assert "passed" in outcomes and "failed" not in outcomes and "error" not in outcomes, \
            second.stdout[-6000:]
        assert "adopted supervisord-jtm" in second.stdout

        # every directory and file is as the plan said, read back with os.stat
        wrong = {path: (want, _stat(path)) for path, want in planned.items()
                 if os.path.lexists(path) and _stat(path) != want}
        assert not wrong, wrong
        dev = base / "jaws-supervisord-dev"
        assert planned[str(dev / "jtm")] == ("jaws", "jaws_jtm", "2770")
        assert planned[str(dev / "supervisord-jtm.key")] == ("jaws", "jaws_jtm", "0640")
        assert planned[str(dev / "supervisord-jaws.key")] == ("jaws", "jaws", "0600")
        assert planned[str(base / "jaws-dev" / "shims")] == ("jaws", "jaws", "0755")
        missing = [p for p in planned if not os.path.lexists(p)]
        assert not missing, missing

        # jaws_jtm, as an attacker: cannot read jaws's key or configuration, cannot write into
        # bin/, shims/, configs/, the venvs; reads its own configuration and key
        become.prove(JTM, "jaws_jtm")
        secrets = [dev / "supervisord-jaws.key", dev / "supervisord-jaws.conf",
                   base / "jaws-dev" / "configs" / "jaws-site.conf"]
        for path in secrets:
            done = become.run_as(JTM, ["cat", str(path)])
            assert done.returncode != 0 and "Permission denied" in done.stderr, path
        for directory in (dev / "bin", base / "jaws-dev" / "shims", base / "jaws-dev" / "configs",
                          base / "jaws-dev" / "site" / "bin", base / "jaws-dev" / "jtm" / "bin",
                          dev / "lib", dev):
            done = become.run_as(JTM, ["touch", str(directory / "planted-by-jtm")])
            assert done.returncode != 0, directory
            assert not (directory / "planted-by-jtm").exists()
        for path in (dev / "bin" / "supervisord", base / "jaws-dev" / "configs" / "jaws-jtm.conf",
                     dev / "supervisord-jtm.conf"):
            done = become.run_as(JTM, ["/bin/sh", "-c", f"echo x >> '{path}'"])
            assert done.returncode != 0, path
        own = [dev / "supervisord-jtm.conf", dev / "supervisord-jtm.key",
               base / "jaws-dev" / "configs" / "jaws-jtm.conf"]
        done = become.run_as(JTM, ["cat", *map(str, own)])
        assert done.returncode == 0, done.stderr
    finally:
        if jtm_pid:
            tree = processes.descendants(jtm_pid)
            os.kill(jtm_pid, signal.SIGTERM)
            psutil.wait_procs(tree, timeout=30)
        shutil.rmtree(where, ignore_errors=True)


@needs_root_and_users
def test_runner_outside_the_jtm_group_is_refused_before_anything_is_deployed():
    """Run as jaws_other (not in group jaws_jtm): a usage error, nothing written.

    The error names the group and the command that adds the runner to it.
    """
    where = Path(tempfile.mkdtemp(prefix="pytest-jaws-nonroot-", dir="/tmp"))
    try:
        python, env = _kit(where)
        sites = _sites(where, "jaws_other")
        base = where / "base"

        def run(*args):
            return subprocess.run(
                ["runuser", "-u", "jaws_other", "--", "env", "-i",
                 *(f"{k}={v}" for k, v in env.items()), python, "-m", "pytest", "-p",
                 "no:cacheprovider", f"--jaws-sites-file={sites}", f"--jaws-site={SITE}",
                 "--jaws-env=dev", f"--jaws-basedir={base}", *args],
                capture_output=True, text=True, timeout=120, cwd=where,
                stdin=subprocess.DEVNULL)

        done = run("suites/test_health.py")
        assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
        problem = ("role jtm runs as jaws_jtm, and jaws_other (running pytest, not root) is not "
                   "a member of its group jaws_jtm")
        assert problem in done.stderr
        assert "sudo usermod -a -G jaws_jtm jaws_other" in done.stderr
        assert not base.exists()
        # the plan shows it, and the files as they would really be: the group stays the runner's
        plan = run("--jaws-plan")
        assert plan.returncode == 0, plan.stderr
        assert f"   !! {problem}" in plan.stdout
        conf = base / "jaws-supervisord-dev" / "supervisord-jtm.conf"
        assert f"   {conf}  jaws_other:jaws_other  0600" in plan.stdout.splitlines()
    finally:
        shutil.rmtree(where, ignore_errors=True)
