"""Tables a person reads: columns laid out, a deployment's state table, an environment's table.

:func:`table` lays rows out in columns; :func:`state_table` is a live deployment's programs as
supervisord reports them (terminal control sequences escaped, keys masked), :func:`env_rows` an
environment's table of the run report (the terminal summary and the Markdown share it).
"""

from __future__ import annotations

import time
from collections.abc import Collection

from ..deploy.livelogs import how_ended
from ..deploy.result import Deployment
from ..keys import mask


def _uptime(info: dict) -> str:
    if info.get("statename") != "RUNNING" or not info.get("start"):
        return "-"
    return f"{max(0, int(info.get('now') or time.time()) - int(info['start']))}s"


def state_table(dep: Deployment, snapshot: dict | None = None) -> list[str]:
    """Rows ``instance program state pid uptime exit spawnerr`` for both instances.

    :param snapshot: role -> process infos (or error text), as from
        :meth:`Deployment.snapshot`; read live when None.
    """
    snapshot = snapshot if snapshot is not None else dep.snapshot()
    rows = [["instance", "program", "state", "pid", "uptime", "exit", "spawn error"]]
    for role, inst in dep.plan.instances.items():
        infos = snapshot.get(role, "no answer")
        if isinstance(infos, str):
            rows.append([inst.name, "-", "?", "-", "-", "-", infos])
            continue
        for info in infos:
            rows.append([inst.name, info["name"], info["statename"], str(info["pid"] or "-"),
                         _uptime(info), _exit(dep, role, info), info.get("spawnerr") or ""])
    return [mask(r) for r in table(rows, right={3, 4, 5})]


def _exit(dep: Deployment, role: str, info: dict) -> str:
    """Return the exit column: supervisord's recorded status or signal, '-' while it runs.

    As :func:`pytest_jaws.deploy.livelogs.how_ended` says (from the instance's real log, which says
    more than its XML-RPC).
    """
    if info.get("statename") in ("RUNNING", "STARTING"):
        return "-"
    return how_ended(dep, role, info).replace("exit status ", "")


def table(rows: list[list[str]], right: Collection[int] = frozenset(), indent: str = ""
          ) -> list[str]:
    """Lay ``rows`` (the first is the header) out in columns as wide as their widest cell.

    Columns whose index is in ``right`` are right-aligned; trailing spaces are dropped.
    """
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return [indent + " ".join(str(cell).rjust(w) if i in right else str(cell).ljust(w)
                              for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip()
            for row in rows]


def env_rows(env: dict) -> list[list[str]]:
    """Return the rows of an environment's table (header first).

    Each instance's supervisord, then its programs; seconds to healthy with two decimals. The
    terminal and Markdown share it.
    """
    rows = [["instance", "program", "port", "user", "state", "pid", "healthy (s)"]]
    for inst in env["instances"]:
        rows.append([inst["name"], "(supervisord)", str(inst["port"]), inst["user"], "",
                     str(inst["pid"] or "-"), ""])
        for p in (p for p in env["programs"] if p["instance"] == inst["name"]):
            took = p["seconds_to_healthy"]
            rows.append([inst["name"], p["name"], str(p["port"] or "-"), p["user"],
                         p["state"], str(p["pid"] or "-"),
                         f"{took:.2f}" if took is not None else "-"])
    return rows

