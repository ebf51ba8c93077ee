"""The package's plan (issue 26): subpackages by stage, their contracts, and what users import.

The contracts are pyproject.toml's [tool.importlinter] (lint-imports, also a step of .ci/run);
here they are shown to hold, to fail on an upward import and on a circle (naming the import),
and to agree with each subpackage's docstring. Users' imports: the entry point, the errors, the
hook and the fixtures.
"""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import pytest_jaws
from pytest_jaws import errors

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(pytest_jaws.__file__).parent

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the dev extra's import-linter needs 3.11
    tomllib = pytest.importorskip("tomli")

CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
LAYERS = next(c for c in CONFIG["contracts"] if c["type"] == "layers")["layers"]
LINT_IMPORTS = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which(
    "lint-imports")

#: The fixtures docs/suites.md documents (used by name in suites and conftests).
FIXTURES = ["jaws_settings", "jaws_manager", "jaws_env", "jaws_role", "jaws_program",
            "jaws_service", "jaws_listener", "jaws_portless", "jaws_once", "jaws_deployment",
            "jaws_dependency"]


def _layers() -> list[list[str]]:
    return [[name.strip() for name in layer.split("|")] for layer in LAYERS]


def _lint(cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    if LINT_IMPORTS is None:
        pytest.skip("lint-imports is not installed (pip install -e '.[dev]' on Python 3.11+)")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "LANG": "C.UTF-8"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([LINT_IMPORTS, str(ROOT / "pyproject.toml"), "--no-cache"],
                          cwd=cwd, env=env, capture_output=True, text=True, check=False)


def test_every_module_is_in_a_subpackage_of_the_layers():
    top = sorted(p.stem for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    subpackages = sorted(p.name for p in PACKAGE.iterdir()
                         if (p / "__init__.py").is_file() and p.name != "fakes")
    named = sorted(n for layer in _layers() for n in layer)
    assert sorted(top + subpackages) == named, (
        "pytest_jaws/ holds modules or subpackages that pyproject.toml's layers do not name "
        "(or the reverse): put each new module in the subpackage of its stage")


@pytest.mark.parametrize("name", [n for layer in _layers() for n in layer
                                  if (PACKAGE / n / "__init__.py").is_file()])
def test_each_subpackage_says_what_it_owns_and_may_import(name):
    doc = importlib.import_module(f"pytest_jaws.{name}").__doc__ or ""
    layers = _layers()
    index = next(i for i, layer in enumerate(layers) if name in layer)
    lower = [n for layer in layers[index + 1:] for n in layer]
    said = re.search(r"May import: (.*?)\.(?:\s|$)", " ".join(doc.split()))
    assert said, f"pytest_jaws/{name}/__init__.py's docstring does not say what it may import"
    assert re.findall(r"``pytest_jaws\.(\w+)``", said.group(1)) == lower, (
        f"pytest_jaws/{name}/__init__.py says it may import {said.group(1)}, pyproject.toml's "
        f"layers say {lower}")
    assert len(doc.split("May import:")[0].split()) > 10, f"pytest_jaws.{name} does not say what it owns"


def test_the_import_contracts_hold():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


def _copy(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    shutil.copytree(PACKAGE, src / "pytest_jaws",
                    ignore=shutil.ignore_patterns("__pycache__", "checkout", "cromwell"))
    return src


def test_an_upward_import_breaks_the_layers_naming_it(tmp_path):
    src = _copy(tmp_path)
    model = src / "pytest_jaws" / "sites" / "sitemodel.py"
    model.write_text(model.read_text() + "\nfrom ..plugin import options  # noqa: E402\n")
    result = _lint(tmp_path, src)
    assert result.returncode == 1, result.stdout
    assert "Stages import only lower layers" in result.stdout
    assert "BROKEN" in result.stdout
    assert "pytest_jaws.sites.sitemodel -> pytest_jaws.plugin.options" in result.stdout


def test_an_import_circle_breaks_the_contract_naming_it(tmp_path):
    src = _copy(tmp_path)
    check = src / "pytest_jaws" / "sites" / "sitecheck.py"  # sites.py imports sitecheck
    check.write_text(check.read_text() + "\nfrom . import sites  # noqa: E402\n")
    result = _lint(tmp_path, src)
    assert result.returncode == 1, result.stdout
    assert "No import circle" in result.stdout and "BROKEN" in result.stdout
    assert "No cycles are allowed in pytest_jaws.sites." in result.stdout
    assert ".sites -> .sitecheck" in result.stdout or ".sitecheck -> .sites" in result.stdout



#: Lines a module of pytest_jaws may have (issue 26: a file a reader takes in at once).
MAX_LINES = 300


def modules_over(limit: int, package: Path = PACKAGE) -> dict[str, int]:
    """Return ``{path relative to the package: lines}`` of its modules longer than ``limit``."""
    sizes = {str(p.relative_to(package)): len(p.read_text().splitlines())
             for p in sorted(package.rglob("*.py"))}
    return {path: n for path, n in sizes.items() if n > limit}


def test_no_module_is_over_300_lines():
    too_long = modules_over(MAX_LINES)
    assert not too_long, f"modules over {MAX_LINES} lines (split them by purpose): {too_long}"


def test_the_line_check_names_a_module_that_grows_too_long(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "short.py").write_text("x = 1\n" * MAX_LINES)
    (tmp_path / "sub" / "long.py").write_text("x = 1\n" * (MAX_LINES + 1))
    assert modules_over(MAX_LINES, tmp_path) == {"sub/long.py": MAX_LINES + 1}

def test_the_plugin_loads_by_its_entry_point():
    (point,) = [e for e in entry_points(group="pytest11") if e.name == "jaws"]
    assert point.value == "pytest_jaws.plugin"
    plugin = point.load()
    assert Path(plugin.__file__).relative_to(PACKAGE).as_posix() == "plugin/__init__.py"
    for hook in ("pytest_addoption", "pytest_configure", "pytest_sessionfinish"):
        assert callable(getattr(plugin, hook, None)), f"pytest_jaws.plugin has no {hook}"


def test_users_imports_keep_working():
    # errors: caught by name in conftests, one hierarchy under JawsError
    for name in ("JawsError", "UsageError", "OptionsError", "SitesError", "PlanError",
                 "DeploymentError", "PortBusyError", "RunLockBusy", "SupervisorError",
                 "InstanceTimeout", "TeardownError", "Cancelled"):
        assert issubclass(getattr(errors, name), errors.JawsError), name
    # the hook a conftest implements
    hooks = importlib.import_module("pytest_jaws.plugin.hooks")
    assert hasattr(hooks.pytest_jaws_plan, "pytest_spec"), "pytest_jaws_plan is not a pytest hookspec"


def test_the_fixtures_are_registered(pytester):
    result = pytester.runpytest("--fixtures", "-p", "no:cacheprovider")
    shown = result.stdout.str()
    missing = [f for f in FIXTURES if re.search(rf"^{f}\b", shown, re.M) is None]
    assert not missing, f"pytest --fixtures does not show {missing}"
