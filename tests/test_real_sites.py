"""Real sites: every site x environment plan, checked by construction; --jaws-plan; the
operator commands; the fake twin; plan errors that are usage errors."""

import io
import re
import subprocess

import pytest
import supervisor.datatypes
import supervisor.options

from conftest import sites_data
from pytest_jaws import deploy
from pytest_jaws.plan import make_plan
from pytest_jaws.render import render_instance
from pytest_jaws.sites import PACKAGED_SITES_FILE, load_sites

MODEL = load_sites(PACKAGED_SITES_FILE)
REAL = [name for name, site in MODEL.sites.items() if not site.fake]
PAIRS = [(site, env) for site in REAL for env in MODEL.ports]


def test_the_five_real_sites_are_described():
    assert sorted(REAL) == ["aws", "central", "cori", "jgi", "tahoma"]


@pytest.fixture
def supervisor_loader(monkeypatch):
    """supervisor's own config loader (ServerOptions.read_config). Relaxed only for what
    cannot exist on this machine: the site's directories and Unix users."""
    for module in (supervisor.options, supervisor.datatypes):
        monkeypatch.setattr(module, "existing_directory", lambda v: v)
        monkeypatch.setattr(module, "existing_dirpath", lambda v: v)
    monkeypatch.setattr(supervisor.options, "name_to_uid", lambda name: 4242)

    def load(text):
        options = supervisor.options.ServerOptions()
        options.configfile = "supervisord.conf"
        return options.read_config(io.StringIO(text))  # the [supervisord] section, parsed
    return load


@pytest.mark.parametrize("site, env", PAIRS, ids=[f"{s}-{e}" for s, e in PAIRS])
def test_real_site_configuration_parses_with_supervisors_loader(site, env, supervisor_loader):
    spec = MODEL.sites[site]
    plan = make_plan(MODEL, site, env, spec.install_base, current_user="gitlab-runner")
    assert plan.directory == __import__("pathlib").Path(spec.install_base) / f"jaws-supervisord-{env}"
    table = MODEL.ports[env].by_name()
    for role, inst in plan.instances.items():
        options = supervisor_loader(render_instance(plan, inst, "k%e;y#"))
        server = options.server_configs[0]
        assert (server["host"], server["port"]) == ("127.0.0.1", table[inst.name])
        assert server["password"] == "k%e;y#" and server["username"] == f"{role}-{env}"
        assert options.identifier == f"{inst.name}-{site}-{env}"
        groups = {g.name: sorted(p.name for p in g.process_configs)
                  for g in options.process_group_configs}
        expected = sorted(p.name for p in inst.programs)
        assert groups == ({f"jaws-{env}": expected} if expected else {})
        for prog in inst.programs:
            assert prog.port == (table[MODEL.services[prog.name].port]
                                 if MODEL.services[prog.name].port else None)
            assert prog.startretries == 10
        assert inst.user == (getattr(spec.roles, role).user)


def test_role_users_of_the_real_sites():
    users = {s: (MODEL.sites[s].roles.jaws.user, MODEL.sites[s].roles.jtm.user) for s in REAL}
    assert users["cori"] == ("jaws", "jaws_jtm")
    assert users["tahoma"] == ("svc-jtm-manager", "svc-jtm-user")
    for one_user in ("jgi", "aws", "central"):
        assert users[one_user][0] == users[one_user][1], one_user
    assert MODEL.sites["central"].programs.jaws == ["central-auth", "central-rest"]
    assert MODEL.sites["cori"].programs.jtm == ["jtm", "cromwell"]


def test_plan_prints_coris_prod_plan_and_exits_0(pytester):
    result = pytester.runpytest_subprocess("--jaws-site=cori", "--jaws-env=prod", "--jaws-plan")
    assert result.ret == 0
    out = result.stdout.str()
    for port in (3003, 5003, 50103, 64103, 64113):
        assert str(port) in out
    result.stdout.fnmatch_lines([
        "== pytest-jaws plan: site cori (real), environment prod",
        "   base directory /global/cfs/projectdirs/jaws/jaws-install",
        "*role jaws -> jaws (via 'collabsu jaws'), role jtm -> jaws_jtm (via 'collabsu jaws_jtm')",
        "   /global/cfs/projectdirs/jaws/jaws-install/jaws-supervisord-prod/supervisord-jtm.conf"
        "  jaws_jtm  0600",
        "   | password=********",
        "*[[]jaws_jtm[]] collabsu jaws_jtm */jaws-supervisord-prod/bin/supervisord -c *"
        "supervisord-jtm.conf  # start supervisord-jtm on 127.0.0.1:64113",
    ])
    assert not list(pytester.path.rglob("jaws-supervisord-*"))


def test_plan_dir_writes_every_file_with_keys_masked(pytester):
    target = pytester.path / "plan"
    result = pytester.runpytest_subprocess("--jaws-site=tahoma", "--jaws-env=dev", "--jaws-plan",
                                           f"--jaws-plan-dir={target}")
    assert result.ret == 0
    conf = target / "tahoma/mscjgi/jaws-install/jaws-supervisord-dev/supervisord-jaws.conf"
    assert "password=********" in conf.read_text()
    assert (target / "tahoma/mscjgi/jaws-install/jaws-dev/shims/cromwell-dev").is_file()


@pytest.mark.parametrize("mutate, expected", [
    (lambda d: d["sites"]["cori"]["roles"]["jtm"].update(become="collabsu {usr}"),
     "*sites.cori.roles.jtm.become: template 'collabsu {usr}' has an unknown variable 'usr'*"),
    (lambda d: d["services"]["jtm"].pop("install"),
     "*sites.cori.programs: program jtm has no install spec (services.jtm.install)*"),
    (lambda d: d["services"]["cromwell"]["install"].update(command="java -jar {jarfile}"),
     "*services.cromwell.install.command: unknown template variable 'jarfile'*"),
])
def test_plan_that_cannot_be_made_is_a_usage_error(pytester, mutate, expected):
    data = sites_data()
    mutate(data)
    path = pytester.path / "sites.yaml"
    path.write_text(__import__("yaml").safe_dump(data))
    result = pytester.runpytest_subprocess("--jaws-site=cori", "--jaws-plan",
                                           f"--jaws-sites-file={path}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([expected])


@pytest.fixture
def deployed(tmp_path, port_offset):
    dep = deploy.apply(make_plan(MODEL, "local", "dev", tmp_path, port_offset=port_offset))
    yield dep
    deploy.teardown(dep)


def _operator(dep, *words):
    """Run an operator command from DESIGN.md verbatim: <dir>/bin/<tool> -c <dir>/<conf> ..."""
    return subprocess.run([str(dep.plan.directory / "bin" / words[0]), "-c", *words[1:]],
                          capture_output=True, text=True, timeout=60)


def test_operator_commands_work_verbatim(deployed):
    d = deployed.plan.directory
    jaws, jtm = str(d / "supervisord-jaws.conf"), str(d / "supervisord-jtm.conf")
    status = _operator(deployed, "supervisorctl", jaws, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "jaws-dev:central-rest" in status.stdout and "RUNNING" in status.stdout
    stop = _operator(deployed, "supervisorctl", jtm, "stop", "all")
    assert stop.returncode == 0 and "cromwell: stopped" in stop.stdout
    status = _operator(deployed, "supervisorctl", jtm, "status")
    assert status.returncode == 3 and "STOPPED" in status.stdout, status.stdout
    start = _operator(deployed, "supervisorctl", jtm, "start", "all")
    assert start.returncode == 0 and "cromwell: started" in start.stdout
    assert _operator(deployed, "supervisorctl", jtm, "status").returncode == 0
    # the start command: shut the jaws instance down, start it as the operator would
    assert _operator(deployed, "supervisorctl", jaws, "shutdown").returncode == 0
    deadline = __import__("time").monotonic() + 15
    while _operator(deployed, "supervisorctl", jaws, "status").returncode != 4:
        assert __import__("time").monotonic() < deadline, "supervisord-jaws did not shut down"
    started = _operator(deployed, "supervisord", jaws)
    assert started.returncode == 0, started.stderr
    deadline = __import__("time").monotonic() + 20
    while (status := _operator(deployed, "supervisorctl", jaws, "status")).returncode != 0:
        assert __import__("time").monotonic() < deadline, status.stdout
    deployed.pids["jaws"] = int(deployed.plan.instances["jaws"].pidfile.read_text())


def test_fake_twin_of_cori_passes_the_suites(run_suites):
    result = run_suites("--jaws-site=cori", "--jaws-env=dev", "--jaws-fake", "-rs")
    outcomes = result.parseoutcomes()
    assert not outcomes.get("failed") and not outcomes.get("errors"), result.stdout.str()
    result.stdout.fnmatch_lines([
        "jaws: fake twin of cori, replaced: host cori20.nersc.gov -> this machine (127.0.0.1)",
        "jaws: fake twin of cori, replaced: install base /global/cfs/projectdirs/jaws/"
        "jaws-install -> a local base directory",
        "*SKIPPED [[]3[]] *site cori runs no central-rest*",
    ])
    assert re.search(r"supervisord-jtm +cromwell ", result.stdout.str())


def test_fake_twin_of_central_passes_the_suites(run_suites):
    result = run_suites("--jaws-site=central", "--jaws-env=dev", "--jaws-fake", "-rs")
    outcomes = result.parseoutcomes()
    assert not outcomes.get("failed") and not outcomes.get("errors"), result.stdout.str()
    result.stdout.fnmatch_lines(["*site central runs none of ('jtm', 'jaws-site')*"])
