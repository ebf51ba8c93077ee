"""Real sites: every site x environment plan, checked by construction.

Also --jaws-plan; the operator commands; the fake twin; plan errors that are usage errors.
"""

import io
import subprocess

import pytest
import supervisor.datatypes
import supervisor.options
from helpers import sites_data

from pytest_jaws.deploy import deploy
from pytest_jaws.plan.plan import make_plan
from pytest_jaws.render.render import render_instance
from pytest_jaws.sites.sites import PACKAGED_SITES_FILE, load_sites

MODEL = load_sites(PACKAGED_SITES_FILE)
REAL = [name for name, site in MODEL.sites.items() if not site.fake]
PAIRS = [(site, env) for site in REAL for env in MODEL.ports]


def test_the_five_real_sites_are_described():
    assert sorted(REAL) == ["aws", "central", "cori", "jgi", "tahoma"]


@pytest.fixture
def supervisor_loader(monkeypatch):
    """Return supervisor's own config loader (ServerOptions.read_config).

    Relaxed only for what cannot exist on this machine: the site's directories and Unix users.
    """
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
    table = MODEL.ports[env].by_name()
    for key, inst in plan.instances.items():
        options = supervisor_loader(render_instance(plan, inst, "k%e;y#"))
        server = options.server_configs[0]
        assert (server["host"], server["port"]) == ("127.0.0.1", table[inst.name])
        assert server["password"] == "k%e;y#" and server["username"] == f"{key}-{env}"
        assert options.identifier == MODEL.instances[key].identifier.format(env=env)
        groups = {g.name: sorted(p.name for p in g.process_configs)
                  for g in options.process_group_configs}
        assert groups == {inst.process_group: sorted(p.name for p in inst.programs)}
        configs = {c.name: c for g in options.process_group_configs for c in g.process_configs}
        for prog in inst.programs:
            service = MODEL.services[prog.name]
            assert prog.port == (table[service.port] if service.port else None)
            assert prog.startretries == 10
            assert (configs[prog.name].startsecs, configs[prog.name].priority) == \
                (service.startsecs, service.priority)
        assert inst.user == getattr(spec.roles, inst.role).user


def test_role_users_and_programs_of_the_real_sites():
    users = {s: (MODEL.sites[s].roles.jaws.user, MODEL.sites[s].roles.jtm.user) for s in REAL}
    assert users["cori"] == ("jaws", "jaws_jtm")
    assert users["tahoma"] == ("svc-jtm-manager", "svc-jtm-user")
    for one_user in ("jgi", "aws", "central"):
        assert users[one_user][0] == users[one_user][1], one_user
    # test/integration/deploy-central, deploy-supervisord
    assert MODEL.sites["central"].programs.by_instance() == {"central": ["auth", "rest", "rpc"]}
    assert MODEL.sites["cori"].programs.by_instance() == {
        "jaws": ["jaws-site-daemon", "jaws-site-central-rpc", "jaws-site-jtm-rpc"],
        "jtm": ["jaws-jtm", "jaws-cromwell"]}


def test_plan_prints_coris_dev_plan_as_jaws_deploys_it(pytester):
    result = pytester.runpytest_subprocess("--jaws-site=cori", "--jaws-env=dev", "--jaws-plan")
    assert result.ret == 0
    base = "/global/cfs/projectdirs/jaws/jaws-install"
    result.stdout.fnmatch_lines([
        "== pytest-jaws plan: site cori (real), environment dev",
        f"   base directory {base}",
        "*role jaws -> jaws (via 'collabsu jaws'), role jtm -> jaws_jtm (via 'collabsu jaws_jtm')",
        "*secrets (masked below) from: JAWS_SECRET_CORI_DEV_DB_PASSWORD, *",
        f"   {base}/jaws-dev/shims/jaws-site-daemon-dev  *  0755",
        "   | #!/bin/bash -l",
        "   | module load python/3.8-anaconda-2020.11",
        f"   | source {base}/jaws-dev/site/bin/activate",
        f"   | exec jaws-site --log {base}/jaws-dev/logs/site-daemon.log --config "
        f"{base}/jaws-dev/configs/jaws-site.conf --log-level DEBUG daemon",
        "   | exec jaws-site --log *central-rpc",
        "   | exec jaws-site --log *jtm-rpc",
        f"   | exec jtm --config={base}/jaws-dev/configs/jaws-jtm.conf --debug manager -ld *",
        "   | cd /global/cscratch1/sd/jaws_jtm/jaws-dev || exit 1",
        f"   | exec java -Xmx5g -Dconfig.file={base}/jaws-dev/configs/cromwell.conf "
        "-Djava.io.tmpdir=/global/cscratch1/sd/jaws_jtm/jaws-dev/cromwell-tmp "
        f"-jar {base}/jaws-dev/cromwell.jar server",
        "   | [[]program:jaws-site-daemon[]]",
        "   | startsecs=3",
        "   | [[]program:jaws-jtm[]]",
        "   | priority=1",
        "   | [[]program:jaws-cromwell[]]",
        "   | priority=9",
        "   | startsecs=10",
        "   | stopwaitsecs=120",
        f"   {base}/jaws-dev/configs/jaws-site.conf  jaws:jaws  0600",
        "   | password = ********",
        f"   {base}/jaws-dev/configs/jaws-jtm.conf  jaws_jtm:jaws_jtm  0600",
        f"   {base}/jaws-dev/configs/cromwell.conf  jaws_jtm:jaws_jtm  0600",
        "*pip wheel * -w */jaws-wheelhouse/jaws_rpc-CONTENT */rpc  # build the jaws_rpc wheel "
        "from * (unless one of the same content is in the wheelhouse)",
        "*pip wheel * -w */jaws-wheelhouse/jaws_site-CONTENT */site  # build the jaws_site wheel *",
        "*install * --no-deps --force-reinstall */jaws_rpc-CONTENT/jaws_rpc-VERSION-py3-none-any.whl "
        "*/jaws_site-CONTENT/jaws_site-VERSION-py3-none-any.whl  # install jaws_rpc, jaws_site "
        "into the site venv (the packages whose content it does not hold)",
        "*install * */jaws_rpc-VERSION-py3-none-any.whl */jaws_site-VERSION-py3-none-any.whl  "
        "# install what jaws_rpc, jaws_site need into the site venv",
        "*[[]jaws_jtm[]] */jaws-supervisord-dev/bin/supervisord -c *"
        "supervisord-jtm.conf  # run by an operator as jaws_jtm (start: operator), never by "
        "the harness: supervisord-jtm on 127.0.0.1:64111*",
    ])
    assert not list(pytester.path.rglob("jaws-supervisord-*"))


def test_plan_of_central_prod_shows_its_own_supervisord(pytester):
    result = pytester.runpytest_subprocess("--jaws-site=central", "--jaws-env=prod", "--jaws-plan")
    assert result.ret == 0
    result.stdout.fnmatch_lines([
        "*listening on this site: supervisord-central 64123, auth 3003, rest 5003",
        "   /opt/jaws/jaws-central-prod/shims/jaws-central-auth-prod  root:root  0755",
        "   | exec jaws-central --log /opt/jaws/jaws-central-prod/logs/central-auth.log --config "
        "/opt/jaws/jaws-central-prod/configs/jaws-central.conf --log-level INFO auth",
        "   /opt/jaws/jaws-central-supervisord-prod/supervisord-jaws-central.conf  jaws:jaws  0600",
        "   | port=127.0.0.1:64123",
        "   | identifier=supervisord-jaws-central-prod",
        "   | [[]group:jaws-central-prod[]]",
        "   | programs=auth,rest,rpc",
        "   /opt/jaws/jaws-central-prod/configs/jaws-central.conf  jaws:jaws  0600",
        "   | [[]SITE:CORI[]]",
    ])


def test_plan_dir_writes_every_file_with_keys_masked(pytester):
    target = pytester.path / "plan"
    result = pytester.runpytest_subprocess("--jaws-site=tahoma", "--jaws-env=dev", "--jaws-plan",
                                           f"--jaws-plan-dir={target}")
    assert result.ret == 0
    conf = target / "tahoma/mscjgi/jaws-install/jaws-supervisord-dev/supervisord-jaws.conf"
    assert "password=********" in conf.read_text()
    assert (target / "tahoma/mscjgi/jaws-install/jaws-dev/shims/jaws-cromwell-dev").is_file()
    site_conf = target / "tahoma/mscjgi/jaws-install/jaws-dev/configs/jaws-site.conf"
    assert "password = ********" in site_conf.read_text()


@pytest.mark.parametrize("mutate, expected", [
    (lambda d: d["sites"]["cori"]["roles"]["jtm"].update(become="collabsu {usr}"),
     "*sites.cori.roles.jtm.become: template 'collabsu {usr}' has an unknown variable 'usr'*"),
    (lambda d: d["services"]["jaws-cromwell"].update(command="java -jar {jarfile}"),
     "*services.jaws-cromwell.command: unknown template variable 'jarfile'*"),
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
    assert "jaws-dev:jaws-site-daemon" in status.stdout and "RUNNING" in status.stdout
    stop = _operator(deployed, "supervisorctl", jtm, "stop", "all")
    assert stop.returncode == 0 and "jaws-cromwell: stopped" in stop.stdout
    status = _operator(deployed, "supervisorctl", jtm, "status")
    assert status.returncode == 3 and "STOPPED" in status.stdout, status.stdout
    start = _operator(deployed, "supervisorctl", jtm, "start", "all")
    assert start.returncode == 0 and "jaws-cromwell: started" in start.stdout
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


# The fake twin of cori (its jtm role: start: operator) is deployed for real in
# tests/test_live_site.py: setup fails with the operator's command, then passes.


@pytest.mark.slow
def test_fake_twin_of_central_passes_the_suites(run_suites):
    result = run_suites("--jaws-site=central", "--jaws-env=dev", "--jaws-fake", "-rs")
    outcomes = result.parseoutcomes()
    assert not outcomes.get("failed") and not outcomes.get("errors"), result.stdout.str()
    result.stdout.fnmatch_lines(["*site central runs no program marked recovery: true*"])
