"""Find every configuration section and key a JAWS package reads, from its source (``ast``).

The patterns JAWS's packages use to read their INI files (site/jaws_site/config.py,
central/jaws_central/config.py, jtm/jaws_jtm/config.py and their callers):

- ``<parser>.get|getint|getfloat|getboolean("SECTION", "key")`` (``fallback=`` makes it
  optional), ``has_option("SECTION", "key")`` (optional: the code checks first);
- ``<x>["SECTION"]["key"]``; a whole section ``<x>["SECTION"]``, ``<x>._sections["SECTION"]``,
  ``items("SECTION")``, ``get_section("SECTION")``; a section named by a prefix
  (``f"SITE:{site_id}"``, or a name tested with ``.startswith("SITE:")``) is ``SITE:*``;
- a name bound to a whole section, then ``<name>["key"]`` (required) or ``<name>.get("key")``
  (optional), or passed as the first argument of a class that demands keys of it;
- a class whose ``__init__`` demands keys of its first parameter (``for p in [...]: if p not
  in params: raise``, and ``params["key"]``): the keys of every section passed to it (jaws_rpc's
  RpcServer and RpcClient);
- a constant dict of key lists iterated in a loop (``required_params``), a constant list
  iterated with ``key not in <x>[<section>]`` (``required_site_params``): required keys;
- ``read_dict(<constant dict of dicts>)``: defaults, which a file need not repeat;
- ``ConfigParser(interpolation=ExtendedInterpolation())``: the parser's interpolation.

Pure functions over source text; :mod:`pytest_jaws.tools.configkeys` checks generated files with
what they find. The parts: what is read (:mod:`pytest_jaws.tools.configreads`), the visitor of
one module (:mod:`pytest_jaws.tools.configvisitor`) and its constant helpers
(:mod:`pytest_jaws.tools.configast`).
"""

from __future__ import annotations

import ast
from pathlib import Path

from .configast import const, dotted, str_list
from .configreads import KEY, PackageReads
from .configvisitor import ModuleScan


def _constants(tree: ast.Module) -> dict[str, ast.AST]:
    """Return the module's and its classes' constant bindings: ``{name: value node}``."""
    out: dict[str, ast.AST] = {}
    bodies = [tree.body] + [n.body for n in tree.body if isinstance(n, ast.ClassDef)]
    for body in bodies:
        for stmt in body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and \
                    isinstance(stmt.targets[0], ast.Name):
                out[stmt.targets[0].id] = stmt.value
    return out


def consumers(tree: ast.Module) -> dict[str, set[str]]:
    """Return ``{class name: keys}`` for classes whose ``__init__`` demands keys of its argument.

    The first parameter after ``self``: the keys of a ``for p in [<strings>]`` loop that tests
    ``p not in <param>``, and the constant subscripts ``<param>["key"]``.
    """
    out: dict[str, set[str]] = {}
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        init = next((f for f in cls.body if isinstance(f, ast.FunctionDef)
                     and f.name == "__init__"), None)
        if init is None or len(init.args.args) < 2:
            continue
        param = init.args.args[1].arg
        keys: set[str] = set()
        for sub in ast.walk(init):
            if isinstance(sub, ast.For) and isinstance(sub.target, ast.Name):
                names = str_list(sub.iter)
                tests = any(isinstance(c, ast.Compare) and isinstance(c.left, ast.Name)
                            and c.left.id == sub.target.id and isinstance(c.ops[0], ast.NotIn)
                            and dotted(c.comparators[0]) == param for c in ast.walk(sub))
                if names and tests:
                    keys.update(names)
            if isinstance(sub, ast.Subscript) and dotted(sub.value) == param and \
                    isinstance(sub.ctx, ast.Load):
                key = const(sub.slice)
                if key and KEY.match(key):
                    keys.add(key)
        if keys:
            out[cls.name] = keys
    return out


def _sources(package: Path) -> list[tuple[str, str]]:
    """Return ``[(path relative to the package's parent, text)]`` of its modules, sorted."""
    root = package.parent
    return [(str(p.relative_to(root)), p.read_text(encoding="utf-8", errors="replace"))
            for p in sorted(package.rglob("*.py")) if "tests" not in p.relative_to(root).parts]


def scan_sources(sources: list[tuple[str, str]],
                 known_consumers: dict[str, set[str]] | None = None) -> PackageReads:
    """Return what the modules ``[(name, text)]`` of one package read.

    :param known_consumers: classes of other packages (:func:`consumers`) whose constructors
        demand keys of the section passed to them.
    :raises SyntaxError: for a module that does not parse (naming it).
    """
    found = PackageReads(consumers=dict(known_consumers or {}))
    trees = []
    for name, text in sources:
        tree = ast.parse(text, filename=name)
        found.consumers.update(consumers(tree))
        trees.append((name, tree))
    for name, tree in trees:
        ModuleScan(name, found, _constants(tree)).visit(tree)
    return found


def scan_package(package: Path, known_consumers: dict[str, set[str]] | None = None
                 ) -> PackageReads:
    """Return what the package directory ``package`` (``<checkout>/jtm/jaws_jtm``) reads."""
    return scan_sources(_sources(package), known_consumers)


def library_consumers(package: Path) -> dict[str, set[str]]:
    """Return the consumer classes of a library package (``<checkout>/rpc/jaws_rpc``)."""
    out: dict[str, set[str]] = {}
    for name, text in _sources(package):
        out.update(consumers(ast.parse(text, filename=name)))
    return out
