"""Plain unit tests: sites model, plan, render, keys - no process started."""

import pytest
from helpers import sites_data

from pytest_jaws import errors, keys
from pytest_jaws.errors import PlanError, SitesError
from pytest_jaws.plan.plan import make_plan
from pytest_jaws.render.render import render_files, render_instance
from pytest_jaws.sites.sites import PACKAGED_SITES_FILE, load_sites, parse_sites
from pytest_jaws.sites.sitevars import key_variable, shifted_ports
from pytest_jaws.sites.twin import fake_twin

MODEL = load_sites(PACKAGED_SITES_FILE)


def test_port_table_is_the_documented_one():
    assert {env: row.by_name() for env, row in MODEL.ports.items()} == {
        "dev": {"central-auth": 3001, "central-rest": 5001, "cromwell": 50101,
                "supervisord-jaws": 64101, "supervisord-jtm": 64111, "supervisord-central": 64121},
        "staging": {"central-auth": 3002, "central-rest": 5002, "cromwell": 50102,
                    "supervisord-jaws": 64102, "supervisord-jtm": 64112,
                    "supervisord-central": 64122},
        "prod": {"central-auth": 3003, "central-rest": 5003, "cromwell": 50103,
                 "supervisord-jaws": 64103, "supervisord-jtm": 64113, "supervisord-central": 64123},
    }


def test_missing_port_names_the_key_path():
    data = sites_data()
    del data["ports"]["prod"]["supervisord-jtm"]
    with pytest.raises(SitesError, match=r"ports\.prod\.supervisord-jtm: required key is missing"):
        parse_sites(__import__("yaml").safe_dump(data), "s.yaml")


def test_escape_and_mask():
    assert keys.escape("a%b%%") == "a%%b%%%%"
    keys.remember("zz-secret-%x-long-enough")
    assert keys.mask("pw=zz-secret-%x-long-enough and zz-secret-%%x-long-enough") == (
        f"pw={keys.MASK} and {keys.MASK}")


@pytest.mark.parametrize("bad", ["", "with space", "tab\there", "{SHA}abc"])
def test_unusable_keys_are_refused_without_showing_them(bad, monkeypatch):
    monkeypatch.setenv("JAWS_SUPERVISOR_KEY_X", bad or "")
    if not bad:
        assert keys.resolve_key("JAWS_SUPERVISOR_KEY_X", None)[1] == "generated"
        return
    with pytest.raises(errors.InvalidKeyError) as info:
        keys.resolve_key("JAWS_SUPERVISOR_KEY_X", None)
    assert bad not in str(info.value) and "$JAWS_SUPERVISOR_KEY_X" in str(info.value)


def test_generated_keys_differ_and_file_key_is_reused(monkeypatch):
    monkeypatch.delenv("JAWS_SUPERVISOR_KEY_X", raising=False)
    first, origin = keys.resolve_key("JAWS_SUPERVISOR_KEY_X", None)
    assert origin == "generated" and len(first) >= 32
    assert keys.resolve_key("JAWS_SUPERVISOR_KEY_X", None)[0] != first
    assert keys.resolve_key("JAWS_SUPERVISOR_KEY_X", first + "\n") == (first, "file")


def test_key_variable_names():
    assert key_variable("local-privsep", "dev", "jtm") == "JAWS_SUPERVISOR_KEY_LOCAL_PRIVSEP_DEV_JTM"


def test_offset_shifts_every_port_and_refuses_overflow():
    assert shifted_ports(MODEL, "dev", 20)["supervisord-jtm"] == 64131
    with pytest.raises(PlanError, match=r"moves ports\.prod\.supervisord-jaws"):
        shifted_ports(MODEL, "prod", 1500)


def test_render_escapes_the_key_and_runs_programs_as_the_role_user(tmp_path):
    plan = make_plan(MODEL, "local-privsep", "dev", tmp_path)
    text = render_instance(plan, plan.instances["jtm"], "p%w")
    assert "password=p%%w" in text and "port=127.0.0.1:64111" in text
    assert "user=jaws_jtm" in text and "stopasgroup=true" in text and "killasgroup=true" in text
    assert "[group:jaws-dev]\nprograms=jaws-jtm,jaws-cromwell" in text
    assert "[program:jaws-jtm]" in text and "priority=1\n" in text
    files = render_files(plan, {"jaws": "a", "jtm": "b", "central": "c"})
    assert files[str(plan.instances["jaws"].conf)][1:] == ("jaws", 0o600)
    assert files[str(plan.instances["central"].conf)][1:] == ("jaws", 0o600)
    shim = files[str(plan.programs["jaws-cromwell"].shim)][0].splitlines()
    assert shim[0] == "#!/bin/bash" and shim[-1].startswith("exec fake-java -Xmx256m ")


def test_fake_twin_keeps_topology_and_says_what_it_replaced():
    twin, replaced = fake_twin(MODEL, "cori")
    site = twin.sites["cori"]
    assert site.fake and site.programs == MODEL.sites["cori"].programs and site.bind == "127.0.0.1"
    assert any("install base /global/cfs/projectdirs/jaws/jaws-install" in r for r in replaced)
    assert any("JAWS checkout -> the fake checkout" in r for r in replaced)
    assert any("Cromwell 58 jar -> the Cromwell stand-in" in r for r in replaced)
    assert site.config.db.host == "127.0.0.1" and site.java == "fake-java"


def test_binding_every_interface_is_reported_in_the_header(pytester):
    data = sites_data()
    data["sites"]["local"].update(bind="0.0.0.0", bind_all_interfaces=True)  # noqa: S104 - under test
    path = pytester.path / "sites.yaml"
    path.write_text(__import__("yaml").safe_dump(data))
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess(f"--jaws-sites-file={path}")
    result.stdout.fnmatch_lines([
        "jaws: WARNING: site local binds every interface (0.0.0.0), as its "
        "bind_all_interfaces: true says"])


def _settings(**kw):
    from pytest_jaws.sites.settings import Settings
    base = dict(model=MODEL, site="local", envs=("dev",), sites_file=PACKAGED_SITES_FILE,
                basedir=None, port_offset=0)
    base.update(kw)
    return Settings(**base)


def test_base_directory_rules(tmp_path, monkeypatch):
    import getpass
    import tempfile

    from pytest_jaws.deploy.basedir import choose_basedir
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the stable directory is made here
    assert choose_basedir(_settings(basedir=tmp_path / "x"), tmp_path) == (tmp_path / "x", False)
    assert choose_basedir(_settings(), tmp_path) == (tmp_path / "jaws", False)
    assert choose_basedir(_settings(site="cori", teardown="never"), tmp_path) == (
        __import__("pathlib").Path("/global/cfs/projectdirs/jaws/jaws-install"), False)
    stable, owned = choose_basedir(_settings(teardown="never", port_offset=40), tmp_path)
    assert not owned and stable.name == "local+40"
    assert stable.parent.name == f"pytest-jaws-{getpass.getuser()}"
    assert str(stable).startswith(tempfile.gettempdir())


@pytest.mark.parametrize("bind, scope", [
    ("0", "all"), ("0.0", "all"), ("::0", "all"), ("0:0:0:0:0:0:0:0", "all"),
    ("::ffff:0.0.0.0", "all"), ("*", "all"), ("", "all"), ("127.0.0.1", "loopback"),
    ("127.1", "loopback"), ("::1", "loopback"), ("localhost", "loopback"),
    ("10.1.2.3", "specific")])
def test_bind_addresses_are_parsed_not_matched(bind, scope):
    from pytest_jaws.sites.sitecheck import bind_scope
    assert bind_scope(bind) == scope


def test_short_keys_are_refused_and_never_mask(monkeypatch):
    monkeypatch.setenv("JAWS_SUPERVISOR_KEY_X", "fifteen-chars!!")
    with pytest.raises(errors.InvalidKeyError, match="has 15 characters; a key needs at least 16"):
        keys.resolve_key("JAWS_SUPERVISOR_KEY_X", None)
    keys.remember("e")
    assert keys.mask("every e stays") == "every e stays"
