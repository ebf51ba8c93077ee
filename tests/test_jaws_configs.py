"""JAWS's own files as pytest-jaws generates them.

Every config parses the way its JAWS package parses it and holds every key the package
requires (jaws_required.yaml); a checkout without a package directory, a missing secret and a
wrong Cromwell jar are refused before anything runs.
"""

import configparser

import pytest
from helpers import sites_data, write_sites

from pytest_jaws import cromwell, errors, install, installspec
from pytest_jaws.errors import OptionsError
from pytest_jaws.jawsconf import REQUIRED, render_configs
from pytest_jaws.options import resolve
from pytest_jaws.plan import FAKE_CHECKOUT, make_plan
from pytest_jaws.sites import PACKAGED_SITES_FILE, load_sites

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
            assert f"port = {plan.port_table['cromwell']}" in text
            assert '"p%w$d{x}#;\'\\"\\\\"' in text  # HOCON string escaping of the secret
            continue
        parser = _parse(cfg.kind, text)
        sections = REQUIRED[cfg.kind]["sections"]
        for section, keys in sections.items():
            names = [s for s in parser.sections() if s.startswith("SITE:")] \
                if section == "SITE:*" else [section]
            assert names, f"{cfg.path}: no {section} section ({REQUIRED[cfg.kind]['source']})"
            for name in names:
                for key in keys:
                    value = parser.get(name, key)  # interpolation applied, as the package does
                    if key == "password" or key.endswith("secret"):
                        assert value == NASTY, f"{cfg.path} [{name}] {key} does not round-trip"


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
    scripts = {pkg: install._scripts(FAKE_CHECKOUT / pkg / "pyproject.toml")  # noqa: SLF001
               for pkg in ("site", "central", "jtm")}
    assert scripts["site"] == {"jaws-site": "jaws_site.cli:jaws"}          # site/setup.py
    assert scripts["central"] == {"jaws-central": "jaws_central.cli:jaws"}  # central/setup.py
    assert scripts["jtm"]["jtm"] == "jaws_jtm.jtm:jtm"                      # jtm/setup.py


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
    assert "could not install jaws_rpc, jaws_site into the site venv" in message
    assert f"(package jaws-no-such-package-4711 for Python {sys.version.split()[0]})" in message
