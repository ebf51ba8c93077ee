"""The documentation: README.md as a front page, the MkDocs site, the generated options table.

The site is built the way ``.ci/run`` builds it (``mkdocs build --strict``), into a
temporary directory; the break-on-purpose tests build a copy of ``docs/`` with one fault.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

from pytest_jaws.plugin.optiondefs import FLAGS, OPTIONS
from pytest_jaws.plugin.optionsdoc import BEGIN, END, options_table, with_table

OPTIONS_PAGE = ROOT / "docs" / "options.md"


def build(config: Path, site: Path) -> subprocess.CompletedProcess:
    """Run ``mkdocs build --strict`` on ``config`` into ``site``; output in ``.stdout``."""
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config),
                           "-d", str(site)], cwd=config.parent, capture_output=True, text=True,
                          timeout=120, check=False)


def copy_of_docs(tmp_path: Path) -> Path:
    """Copy mkdocs.yml, docs/ and the hook into ``tmp_path``; return the copy's mkdocs.yml."""
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "mkdocs_hooks.py", tmp_path / "scripts")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path)
    return tmp_path / "mkdocs.yml"


def help_options() -> set[str]:
    """Return the ``--jaws-*`` options that ``pytest --help`` lists (the real parser's)."""
    out = subprocess.run([sys.executable, "-m", "pytest", "--help"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=True).stdout
    return set(re.findall(r"^\s+(--jaws-[a-z-]+)", out, re.MULTILINE))


def test_readme_is_a_front_page_of_at_most_150_lines():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines; move the rest to docs/"


def test_readme_keeps_the_two_commands_and_the_test_command_ci_runs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    for command in ('python -m pip install -e ".[dev]"',
                    "pytest suites --jaws-site=local --jaws-env=dev", "pytest tests -n 2"):
        assert f"\n{command}\n" in readme, command
        # .ci/run runs the install with the interpreter's full path ("$PYTHON" -m pip ...)
        assert any(line.strip().endswith(command.removeprefix("python ")) for line in ci), command


def test_the_site_builds_strictly_with_the_generated_options_table(tmp_path):
    result = build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 0, result.stdout + result.stderr
    page = (tmp_path / "site" / "options" / "index.html").read_text(encoding="utf-8")
    listed = help_options()
    assert listed == {flag for flag, *_ in OPTIONS} | {flag for flag, *_ in FLAGS}
    for flag in listed:
        ini = flag.lstrip("-").replace("-", "_")
        assert f"<td><code>{flag}</code></td>\n<td><code>{ini}</code></td>" in page, flag


def test_the_committed_options_table_is_the_generated_one():
    page = OPTIONS_PAGE.read_text(encoding="utf-8")
    assert with_table(page) == page, (
        "docs/options.md's options table differs from pytest_jaws/plugin/optiondefs.py: run "
        "python scripts/mkdocs_hooks.py")


def test_a_stale_options_table_is_found_and_the_build_regenerates_it(tmp_path):
    config = copy_of_docs(tmp_path)
    page = config.parent / "docs" / "options.md"
    text = page.read_text(encoding="utf-8")
    stale = "\n".join(line for line in text.splitlines() if "`--jaws-down`" not in line) + "\n"
    page.write_text(stale, encoding="utf-8")
    assert with_table(stale) != stale  # what the test above would report
    assert build(config, tmp_path / "site").returncode == 0
    html = (tmp_path / "site" / "options" / "index.html").read_text(encoding="utf-8")
    assert "<td><code>--jaws-down</code></td>" in html


def test_a_page_without_the_table_markers_is_refused():
    with pytest.raises(ValueError, match="options table"):
        with_table("# Options\n\nno markers here\n")
    assert options_table() in with_table(f"{BEGIN}\nold\n{END}\n")


def test_a_broken_link_fails_the_strict_build_naming_it(tmp_path):
    config = copy_of_docs(tmp_path)
    page = config.parent / "docs" / "sites.md"
    page.write_text(page.read_text(encoding="utf-8") + "\nSee [nowhere](no-such-page.md).\n",
                    encoding="utf-8")
    result = build(config, tmp_path / "site")
    assert result.returncode != 0
    assert "no-such-page.md" in result.stdout + result.stderr


def test_a_page_missing_from_the_navigation_fails_the_strict_build_naming_it(tmp_path):
    config = copy_of_docs(tmp_path)
    (config.parent / "docs" / "orphan.md").write_text("# Orphan\n", encoding="utf-8")
    result = build(config, tmp_path / "site")
    assert result.returncode != 0
    assert "orphan.md" in result.stdout + result.stderr
