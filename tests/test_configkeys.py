"""The config-keys tool: its scanner on small made-up packages, its check, and a JAWS checkout.

The sources below are written for these tests (none is JAWS code): each shows one way a
package reads its configuration, and the scanner must find exactly what it reads. The last
tests run the tool against the checkout named by ``$JAWS_CHECKOUT`` (skipped without one).
"""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

import pytest
import yaml

from pytest_jaws.render.jawsconf import REQUIRED
from pytest_jaws.tools import configkeys
from pytest_jaws.tools.configscan import consumers, scan_sources

CHECKOUT = os.environ.get("JAWS_CHECKOUT")
needs_checkout = pytest.mark.skipif(
    not CHECKOUT, reason="set JAWS_CHECKOUT to a JAWS checkout (JGI-Bioinformatics/jaws) to "
                         "check the generated configs against what its packages read")


def _scan(*sources: str, known=None):
    return scan_sources([(f"pkg/m{i}.py", textwrap.dedent(src))
                         for i, src in enumerate(sources)], known)


def test_typed_getters_are_required_with_their_type_and_fallbacks_are_optional():
    found = _scan('''
        import configparser
        p = configparser.ConfigParser(interpolation=configparser.ExtendedInterpolation())
        def run(cfg):
            a = cfg.parser.get("QUEUE", "request_q")
            b = cfg.parser.getint("QUEUE", "retries")
            c = cfg.parser.getfloat("QUEUE", "wait")
            d = cfg.parser.getboolean("MAIN", "verbose")
            e = cfg.parser.get("MAIN", "colour", fallback="blue")
            if cfg.parser.has_option("MAIN", "shape"):
                pass
            f = message.get("status", "unknown")   # a dict, not a section
    ''')
    assert found.interpolation == "extended"
    assert found.required() == {"MAIN": {"verbose": "boolean"},
                                "QUEUE": {"request_q": "str", "retries": "int", "wait": "float"}}
    assert {(r.section, r.key) for r in found.reads if r.optional} == {
        ("MAIN", "colour"), ("MAIN", "shape")}
    assert next(r.where for r in found.reads if r.key == "retries") == "pkg/m0.py:6"


def test_subscripts_required_lists_and_defaults():
    found = _scan('''
        import configparser, os
        class Settings:
            fallbacks = {"STORE": {"port": "1", "host": "here"}}
            must_have = {"STORE": ["user", "name"], "WEB": ["url"]}
            def __init__(self, path):
                self.cp = configparser.ConfigParser()
                self.cp.read_dict(self.fallbacks)
                for section in self.must_have:
                    for key in self.must_have[section]:
                        if key not in self.cp[section]:
                            raise ValueError(key)
            def url(self):
                home = os.environ["HOME"]        # not a section
                return self.cp["WEB"]["url"] + self.cp.get("STORE", "port")
    ''')
    assert found.interpolation == "basic"
    assert found.defaults == {"STORE": {"port", "host"}}
    # the defaulted port is not required of the file
    assert found.required() == {"STORE": {"name": "str", "user": "str"}, "WEB": {"url": "str"}}


def test_prefixed_sections_and_section_aliases():
    found = _scan('''
        required_member_keys = ["address", "weight"]
        def load(cp):
            for section in cp.sections():
                if section.startswith("MEMBER:"):
                    for key in required_member_keys:
                        if key not in cp[section]:
                            raise ValueError(key)
        def contact(cp, member):
            name = f"MEMBER:{member}"
            s = cp[name]
            return s["phone"], s.get("fax", None)
    ''')
    assert found.required() == {"MEMBER:*": {"address": "str", "phone": "str", "weight": "str"}}
    assert [(r.section, r.key) for r in found.reads if r.optional] == [("MEMBER:*", "fax")]


def test_a_section_passed_to_a_demanding_constructor_needs_its_keys():
    library = textwrap.dedent('''
        class Sender:
            def __init__(self, settings, log):
                for needed in ["broker", "topic"]:
                    if needed not in settings:
                        raise KeyError(needed)
                self.limit = settings.get("limit", 5)
                self.zone = settings["zone"]
    ''')
    import ast
    known = consumers(ast.parse(library))
    assert known == {"Sender": {"broker", "topic", "zone"}}
    found = _scan('''
        from lib import sender
        def start(conf):
            params = conf.get_section("OUTBOX")
            sender.Sender(params, None)
            sender.Sender(conf.parser._sections["INBOX"], None)
            sender.Sender(dict(conf.parser["SPARE"]), None)
    ''', known=known)
    keys = {"broker": "str", "topic": "str", "zone": "str"}
    assert found.required() == {"INBOX": keys, "OUTBOX": keys, "SPARE": keys}


def test_whole_section_reads_need_the_section():
    found = _scan('''
        def dump(cp):
            return dict(cp.items("AUDIT"))
    ''')
    assert found.required() == {"AUDIT": {}}


REQ = {"interpolation": "extended", "sections": {
    "A": {"name": "str", "count": "int", "q": "str"}, "B:*": {"x": "str"}, "C": {}}}


@pytest.mark.parametrize("text, problem", [
    ("[A]\nname=n\ncount=1\nq=${name}.q\n[B:1]\nx=1\n[C]\n", None),
    ("[A]\nname=n\ncount=1\n[B:1]\nx=1\n[C]\n", "t: missing [A] q"),
    ("[A]\nname=n\ncount=one\nq=1\n[B:1]\nx=1\n[C]\n", "t: [A] count is not a int: *"),
    ("[A]\nname=n\ncount=1\nq=${nothing}\n[B:1]\nx=1\n[C]\n", "t: [A] q does not resolve: *"),
    ("[A]\nname=n\ncount=1\nq=1\n[B:1]\n[C]\n", "t: missing [B:1] x"),
    ("[A]\nname=n\ncount=1\nq=1\n[C]\n", "t: missing section [B:*]"),
    ("[A]\nname=n\ncount=1\nq=1\n[B:1]\nx=1\n", "t: missing section [C]"),
    ("name=n\n", "t: does not parse as its package parses it: *"),
], ids=["complete", "missing-key", "not-int", "unresolved", "prefixed", "no-prefixed",
        "no-section", "unparsable"])
def test_check_text_names_each_missing_or_unreadable_key(text, problem):
    problems = configkeys.check_text(text, REQ, "t")
    if problem is None:
        assert problems == []
    elif problem.endswith("*"):  # the rest is configparser's own message
        assert len(problems) == 1 and problems[0].startswith(problem[:-1]), problems
    else:
        assert problems == [problem]


def test_tool_without_a_jaws_checkout_is_refused(tmp_path, capsys):
    assert configkeys.main([str(tmp_path)]) == 2
    assert "has no rpc/jaws_rpc/ package directory: is it a JAWS checkout?" in \
        capsys.readouterr().err


def test_required_keys_data_records_the_jaws_commit():
    assert REQUIRED["jaws_commit"].startswith("9953611d")
    assert len(REQUIRED["jaws-jtm"]["sections"]["JTM"]) >= 30


@needs_checkout
def test_shipped_required_keys_are_what_the_checkout_reads():
    derived = configkeys.required_data(Path(CHECKOUT))
    if not derived["jaws_commit"].startswith(REQUIRED["jaws_commit"][:8]):
        pytest.skip(f"JAWS_CHECKOUT is at {derived['jaws_commit'][:8]}, jaws_required.yaml "
                    f"was derived from {REQUIRED['jaws_commit'][:8]}")
    for _pkg, kind in configkeys.PACKAGES.values():
        assert {k: v for k, v in derived[kind].items() if k != "read_at"} == REQUIRED[kind], kind


@needs_checkout
def test_no_generated_config_lacks_a_key_the_checkout_reads(capsys):
    status = configkeys.main([CHECKOUT])
    out = capsys.readouterr().out
    assert status == 0, out
    assert re.search(r"configkeys: \d+ config files checked against JAWS \w+: no missing", out)


@needs_checkout
def test_generated_jtm_conf_has_every_key_generate_configs_writes(tmp_path):
    from test_jaws_configs import _configs

    script = (Path(CHECKOUT) / "test/integration/generate-configs").read_text()
    block = script.split("jaws-jtm.conf\n", 1)[1].split("\nEOM", 1)[0]
    theirs: dict[str, set[str]] = {}
    for line in block.splitlines():
        if line.startswith("[") and line.endswith("]"):
            section = theirs.setdefault(line[1:-1], set())
        elif "=" in line and not line.startswith("#"):
            section.add(line.split("=", 1)[0].strip())
    for site in ("cori", "jgi", "tahoma", "aws", "local"):
        plan, configs = _configs(site, "dev", tmp_path)
        from test_jaws_configs import _parse
        ours = _parse("jaws-jtm", next(configs[str(c.path)][0] for c in plan.configs
                                        if c.kind == "jaws-jtm"))
        assert {s: set(ours[s]) for s in ours.sections()} == theirs, site


def _tiny_checkout(root: Path) -> Path:
    """Write a made-up checkout: four packages, jtm reading two keys of its own section."""
    sources = {
        "rpc/jaws_rpc/__init__.py": "",
        "site/jaws_site/config.py": "import configparser\nparser = configparser.ConfigParser()\n",
        "central/jaws_central/config.py": "x = 1\n",
        "jtm/jaws_jtm/config.py": textwrap.dedent('''
            import configparser
            def load(path):
                p = configparser.ConfigParser(interpolation=configparser.ExtendedInterpolation())
                p.read(path)
                return p.get("QUEUES", "request_q"), p.getint("QUEUES", "depth")
        '''),
    }
    for name, text in sources.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_tool_names_what_a_generated_directory_lacks(tmp_path, capsys):
    checkout = _tiny_checkout(tmp_path / "checkout")
    plan_dir = tmp_path / "plan" / "opt" / "jaws-dev" / "configs"
    plan_dir.mkdir(parents=True)
    (plan_dir / "jaws-jtm.conf").write_text("[QUEUES]\nrequest_q = q.${depth}\n")
    required = tmp_path / "required.yaml"
    status = configkeys.main([str(checkout), "--generated", str(tmp_path / "plan"),
                              "--write-required", str(required)])
    out = capsys.readouterr().out.splitlines()
    assert status == 1
    assert out[0] == f"{plan_dir}/jaws-jtm.conf: missing [QUEUES] depth " \
        "(read at jtm/jaws_jtm/config.py:6)"
    assert out[1] == f"{plan_dir}/jaws-jtm.conf: [QUEUES] request_q does not resolve: " \
        "Bad value substitution: option 'request_q' in section 'QUEUES' contains an " \
        "interpolation key 'depth' which is not a valid option name. Raw value: 'q.${depth}' " \
        "(read at jtm/jaws_jtm/config.py:6)"
    assert out[-1].endswith("1 config files checked against JAWS unknown: 2 missing or "
                            "unreadable key(s)")
    data = yaml.safe_load(required.read_text())
    assert data["jaws-jtm"]["interpolation"] == "extended"
    assert data["jaws-jtm"]["sections"] == {"QUEUES": {"depth": "int", "request_q": "str"}}
    (plan_dir / "jaws-jtm.conf").write_text("[QUEUES]\ndepth = 4\nrequest_q = q.${depth}\n")
    assert configkeys.main([str(checkout), "--generated", str(tmp_path / "plan")]) == 0
