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
what they find.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

#: What a configuration section name looks like in JAWS (``JTM``, ``SITE_RPC_CLIENT``,
#: ``SITE:CORI``); other upper-case subscripts (``os.environ["HOME"]``) are excluded by name.
SECTION = re.compile(r"^[A-Z][A-Z0-9_]*(:[A-Za-z0-9_*]*)?$")
#: What a key looks like (``jtm_task_request_q``).
KEY = re.compile(r"^[a-z][a-z0-9_]*$")
#: Typed getters of configparser, by the type they convert to.
GETTERS = {"get": "str", "getint": "int", "getfloat": "float", "getboolean": "boolean"}
#: Calls that read a whole section named by their first argument.
SECTION_CALLS = ("items", "get_section", "options")
#: Objects whose subscripts are never configuration sections.
NOT_CONFIG = ("environ",)


@dataclass(frozen=True, order=True)
class Read:
    """One read of a configuration value (or of a whole section, ``key`` None).

    ``type``: ``str``/``int``/``float``/``boolean`` (the getter), ``section`` for a whole
    section; ``optional``: the code has a fallback or checks first; ``where``:
    ``<file relative to the package>:<line>``.
    """

    section: str
    key: str | None
    type: str
    optional: bool
    where: str


@dataclass
class PackageReads:
    """What one package reads: its reads, defaults (``{section: {keys}}``) and interpolation.

    ``interpolation`` is ``extended``, ``basic`` or ``None`` (the package makes no parser).
    ``consumers`` maps a class name to the keys its ``__init__`` demands of its first argument.
    """

    reads: list[Read] = field(default_factory=list)
    defaults: dict[str, set[str]] = field(default_factory=dict)
    interpolation: str | None = None
    consumers: dict[str, set[str]] = field(default_factory=dict)

    def required(self) -> dict[str, dict[str, str]]:
        """Return ``{section: {key: type}}`` that a file must hold (``""``: the section only).

        Reads without a fallback and not covered by :attr:`defaults`; a whole-section read
        of a section without defaults adds the section with no key.
        """
        out: dict[str, dict[str, str]] = {}
        for read in sorted(self.reads, key=lambda r: (r.section, r.key or "", r.where)):
            if read.optional or read.key in self.defaults.get(read.section, set()):
                continue
            if read.key is None:
                if read.section not in self.defaults:
                    out.setdefault(read.section, {})
                continue
            keys = out.setdefault(read.section, {})
            if keys.get(read.key, "str") == "str":  # a typed read is the stricter one
                keys[read.key] = read.type
        return out


def _const(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Call):
        return _dotted(node.func) + "()"
    if isinstance(node, ast.Subscript):
        return _dotted(node.value) + "[]"
    return "?"


def _last(node: ast.AST) -> str:
    """Return the last name of a dotted expression (``rpc_server.RpcServer`` -> RpcServer)."""
    return _dotted(node).rsplit(".", 1)[-1]


def _str_list(node: ast.AST | None) -> list[str] | None:
    if isinstance(node, (ast.List, ast.Tuple)) and node.elts:
        items = [_const(e) for e in node.elts]
        if all(i is not None for i in items):
            return [i for i in items if i is not None]
    return None


def _dict_of(node: ast.AST | None, value) -> dict | None:
    """Return a constant dict ``{str: value(v)}`` or None (``value`` returns None to refuse)."""
    if not isinstance(node, ast.Dict) or not node.keys:
        return None
    out = {}
    for k, v in zip(node.keys, node.values, strict=True):
        name, got = _const(k), value(v)
        if name is None or got is None:
            return None
        out[name] = got
    return out


def _defaults_value(node: ast.AST) -> set[str] | None:
    keys = _dict_of(node, lambda v: True)
    return set(keys) if keys is not None else None


class _Module(ast.NodeVisitor):
    """Collect the reads of one module; ``constants`` are the module's and classes' names."""

    def __init__(self, rel: str, found: PackageReads, constants: dict[str, ast.AST]):
        self.rel, self.found, self.constants = rel, found, constants
        self.aliases: dict[str, str] = {}       # name -> section it is bound to (per function)
        self.prefixes: dict[str, str] = {}      # name -> the section it names ("SITE:*")

    # -- helpers ---------------------------------------------------------------------------
    def _add(self, node: ast.AST, section: str, key: str | None, type_: str,
             optional: bool) -> None:
        self.found.reads.append(Read(section, key, type_, optional,
                                     f"{self.rel}:{getattr(node, 'lineno', 0)}"))

    def _resolve(self, node: ast.AST) -> ast.AST | None:
        """Return the constant a name or ``self.NAME`` / ``cls.NAME`` stands for."""
        if isinstance(node, ast.Name):
            return self.constants.get(node.id)
        if isinstance(node, ast.Attribute):
            return self.constants.get(node.attr)
        return None

    def _section_of(self, node: ast.AST) -> str | None:
        """Return the section a subscript index or call argument names, if it names one."""
        text = _const(node)
        if text is not None:
            return text if SECTION.match(text) else None
        if isinstance(node, ast.JoinedStr) and node.values:
            head = _const(node.values[0])
            if head and SECTION.match(head.rstrip(":") or "-") and head.endswith(":"):
                return head + "*"
        if isinstance(node, ast.Name) and node.id in self.prefixes:
            return self.prefixes[node.id]
        return None

    def _whole_section(self, node: ast.AST) -> str | None:
        """Return the section ``node`` reads whole (``x["S"]``, ``get_section("S")``...)."""
        if isinstance(node, ast.Subscript) and not any(
                _dotted(node.value).endswith(n) for n in NOT_CONFIG):
            return self._section_of(node.slice)
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute) and node.func.attr in SECTION_CALLS \
                    and node.args:
                return self._section_of(node.args[0])
            if isinstance(node.func, ast.Name) and node.func.id == "dict" and node.args:
                return self._whole_section(node.args[0])
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id)
        return None

    # -- scopes ----------------------------------------------------------------------------
    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        saved = self.aliases, self.prefixes
        self.aliases, self.prefixes = {}, {}
        for sub in ast.walk(node):  # names tested with .startswith("PREFIX:")
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and \
                    sub.func.attr == "startswith" and isinstance(sub.func.value, ast.Name):
                head = _const(sub.args[0]) if sub.args else None
                if head and head.endswith(":") and SECTION.match(head):
                    self.prefixes[sub.func.value.id] = head + "*"
        self.generic_visit(node)
        self.aliases, self.prefixes = saved

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        """Scan an ``async def`` as a function scope of its own."""
        self.visit_FunctionDef(node)  # type: ignore[arg-type]

    # -- patterns --------------------------------------------------------------------------
    def visit_Assign(self, node: ast.Assign) -> None:
        section = self._whole_section(node.value)
        named = self._section_of(node.value) if isinstance(
            node.value, (ast.Constant, ast.JoinedStr)) else None
        for target in node.targets:
            if isinstance(target, ast.Name):
                if named:  # section = f"SITE:{site_id}": the name stands for SITE:*
                    self.prefixes[target.id] = named
                if section:
                    self.aliases[target.id] = section
                else:
                    self.aliases.pop(target.id, None)
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        inner = node.value
        if isinstance(node.ctx, ast.Load):
            key = _const(node.slice)
            section = self._whole_section(inner) if key and KEY.match(key) else None
            if section:
                self._add(node, section, key, "str", False)
            else:
                own = self._whole_section(node)
                if own and not isinstance(node.slice, ast.Name):
                    self._add(node, own, None, "section", False)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute):
            self._call(node, func)
        consumer = self.found.consumers.get(_last(func))
        if consumer and node.args:
            section = self._whole_section(node.args[0])
            if section:
                for key in sorted(consumer):
                    self._add(node, section, key, "str", False)
        if isinstance(func, ast.Attribute) and func.attr == "read_dict" and node.args:
            table = _dict_of(self._resolve(node.args[0]) or node.args[0], _defaults_value)
            for name, keys in (table or {}).items():
                self.found.defaults.setdefault(name, set()).update(keys)
        if _last(func) == "ConfigParser":
            interp = next((k.value for k in node.keywords if k.arg == "interpolation"), None)
            self.found.interpolation = "extended" if interp is not None and \
                "Extended" in _dotted(interp) else "basic" if interp is None else "other"
        self.generic_visit(node)

    def _call(self, node: ast.Call, func: ast.Attribute) -> None:
        args = node.args
        fallback = any(k.arg == "fallback" for k in node.keywords)
        if func.attr in GETTERS and len(args) == 2:
            section, key = self._section_of(args[0]), _const(args[1])
            if section and key and KEY.match(key):
                self._add(node, section, key, GETTERS[func.attr], fallback)
                return
        if func.attr == "has_option" and len(args) == 2:
            section, key = self._section_of(args[0]), _const(args[1])
            if section and key:
                self._add(node, section, key, "str", True)
            return
        if func.attr in SECTION_CALLS and args:
            section = self._section_of(args[0])
            if section:
                self._add(node, section, None, "section", False)
            return
        if func.attr == "get" and args and isinstance(func.value, ast.Name):
            section = self.aliases.get(func.value.id)  # <section alias>.get("key"[, default])
            key = _const(args[0])
            if section and key and KEY.match(key):
                self._add(node, section, key, "str", True)

    def visit_For(self, node: ast.For) -> None:
        table = self._resolve(node.iter)
        if isinstance(node.target, ast.Name):
            sections = _dict_of(table, _str_list)
            if sections:  # for section in required_params: ... every key of every section
                for name, keys in sections.items():
                    for key in keys:
                        self._add(node, name, key, "str", False)
            keys = _str_list(table) or _str_list(node.iter)
            if keys:
                self._required_list(node, node.target.id, keys)
        self.generic_visit(node)

    def _required_list(self, node: ast.For, var: str, keys: list[str]) -> None:
        """``for key in [...]: if key not in <x>[<section>]`` -> the keys of that section."""
        for sub in ast.walk(node):
            if isinstance(sub, ast.Compare) and isinstance(sub.left, ast.Name) and \
                    sub.left.id == var and isinstance(sub.ops[0], (ast.NotIn, ast.In)):
                section = self._whole_section(sub.comparators[0])
                if section:
                    for key in keys:
                        self._add(node, section, key, "str", False)
                    return


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
                names = _str_list(sub.iter)
                tests = any(isinstance(c, ast.Compare) and isinstance(c.left, ast.Name)
                            and c.left.id == sub.target.id and isinstance(c.ops[0], ast.NotIn)
                            and _dotted(c.comparators[0]) == param for c in ast.walk(sub))
                if names and tests:
                    keys.update(names)
            if isinstance(sub, ast.Subscript) and _dotted(sub.value) == param and \
                    isinstance(sub.ctx, ast.Load):
                key = _const(sub.slice)
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
        _Module(name, found, _constants(tree)).visit(tree)
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
