"""Issue 16, cases 1 and 2: every value rendered into a supervisord configuration round-trips.

It reads back unchanged with supervisor's own loader, or is refused as a usage error naming it.
"""

import copy
import os
import shlex
import signal

import psutil
import pytest
import supervisor.datatypes
import supervisor.options
from helpers import leftovers, sites_data
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pytest_jaws.errors import PlanError, SitesError, UnsafeValueError
from pytest_jaws.plan.plan import MARKER_VARIABLE, make_plan
from pytest_jaws.render.render import render_files
from pytest_jaws.sites.sites import validate_sites

#: Any character a path component, name or value can hold (no NUL; no / inside a component).
CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00/")
TEXT = st.text(CHARS, min_size=1, max_size=24)


@pytest.fixture
def loader(monkeypatch, tmp_path):
    """Return supervisor's ServerOptions.read_config as a function of a file.

    Relaxed only where paths and users cannot exist; the function returns ``(options, [user
    names looked up])``.
    """
    for module in (supervisor.options, supervisor.datatypes):
        monkeypatch.setattr(module, "existing_directory", lambda v: v)
        monkeypatch.setattr(module, "existing_dirpath", lambda v: v)
    users: list[str] = []
    monkeypatch.setattr(supervisor.options, "name_to_uid", lambda name: users.append(name) or 4242)

    def load(text: str):
        users.clear()
        path = tmp_path / "supervisord.conf"
        with open(path, "w") as fh:  # the encoding the harness writes with (files._write)
            fh.write(text)
        options = supervisor.options.ServerOptions()
        options.configfile = str(path)
        return options.read_config(str(path)), list(users)
    return load


#: The shipped sites file, read once (each example changes a copy).
SHIPPED_DATA = sites_data()
#: ... and validated once: a base directory changes no part of it.
SHIPPED = validate_sites(copy.deepcopy(SHIPPED_DATA))


def _model(position: str, value: str):
    if position == "basedir":
        return SHIPPED, "local", "dev"
    data = copy.deepcopy(SHIPPED_DATA)
    if position == "site":
        data["sites"][value] = data["sites"].pop("local")
    elif position == "env":
        data["ports"][value] = data["ports"].pop("dev")
        data["log_levels"][value] = data["log_levels"].pop("dev")
    elif position == "user":
        data["sites"]["local"]["roles"]["jtm"]["user"] = value
    return validate_sites(data), (value if position == "site" else "local"), (
        value if position == "env" else "dev")


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.sampled_from(["basedir", "site", "env", "user"]), value=TEXT)
@example("basedir", "a%b")
@example("basedir", 'q"x')
@example("basedir", "b #1")
@example("basedir", "%(here)s")
@example("basedir", "t\x1c;x")
@example("user", "a:b")
@example("site", "x y")
@example("env", "d%v")
@example("basedir", "a'b")
def test_every_value_reads_back_unchanged_or_is_refused(loader, tmp_path, position, value):
    """Random text as a base directory component, site name, environment name or user."""
    try:
        model, site, env = _model(position, value)
        base = tmp_path / (value if position == "basedir" else "base")
        plan = make_plan(model, site, env, base, current_user="runner")
        files = render_files(plan, {k: f"k%e;y{i}" for i, k in enumerate(plan.instances)})
    except (SitesError, PlanError, UnsafeValueError) as exc:
        assert str(exc)  # refused, with a message
        return
    for inst in plan.instances.values():
        options, users = loader(files[str(inst.conf)][0])
        assert options.logfile == str(inst.logfile)
        assert options.pidfile == str(inst.pidfile)
        assert options.childlogdir == str(inst.state_dir / "logs")
        assert options.directory == str(inst.state_dir)
        assert options.identifier == inst.identifier
        assert options.environment[MARKER_VARIABLE] == plan.marker
        assert options.server_configs[0]["username"] == inst.username
        programs = {p.name: p for g in options.process_group_configs for p in g.process_configs}
        assert sorted(programs) == sorted(p.name for p in inst.programs)
        assert [g.name for g in options.process_group_configs] == [inst.process_group]
        for prog in inst.programs:
            got = programs[prog.name]
            assert shlex.split(got.command) == [str(prog.shim)]
            assert got.directory == str(inst.state_dir)
            assert got.stdout_logfile == str(prog.stdout_log)
            assert got.stderr_logfile == str(prog.stderr_log)
        assert set(users) <= {inst.user}


# --- the field cases ----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["b #1", "b ;1", "b\t#x"])
def test_case_1_comment_characters_in_the_basedir_are_a_usage_error(run_suites, pytester, name):
    base = pytester.path / name
    result = run_suites("--jaws-env=dev", f"--jaws-basedir={base}", refused=True)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert repr(str(base))[1:-1] in err, err
    assert "starts a comment in supervisord's configuration" in err, err
    assert not base.exists() and not leftovers(pytester.path)


KILL_JTM = '''
import os, signal, psutil

def test_a_kill_supervisord_jtm(jaws_deployment):
    pid = jaws_deployment.pids["jtm"]
    os.kill(pid, signal.SIGKILL)
    psutil.Process(pid).wait(10) if psutil.pid_exists(pid) else None
'''


def test_case_2_quote_in_the_basedir_keeps_the_marker_and_teardown_finds_orphans(
        run_suites, pytester):
    base = pytester.path / 'b"q'
    (pytester.path / "test_kill.py").write_text(KILL_JTM)
    result = run_suites("--jaws-env=dev", f"--jaws-basedir={base}", suites=["../test_kill.py"])
    result.assert_outcomes(passed=1)
    # the fixture of run_suites asserts that no process of the deployment is left
    assert not leftovers(base)


def test_case_2_the_marker_with_a_quote_reaches_every_process(tmp_path, port_offset):
    from pytest_jaws.deploy import deploy
    data = sites_data()
    model = validate_sites(data)
    plan = make_plan(model, "local", "staging", tmp_path / 'a "quoted" dir', port_offset=port_offset)
    dep = deploy.apply(plan)
    try:
        pids = [dep.pids["jtm"], *(i["pid"] for i in dep.infos.values())]
        markers = {psutil.Process(pid).environ()[MARKER_VARIABLE] for pid in pids}
        assert markers == {plan.marker}
        os.kill(dep.pids["jtm"], signal.SIGKILL)
    finally:
        deploy.teardown(dep)
    assert not leftovers(tmp_path)


def test_case_2_the_hint_for_a_left_up_deployment_names_the_quoted_directory(tmp_path):
    from pytest_jaws.host.portholders import Holder
    base = tmp_path / 'b"q x'
    base.mkdir()  # yours: --jaws-down is offered only for a deployment of the runner's own
    text = Holder(123, "alice", "python -m x",
                  f"local/dev:{base}/jaws-supervisord-dev").left_up_hint() or ""
    assert f"reuse it with --jaws-basedir={shlex.quote(str(base))}," in text
    command = shlex.split(text.split("take it down with: ")[1])
    assert command[:2] == ["pytest", "--jaws-down"] and f"--jaws-basedir={base}" in command
