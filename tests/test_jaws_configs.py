"""JAWS's own files as pytest-jaws generates them.

Every config parses the way its JAWS package parses it and holds every key the package
reads (jaws_required.yaml, read with the package's getter); cromwell.conf is as
deploy-cromwell writes it; a checkout without a package directory, a missing secret and a
wrong Cromwell jar are refused before anything runs.
"""

import configparser

import pytest
from helpers import sites_data, write_sites
from pyhocon import ConfigFactory

from pytest_jaws import errors
from pytest_jaws.errors import OptionsError
from pytest_jaws.install import cromwell, install, lightvenv
from pytest_jaws.plan import installspec
from pytest_jaws.plan.plan import FAKE_CHECKOUT, make_plan
from pytest_jaws.plugin.options import resolve
from pytest_jaws.render.jawsconf import REQUIRED, render_configs
from pytest_jaws.sites.sites import PACKAGED_SITES_FILE, load_sites
from pytest_jaws.tools.configkeys import check_text

MODEL = load_sites(PACKAGED_SITES_FILE)
#: A secret with every character the parsers treat specially.
NASTY = "p%w$d{x}#;'\"\\"
CASES = [(site, env) for site in MODEL.sites for env in MODEL.ports]


def _configs(site, env, tmp_path):
    base = MODEL.sites[site].install_base or tmp_path
    plan = make_plan(MODEL, site, env, base, current_user="gitlab-runner")
    return plan, render_configs(plan, {name: NASTY for name in plan.secrets})


def _parse(kind, text):
    interpolation = configparser.ExtendedInterpolation() \
        if REQUIRED[kind]["interpolation"] == "extended" else configparser.BasicInterpolation()
    parser = configparser.ConfigParser(interpolation=interpolation)
    parser.read_string(text)
    return parser


@pytest.mark.parametrize("site, env", CASES, ids=[f"{s}-{e}" for s, e in CASES])
def test_every_generated_config_parses_like_its_package_and_has_every_required_key(
        site, env, tmp_path):
    plan, configs = _configs(site, env, tmp_path)
    kinds = {c.kind for c in plan.configs}
    assert kinds, f"site {site} generates no JAWS config"
    for cfg in plan.configs:
        text = configs[str(cfg.path)][0]
        if cfg.kind == "cromwell":
            conf = _hocon(text)
            assert conf["webservice.port"] == plan.port_table["cromwell"]
            assert conf["database.db.password"] == NASTY  # HOCON string escaping of the secret
            continue
        # every key of jaws_required.yaml, read with the package's parser and getter
        assert check_text(text, REQUIRED[cfg.kind], str(cfg.path)) == []
        parser = _parse(cfg.kind, text)
        for section, keys in REQUIRED[cfg.kind]["sections"].items():
            names = [s for s in parser.sections() if s.startswith("SITE:")] \
                if section == "SITE:*" else [section]
            for name in names:
                for key in keys:
                    if key == "password" or key.endswith("secret"):
                        assert parser.get(name, key) == NASTY, \
                            f"{cfg.path} [{name}] {key} does not round-trip"


def _hocon(text):
    """Parse cromwell.conf as Cromwell's HOCON (its classpath include is Cromwell's own)."""
    body = text.replace('include required(classpath("application"))', "")
    assert body != text, "cromwell.conf does not include Cromwell's application defaults"
    return ConfigFactory.parse_string(body)


@pytest.mark.parametrize("site", [s for s in MODEL.sites if "jtm" in
                                  MODEL.sites[s].programs.by_instance()])
def test_cromwell_conf_submits_to_jtm_with_a_pool_as_deploy_cromwell_writes_it(site, tmp_path):
    plan, configs = _configs(site, "staging", tmp_path)
    conf = _hocon(next(configs[str(c.path)][0] for c in plan.configs if c.kind == "cromwell"))
    jtm_conf = next(str(c.path) for c in plan.configs if c.kind == "jaws-jtm")
    assert conf["webservice.interface"] == "127.0.0.1"
    assert conf["webservice.port"] == plan.port_table["cromwell"]
    assert conf["system.abort-jobs-on-terminate"] is True
    assert conf["system.workflow-restart"] is False
    assert conf["backend.default"] == "JTM"
    assert set(conf["backend.providers"]) == {"LOCAL", "JTM"}
    assert conf["backend.providers.LOCAL.config.concurrent-job-limit"] == 0
    jtm = conf["backend.providers.JTM.config"]
    cluster = MODEL.sites[site].config.cluster
    attributes = {line.split("=")[0].strip(): line.split("=", 1)[1].strip()
                  for line in jtm["runtime-attributes"].splitlines() if "=" in line}
    assert attributes["String poolname"] == '"small"'
    assert attributes["String cluster"] == f'"{plan.site_id.lower()}"'
    assert attributes["String account"] == f'"{cluster.account}"'
    assert attributes["String qos"] == f'"{cluster.qos}"'
    for script in ("submit", "submit-docker"):
        line = next(x for x in jtm[script].splitlines() if x.startswith("jtm "))
        assert line.startswith(f"jtm --config={jtm_conf} submit -cmd "), line
        for option in ("-p ${poolname}", "-cl ${cluster}", "-t ${time}", "-c ${cpu}",
                       "-m ${memory_gb}", "-N ${node}", "-A ${account}", "--shared ${shared}"):
            assert option in line, f"{script} lacks {option}: {line}"
    container = MODEL.sites[site].config.container.type
    assert f"{container}_exec.sh" in jtm["submit-docker"]
    assert jtm["kill"] == f"jtm --config={jtm_conf} kill -tid ${{job_id}}"
    assert jtm["check-alive"] == f"jtm --config={jtm_conf} isalive -tid ${{job_id}}"
    assert jtm["job-id-regex"] == r"JTM task ID (\d+)"
    assert jtm["dockerRoot"].endswith("/jaws-staging/cromwell-executions")
    assert conf["database.db.url"].startswith(
        f"jdbc:mysql://{MODEL.sites[site].config.db.host}:")
    assert f"/cromwell_{plan.site_id.lower()}_staging?" in conf["database.db.url"]
    assert conf["database.insert-batch-size"] == 2000


def test_site_config_values_follow_jaws_naming():
    plan, configs = _configs("cori", "dev", None)
    site = _parse("jaws-site", configs[str(plan.configs[0].path)][0])
    assert site["DB"]["db"] == "jaws_cori_dev"                      # generate-configs
    assert site["CENTRAL_RPC_SERVER"]["queue"] == "JAWS_CORI"
    assert site["LOCAL_RPC_SERVER"]["vhost"] == "jaws_dev"
    assert site["CROMWELL"]["url"] == "http://localhost:50101"
    jtm = _parse("jaws-jtm", configs[str(plan.configs[1].path)][0])
    assert jtm["RMQ"]["vhost"] == "jtm_dev" and jtm["SITE"]["instance_name"] == "CORI.jtm_dev"
    assert jtm["JTM"]["cluster"] == "CORI"
    # queue and exchange names per site and environment, as jtm resolves them
    assert jtm["JTM"]["jtm_task_request_q"] == "_jtm_task_request_queue.CORI.jtm_dev"
    assert jtm["JTM"]["jgi_jtm_main_exch"] == "jgi_jtm_main_exch_dev_CORI.jtm_dev"
    assert jtm.getfloat("JTM", "worker_hb_recv_interval") == 5.0
    assert jtm.getboolean("JTM", "standalone") is False and jtm.getboolean("SITE", "debug")
    assert jtm["SLURM"]["qos"] == "genepool_special" and jtm["SLURM"]["charge_accnt"] == "fungalp"
    plan, configs = _configs("tahoma", "prod", None)
    jtm = _parse("jaws-jtm", configs[str(plan.configs[1].path)][0])
    assert jtm["JTM"]["jtm_task_kill_exch"] == "jgi_jtm_task_kill_exch_prod_TAHOMA.jtm_prod"
    assert jtm["JTM"]["env_activation"] == "source /tahoma/mscjgi/jaws-install/jaws-prod/jtm/bin/activate"


def test_central_config_serves_every_site_with_its_ports():
    plan, configs = _configs("central", "prod", None)
    central = _parse("jaws-central", configs[str(plan.configs[0].path)][0])
    assert central["HTTP"]["auth_port"] == "3003" and central["HTTP"]["rest_port"] == "5003"
    assert {s for s in central.sections() if s.startswith("SITE:")} == {
        "SITE:CORI", "SITE:JGI", "SITE:TAHOMA", "SITE:AWS"}
    assert central["SITE:JGI"]["globus_host_path"] == "/global/scratch/jaws/"
    assert central["JAWS"]["name"] == "prod"


def test_checkout_without_a_package_directory_is_a_usage_error(tmp_path):
    for name in ("rpc", "site", "central"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "setup.py").write_text("")
    with pytest.raises(OptionsError, match=r"the checkout has no jtm/ package directory"):
        resolve({"jaws_site": "local-venv", "jaws_source": str(tmp_path)}, tmp_path,
                check_users=False)


def test_missing_secret_of_a_real_site_is_a_usage_error_naming_the_variable(tmp_path,
                                                                            monkeypatch):
    data = sites_data()  # aws, with its role user as whoever runs the test
    data["sites"]["aws"]["roles"] = {r: {"user": None, "group": None, "become": None}
                                     for r in ("jaws", "jtm")}
    path = write_sites(tmp_path / "sites.yaml", data)
    monkeypatch.delenv("JAWS_SECRET_AWS_DEV_DB_PASSWORD", raising=False)
    with pytest.raises(OptionsError, match=r"secret DB_PASSWORD .* set the masked CI variable "
                                           r"\$JAWS_SECRET_AWS_DEV_DB_PASSWORD"):
        resolve({"jaws_site": "aws", "jaws_source": str(FAKE_CHECKOUT),
                 "jaws_sites_file": str(path)}, tmp_path)


def test_cromwell_jar_missing_or_with_another_checksum_is_refused(tmp_path):
    jar = tmp_path / "cromwell-58.jar"
    plan = make_plan(MODEL, "local", "dev", tmp_path, cromwell_jar=jar)
    with pytest.raises(errors.InstallError, match=r"Cromwell 58 jar .*cromwell-58.jar is missing"):
        cromwell.check_cromwell(plan)
    jar.write_bytes(b"not cromwell")
    data = MODEL.model_copy(update={"cromwell": MODEL.cromwell.model_copy(
        update={"sha256": "0" * 64})})
    plan = make_plan(data, "local", "dev", tmp_path, cromwell_jar=jar)
    with pytest.raises(errors.InstallError, match=r"has sha256 [0-9a-f]{64}, expected 0{64}"):
        cromwell.check_cromwell(plan)
    data = MODEL.model_copy(update={"cromwell": MODEL.cromwell.model_copy(
        update={"sha256": cromwell.sha256(jar)})})
    cromwell.check_cromwell(make_plan(data, "local", "dev", tmp_path, cromwell_jar=jar))


def test_fake_checkout_is_shaped_like_jaws():
    installspec.check_source(FAKE_CHECKOUT)
    # the scripts as install reads them (its private reader)
    scripts = {pkg: lightvenv._scripts(FAKE_CHECKOUT / pkg / "pyproject.toml")  # noqa: SLF001
               for pkg in ("site", "central", "jtm")}
    assert scripts["site"] == {"jaws-site": "jaws_site.cli:jaws"}          # site/setup.py
    assert scripts["central"] == {"jaws-central": "jaws_central.cli:jaws"}  # central/setup.py
    assert scripts["jtm"]["jtm"] == "jaws_jtm.jtm:jtm"                      # jtm/setup.py


@pytest.mark.slow
def test_dependency_that_cannot_install_is_named_with_the_python_version(tmp_path, monkeypatch):
    """A JAWS checkout whose jaws_site needs a package no index has fails at install.

    The install step fails naming that package and the Python version (pip gets no index here,
    so nothing hangs).
    """
    import shutil
    import subprocess
    import sys
    import sysconfig

    import supervisor

    source = tmp_path / "jaws"
    shutil.copytree(FAKE_CHECKOUT, source)
    pyproject = source / "site" / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(
        'dependencies = ["jaws_rpc"]', 'dependencies = ["jaws_rpc", "jaws-no-such-package-4711"]'))
    plan = make_plan(MODEL, "local-venv", "dev", tmp_path / "base", source=source,
                     python=sys.executable)
    # the bootstrap venv already sees this interpreter's supervisor (no index needed for it)
    boot = plan.bootstrap_venv
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(boot)], check=True)
    purelib = sysconfig.get_path("purelib", vars={"base": str(boot), "platbase": str(boot)})
    (__import__("pathlib").Path(purelib) / "harness.pth").write_text(
        str(__import__("pathlib").Path(supervisor.__file__).parent.parent) + "\n")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    with pytest.raises(errors.InstallError) as info:
        install.install(plan)
    message = str(info.value)
    assert "could not install what jaws_rpc, jaws_site need into the site venv" in message
    assert f"(package jaws-no-such-package-4711 for Python {sys.version.split()[0]})" in message
