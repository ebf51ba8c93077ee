"""The fakes are as strict as the real programs (issue 21), broken on purpose.

The fake jtm reads what jtm reads (jaws_required.yaml), with jtm's parser and getters, and
dies with jtm's own exception when a key is missing; it refuses a submit without a pool with
click's usage error, as jtm does. The fake jaws-site and jaws-central read what their
packages read and fail with the same errors. With ``$JAWS_REAL_BIN`` (the ``bin`` of a venv
where JAWS's rpc, jtm, site and central are installed, e.g. with Python 3.8) the same inputs
are given to the real programs, which must fail with the same lines (where they fail before
connecting to MySQL).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import leftovers, sites_data
from pyhocon import ConfigFactory

from pytest_jaws import errors
from pytest_jaws.deploy import deploy
from pytest_jaws.plan.plan import FAKE_CHECKOUT, make_plan
from pytest_jaws.render.jawsconf import REQUIRED, render_configs
from pytest_jaws.sites.sites import PACKAGED_SITES_FILE, load_sites

MODEL = load_sites(PACKAGED_SITES_FILE)
REAL_BIN = os.environ.get("JAWS_REAL_BIN")
MISSING_KEY = "configparser.NoOptionError: No option 'jtm_task_request_q' in section: 'JTM'"
NO_POOL = ["Usage: jtm submit [OPTIONS]", "Try 'jtm submit --help' for help.", "",
           "Error: Missing option '-p' / '--pool_name'."]


def _fake_jtm(bin_dir: Path) -> Path:
    """Write ``bin_dir/jtm``: the fake checkout's jtm console script, run from the source."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / "jtm"
    paths = [str(FAKE_CHECKOUT / "jtm"), str(FAKE_CHECKOUT / "rpc")]
    path.write_text(f"#!{sys.executable}\nimport sys\nsys.path[:0] = {paths!r}\n"
                    "from jaws_jtm.jtm import jtm\njtm()\n")
    path.chmod(0o755)
    return path


def _jtms(tmp_path: Path) -> list[str]:
    return [str(_fake_jtm(tmp_path / "bin"))] + ([f"{REAL_BIN}/jtm"] if REAL_BIN else [])


def _configs(tmp_path: Path, site: str = "local") -> dict[str, str]:
    plan = make_plan(MODEL, site, "dev", tmp_path / "base", current_user="gitlab-runner")
    rendered = render_configs(plan, dict.fromkeys(plan.secrets, "placeholder-secret"))
    return {cfg.kind: rendered[str(cfg.path)][0] for cfg in plan.configs}


def _run(argv: list[str], cwd: Path, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=60,
                          env={"PATH": os.environ["PATH"], "LANG": "C.UTF-8"}, **kw)


def test_fake_jtm_reads_every_key_jtm_reads():
    out = subprocess.run(
        [sys.executable, "-c", "import sys, json; sys.path[:0] = sys.argv[1:]; "
         "from jaws_jtm.jtm import REQUIRED; print(json.dumps(REQUIRED))",
         str(FAKE_CHECKOUT / "jtm"), str(FAKE_CHECKOUT / "rpc")],
        capture_output=True, text=True, check=True, timeout=60).stdout
    assert json.loads(out) == REQUIRED["jaws-jtm"]["sections"]


@pytest.mark.parametrize("key", ["jtm_task_request_q", "jgi_jtm_main_exch"])
def test_jtm_without_a_queue_key_dies_with_jtms_own_error(tmp_path, key):
    text = _configs(tmp_path)["jaws-jtm"]
    conf = tmp_path / "jaws-jtm.conf"
    conf.write_text("\n".join(line for line in text.splitlines()
                              if not line.startswith(f"{key} =")) + "\n")
    for jtm in _jtms(tmp_path):
        result = _run([jtm, f"--config={conf}", "--debug", "manager", "-ld", str(tmp_path)],
                      tmp_path)
        assert result.returncode == 1, (jtm, result.stderr)
        assert result.stderr.splitlines()[-1] == \
            f"configparser.NoOptionError: No option '{key}' in section: 'JTM'", (jtm, result.stderr)


def test_jtm_submit_without_a_pool_is_refused_as_click_refuses_it(tmp_path):
    conf = tmp_path / "jaws-jtm.conf"
    conf.write_text(_configs(tmp_path)["jaws-jtm"])
    for jtm in _jtms(tmp_path):
        result = _run([jtm, f"--config={conf}", "submit", "-cmd", "/bin/true", "-cl", "local",
                       "-t", "00:10:00", "-c", "1", "-m", "1"], tmp_path)
        assert result.returncode == 2, (jtm, result.stderr)
        assert result.stderr.splitlines() == NO_POOL, (jtm, result.stderr)


def _submit_script(cromwell_conf: str, which: str, drop: str = "", cwd: str = "/work") -> str:
    """Return the JTM backend's ``which`` script with Cromwell's substitutions done.

    Each ``${name}`` of the runtime attributes takes its default; ``script``, ``job_name``,
    ``cwd``, ``docker_cwd``, ``job_shell`` and ``docker`` take a task's values. ``drop`` is
    removed from the script first (breaking it on purpose).
    """
    conf = ConfigFactory.parse_string(cromwell_conf.replace(
        'include required(classpath("application"))', ""))
    jtm = conf["backend.providers.JTM.config"]
    values = {"script": "/bin/true", "job_name": "call-hello", "cwd": cwd,
              "docker_cwd": "/cromwell", "job_shell": "/bin/bash", "docker": "ubuntu:latest"}
    for line in jtm["runtime-attributes"].splitlines():
        match = re.match(r"\s*\w+\??\s+(\w+)\s*=\s*(.*)$", line)
        if match:
            values[match[1]] = match[2].strip().strip('"')
    script = jtm[which].replace(drop, "") if drop else jtm[which]
    return re.sub(r"\$\{(\w+)\}", lambda m: values[m[1]], script)


@pytest.mark.parametrize("which", ["submit", "submit-docker"])
def test_cromwell_submit_reaches_jtm_with_a_pool_and_is_refused_without_one(tmp_path, which):
    configs = _configs(tmp_path)
    bin_dir = tmp_path / "bin"
    _fake_jtm(bin_dir)
    jtm_conf = Path(re.search(r"jtm --config=(\S+)", configs["cromwell"])[1])
    jtm_conf.parent.mkdir(parents=True)
    jtm_conf.write_text(configs["jaws-jtm"])
    for stub in ("docker", "singularity", "shifterimg", "flock"):  # the image pull succeeds
        (bin_dir / stub).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / stub).chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "LANG": "C.UTF-8"}
    good = subprocess.run(["bash", "-c", _submit_script(configs["cromwell"], which)],
                          capture_output=True, text=True, env=env, timeout=60)
    # past every option and config check of jtm: only the fake manager's lack of tasks is left
    assert good.returncode == 1, good.stderr
    assert "fake jtm: task for pool small on local refused: the fake manager of LOCAL runs " \
           "no tasks" in good.stderr
    bad = subprocess.run(["bash", "-c", _submit_script(configs["cromwell"], which,
                                                       drop="-p ${poolname} ")],
                         capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 2 and bad.stderr.splitlines()[-4:] == NO_POOL, bad.stderr


def test_deployment_whose_jtm_conf_lacks_a_queue_key_fails_naming_the_key(tmp_path,
                                                                          port_offset):
    data = sites_data()
    data["sites"]["local"]["startsecs"] = 3  # slack for supervisord's loop on a loaded machine
    path = tmp_path / "sites.yaml"
    path.write_text(yaml.safe_dump(data))
    plan = make_plan(load_sites(path), "local", "dev", tmp_path, port_offset=port_offset)
    conf = next(str(c.path) for c in plan.configs if c.kind == "jaws-jtm")

    def drop_queue_key(plan, files):
        text, role, mode = files[conf]
        files[conf] = ("\n".join(line for line in text.splitlines()
                                 if not line.startswith("jtm_task_request_q =")), role, mode)

    with pytest.raises(errors.DeploymentError) as info:
        deploy.Attempt(plan, amend=drop_queue_key).run()
    message = str(info.value)
    assert message.startswith("program jaws-jtm failed to start: Exited too quickly"), message
    assert MISSING_KEY in message
    assert not leftovers(Path(tmp_path))


def _launcher(bin_dir: Path, package: str, script: str, module: str) -> Path:
    """Write ``bin_dir/<script>``: a fake checkout's console script, run from the source."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / script
    paths = [str(FAKE_CHECKOUT / package), str(FAKE_CHECKOUT / "rpc")]
    path.write_text(f"#!{sys.executable}\nimport sys\nsys.path[:0] = {paths!r}\n"
                    f"from {module} import jaws\njaws()\n")
    path.chmod(0o755)
    return path


def _without(text: str, section: str, key: str) -> str:
    """Return the INI ``text`` without ``key`` in ``section`` (``SITE:*``: every SITE:...)."""
    out, current = [], None
    for line in text.splitlines():
        if line.startswith("["):
            current = line[1:-1]
        matches = current == section or (section.endswith("*") and current is not None
                                         and current.startswith(section[:-1]))
        if not (matches and line.split("=", 1)[0].strip() == key and "=" in line):
            out.append(line)
    return "\n".join(out) + "\n"


#: Which program of each package reads a section first (site/jaws_site/cli.py, daemon.py;
#: central/jaws_central/cli.py); the rest fail in every program (required_params).
PROGRAMS = {"jaws-site": ("jaws_site", "jaws-site", "jaws_site.cli", "daemon",
                          {"CENTRAL_RPC_SERVER": "central-rpc", "LOCAL_RPC_SERVER": "jtm-rpc"}),
            "jaws-central": ("jaws_central", "jaws-central", "jaws_central.cli", "auth",
                             {"RPC_SERVER": "rpc", "SITE:*": "rest"})}
#: Keys central reads only when it sends an email, through its own Configuration.get, which
#: gives None for a missing key (central/jaws_central/config.py, rpc_operations.py): no
#: program fails at start without them, the real one neither.
READ_LATER = {("EMAIL", k) for k in ("password", "port", "server", "user")}
#: Keys the real programs reach only after connecting to MySQL (the daemon and central's rest
#: create their tables first): the real programs are not run for them.
DB_FIRST = {("CENTRAL_RPC_CLIENT", "queue"), ("SITE:*", "queue")}
CASES = [(kind, section, key) for kind in PROGRAMS
         for section, keys in REQUIRED[kind]["sections"].items() for key in keys
         if (section, key) not in READ_LATER]


@pytest.mark.parametrize("kind, section, key", CASES,
                         ids=[f"{k}-{s}-{key}" for k, s, key in CASES])
def test_fake_site_and_central_without_a_key_they_read_fail_naming_it(tmp_path, kind, section,
                                                                       key):
    package, script, module, default, by_section = PROGRAMS[kind]
    program = by_section.get(section, default)
    conf = tmp_path / f"{kind}.conf"
    conf.write_text(_without(_configs(tmp_path)[kind], section, key))
    commands = [str(_launcher(tmp_path / "bin", package.split("_")[1], script, module))]
    if REAL_BIN and (section, key) not in DB_FIRST:
        commands.append(f"{REAL_BIN}/{script}")
    for command in commands:
        result = _run([command, "--config", str(conf), "--log", str(tmp_path / "log"),
                       program], tmp_path)
        last = result.stderr.splitlines()[-1] if result.stderr else ""
        assert result.returncode == 1, (command, program, result.stderr)
        # JAWS's own errors: config.py's ValueError, jaws_rpc's ConfigurationError, a KeyError
        assert last in (
            f"ValueError: Config file, {conf}, missing required parameter, {section}/{key}"
            .replace("SITE:*", "SITE:LOCAL"),
            f"jaws_rpc.rpc_server.ConfigurationError: {key} required",
            f"jaws_rpc.rpc_client.ConfigurationError: {key} required",
            f"KeyError: '{key}'"), (command, program, result.stderr)


@pytest.mark.parametrize("site", ["cori", "jgi", "local"])  # shifter, singularity, docker
def test_submit_docker_passes_the_container_command_word_for_word(tmp_path, site):
    """A base directory with a quote and a space reaches the worker's command intact."""
    base = tmp_path / 'b"q x'
    plan = make_plan(MODEL, site, "dev", base, current_user="gitlab-runner")
    rendered = render_configs(plan, dict.fromkeys(plan.secrets, "placeholder-secret"))
    cromwell_conf = next(rendered[str(c.path)][0] for c in plan.configs if c.kind == "cromwell")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    argv_file = tmp_path / "argv.json"
    (bin_dir / "jtm").write_text(f"#!{sys.executable}\nimport json, sys\n"
                                 f"open({str(argv_file)!r}, 'w').write(json.dumps(sys.argv))\n")
    for stub in ("jtm", "docker", "singularity", "shifterimg", "flock"):
        (bin_dir / stub).touch()
        (bin_dir / stub).chmod(0o755)
        if stub != "jtm":
            (bin_dir / stub).write_text("#!/bin/sh\nexit 0\n")
    script = _submit_script(cromwell_conf, "submit-docker", cwd="/w d/call")
    subprocess.run(["bash", "-c", script], check=True, timeout=60,
                   env={"PATH": f"{bin_dir}:/usr/bin:/bin", "LANG": "C.UTF-8"})
    argv = json.loads(argv_file.read_text())
    assert argv[1] == f"--config={base}/jaws-dev/configs/jaws-jtm.conf"
    task = shlex.split(argv[argv.index("-cmd") + 1])  # as the worker's shell splits it
    kind = MODEL.sites[site].config.container.type
    assert task[0] == f"{base}/jaws-dev/{kind}_exec.sh"
    assert task[-2:] == ["/bin/bash", "/bin/true"]
    assert "/refdata" in task and ("/w d/call" in task or kind == "shifter")
