"""The GitLab CI configuration (.gitlab-ci.yml), checked offline and without deploying.

- the file is valid against GitLab's CI schema (the copy vendored in check-jsonschema);
- the integration matrix and sites.yaml agree: every matrix site and environment exists, every
  real site (``fake: false``) and environment has exactly one matrix entry;
- the integration jobs run on the site's runner, one deployment per site and environment at a
  time, branches mapped to environments as in JAWS, and keep the deployment;
- every ``pytest`` command line uses only options that pytest, with the plugin and xdist
  loaded, knows -- parsed by pytest's own parser, not by a list kept here;
- every report a pytest command writes is published as an artifact.
"""

from __future__ import annotations

import itertools
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from _pytest.config import get_config

from pytest_jaws.plugin.options import ci_variables
from pytest_jaws.sites.sites import load_sites

ROOT = Path(__file__).resolve().parent.parent
CI_FILE = ROOT / ".gitlab-ci.yml"
SITES_FILE = ROOT / "sites.yaml"
MODEL = load_sites(SITES_FILE)

#: Top-level keys of a GitLab CI file that are not jobs.
GLOBAL_KEYS = {"default", "include", "stages", "variables", "workflow", "spec",
               "image", "services", "cache", "before_script", "after_script"}
#: How JAWS maps branches to environments: the rule of each environment's deploy job.
BRANCH_RULES = {
    "dev": '$CI_COMMIT_BRANCH == "dev"',
    "staging": '$CI_COMMIT_BRANCH == "staging"',
    "prod": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH",
}
#: Values of predefined CI variables used when expanding command lines.
SAMPLE_VARIABLES = {
    "CI_PROJECT_DIR": "/builds/jaws/pytest-jaws",
    "CI_JOB_NAME": "sample-job",
    "CI_COMMIT_BRANCH": "dev",
    "CI_DEFAULT_BRANCH": "main",
}
SCRIPT_KEYS = ("before_script", "script", "after_script")


# --- reading the CI file ----------------------------------------------------------------------

class _CILoader(yaml.SafeLoader):
    """YAML loader that accepts GitLab's ``!reference [job, key]`` tag (kept as its list)."""


_CILoader.add_constructor(
    "!reference", lambda loader, node: loader.construct_sequence(node, deep=True))


def _merge(base: dict, override: dict) -> dict:
    """GitLab's ``extends`` merge: hashes merge deeply, anything else is replaced."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(out.get(key), dict) and isinstance(value, dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _resolve(ci: dict, name: str, seen: tuple[str, ...] = ()) -> dict:
    assert name not in seen, f"extends cycle: {' -> '.join((*seen, name))}"
    assert name in ci, f"{seen[-1] if seen else name} extends unknown job {name!r}"
    job = ci[name]
    parents = job.get("extends", [])
    out: dict = {}
    for parent in [parents] if isinstance(parents, str) else parents:
        out = _merge(out, _resolve(ci, parent, (*seen, name)))
    return _merge(out, {k: v for k, v in job.items() if k != "extends"})


def load_jobs() -> dict[str, dict]:
    """Return the visible jobs of .gitlab-ci.yml, with ``extends`` resolved."""
    ci = yaml.load(CI_FILE.read_text(encoding="utf-8"), Loader=_CILoader)  # noqa: S506 - a SafeLoader
    return {name: _resolve(ci, name) for name, body in ci.items()
            if name not in GLOBAL_KEYS and not name.startswith(".") and isinstance(body, dict)}


def _value(value) -> str:
    return str(value["value"] if isinstance(value, dict) else value)


def instances(job: dict) -> list[dict[str, str]]:
    """Return the variables of each job GitLab creates from ``job``.

    One per ``parallel:matrix`` combination (job variables overridden by the matrix entry), or
    one without a matrix.
    """
    base = {k: _value(v) for k, v in (job.get("variables") or {}).items()}
    parallel = job.get("parallel")
    matrix = parallel.get("matrix") if isinstance(parallel, dict) else None
    if not matrix:
        return [base]
    out = []
    for entry in matrix:
        names = list(entry)
        axes = [v if isinstance(v, list) else [v] for v in entry.values()]
        for combo in itertools.product(*axes):
            out.append({**base, **dict(zip(names, map(str, combo), strict=True))})
    return out


def expand(text: str, variables: dict[str, str]) -> str:
    """Expand ``$NAME`` and ``${NAME}``; unknown names become ``sample``."""
    values = {**SAMPLE_VARIABLES, **variables}
    return re.sub(r"\$(?:\{(\w+)\}|(\w+))",
                  lambda m: values.get(m.group(1) or m.group(2), "sample"), text)


def _commands(line: str) -> list[list[str]]:
    """Split one shell line into simple commands (at ``&&``, ``||``, ``;``, ``|``, ``&``)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token and set(token) <= set("();<>|&"):
            commands.append([])
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def pytest_commands(job: dict, variables: dict[str, str]) -> list[list[str]]:
    """Return the argument lists of every ``pytest`` / ``python -m pytest`` command of the job.

    From the job's scripts, after expanding variables.
    """
    found = []
    for key in SCRIPT_KEYS:
        entries = job.get(key) or []
        for entry in [entries] if isinstance(entries, str) else entries:
            text = expand(str(entry), variables).replace("\\\n", " ")
            for line in text.splitlines():
                for words in _commands(line):
                    while words and re.fullmatch(r"\w+=.*", words[0]):  # VAR=value pytest ...
                        words = words[1:]
                    if words[:1] == ["pytest"]:
                        found.append(words[1:])
                    elif len(words) >= 3 and re.fullmatch(r"python[\d.]*", words[0]) \
                            and words[1:3] == ["-m", "pytest"]:
                        found.append(words[3:])
    return found


JOBS = load_jobs()
#: The integration jobs: those with a ``parallel:matrix`` (over the real sites).
INTEGRATION = {name: job for name, job in JOBS.items()
               if isinstance(job.get("parallel"), dict) and job["parallel"].get("matrix")}


def _pairs() -> list[tuple[str, str, str]]:
    """(job, SITE, JAWS_ENV) of every integration job instance."""
    return [(name, v.get("SITE", "?"), v.get("JAWS_ENV", "?"))
            for name, job in INTEGRATION.items() for v in instances(job)]


# --- pytest's parser with the plugin ----------------------------------------------------------

@pytest.fixture(scope="module")
def parser():
    """Return pytest's command-line parser with the builtin plugins, pytest-jaws and xdist.

    That is what the CI jobs have after ``pip install -e ".[dev]"``.
    """
    config = get_config()
    config.pluginmanager.import_plugin("pytest_jaws.plugin")
    config.pluginmanager.import_plugin("xdist.plugin")
    return config._parser  # noqa: SLF001 - pytest has no public handle on its parser


def known(parser, args: list[str]):
    """Return the options pytest's parser recognises in ``args`` (unknown ones ignored)."""
    return parser.parse_known_and_unknown_args(list(args))[0]


# --- the tests --------------------------------------------------------------------------------

def test_gitlab_ci_file_is_valid_against_gitlab_schema():
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.gitlab-ci",
         "--data-transform", "gitlab-ci", str(CI_FILE)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (
        f"check-jsonschema exited {result.returncode}:\n{result.stdout}{result.stderr}")


def test_there_are_integration_jobs_with_a_site_and_environment_each():
    assert INTEGRATION, "no job with parallel:matrix in .gitlab-ci.yml"
    unnamed = [(job, site, env) for job, site, env in _pairs() if "?" in (site, env)]
    assert not unnamed, f"matrix instances without SITE or JAWS_ENV: {unnamed}"


def test_matrix_sites_and_environments_exist_in_sites_yaml():
    model = load_sites(SITES_FILE)
    unknown_sites = sorted({site for _, site, _ in _pairs() if site not in model.sites})
    unknown_envs = sorted({env for _, _, env in _pairs() if env not in model.ports})
    assert not unknown_sites and not unknown_envs, (
        f"{CI_FILE.name} deploys sites {unknown_sites} / environments {unknown_envs} that "
        f"{SITES_FILE.name} does not define (sites: {', '.join(model.sites)}; environments: "
        f"{', '.join(model.ports)})")


def test_matrix_sites_are_real_sites():
    model = load_sites(SITES_FILE)
    fake = sorted({site for _, site, _ in _pairs()
                   if site in model.sites and model.sites[site].fake})
    assert not fake, f"the integration stage deploys fake sites {fake}; it is for real sites"


def test_every_real_site_and_environment_has_a_matrix_entry():
    model = load_sites(SITES_FILE)
    expected = {(name, env) for name, site in model.sites.items() if not site.fake
                for env in model.ports}
    covered = {(site, env) for _, site, env in _pairs()}
    missing = sorted(expected - covered)
    assert not missing, (
        f"real sites x environments of {SITES_FILE.name} without an integration job in "
        f"{CI_FILE.name}: {missing}")


def test_no_site_and_environment_is_deployed_by_two_jobs():
    seen: dict[tuple[str, str], str] = {}
    twice = []
    for job, site, env in _pairs():
        if (site, env) in seen:
            twice.append(f"{site}/{env} in {seen[site, env]} and {job}")
        seen[site, env] = job
    assert not twice, f"deployed twice: {twice}"


@pytest.mark.parametrize("name", sorted(INTEGRATION))
def test_branches_map_to_environments_as_in_jaws(name):
    job = INTEGRATION[name]
    envs = {v.get("JAWS_ENV") for v in instances(job)}
    assert len(envs) == 1, (
        f"{name} covers environments {sorted(envs)}; rules cannot differ per matrix entry, "
        "so each job deploys one environment")
    env = envs.pop()
    assert env in BRANCH_RULES, f"{name}: unknown environment {env!r}"
    assert job.get("rules") == [{"if": BRANCH_RULES[env]}], (
        f"{name} deploys {env}; its rules must be exactly [{{if: {BRANCH_RULES[env]}}}], "
        f"got {job.get('rules')}")


@pytest.mark.parametrize("name", sorted(INTEGRATION))
def test_integration_job_runs_on_the_sites_runner_one_deployment_at_a_time(name):
    job = INTEGRATION[name]
    for v in instances(job):
        site, env = v["SITE"], v["JAWS_ENV"]
        where = f"{name} [{site}/{env}]"
        tags = list(dict.fromkeys(expand(t, v) for t in job.get("tags", [])))
        assert tags == MODEL.runner_tags_of(site), (
            f"{where}: runner tags {tags}, sites.yaml says {MODEL.runner_tags_of(site)}")
        assert expand(job["environment"]["name"], v) == f"{site}/{env}", where
        assert expand(job["resource_group"], v) == f"jaws-{site}-{env}", where
    assert job.get("interruptible") is False, f"{name}: a deployment must not be interrupted"
    assert job.get("timeout"), f"{name}: set a timeout"


@pytest.mark.parametrize("name", sorted(INTEGRATION))
def test_integration_job_deploys_its_site_and_keeps_it(name, parser):
    job = INTEGRATION[name]
    for v in instances(job):
        commands = pytest_commands(job, v)
        assert commands, f"{name}: no pytest command"
        for args in commands:
            ns = known(parser, args)
            assert (ns.jaws_site, ns.jaws_env) == (v["SITE"], v["JAWS_ENV"]), (name, args)
            assert getattr(ns, "jaws_teardown", None) == "never", (
                f"{name}: real sites keep the deployment; add --jaws-teardown=never: {args}")


def test_key_and_secret_variables_are_valid_gitlab_variable_names():
    names = [n for _, site, env in _pairs() for n in ci_variables(MODEL, site, env)]
    assert "JAWS_SUPERVISOR_KEY_CENTRAL_PROD_CENTRAL" in names
    assert "JAWS_SECRET_CORI_DEV_SITE_RMQ_PASSWORD" in names
    bad = [n for n in names if not re.fullmatch(r"[A-Z][A-Z0-9_]*", n)]
    assert not bad, f"GitLab variable keys are letters, digits and _ only: {bad}"


@pytest.mark.parametrize("name", sorted(INTEGRATION))
def test_integration_job_builds_the_jaws_checkout_it_clones(name, parser):
    job = INTEGRATION[name]
    for v in instances(job):
        for args in pytest_commands(job, v):
            assert known(parser, args).jaws_source == "jaws-source", (name, args)
        assert v.get("JAWS_REF") in {"dev": "dev", "staging": "staging", "prod": "master"}.values()


def test_every_job_runs_pytest():
    without = [name for name, job in JOBS.items()
               if not any(pytest_commands(job, v) for v in instances(job))]
    assert not without, f"jobs without a pytest command: {without}"


@pytest.mark.parametrize("name", sorted(JOBS))
def test_pytest_command_lines_use_only_options_pytest_knows(name, parser):
    job = JOBS[name]
    problems = []
    for v in instances(job):
        for args in pytest_commands(job, v):
            try:  # as pytest parses: unknown options and missing values raise UsageError
                parser.parse(list(args))
            except pytest.UsageError as exc:
                problems.append(f"pytest {shlex.join(args)}\n  -> {str(exc).splitlines()[-1]}")
    assert not problems, f"{name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("name", sorted(JOBS))
def test_reports_are_published_even_when_the_job_fails(name, parser):
    job = JOBS[name]
    artifacts = job.get("artifacts") or {}
    junit = (artifacts.get("reports") or {}).get("junit") or []
    junit = [junit] if isinstance(junit, str) else junit
    paths = artifacts.get("paths") or []
    for v in instances(job):
        for args in pytest_commands(job, v):
            ns = known(parser, args)
            if ns.xmlpath:
                assert ns.xmlpath in [expand(p, v) for p in junit], (
                    f"{name}: --junitxml={ns.xmlpath} is not in artifacts:reports:junit {junit}")
            report = getattr(ns, "jaws_report", None)
            if report:
                assert any(report == p or report.startswith(p.rstrip("/") + "/")
                           for p in (expand(p, v) for p in paths)), (
                    f"{name}: --jaws-report={report} is not under artifacts:paths {paths}")
            if ns.xmlpath or report:
                assert artifacts.get("when") == "always", (
                    f"{name}: reports matter most when tests fail; use artifacts:when: always")


def test_runner_tags_are_the_ones_jaws_uses():
    assert {s: MODEL.runner_tags_of(s) for s in ("cori", "jgi", "tahoma", "central", "aws")} == {
        "cori": ["cori"], "jgi": ["jgi"], "tahoma": ["tahoma", "pnnl"],
        "central": ["central"], "aws": ["jaws-aws"]}


def _workflow_runs(variables: dict[str, str]) -> bool:
    """Evaluate the workflow rules of .gitlab-ci.yml for a pipeline with ``variables``.

    The rules' simple expression language: ==, &&, ||, bare variables, string literals.
    """
    ci = yaml.load(CI_FILE.read_text(encoding="utf-8"), Loader=_CILoader)  # noqa: S506 - a SafeLoader

    def value(token: str) -> str:
        token = token.strip()
        if token.startswith('"'):
            return token.strip('"')
        return variables.get(token.lstrip("$"), "")

    def term_true(term: str) -> bool:
        if "==" in term:
            left, right = term.split("==", 1)
            return value(left) == value(right)
        return bool(value(term))

    def true(expr: str) -> bool:
        return any(all(term_true(t) for t in alt.split("&&")) for alt in expr.split("||"))
    for rule in ci["workflow"]["rules"]:
        if true(rule["if"]):
            return rule.get("when", "always") != "never"
    return False


@pytest.mark.parametrize("branch", ["dev", "staging", "main"])
def test_push_to_a_deploying_branch_runs_even_with_an_open_merge_request(branch):
    push = {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": branch,
            "CI_DEFAULT_BRANCH": "main", "CI_OPEN_MERGE_REQUESTS": "group/project!12"}
    assert _workflow_runs(push), f"a push to {branch} with an open merge request deploys nothing"
    assert _workflow_runs({**push, "CI_OPEN_MERGE_REQUESTS": ""})


def test_other_branch_pipelines_wait_for_the_merge_request_pipeline():
    push = {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "feature",
            "CI_DEFAULT_BRANCH": "main", "CI_OPEN_MERGE_REQUESTS": "group/project!12"}
    assert not _workflow_runs(push)
    assert _workflow_runs({**push, "CI_OPEN_MERGE_REQUESTS": ""})
    assert _workflow_runs({"CI_PIPELINE_SOURCE": "merge_request_event",
                           "CI_DEFAULT_BRANCH": "main"})


def test_real_code_twin_runs_the_pipelines_checkout_before_any_site_is_deployed(parser):
    """Issue 21: the real JAWS code under a fake twin, on $CI_PROJECT_DIR, before deploy jobs."""
    ci = yaml.safe_load(CI_FILE.read_text())
    stages = ci["stages"]
    job = JOBS["real-code-twin"]
    assert stages.index(job["stage"]) < stages.index("integration")
    assert all(stages.index(j["stage"]) > stages.index(job["stage"])
               for j in INTEGRATION.values())
    script = "\n".join(job["script"])
    assert 'JAWS_SOURCE="$CI_PROJECT_DIR"' in script  # the pipeline's own checkout in JAWS's
    for v in instances(job):
        for args in pytest_commands(job, v):
            options = known(parser, args)
            assert options.jaws_fake and options.jaws_site == "cori", args
            assert options.jaws_source and options.jaws_python, args
