"""Every command in a ``sh`` block of README.md and docs/*.md runs verbatim (issue 25).

A block's commands that ``.ci/run`` runs word for word (the install, the main job, the test
command, the as-root suites, ...) are proven there, on a fresh machine: the test checks that
``.ci/run`` still has each of them. The block's other commands run here, in order, from the
project's root, as a reader would paste them: as root, in a network namespace of its own
(``unshare -n``), so that the documented ports, fixed and shared by everyone on this host, are
free; in a fresh ``$TMPDIR``; with this interpreter's ``bin`` first on PATH (its ``pytest``,
``python``, ``mkdocs``). Each must exit 0.

A block preceded by ``<!-- not run here: REASON -->`` (a real site's runner, a command that
changes the host) is reported as skipped with that reason. Templates with placeholders go in
``text`` blocks, which are not commands.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import ROOT, leftovers, run_in_own_netns

SKIP_MARK = re.compile(r"<!--\s*not run here:\s*(?P<reason>.+?)\s*-->")
FENCE = re.compile(r"^```(?P<lang>\S*)\s*$")
#: How long one block may run (seconds): only so that a hung command cannot hang the tests.
BLOCK_TIMEOUT = 600


@dataclass(frozen=True)
class Block:
    """One ``sh`` block: where it is, its commands, and why it is not run here (or None)."""

    where: str
    commands: tuple[str, ...]
    skip: str | None


def commands_of(lines: list[str]) -> tuple[str, ...]:
    """Return the commands of a block's lines: comments dropped, backslash continuations joined."""
    out: list[str] = []
    pending = ""
    for raw in lines:
        line = raw.strip()
        if pending:
            line = f"{pending} {line}"
            pending = ""
        if line.endswith("\\"):
            pending = line[:-1].strip()
            continue
        # a trailing comment starts at " #" outside quotes: shlex knows the quoting
        words = shlex.split(line, comments=True)
        if not words:
            continue
        end = len(line)
        for match in re.finditer(r"\s#", line):
            if shlex.split(line[:match.start()], comments=True) == words:
                end = match.start()
                break
        out.append(line[:end].rstrip())
    return tuple(out)


def blocks_of(path: Path) -> list[Block]:
    """Return the ``sh`` blocks of a Markdown file, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i].strip())
        if not match or not match["lang"]:
            i += 1
            continue
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        i += 1
        if match["lang"] not in ("sh", "bash", "shell"):
            continue
        before = next((line for line in reversed(lines[:start]) if line.strip()), "")
        skip = SKIP_MARK.search(before)
        found.append(Block(f"{path.relative_to(ROOT)}:{start + 1}", commands_of(body),
                           skip["reason"] if skip else None))
    return found


def documented_blocks() -> list[Block]:
    """Return every ``sh`` block of README.md and docs/*.md."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return [block for page in pages for block in blocks_of(page)]


def ci_commands() -> set[str]:
    """Return the command lines of ``.ci/run``, as written."""
    return {line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()}


def in_ci(command: str, ci: set[str]) -> bool:
    """Tell whether ``.ci/run`` runs ``command`` word for word.

    ``.ci/run`` runs the README's install as ``"$PYTHON" -m pip ...`` (the interpreter's full
    path); every other command must be there as written.
    """
    if command.startswith("python -m pip "):
        return f'"$PYTHON" {command.removeprefix("python ")}' in ci
    return command in ci


BLOCKS = documented_blocks()


def test_the_pages_have_commands_and_every_skip_says_why():
    assert len(BLOCKS) >= 10, [b.where for b in BLOCKS]
    for block in BLOCKS:
        assert block.commands, f"{block.where}: an sh block without a command"
        assert block.skip is None or len(block.skip) > 10, f"{block.where}: say why it is not run"


def test_commands_are_read_as_a_reader_pastes_them():
    text = ['pytest a  # a comment', 'echo "#not a comment" \\', '  --x', '# only a comment', '']
    assert commands_of(text) == ("pytest a", 'echo "#not a comment" --x')


@pytest.mark.slow
@pytest.mark.parametrize("block", BLOCKS, ids=[b.where for b in BLOCKS])
def test_documented_commands_run_verbatim(block: Block, tmp_path: Path):
    if block.skip:
        pytest.skip(f"not run here: {block.skip}")
    ci = ci_commands()
    here = [command for command in block.commands if not in_ci(command, ci)]
    if not here:
        return  # every command of the block is one that .ci/run runs as written
    earlier = BLOCKS[:BLOCKS.index(block)]
    if any(set(here) <= set(other.commands) for other in earlier if not other.skip):
        return  # an earlier block runs these commands (and the test of that block)
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("the documented ports are fixed: these commands run as root, in a network "
                    "namespace of their own (unshare -n)")
    problem = run_verbatim(here)
    assert problem is None, f"{block.where}: {problem}"


def run_verbatim(commands: list[str]) -> str | None:
    """Run ``commands`` in order from the project's root, in a network namespace of their own.

    :returns: None when every command exited 0 and left no process behind, else what went
        wrong (the failing command's exit status and output's tail, or the processes left).
    """
    tmp = Path(tempfile.mkdtemp(prefix="pytest-jaws-tests-doc-"))
    tmp.chmod(0o755)  # role users reach a base directory in it
    script = "".join(f"echo '$ '{shlex.quote(command)}\n{command}\n" for command in commands)
    try:
        result = run_in_own_netns(script, tmp, timeout=BLOCK_TIMEOUT)
        if result.returncode != 0:
            return (f"a documented command failed (exit {result.returncode})\n"
                    f"{result.stdout[-6000:]}\n{result.stderr[-3000:]}")
        left = leftovers(tmp)
        return f"processes left behind: {left}" if left else None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="runs a command in a network namespace: as root")
def test_a_documented_command_that_fails_is_named_with_its_output():
    problem = run_verbatim(["pytest --jaws-site=local --jaws-env=dev --jaws-plan",
                            "pytest --jaws-site=nowhere --jaws-env=dev --jaws-plan"])
    assert problem is not None and "failed (exit 4)" in problem, problem
    assert "$ pytest --jaws-site=nowhere --jaws-env=dev --jaws-plan" in problem
    assert "nowhere" in problem.split("$ pytest --jaws-site=nowhere", 1)[1]
