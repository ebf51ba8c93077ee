"""Operating a site (issue 22): deployments read as they are, and what an operator is told.

How programs really ended (the signal, not XML-RPC's 0), a lost pidfile named and written
again, the commands a run prints, run as printed.
"""

from __future__ import annotations

import os
import pwd
import shlex

import pytest
import yaml
from helpers import leftovers, sites_data

from pytest_jaws import errors
from pytest_jaws.deploy import commands, deploy, livelogs
from pytest_jaws.deploy.result import Deployment
from pytest_jaws.plan.plan import make_plan
from pytest_jaws.plugin.options import resolve
from pytest_jaws.report.tables import state_table
from pytest_jaws.sites.sites import parse_sites

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _local_plan(tmp_path, port_offset, overrides=None, env="dev", startsecs=None):
    data = sites_data()
    if startsecs is not None:
        data["sites"]["local"]["startsecs"] = startsecs
    if overrides:
        data["sites"]["local"]["overrides"] = overrides
    return make_plan(parse_sites(yaml.safe_dump(data)), "local", env, tmp_path,
                     port_offset=port_offset)


def test_a_program_killed_by_a_signal_is_reported_with_the_signal(tmp_path, port_offset):
    """A program that dies of SIGKILL fails naming the signal, in the message and the table.

    supervisord's XML-RPC keeps no status for a program that exited too quickly (0); its log
    says ``terminated by SIGKILL``. With startsecs 1, as a real site's (whole seconds), so
    that it ends FATAL: the fake sites' startsecs 0 restarts it forever (the test below).
    """
    plan = _local_plan(tmp_path, port_offset, {
        "jaws-jtm": {"command": "sh -c 'echo jtm is killed >&2; kill -9 $$'"}}, startsecs=1)
    attempt = deploy.Attempt(plan)
    with pytest.raises(errors.DeploymentError) as info:
        attempt.run()
    message = str(info.value)
    assert "program jaws-jtm failed to start" in message, message
    assert "terminated by SIGKILL" in message and "exit status 0" not in message, message
    assert "jtm is killed" in message
    dep = attempt.deployment
    row = next(r for r in state_table(dep, dep.last_state) if " jaws-jtm " in r)
    assert "terminated by SIGKILL" in row, row
    assert not leftovers(tmp_path)



def test_a_fake_that_exits_during_its_readysecs_fails_the_deployment(tmp_path, port_offset):
    """With startsecs 0 supervisord restarts such a program forever; readysecs catches it.

    The fake sites' programs go RUNNING at their spawn (supervisord's startsecs is 0) and
    count as started after 0.3 s under one PID (sites.yaml readysecs): one that exits 0.1 s
    after its start fails the deployment, naming it, how it ended and its stderr.
    """
    plan = _local_plan(tmp_path, port_offset, {
        "jaws-jtm": {"command": "sh -c 'echo jtm cannot read its config >&2; sleep 0.1; exit 3'"}})
    assert plan.programs["jaws-jtm"].startsecs == 0 and plan.programs["jaws-jtm"].readysecs > 0
    with pytest.raises(errors.DeploymentError) as info:
        deploy.Attempt(plan).run()
    message = str(info.value)
    assert "program jaws-jtm failed to start" in message, message
    assert "exit status 3" in message and "jtm cannot read its config" in message, message
    assert not leftovers(tmp_path)

def test_how_a_program_ended_comes_from_the_log_and_never_says_a_false_zero(tmp_path):
    """The ending is supervisord's log line; without one, a status XML-RPC did not keep is unknown."""
    plan = _local_plan(tmp_path, 0)
    dep = Deployment(plan, {})
    log = plan.instances["jtm"].logfile
    log.parent.mkdir(parents=True)
    info = {"name": "jaws-jtm", "statename": "FATAL", "exitstatus": 0, "stop": 1}
    assert livelogs.how_ended(dep, "jtm", info).startswith("exit status not recorded")
    log.write_text("2026-12-06 INFO exited: jaws-jtm (terminated by SIGKILL; not expected)\n")
    assert livelogs.how_ended(dep, "jtm", info) == "terminated by SIGKILL"
    assert livelogs.how_ended(dep, "jtm", dict(info, statename="RUNNING")) == "running"
    assert livelogs.how_ended(dep, "jaws", {"name": "jaws-site-daemon", "statename": "EXITED",
                                            "exitstatus": 3, "stop": 1}) == "exit status 3"


def test_logs_are_read_where_supervisord_reports_them(tmp_path):
    """Program logs come from what supervisord reports (AUTO child logs), not the plan's paths.

    A missing one is named as not written, not shown as empty.
    """
    plan = _local_plan(tmp_path, 0)
    dep = Deployment(plan, {})
    auto = tmp_path / "jaws-jtm-stdout---supervisor-abc.log"
    auto.write_text("from the AUTO child log\n")
    info = {"name": "jaws-jtm", "stdout_logfile": str(auto), "stderr_logfile": ""}
    assert livelogs.program_logs(dep, "jaws-jtm", info) == (auto, auto)
    assert livelogs.program_logs(dep, "jaws-jtm", None) == (
        plan.programs["jaws-jtm"].stderr_log, plan.programs["jaws-jtm"].stdout_log)
    gone = tmp_path / "nothing.log"
    assert livelogs.log_or_note(gone, "", "x") == f"(not written: {gone} does not exist; x)"


def test_a_lost_pidfile_is_named_and_written_again(tmp_path, port_offset):
    """A deployment whose pidfiles were deleted is found on its ports, said so, and repaired."""
    plan = _local_plan(tmp_path, port_offset)
    dep = deploy.apply(plan)
    pids = {role: int(inst.pidfile.read_text()) for role, inst in plan.instances.items()}
    try:
        for inst in plan.instances.values():
            inst.pidfile.unlink()
        lines = []
        again = deploy.apply(_local_plan(tmp_path, port_offset),
                             progress=lambda env, step, seconds: lines.append(step))
        for role, inst in plan.instances.items():
            assert f"{inst.name}: its pidfile {inst.pidfile} was gone; found it on port " \
                   f"{inst.port} (PID {pids[role]}, this deployment's) and wrote the pidfile " \
                   "again" in lines, lines
            assert int(inst.pidfile.read_text()) == pids[role]
        assert again.changes["summary"] == "unchanged", again.changes
        assert not again.changes["adopted_instances"]
    finally:
        deploy.teardown(dep)
    assert not leftovers(tmp_path)


def test_printed_commands_carry_everything_that_finds_the_deployment(tmp_path):
    settings = resolve({"jaws_site": "cori", "jaws_fake": True, "jaws_env": "dev",
                        "jaws_port_offset": "60"}, tmp_path, check_users=False)
    down = shlex.split(commands.down_command(settings, "dev", tmp_path / "b c"))
    assert down == ["pytest", "--jaws-down", "--jaws-site=cori", "--jaws-fake", "--jaws-env=dev",
                    f"--jaws-basedir={tmp_path / 'b c'}", "--jaws-port-offset=60"]
    other = tmp_path / "mine.yaml"
    other.write_text(yaml.safe_dump(sites_data()).replace("startsecs: 0", "startsecs: 1"))
    settings = resolve({"jaws_site": "local", "jaws_sites_file": str(other)}, tmp_path,
                       check_users=False)
    assert f"--jaws-sites-file={other}" in shlex.split(
        commands.down_command(settings, "dev", tmp_path))


def test_the_operators_command_is_printed_as_the_site_switches_user(tmp_path):
    """As the role user runs it: behind runuser or sudo, and as two steps after collabsu."""
    model = parse_sites(yaml.safe_dump(sites_data()))
    me = pwd.getpwuid(os.geteuid()).pw_name
    cori = make_plan(model, "cori", "dev", tmp_path, current_user="jaws").instances["jtm"]
    conf = str(tmp_path / "jaws-supervisord-dev" / "supervisord-jtm.conf")
    start = str(tmp_path / "jaws-supervisord-dev" / "bin" / "supervisord")
    assert commands.operator_start(cori) == ["collabsu jaws_jtm", f"{start} -c {conf}"]
    tahoma = make_plan(model, "tahoma", "dev", tmp_path, current_user=me).instances["jtm"]
    assert commands.operator_start(tahoma) == [shlex.join(
        ["sudo", "-n", "-u", "svc-jtm-user", "-i", start, "-c", conf])]
    local = make_plan(model, "local", "dev", tmp_path).instances["jtm"]
    assert commands.operator_start(local) == [shlex.join([start, "-c", conf])]


def test_cromwell_is_found_by_its_role_not_its_name(tmp_path, port_offset):
    """A site that names Cromwell ``cromwell-server`` gets its jar and runs it."""
    data = sites_data()
    data["services"]["cromwell-server"] = data["services"].pop("jaws-cromwell")
    for site in data["sites"].values():
        jtm = site["programs"].get("jtm", [])
        site["programs"]["jtm"] = ["cromwell-server" if p == "jaws-cromwell" else p for p in jtm]
    plan = make_plan(parse_sites(yaml.safe_dump(data)), "local", "dev", tmp_path,
                     port_offset=port_offset)
    assert plan.cromwell is not None and plan.cromwell.jar == tmp_path / "jaws-dev" / "cromwell.jar"
    dep = deploy.apply(plan)
    try:
        infos = {i["name"]: i for i in dep.client("jtm").supervisor.getAllProcessInfo()}
        assert infos["cromwell-server"]["statename"] == "RUNNING", infos["cromwell-server"]
        assert "cromwell-server" in dep.healthy_after
    finally:
        deploy.teardown(dep)


def test_on_a_real_site_a_file_finding_names_the_jaws_script(tmp_path):
    from pytest_jaws.probes import fileaudit
    model = parse_sites(yaml.safe_dump(sites_data()))
    cori = make_plan(model, "cori", "dev", tmp_path, current_user="jaws")
    sup = tmp_path / "jaws-supervisord-dev"
    assert fileaudit.jaws_script(cori, sup / "supervisord-cwl-backend.conf") == \
        "; set by JAWS's test/integration/deploy-supervisord (chmod 660, chgrp the role's group)"
    assert "deploy-supervisord (fix_perms" in fileaudit.jaws_script(cori, sup / "bin" / "supervisord")
    assert "generate-venvs" in fileaudit.jaws_script(cori, tmp_path / "jaws-dev" / "jtm" / "bin")
    assert "deploy-cromwell" in fileaudit.jaws_script(
        cori, tmp_path / "jaws-dev" / "configs" / "cromwell.conf")
    assert "generate-configs" in fileaudit.jaws_script(
        cori, tmp_path / "jaws-dev" / "configs" / "jaws-site.conf")
    local = make_plan(model, "local", "dev", tmp_path)
    assert fileaudit.jaws_script(local, sup / "supervisord-jaws.conf") == ""


# --- Cromwell's jar, fetched as deploy-cromwell does ------------------------------------------

@pytest.fixture
def release_server(tmp_path):
    """Serve ``tmp_path/release/`` over HTTP on 127.0.0.1 (a stand-in for the release host).

    Yields ``(url of cromwell-58.jar, the jar's bytes)``.
    """
    import functools
    import http.server
    import threading
    served = tmp_path / "release"
    served.mkdir()
    jar = os.urandom(300_000)
    (served / "cromwell-58.jar").write_bytes(jar)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/cromwell-58.jar", jar
    finally:
        server.shutdown()
        server.server_close()


def _real_plan(tmp_path, url, sha256=None):
    """Cori's plan from a test sites file whose cromwell.url is ``url`` (sha256 pinned or not)."""
    data = sites_data()
    data["cromwell"] = {"version": "58", "sha256": sha256, "url": url}
    plan = make_plan(parse_sites(yaml.safe_dump(data)), "cori", "dev", tmp_path / "base",
                     current_user="jaws")
    plan.cromwell.jar.parent.mkdir(parents=True, exist_ok=True)  # as make_directories does
    return plan


def test_an_absent_cromwell_jar_is_fetched_from_the_pinned_url_and_its_digest_printed(
        tmp_path, release_server):
    import hashlib

    from pytest_jaws.install import cromwell
    url, jar = release_server
    digest = hashlib.sha256(jar).hexdigest()
    plan = _real_plan(tmp_path, url)
    cromwell.check_cromwell(plan)  # absent, but it can be fetched: no pre-flight error
    note = cromwell.place_cromwell(plan)
    assert plan.cromwell.jar.read_bytes() == jar
    assert note == (f"fetched {url}: Cromwell 58 jar {plan.cromwell.jar} sha256 {digest} (not "
                    "pinned: set cromwell.sha256 in sites.yaml to this value to pin it)")
    pinned = _real_plan(tmp_path, url, sha256=digest)
    cromwell.check_cromwell(pinned)  # in place now, and pinned: passes
    assert cromwell.place_cromwell(pinned).endswith(f"sha256 {digest} (matches cromwell.sha256)")


def test_a_fetched_jar_with_another_digest_is_refused_and_not_put_in_place(tmp_path,
                                                                            release_server):
    from pytest_jaws.install import cromwell
    url, _jar = release_server
    plan = _real_plan(tmp_path, url, sha256="0" * 64)
    cromwell.check_cromwell(plan)
    with pytest.raises(errors.InstallError) as info:
        cromwell.place_cromwell(plan)
    assert f"Cromwell 58 jar fetched from {url} has sha256 " in str(info.value)
    assert f"expected {'0' * 64} (cromwell.sha256 in sites.yaml); it was not put in " \
           "place" in str(info.value)
    assert not plan.cromwell.jar.exists()
    assert list(plan.cromwell.jar.parent.iterdir()) == []  # no partial download left
    missing = _real_plan(tmp_path, url.replace("cromwell-58.jar", "cromwell-59.jar"))
    with pytest.raises(errors.InstallError, match=r"cromwell-59.jar: HTTP 404 .*check "
                                                  r"cromwell.url in sites.yaml"):
        cromwell.place_cromwell(missing)
    no_url = _real_plan(tmp_path, None)
    with pytest.raises(errors.InstallError, match=r"jar .*cromwell.jar is missing .*set "
                                                  r"cromwell.url in sites.yaml"):
        cromwell.check_cromwell(no_url)


def test_auto_takes_the_offset_a_base_directory_was_deployed_at(tmp_path):
    """The next run on the same base directory finds the deployment at the same offset.

    Its ports are held (by the deployment itself: an operator's instance, one left up), so
    the plain chooser would move elsewhere; ``auto`` with that ``--jaws-basedir`` takes the
    offset recorded there.
    """
    from pytest_jaws.host import portoffset
    model = parse_sites(yaml.safe_dump(sites_data()))
    offset, lock = portoffset.choose(model, ["dev"])
    lock.release()  # the deployment's run is over; its ports stay held
    plan = make_plan(model, "local", "dev", tmp_path, port_offset=offset)
    dep = deploy.apply(plan)
    try:
        assert (plan.directory / portoffset.OFFSET_FILE).read_text() == f"{offset}\n"
        again = resolve({"jaws_site": "local", "jaws_basedir": str(tmp_path),
                         "jaws_port_offset": "auto"}, tmp_path)
        elsewhere = resolve({"jaws_site": "local", "jaws_port_offset": "auto"}, tmp_path)
        try:
            assert again.port_offset == offset
            assert elsewhere.port_offset != offset  # its ports are busy
        finally:
            again.offset_lock.release()
            elsewhere.offset_lock.release()
    finally:
        deploy.teardown(dep)
