"""Issue 26: move pytest_jaws/'s modules into one subpackage per stage, and rewrite every reference.

Run once, from the root of a clean checkout of main (the lead runs it last, after the other
issues have landed)::

    python scripts/restructure.py            # git mv + rewrites, staged; removes itself
    ruff check . && mypy && lint-imports && pytest tests/test_structure.py -q
    git commit -m "..."                      # or: git reset -q --hard; fix a table; run again

What it does, deterministically (sorted, no network, no clock):

1. Classifies every module of ``pytest_jaws/`` by :data:`MAPPING` (module -> subpackage; None
   keeps it at the top) and every data file by :data:`DATA`. A module or data file that the
   tables do not name stops the script before anything is changed (exit 2, naming it): add it
   to the table, in the subpackage whose contract it fits (``lint-imports`` then says whether
   it does).
2. ``git mv`` each module into its subpackage, keeping its name (``plan.py`` ->
   ``plan/plan.py``); ``plugin.py`` becomes ``plugin/__init__.py``, so the entry point
   ``jaws = pytest_jaws.plugin`` stays as it is. Writes each subpackage's ``__init__.py`` with
   the docstring of :data:`PACKAGES` (what it owns, what it may import).
3. Rewrites every import of a moved module (``ast``: relative imports stay relative, from the
   module's new place; ``from pytest_jaws import a, b`` is split by subpackage) in pytest_jaws/
   (but fakes/), tests/, suites/, benchmarks/, scripts/ and conftest.py; and every dotted or
   slashed reference in text (``pytest_jaws.plan.make_plan``, ``-p pytest_jaws.x``,
   ``"pytest_jaws.x.y"`` monkeypatch strings, ``python -m pytest_jaws.configkeys``,
   ``pytest_jaws/optiondefs.py``, ``pytest_jaws/sites.yaml``) in every tracked text file;
   ``Path(<module>.__file__).with_name("<data>")`` where the data no longer sits beside it.
4. pyproject.toml: ``[tool.setuptools] packages`` becomes a find, package-data per subpackage.
5. docs/architecture.md: the generated block between its markers (the subpackages, their
   contracts), and `` `name.py` `` mentions in docs/ and README.md as `` `pkg/name.py` ``.
6. Points tracked links at a moved file to its new place (the root's ``sites.yaml``).
7. ``ruff check --fix --select I`` on the Python files it changed (the import order moves),
   stages everything and removes itself (``git rm``); lines the rewrite made too long that it
   could not wrap (a docstring's summary, code) are named for a person to shorten. A stop
   after it began (e.g. one statement in a string importing from two subpackages) resets the
   checkout to HEAD.

The contracts themselves (``[tool.importlinter]``), the ``lint-imports`` step of .ci/run and
tests/test_structure.py are in the commit beside this script, not written by it.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path.cwd()
PKG = "pytest_jaws"

#: Every module of pytest_jaws/ and its subpackage (None: stays at the top).
MAPPING: dict[str, str | None] = {
    # the bottom: every error, and the supervisord keys and the masking of secrets
    "errors": None,
    "keys": None,
    # sites: the model, read, checked; the facts several stages need; the run's settings
    "sites": "sites", "siteschema": "sites", "sitemodel": "sites", "sitecheck": "sites",
    "sitevars": "sites", "settings": "sites", "twin": "sites",
    # plan: plain data
    "plan": "plan", "planmodel": "plan", "depplan": "plan", "installspec": "plan",
    "serverplan": "plan",
    # render: pure text
    "render": "render", "confvalue": "render", "jawsconf": "render", "cromwellconf": "render",
    # host: the machine as the harness touches it
    "safefs": "host", "safedirs": "host", "saferead": "host", "socktable": "host",
    "become": "host", "processes": "host", "supervisor": "host", "ephemeral": "host",
    "reservations": "host", "hostlock": "host", "runlock": "host", "filesystem": "host",
    "hostlimits": "host", "perms": "host", "portoffset": "host", "printable": "host",
    # an action once per run across processes (a file lock; deploy's stability reads it), and
    # the run-wide shared directory and first mentions it builds on
    "runonce": "host", "once": "host",
    # install
    "install": "install", "cromwell": "install", "interp": "install", "venvstate": "install",
    "wheels": "install",
    # probes
    "probes": "probes", "dependencies": "probes", "fileaudit": "probes",
    # deploy
    "deploy": "deploy", "adopt": "deploy", "preflight": "deploy", "waits": "deploy",
    "stop": "deploy", "down": "deploy", "files": "deploy", "commands": "deploy",
    "result": "deploy", "livelogs": "deploy", "logtail": "deploy", "basedir": "deploy",
    "runservers": "deploy", "stability": "deploy",
    # report
    "report": "report", "outcomes": "report", "planview": "report",
    # plugin: pytest's wiring (plugin.py is the package's __init__)
    "plugin": "plugin", "hooks": "plugin", "fixtures": "plugin", "options": "plugin",
    "optiondefs": "plugin", "optionsdoc": "plugin", "xdist": "plugin", "reporting": "plugin",
    "runstate": "plugin", "shield": "plugin",
    "destructive": "plugin", "manager": "plugin",
    # tools: command-line programs (python -m pytest_jaws.tools.<name>)
    "configkeys": "tools", "configscan": "tools", "cicheck": "tools",
}

#: The module that becomes its subpackage's __init__ (its import path stays the same).
PACKAGE_MODULES = {"plugin": "plugin"}

#: Data files and directories of pytest_jaws/ and their subpackage (None: stay at the top).
DATA: dict[str, str | None] = {
    "sites.yaml": "sites",
    "jaws_required.yaml": "render",
    "report.schema.json": "report",
    "fakes": None,
}

#: The layers, top first ("a | b": independent of each other). The same as pyproject's
#: [tool.importlinter] contract; tests/test_structure.py checks the docstrings against it.
LAYERS = ["tools", "plugin", "report", "deploy", "probes | install", "host | render", "plan",
          "sites", "keys", "errors"]

#: What each subpackage owns: a one-line summary, then what is in it (its __init__ docstring
#: adds what it may import, from LAYERS).
PACKAGES: dict[str, tuple[str, str]] = {
    "sites": ("The sites file and what a run chose from it.",
              "The model (pydantic) read from sites.yaml and checked across its keys, a real site's "
              "fake twin, the shipped sites.yaml; the facts several stages need (key and secret "
              "variable names, the secrets of each JAWS file, the shifted port table) and the "
              "run's settings."),
    "plan": ("One environment's deployment as plain frozen data.",
             "Computed from the site model without touching the machine: paths, ports, users, "
             "programs, commands, what to install, which MySQL and RabbitMQ checks, which servers "
             "the run starts."),
    "render": ("The plan's files as text, by pure functions.",
               "supervisord configurations and shims (and the escaping of their values), JAWS's "
               "configuration files and cromwell.conf, and jaws_required.yaml (the keys JAWS's "
               "packages read)."),
    "host": ("The machine as the harness touches it, safely among hostile users.",
             "The one file-system layer that never follows a planted link (safefs, safedirs, "
             "saferead), processes and sockets (psutil, /proc/net/tcp), becoming a role user, "
             "the supervisord client, host-wide locks and port reservations, actions done once "
             "per run across processes, process limits, room on the file system, permissions, "
             "another user's text made safe for a terminal, and a free port offset."),
    "install": ("Installation: supervisor, the service venvs, Cromwell's jar.",
                "Service venvs built from a JAWS checkout (wheels cached by content, the "
                "interpreter of the site's Python version, what a venv holds), and Cromwell's jar "
                "checked and put in place."),
    "probes": ("What is asked of a live deployment.",
               "Health probes, the MySQL and RabbitMQ checks, the audit of who may read and change "
               "every file of a deployment."),
    "deploy": ("Applying a plan and taking it down.",
               "Pre-flight, files, start or adopt, waits, stop, --jaws-down, the servers a run "
               "starts, the commands printed for a person, what a deployment gives (its result, "
               "its live logs) and whether its programs stayed up since it settled."),
    "report": ("What a person reads.",
               "State tables, failure sections, the summary, the JSON and Markdown report "
               "(report.schema.json), per-environment outcomes, and --jaws-plan's view."),
    "plugin": ("pytest's wiring, and only that.",
               "Options, the hooks pytest-jaws adds, fixtures, the run's state in pytest's stash, "
               "the deployments of one run (manager), xdist coordination, the reporting hooks, "
               "teardown shielded from signals."),
    "tools": ("Command-line programs of pytest-jaws.",
              "``python -m pytest_jaws.tools.configkeys`` (JAWS configs against what a checkout's "
              "packages read; configscan finds the reads) and ``python -m "
              "pytest_jaws.tools.cicheck`` (the GitLab job's pre-check)."),
}

ARCH_BEGIN = "<!-- BEGIN subpackages (issue 26) -->"
ARCH_END = "<!-- END subpackages -->"

#: Tracked text files whose dotted and slashed references are rewritten.
TEXT_SUFFIXES = {".py", ".md", ".toml", ".yml", ".yaml", ".cfg", ".ini", ".txt", ".sh", ".json"}
TEXT_NAMES = {".ci/run"}


class Stop(Exception):
    """The checkout is not what the script expects: nothing more is changed."""


def layers_of() -> list[list[str]]:
    """Return :data:`LAYERS` as lists of sibling names, top first."""
    return [[p.strip() for p in layer.split("|")] for layer in LAYERS]


def below(name: str) -> list[str]:
    """Return what ``name`` (a subpackage or top-level module) may import: every lower layer."""
    layers = layers_of()
    index = next(i for i, layer in enumerate(layers) if name in layer)
    return [n for layer in layers[index + 1:] for n in layer]


def new_name(module: str) -> str:
    """Return the new dotted name of top-level module ``module`` (``plan`` -> ``pytest_jaws.plan.plan``)."""
    pkg = MAPPING[module]
    if pkg is None:
        return f"{PKG}.{module}"
    if PACKAGE_MODULES.get(pkg) == module:
        return f"{PKG}.{pkg}"
    return f"{PKG}.{pkg}.{module}"


def new_path(module: str) -> str:
    """Return the new file of ``module``, relative to the root (``pytest_jaws/plan/plan.py``)."""
    pkg = MAPPING[module]
    if pkg is None:
        return f"{PKG}/{module}.py"
    if PACKAGE_MODULES.get(pkg) == module:
        return f"{PKG}/{pkg}/__init__.py"
    return f"{PKG}/{pkg}/{module}.py"


def new_data(name: str) -> str:
    """Return the new path of data item ``name`` relative to the package root."""
    pkg = DATA[name]
    return name if pkg is None else f"{pkg}/{name}"


def map_dotted(dotted: str) -> str:
    """Map an absolute dotted name under the package to its new name (others unchanged)."""
    parts = dotted.split(".")
    if parts[0] != PKG or len(parts) < 2 or parts[1] not in MAPPING:
        return dotted
    return ".".join([new_name(parts[1]), *parts[2:]])


def relative(from_pkg: str, target: str) -> str:
    """Return ``target`` as a relative module reference from inside package ``from_pkg``."""
    fp, tp = from_pkg.split("."), target.split(".")
    common = 0
    while common < min(len(fp), len(tp)) and fp[common] == tp[common]:
        common += 1
    return "." * (len(fp) - common + 1) + ".".join(tp[common:])


def git(*args: str) -> str:
    """Run git in the checkout; return its output. :raises Stop: when git fails."""
    proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,  # noqa: S607 - git from PATH
                          check=False)
    if proc.returncode:
        raise Stop(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def classify() -> tuple[list[str], list[str]]:
    """Return the package's modules and data items; :raises Stop: on any the tables lack."""
    base = ROOT / PKG
    if not (base / "plugin.py").is_file() or (base / "plan").exists():
        raise Stop(f"{PKG}/ is not the flat layout (no plugin.py, or plan/ exists): already run?")
    modules = sorted(p.stem for p in base.glob("*.py") if p.name != "__init__.py")
    data = sorted(p.name for p in base.iterdir()
                  if p.suffix != ".py" and p.name not in ("__pycache__",)
                  and not p.name.endswith(".egg-info"))
    unmapped = [m for m in modules if m not in MAPPING]
    unknown = [d for d in data if d not in DATA]
    if unmapped or unknown:
        raise Stop("not in the tables of scripts/restructure.py (add each to MAPPING or DATA, in "
                   "the subpackage whose contract it fits; nothing was changed): "
                   + ", ".join([f"{PKG}/{m}.py" for m in unmapped] + [f"{PKG}/{d}" for d in unknown]))
    stale = sorted(set(MAPPING) - set(modules))
    if stale:
        print(f"restructure: in MAPPING but not in {PKG}/ (left alone): {', '.join(stale)}")
    return modules, data


# ---------------------------------------------------------------- imports

def _fmt(names: list[ast.alias]) -> str:
    return ", ".join(a.name + (f" as {a.asname}" if a.asname else "") for a in names)


def rewrite_imports(text: str, old_pkg: str | None, new_pkg: str | None,
                    where: str) -> tuple[str, list[tuple[int, int]]]:
    """Rewrite the import statements of one Python file.

    :param old_pkg: the package a relative import resolved against before the move (None:
        the file is not in the package; its relative imports are left alone).
    :param new_pkg: the same after the move.
    :returns: the new text and the line spans (0-based, end exclusive) of the new text that
        are import statements (the text rewrite leaves them alone).
    """
    tree = ast.parse(text, filename=where)
    lines = text.splitlines(keepends=True)
    edits: list[tuple[int, int, list[str]]] = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        first, last = node.lineno - 1, node.end_lineno or node.lineno
        head = lines[first][:node.col_offset]
        tail = lines[last - 1][node.end_col_offset:]
        if head.strip() or (tail.strip() and not tail.strip().startswith("#")):
            raise Stop(f"{where}:{node.lineno}: an import shares its line with other code; "
                       "put it on lines of its own and run again")
        comment = tail.strip()
        inner_comments = [ln.strip() for ln in lines[first + 1:last - 1] if ln.strip().startswith("#")]
        indent = head
        out: list[str] = []
        if isinstance(node, ast.Import):
            changed = False
            for alias in node.names:
                mapped = map_dotted(alias.name)
                changed |= mapped != alias.name
                out.append(f"{indent}import {mapped}" + (f" as {alias.asname}" if alias.asname else ""))
            if not changed:
                continue
        else:
            if node.level:
                if old_pkg is None:
                    continue
                anchor = old_pkg.split(".")[: len(old_pkg.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base != PKG and not base.startswith(PKG + "."):
                continue
            groups: dict[str, list[ast.alias]] = {}
            if base == PKG:
                for alias in node.names:
                    target = new_name(alias.name).rsplit(".", 1)[0] if alias.name in MAPPING else PKG
                    groups.setdefault(target, []).append(alias)
            else:
                groups[map_dotted(base)] = list(node.names)
            same = (list(groups) == [base] and (not node.level or old_pkg == new_pkg))
            if same:
                continue
            for target in sorted(groups):
                if node.level:
                    ref = relative(new_pkg or PKG, target)
                else:
                    ref = target
                out.append(f"{indent}from {ref} import {_fmt(groups[target])}")
        out[0] += f"  {comment}" if comment else ""
        new_lines = [f"{indent}{c}\n" for c in inner_comments] + [ln + "\n" for ln in out]
        edits.append((first, last, new_lines))
    spans: list[tuple[int, int]] = []
    for first, last, new_lines in sorted(edits, reverse=True):
        lines[first:last] = new_lines
    # the spans of every import statement in the new text
    new_text = "".join(lines)
    for node in ast.walk(ast.parse(new_text, filename=where)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            spans.append((node.lineno - 1, node.end_lineno or node.lineno))
    return new_text, spans


# ---------------------------------------------------------------- text

DOTTED = re.compile(rf"\b{PKG}\.([A-Za-z_][A-Za-z0-9_]*)\b")
SLASHED_PY = re.compile(rf"\b{PKG}/([A-Za-z_][A-Za-z0-9_]*)\.py\b")
FILE_WITH_NAME = re.compile(r"Path\((__file__|[A-Za-z_][A-Za-z0-9_]*\.__file__)\)\.with_name\(\"([^\"]+)\"\)")
#: ``from pytest_jaws import a, b`` outside an import statement (code in a string, docs).
FROM_PACKAGE = re.compile(rf"\bfrom {PKG} import ([A-Za-z_][A-Za-z0-9_]*(?:, [A-Za-z_][A-Za-z0-9_]*)*)")
DYNAMIC = re.compile(rf"[\"']{PKG}\.[\"']\s*\+|f[\"']{PKG}\.\{{")


def rewrite_text(text: str, module: str | None) -> str:
    """Rewrite dotted and slashed references in ``text`` (one line or a whole non-Python file).

    :param module: the top-level module this text belongs to (its ``__file__``), if any.
    """
    def dotted(m: re.Match) -> str:
        return new_name(m.group(1)) if m.group(1) in MAPPING else m.group(0)

    def slashed(m: re.Match) -> str:
        return new_path(m.group(1)) if m.group(1) in MAPPING else m.group(0)

    def with_name(m: re.Match) -> str:
        owner = module if m.group(1) == "__file__" else m.group(1).split(".")[0]
        item = m.group(2)
        if owner not in MAPPING or item not in DATA:
            return m.group(0)
        owner_dir = new_path(owner).rsplit("/", 1)[0]
        item_path = f"{PKG}/{new_data(item)}"
        if item_path.rsplit("/", 1)[0] == owner_dir:
            return m.group(0)
        depth = owner_dir.count("/")  # pytest_jaws/x -> 1
        rest = " / ".join(f'"{p}"' for p in new_data(item).split("/"))
        return f"Path({m.group(1)}).parents[{depth}] / {rest}"

    def from_package(m: re.Match) -> str:
        names = [n.strip() for n in m.group(1).split(",")]
        parents = {new_name(n).rsplit(".", 1)[0] if n in MAPPING else PKG for n in names}
        if len(parents) > 1:
            raise Stop(f"a text (a string of code?) imports {', '.join(names)} from {PKG} in one "
                       "statement, and they go to different subpackages: split it by hand")
        return f"from {parents.pop()} import {m.group(1)}"

    text = FROM_PACKAGE.sub(from_package, text)
    text = DOTTED.sub(dotted, text)
    text = SLASHED_PY.sub(slashed, text)
    for item, pkg in DATA.items():
        if pkg is not None:
            text = re.sub(rf"\b{PKG}/{re.escape(item)}\b", f"{PKG}/{pkg}/{item}", text)
    return FILE_WITH_NAME.sub(with_name, text)


def rewrite_python(path: Path, module: str | None) -> bool:
    """Rewrite one Python file in place (imports, then text outside them); True when it changed."""
    rel = path.relative_to(ROOT).as_posix()
    text = path.read_text(encoding="utf-8")
    if DYNAMIC.search(text):
        raise Stop(f"{rel}: builds a module name of {PKG} at run time; map it by hand")
    old_pkg = new_pkg = None
    if module is not None:
        old_pkg = PKG
        pkg = MAPPING.get(module)
        new_pkg = PKG if pkg is None else f"{PKG}.{pkg}"
    elif rel == f"{PKG}/__init__.py":
        old_pkg = new_pkg = PKG
    new, spans = rewrite_imports(text, old_pkg, new_pkg, rel)
    lines = new.splitlines(keepends=True)
    in_import = set()
    for first, last in spans:
        in_import.update(range(first, last))
    out = [ln if i in in_import else rewrite_text(ln, module) for i, ln in enumerate(lines)]
    result = wrap_long("".join(out), text, rel)
    if result != text:
        path.write_text(result, encoding="utf-8")
        return True
    return False


LINE_LENGTH = 110  # pyproject.toml's [tool.ruff] line-length


def _docstring_lines(tree: ast.AST) -> tuple[set[int], set[int]]:
    """Return the 0-based lines of docstrings: (all of them, their first lines)."""
    inside: set[int] = set()
    firsts: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                doc = body[0]
                inside.update(range(doc.lineno - 1, doc.end_lineno or doc.lineno))
                firsts.add(doc.lineno - 1)
    return inside, firsts


def wrap_long(text: str, before: str, where: str) -> str:
    """Wrap the comment and docstring lines that the rewrite made longer than LINE_LENGTH.

    A docstring's first line (its summary) or a line of code is left as it is: ruff names it
    at the end, for a person to shorten.
    """
    if all(len(ln) <= LINE_LENGTH for ln in text.splitlines()):
        return text
    was_long = {ln for ln in before.splitlines() if len(ln) > LINE_LENGTH}
    inside, firsts = _docstring_lines(ast.parse(text))
    out: list[str] = []
    for i, line in enumerate(text.splitlines(keepends=True)):
        body = line.rstrip("\n")
        if len(body) <= LINE_LENGTH or body in was_long:
            out.append(line)
            continue
        stripped = body.lstrip()
        indent = body[: len(body) - len(stripped)]
        comment = stripped.startswith("#")
        if not comment and (i not in inside or i in firsts):
            out.append(line)  # ruff names it after the imports are sorted (main's last step)
            continue
        prefix = indent + ("# " if comment and stripped.startswith("# ") else "#" if comment else "")
        words = stripped[len(prefix) - len(indent):].split(" ")
        current = prefix
        for word in words:
            if current.strip() and len(current) + 1 + len(word) > LINE_LENGTH and current != prefix:
                out.append(current.rstrip() + "\n")
                current = prefix + word
            else:
                current = current + ("" if current == prefix else " ") + word
        out.append(current + "\n")
    return "".join(out)


# ---------------------------------------------------------------- package files

def package_doc(pkg: str, width: int = 96) -> list[str]:
    """Return the paragraphs of subpackage ``pkg``'s docstring after its summary, wrapped."""
    may = below(pkg)
    lower = ", ".join(f"``{PKG}.{n}``" for n in may) if may else "nothing of the package"
    siblings = [n for layer in layers_of() if pkg in layer for n in layer if n != pkg]
    contract = f"May import: {lower}."
    if siblings:
        contract += (f" Independent of {', '.join(f'``{PKG}.{s}``' for s in siblings)}: "
                     "neither imports the other.")
    contract += " Checked by lint-imports (pyproject.toml's [tool.importlinter])."
    return [textwrap.fill(PACKAGES[pkg][1], width, break_on_hyphens=False),
            textwrap.fill(contract, width, break_on_hyphens=False)]


def write_inits() -> None:
    """Write every subpackage's __init__.py (plugin's: its docstring gains the package's part)."""
    for pkg in sorted(PACKAGES):
        init = ROOT / PKG / pkg / "__init__.py"
        paragraphs = package_doc(pkg)
        if PACKAGE_MODULES.get(pkg):
            text = init.read_text(encoding="utf-8")
            doc_node = ast.parse(text).body[0]
            if not isinstance(doc_node, ast.Expr) or doc_node.end_lineno is None:
                raise Stop(f"{PKG}/{pkg}/__init__.py: it does not begin with its docstring")
            lines = text.splitlines(keepends=True)
            end = doc_node.end_lineno - 1
            if lines[end].strip() != '"""':
                raise Stop(f"{PKG}/{pkg}/__init__.py: its docstring does not end on a line of its own")
            summary = f"The subpackage {PKG}.{pkg}: {PACKAGES[pkg][0]}"
            first = textwrap.fill(summary + " " + PACKAGES[pkg][1], 96, break_on_hyphens=False)
            addition = f"\n{first}\n\n{paragraphs[1]}\n"
            lines[end:end] = [addition]
            init.write_text("".join(lines), encoding="utf-8")
        else:
            init.write_text(f'"""{PACKAGES[pkg][0]}\n\n' + "\n\n".join(paragraphs) + '\n"""\n',
                            encoding="utf-8")
        git("add", init.relative_to(ROOT).as_posix())


def repoint_links() -> list[str]:
    """Point tracked links at a moved module or data file to its new place; return those changed.

    The root's ``sites.yaml`` -> ``pytest_jaws/sites/sites.yaml``.
    """
    changed = []
    for entry in git("ls-files", "-s").splitlines():
        mode, _sha, _stage_path = entry.split(" ", 2)
        link = entry.split("\t", 1)[1]
        if mode != "120000":
            continue
        path = ROOT / link
        target = os.readlink(path)
        resolved = os.path.relpath(os.path.normpath(path.parent / target), ROOT)
        parts = resolved.split("/")
        if len(parts) != 2 or parts[0] != PKG:
            continue
        name = parts[1]
        if name in DATA and DATA[name] is not None:
            new = f"{PKG}/{new_data(name)}"
        elif name.endswith(".py") and name[:-3] in MAPPING:
            new = new_path(name[:-3])
        else:
            continue
        path.unlink()
        path.symlink_to(os.path.relpath(ROOT / new, path.parent))
        git("add", link)
        changed.append(link)
    return changed


def rewrite_pyproject() -> None:
    """Find the packages, give each subpackage its data. :raises Stop: on an unexpected layout."""
    path = ROOT / "pyproject.toml"
    text = path.read_text(encoding="utf-8")
    packages = re.search(r"\[tool\.setuptools\]\npackages = \[[^\]]*\]\n", text)
    data = re.search(r"\[tool\.setuptools\.package-data\]\n(?:.+\n)+", text)
    if not packages or not data:
        raise Stop("pyproject.toml: [tool.setuptools] packages or [tool.setuptools.package-data] "
                   "is not as expected; edit it by hand")
    text = text.replace(packages.group(0),
                        '[tool.setuptools.packages.find]\ninclude = ["pytest_jaws", "pytest_jaws.*"]\n'
                        "# the fake checkout's trees are package data of pytest_jaws (below), not packages\n"
                        'exclude = ["pytest_jaws.fakes.*"]\n')
    old = data.group(0)
    entries = re.findall(r'"([^"]+)"', old.split("=", 1)[1])
    by_pkg: dict[str, list[str]] = {}
    for entry in entries:
        top = entry.split("/", 1)[0]
        if top not in DATA:
            raise Stop(f"pyproject.toml: package-data {entry!r} names no item of DATA")
        pkg = DATA[top]
        key = PKG if pkg is None else f"{PKG}.{pkg}"
        inside = entry if pkg is None or "/" not in entry else entry.split("/", 1)[1]
        by_pkg.setdefault(key, []).append(inside)
    new = "[tool.setuptools.package-data]\n" + "".join(
        f'"{key}" = [{", ".join(repr(e).replace(chr(39), chr(34)) for e in by_pkg[key])}]\n'
        for key in sorted(by_pkg))
    path.write_text(text.replace(old, new), encoding="utf-8")


def architecture_block() -> str:
    """Return the generated block of docs/architecture.md: the subpackages and their contracts."""
    rows = ["| layer (top first) | subpackage | owns |", "|---|---|---|"]
    for i, layer in enumerate(layers_of(), 1):
        for name in layer:
            owns = (PACKAGES[name][0] + " " + PACKAGES[name][1] if name in PACKAGES else
                    {"keys": "supervisord keys, and masking secrets in output.",
                     "errors": "Every error pytest-jaws raises, in one hierarchy."}[name])
            where = f"`{PKG}/{name}/`" if name in PACKAGES else f"`{PKG}/{name}.py`"
            rows.append(f"| {i} | {where} | {owns} |")
    return "\n".join([
        ARCH_BEGIN,
        "## Subpackages and their contracts",
        "",
        "Each stage is a subpackage of `pytest_jaws/`; its `__init__.py` says what it owns and what",
        "it may import. A subpackage imports only those of lower layers; subpackages of one layer",
        "(`probes` and `install`, `host` and `render`) do not import each other; no module, and no",
        "subpackage, is part of an import circle. `lint-imports` checks these contracts",
        "(pyproject.toml's `[tool.importlinter]`) in `.ci/run`, after mypy.",
        "",
        *rows,
        "",
        "Users import the errors from `pytest_jaws.errors`, and load the plugin by its entry point",
        "(`jaws = pytest_jaws.plugin`); the hook (`pytest_jaws_plan`) and the fixtures are used by",
        "name. Tests stay in one flat `tests/` folder: they are named by behaviour across stages",
        "(lifecycle, privsep, reporting), not by module.",
        ARCH_END,
    ])


def rewrite_architecture() -> None:
    """Put the generated block into docs/architecture.md (after its title, or in place)."""
    path = ROOT / "docs" / "architecture.md"
    if not path.is_file():
        return
    text = path.read_text(encoding="utf-8")
    block = architecture_block()
    if ARCH_BEGIN in text:
        text = re.sub(re.escape(ARCH_BEGIN) + r".*?" + re.escape(ARCH_END), block, text, flags=re.S)
    else:
        title, _, rest = text.partition("\n")
        text = f"{title}\n\n{block}\n{rest}"
    path.write_text(text, encoding="utf-8")


def bare_mentions(text: str) -> str:
    """Rewrite `` `name.py` `` mentions of moved modules in a Markdown text."""
    def repl(m: re.Match) -> str:
        name = m.group(1)
        if name not in MAPPING or MAPPING[name] is None:
            return m.group(0)
        return "`" + new_path(name)[len(PKG) + 1:] + "`"
    return re.sub(r"`([a-z_][a-z0-9_]*)\.py`", repl, text)


# ---------------------------------------------------------------- main

def main() -> int:
    """Do it all; return the exit status (2: a table lacks a module, nothing changed)."""
    started = False
    try:
        if git("status", "--porcelain", "--untracked-files=no").strip():
            raise Stop("the checkout has uncommitted changes; commit or stash them first")
        modules, data = classify()
        started = True
        tracked = git("ls-files").splitlines()
        me = "scripts/restructure.py"
        written_for_the_new_layout = {me, "tests/test_structure.py"}
        # where each Python file was, to know its module before the moves
        py_files = sorted(f for f in tracked if f.endswith(".py") and f not in written_for_the_new_layout
                          and not f.startswith(f"{PKG}/fakes/"))
        text_files = sorted(f for f in tracked if f != me and not f.endswith(".py")
                            and (Path(f).suffix in TEXT_SUFFIXES or f in TEXT_NAMES)
                            and not f.startswith(f"{PKG}/fakes/checkout/"))
        changed: list[str] = []
        # 1. rewrite in place (old paths), then move
        for f in py_files:
            path = ROOT / f
            module = None
            if f.startswith(f"{PKG}/") and f.count("/") == 1 and f != f"{PKG}/__init__.py":
                module = Path(f).stem
            if rewrite_python(path, module):
                changed.append(f)
        for f in text_files:
            path = ROOT / f
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
            new = rewrite_text(text, None)
            if f.endswith(".md"):
                new = bare_mentions(new)
            if new != text:
                path.write_text(new, encoding="utf-8")
                changed.append(f)
        for pkg in sorted({p for p in MAPPING.values() if p} | {p for p in DATA.values() if p}):
            (ROOT / PKG / pkg).mkdir(exist_ok=True)
        for m in modules:
            if MAPPING[m] is not None:
                git("mv", f"{PKG}/{m}.py", new_path(m))
        for d in data:
            if DATA[d] is not None:
                git("mv", f"{PKG}/{d}", f"{PKG}/{new_data(d)}")
        links = repoint_links()
        if links:
            print(f"restructure: links pointed at the new places: {', '.join(links)}")
        write_inits()
        rewrite_pyproject()
        rewrite_architecture()
        moved = {f"{PKG}/{m}.py": new_path(m) for m in modules}
        py_now = sorted({moved.get(f, f) for f in changed if f.endswith(".py")}
                        | {f"{PKG}/{p}/__init__.py" for p in PACKAGES})
        subprocess.run([sys.executable, "-m", "ruff", "check", "--fix", "--select", "I", "-q", *py_now],
                       cwd=ROOT, check=False)
        long_lines = subprocess.run(
            [sys.executable, "-m", "ruff", "check", "--select", "E501", "--output-format", "concise",
             "-q", *py_now], cwd=ROOT, capture_output=True, text=True, check=False).stdout.split()
        git("add", "-u")
        git("add", "-A", PKG)
        # its work is done: the layout, the docstrings and the contracts say what its tables said
        # (git history keeps it; after a failed check, git reset --hard brings it back to rerun)
        git("rm", "-q", me)
        long_lines = [w.rstrip(":") for w in long_lines if w.startswith(PKG) or w.startswith("tests")]
        if long_lines:
            print("restructure: lines the rewrite made longer than the line length, to shorten "
                  "by hand (ruff E501): " + ", ".join(long_lines))
        print(f"restructure: {sum(1 for m in modules if MAPPING[m])} modules moved into "
              f"{len(PACKAGES)} subpackages, {len(changed)} files rewritten; staged, not committed")
        return 0
    except Stop as exc:
        print(f"restructure: {exc}", file=sys.stderr)
        if started:
            # the checkout was clean when it began: put back every tracked file, and remove the
            # subpackage directories it made (empty again after the reset, or holding only its
            # __init__.py and caches)
            git("reset", "-q", "--hard", "HEAD")
            for pkg in sorted(set(PACKAGES)):
                directory = ROOT / PKG / pkg
                if directory.is_dir() and not git("ls-files", f"{PKG}/{pkg}").strip():
                    shutil.rmtree(directory)
            print("restructure: nothing changed (rolled back)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
