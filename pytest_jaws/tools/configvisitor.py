"""The reads of one module of a JAWS package: an ``ast`` visitor that knows JAWS's patterns.

:class:`ModuleScan` walks a module's tree and adds to a
:class:`~pytest_jaws.tools.configreads.PackageReads` every read it recognises (the patterns
:mod:`pytest_jaws.tools.configscan` lists): typed getters, subscripts, whole sections,
section aliases and prefixes, consumer classes, loops over key lists, ``read_dict`` defaults
and the parser's interpolation.
"""

from __future__ import annotations

import ast

from .configast import const, defaults_value, dict_of, dotted, last, str_list
from .configreads import KEY, SECTION, PackageReads, Read

#: Typed getters of configparser, by the type they convert to.
GETTERS = {"get": "str", "getint": "int", "getfloat": "float", "getboolean": "boolean"}
#: Calls that read a whole section named by their first argument.
SECTION_CALLS = ("items", "get_section", "options")
#: Objects whose subscripts are never configuration sections.
NOT_CONFIG = ("environ",)


class ModuleScan(ast.NodeVisitor):
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
        text = const(node)
        if text is not None:
            return text if SECTION.match(text) else None
        if isinstance(node, ast.JoinedStr) and node.values:
            head = const(node.values[0])
            if head and SECTION.match(head.rstrip(":") or "-") and head.endswith(":"):
                return head + "*"
        if isinstance(node, ast.Name) and node.id in self.prefixes:
            return self.prefixes[node.id]
        return None

    def _whole_section(self, node: ast.AST) -> str | None:
        """Return the section ``node`` reads whole (``x["S"]``, ``get_section("S")``...)."""
        if isinstance(node, ast.Subscript) and not any(
                dotted(node.value).endswith(n) for n in NOT_CONFIG):
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
        """Scan a function as a scope of its own (its section aliases and prefixes)."""
        saved = self.aliases, self.prefixes
        self.aliases, self.prefixes = {}, {}
        for sub in ast.walk(node):  # names tested with .startswith("PREFIX:")
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and \
                    sub.func.attr == "startswith" and isinstance(sub.func.value, ast.Name):
                head = const(sub.args[0]) if sub.args else None
                if head and head.endswith(":") and SECTION.match(head):
                    self.prefixes[sub.func.value.id] = head + "*"
        self.generic_visit(node)
        self.aliases, self.prefixes = saved

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        """Scan an ``async def`` as a function scope of its own."""
        self.visit_FunctionDef(node)  # type: ignore[arg-type]

    # -- patterns --------------------------------------------------------------------------
    def visit_Assign(self, node: ast.Assign) -> None:
        """Bind a name to the section it reads whole, or to the section prefix it names."""
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
        """Add ``<section>["key"]`` (required), or a whole section read by subscript."""
        inner = node.value
        if isinstance(node.ctx, ast.Load):
            key = const(node.slice)
            section = self._whole_section(inner) if key and KEY.match(key) else None
            if section:
                self._add(node, section, key, "str", False)
            else:
                own = self._whole_section(node)
                if own and not isinstance(node.slice, ast.Name):
                    self._add(node, own, None, "section", False)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        """Add the reads of a call: getters, consumer classes, ``read_dict``, ``ConfigParser``."""
        func = node.func
        if isinstance(func, ast.Attribute):
            self._call(node, func)
        consumer = self.found.consumers.get(last(func))
        if consumer and node.args:
            section = self._whole_section(node.args[0])
            if section:
                for key in sorted(consumer):
                    self._add(node, section, key, "str", False)
        if isinstance(func, ast.Attribute) and func.attr == "read_dict" and node.args:
            table = dict_of(self._resolve(node.args[0]) or node.args[0], defaults_value)
            for name, keys in (table or {}).items():
                self.found.defaults.setdefault(name, set()).update(keys)
        if last(func) == "ConfigParser":
            interp = next((k.value for k in node.keywords if k.arg == "interpolation"), None)
            self.found.interpolation = "extended" if interp is not None and \
                "Extended" in dotted(interp) else "basic" if interp is None else "other"
        self.generic_visit(node)

    def _call(self, node: ast.Call, func: ast.Attribute) -> None:
        args = node.args
        fallback = any(k.arg == "fallback" for k in node.keywords)
        if func.attr in GETTERS and len(args) == 2:
            section, key = self._section_of(args[0]), const(args[1])
            if section and key and KEY.match(key):
                self._add(node, section, key, GETTERS[func.attr], fallback)
                return
        if func.attr == "has_option" and len(args) == 2:
            section, key = self._section_of(args[0]), const(args[1])
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
            key = const(args[0])
            if section and key and KEY.match(key):
                self._add(node, section, key, "str", True)

    def visit_For(self, node: ast.For) -> None:
        """Add the keys of a constant table or list of required keys iterated in a loop."""
        table = self._resolve(node.iter)
        if isinstance(node.target, ast.Name):
            sections = dict_of(table, str_list)
            if sections:  # for section in required_params: ... every key of every section
                for name, keys in sections.items():
                    for key in keys:
                        self._add(node, name, key, "str", False)
            keys = str_list(table) or str_list(node.iter)
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


