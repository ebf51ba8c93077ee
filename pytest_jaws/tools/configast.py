"""Constant values read out of Python's syntax tree: strings, lists and dicts of them, dotted names.

Small pure helpers of :mod:`pytest_jaws.tools.configvisitor` and
:mod:`pytest_jaws.tools.configscan`; each returns ``None`` (or ``"?"``) for what is not a
constant of the asked shape.
"""

from __future__ import annotations

import ast


def const(node: ast.AST | None) -> str | None:
    """Return the string ``node`` is a constant of, else None."""
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def dotted(node: ast.AST) -> str:
    """Return ``node`` as a dotted name (``a.b()``, ``x[]``; ``?`` for what is none)."""
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Call):
        return dotted(node.func) + "()"
    if isinstance(node, ast.Subscript):
        return dotted(node.value) + "[]"
    return "?"


def last(node: ast.AST) -> str:
    """Return the last name of a dotted expression (``rpc_server.RpcServer`` -> RpcServer)."""
    return dotted(node).rsplit(".", 1)[-1]


def str_list(node: ast.AST | None) -> list[str] | None:
    """Return the strings of a non-empty constant list or tuple of strings, else None."""
    if isinstance(node, (ast.List, ast.Tuple)) and node.elts:
        items = [const(e) for e in node.elts]
        if all(i is not None for i in items):
            return [i for i in items if i is not None]
    return None


def dict_of(node: ast.AST | None, value) -> dict | None:
    """Return a constant dict ``{str: value(v)}`` or None (``value`` returns None to refuse)."""
    if not isinstance(node, ast.Dict) or not node.keys:
        return None
    out = {}
    for k, v in zip(node.keys, node.values, strict=True):
        name, got = const(k), value(v)
        if name is None or got is None:
            return None
        out[name] = got
    return out


def defaults_value(node: ast.AST) -> set[str] | None:
    """Return the keys of one section of a ``read_dict`` table (a constant dict), else None."""
    keys = dict_of(node, lambda v: True)
    return set(keys) if keys is not None else None

