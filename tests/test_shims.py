"""The program shims are as JAWS's deploy scripts write them (issue 21).

Each shim's venv and ``exec`` command are compared with the ones test/integration/
generate-shims, deploy-cromwell and deploy-central write, read from the checkout named by
``$JAWS_CHECKOUT`` (skipped without one), with their variables given the plan's values.
pytest-jaws's declared differences (docs/jaws-configs.md, Shims) are the only ones allowed:
jtm's logs in ``logs/jtm``, and Cromwell's output captured by supervisord instead of being
redirected.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest

from pytest_jaws.plan.plan import make_plan
from pytest_jaws.render.render import render_program_shim
from pytest_jaws.sites.sites import PACKAGED_SITES_FILE, load_sites

CHECKOUT = os.environ.get("JAWS_CHECKOUT")
pytestmark = pytest.mark.skipif(
    not CHECKOUT, reason="set JAWS_CHECKOUT to a JAWS checkout (JGI-Bioinformatics/jaws) to "
                         "compare the shims with the ones its deploy scripts write")
MODEL = load_sites(PACKAGED_SITES_FILE)
#: The JAWS script that writes each program's shim, and the shim's name there.
SCRIPTS = {"jaws-site-daemon": "generate-shims", "jaws-site-central-rpc": "generate-shims",
           "jaws-site-jtm-rpc": "generate-shims", "jaws-jtm": "generate-shims",
           "jaws-cromwell": "deploy-cromwell", "auth": "deploy-central",
           "rest": "deploy-central", "rpc": "deploy-central"}


def _jaws_shims(script: str) -> dict[str, str]:
    """Return ``{shim name without -$DEPLOYMENT_NAME: text}`` of a JAWS deploy script."""
    text = (Path(CHECKOUT) / "test/integration" / script).read_text()
    out = {}
    for match in re.finditer(r'(?:SHIM_FILE="\$SHIM_DIR/([\w-]+)-\$DEPLOYMENT_NAME"\n)?'
                             r'cat <<EOM > "?(?:\$SHIM_DIR/([\w-]+)-\$DEPLOYMENT_NAME|\$SHIM_FILE)"?'
                             r'\n(.*?)\nEOM', text, re.S):
        out[match[1] or match[2]] = match[3]
    return out


def _words(line: str, values: dict[str, str]) -> list[str]:
    """Return the shell words of ``line`` with ``$VAR`` replaced.

    A click option written ``--opt=value`` (deploy-central's rest) becomes ``--opt value``, as
    jaws-site's and jaws-central's click parse it; jtm's ``--config=`` is kept as both write it.
    """
    words = shlex.split(re.sub(r"\$(\w+)", lambda m: values[m[1]], line))
    if Path(words[0]).name not in ("jaws-site", "jaws-central"):
        return words
    return [part for word in words
            for part in (word.split("=", 1) if word.startswith("--") else [word])]


@pytest.mark.parametrize("site, env", [("cori", "prod"), ("jgi", "dev"), ("central", "staging")])
def test_program_shims_exec_what_jaws_shims_exec(site, env):
    spec = MODEL.sites[site]
    plan = make_plan(MODEL, site, env, Path(spec.install_base), current_user="gitlab-runner")
    install = plan.base / (f"jaws-central-{env}" if site == "central" else f"jaws-{env}")
    values = {"LOGS_DIR": str(install / "logs"), "CONFIG_DIR": str(install / "configs"),
              "INSTALL_DIR": str(install), "LOG_LEVEL": MODEL.log_levels[env],
              "SITE_VENV_DIR": str(install / "site"), "JTM_VENV_DIR": str(install / "jtm"),
              "SITE_CROMWELL_TMPDIR": str(plan.programs["jaws-cromwell"].command[3]
                                          .split("=", 1)[1]) if "jaws-cromwell" in
              plan.programs else "", "CROM_STDOUT": "", "CROM_STDERR": ""}
    compared = 0
    for name, prog in plan.programs.items():
        jaws_name = name if name.startswith("jaws-") else f"jaws-central-{name}"
        theirs = _jaws_shims(SCRIPTS[name])[jaws_name]
        ours = render_program_shim(plan, prog)
        exec_line = next(x for x in theirs.splitlines() if x.startswith("exec "))
        expected = _words(exec_line.removeprefix("exec "), values)
        if name == "jaws-jtm":  # declared: the jtm role's logs in their own directory
            expected[expected.index("-ld") + 1] += "/jtm"
        if name == "jaws-cromwell":  # declared: supervisord captures Cromwell's output
            expected = [w for w in expected if not w.startswith(">") and w != "2>"]
        ours_line = next(x for x in ours.splitlines() if x.startswith("exec "))
        assert shlex.split(ours_line)[1:] == expected, (name, ours_line, exec_line)
        venv = re.search(r"source (\S+)/bin/activate", theirs)
        assert venv and f"source {_words(venv[1], values)[0]}/bin/activate" in ours, name
        compared += 1
    assert compared == len(plan.programs) > 0
