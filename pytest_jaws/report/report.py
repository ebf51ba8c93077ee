"""What a person reads: state tables, log tails, failure sections and the run summary.

Everything here passes through :func:`pytest_jaws.keys.mask` before it leaves the harness,
and what goes to a terminal through :func:`pytest_jaws.host.printable.printable` (a role user's log
lines, another user's command line: their control sequences are shown escaped, not obeyed).
The machine-readable report follows ``report.schema.json`` (shipped beside this module).
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Collection
from pathlib import Path

from ..deploy.livelogs import how_ended, instance_log, log_or_note, program_logs
from ..deploy.logtail import log_tail
from ..deploy.result import Deployment
from ..host import safedirs, safefs
from ..host.printable import printable
from ..install import venvstate
from ..keys import mask

#: JSON schema of the ``--jaws-report`` file.
SCHEMA_FILE = Path(__file__).with_name("report.schema.json")
SCHEMA_ID = "pytest-jaws-report/1"
#: Lines of each log shown for a program involved in a failure.
INVOLVED_LINES = 50
#: Lines of each supervisord log in a failure section.
SUPERVISORD_LINES = 30


def mask_report(rep):
    """Return the test report with keys masked and control sequences escaped.

    In its longrepr and its sections (:func:`pytest_jaws.host.printable.printable`: an error message
    that names another user's command line or path shows its escape sequences, never runs them).
    """
    if rep.longrepr is not None and not isinstance(rep.longrepr, tuple):
        text = str(rep.longrepr)
        masked = printable(mask(text))
        if masked != text:
            rep.longrepr = masked
    rep.sections = [(title, printable(mask(content))) for title, content in rep.sections]
    return rep


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


def involved_programs(dep: Deployment, snapshot: dict, named: list[str]) -> list[str]:
    """Return the programs a failure is about.

    Those the test is parametrized with, plus every program that is not RUNNING.
    """
    out = [n for n in named if n in dep.plan.programs]
    for infos in snapshot.values():
        if isinstance(infos, list):
            out += [i["name"] for i in infos if i["statename"] != "RUNNING" and i["name"] not in out]
    return out


def failure_section(dep: Deployment, named: list[str], snapshot: dict | None = None) -> str:
    """Return the "jaws deployment" section: state table, log tails, supervisord log tails.

    The log tails of the programs involved, and the tail of each supervisord log (keys masked,
    terminal control sequences escaped: :func:`pytest_jaws.host.printable.printable`).
    """
    snapshot = snapshot if snapshot is not None else dep.snapshot()
    parts = [f"environment {dep.env} of site {dep.plan.site} at {dep.plan.directory}", "",
             *state_table(dep, snapshot)]
    infos = {i["name"]: i for found in snapshot.values() if isinstance(found, list)
             for i in found}
    for name in involved_programs(dep, snapshot, named):
        stderr, stdout = program_logs(dep, name, infos.get(name))
        for label, path in dict.fromkeys([("stderr", stderr), ("stdout", stdout)]):
            if label == "stdout" and path == stderr:
                continue  # stderr goes to stdout (redirect_stderr): shown once
            parts += ["", f"--- {name} {label}: last {INVOLVED_LINES} lines of {path} ---",
                      log_or_note(path, log_tail(path, INVOLVED_LINES),
                                  "supervisord reports this log for the program")]
    for role, inst in dep.plan.instances.items():
        logfile = instance_log(dep, role)
        parts += ["", f"--- {inst.name}: last {SUPERVISORD_LINES} lines of {logfile} ---",
                  log_or_note(logfile, log_tail(logfile, SUPERVISORD_LINES),
                              "the instance's configuration names it")]
    return printable(mask("\n".join(parts)))


def add_failure_section(rep, text: str) -> None:
    """Attach ``text`` to a failed report as section "jaws deployment".

    Inside the longrepr (terminal and JUnit ``<failure>``/``<error>``) and in ``rep.sections``
    for ``-rA``. Control sequences in ``text`` are escaped.
    """
    text = printable(text)
    longrepr = rep.longrepr
    if hasattr(longrepr, "addsection"):
        longrepr.addsection("jaws deployment", text)
    elif isinstance(longrepr, str):
        rep.longrepr = f"{longrepr}\n{'-' * 30} jaws deployment {'-' * 30}\n{text}"


def _program_rows(dep: Deployment, snapshot: dict) -> list[dict]:
    by_name = {i["name"]: i for infos in snapshot.values() if isinstance(infos, list)
               for i in infos}
    rows = []
    for inst in dep.plan.instances.values():
        for prog in inst.programs:
            info = by_name.get(prog.name, {})
            took = dep.healthy_after.get(prog.name)
            rows.append({
                "name": prog.name, "instance": inst.name, "port": prog.port, "user": inst.user,
                "state": info.get("statename", "UNKNOWN"), "pid": info.get("pid") or None,
                "seconds_to_healthy": round(took, 3) if took is not None else None,
                "unhealthy": dep.unhealthy.get(prog.name),
            })
    return rows


def _utc(seconds: float) -> str:
    """Return a time (seconds since the epoch) as ISO 8601 UTC: ``2026-12-06T20:35:17.123Z``."""
    stamp = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def run_entry(settings, run: tuple[float, float] | None) -> dict:
    """Return the report's ``run``: start, end, duration and the port offset of the run.

    :param run: ``(start, end)`` in seconds since the epoch (None: not known, e.g. a report
        built outside a run; start and end are then the time of the call).
    """
    start, end = run if run else (time.time(),) * 2
    return {"start": _utc(start), "end": _utc(end), "seconds": round(end - start, 3),
            "port_offset": settings.port_offset,
            "port_offset_auto": settings.offset_lock is not None}


def build_report(settings, outcomes: dict, snapshots: dict, teardown: tuple | None,
                 policy: str | None = None, tests: dict | None = None,
                 run: tuple[float, float] | None = None) -> dict:
    """Return the run report as data (schema ``report.schema.json``).

    :param outcomes: env -> its :class:`~pytest_jaws.deploy.result.EnvOutcome`.
    :param snapshots: env -> role -> process infos, taken before teardown.
    :param teardown: ``(seconds, [errors])`` or None when nothing was torn down.
    :param tests: env -> test outcomes (:class:`pytest_jaws.report.outcomes.OutcomeTally`'s shape,
        skip reasons included).
    :param run: ``(start, end)`` of the run, seconds since the epoch (:func:`run_entry`).
    """
    import supervisor.options

    from .outcomes import empty
    envs = []
    for env, outcome in outcomes.items():
        dep = outcome.deployment
        entry: dict = {"name": env, "status": "deployed" if outcome.error is None else "failed",
                       "error": outcome.error, "directory": None, "changes": None,
                       "instances": [], "programs": [],
                       "tests": (tests or {}).get(env) or empty()}
        if dep is not None:
            snap = snapshots.get(env) or dep.last_state or {}
            entry["directory"] = str(dep.plan.directory)
            entry["changes"] = dep.changes
            if dep.dependencies:
                entry["dependencies"] = list(dep.dependencies)
            entry["instances"] = [{"name": i.name, "role": r, "port": i.port, "user": i.user,
                                   "pid": dep.pids.get(r)} for r, i in dep.plan.instances.items()]
            entry["programs"] = _program_rows(dep, snap)
        envs.append(entry)
    seconds, errors = teardown if teardown else (None, [])
    return {
        "schema": SCHEMA_ID, "run": run_entry(settings, run), "site": settings.site,
        "fake": settings.fake,
        "sites_file": str(settings.sites_file), "supervisor_version": supervisor.options.VERSION,
        "environments": envs,
        "teardown": {"policy": policy, "seconds": None if seconds is None else round(seconds, 3),
                     "errors": [mask(e) for e in errors]},
    }


def _outcome_text(tests: dict) -> str:
    return ", ".join(f"{tests[k]} {k}" for k in ("passed", "failed", "errors", "skipped"))


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


def summary_lines(data: dict) -> list[str]:
    """Return the terminal summary of a report: a table per environment."""
    lines = []
    for env in data["environments"]:
        if env["status"] != "deployed":
            first = (env["error"] or "").splitlines()[0] if env["error"] else "?"
            lines.append(f"jaws {env['name']}: NOT DEPLOYED: {first}")
            if not env["programs"]:
                continue
        else:
            change = env.get("changes")
            note = f" ({change['summary']})" if change else ""
            lines.append(f"jaws {env['name']}: deployed at {env['directory']}{note}")
            for item in (change or {}).get("replaced_files", []):
                lines.append(f"  replaced {item['path']} ({item['summary']}); previous "
                             f"version: {item['backup']}")
            lines += venvstate.summary_lines((change or {}).get("packages") or [])
        if env.get("tests"):
            lines.append(f"jaws {env['name']}: tests {_outcome_text(env['tests'])}")
        lines += [f"  dependency {line}" for line in env.get("dependencies", [])]
        lines += table(env_rows(env), right={2, 5, 6}, indent="  ")
    td = data["teardown"]
    if td["seconds"] is not None:
        lines.append(f"jaws teardown ({td['policy']}): {td['seconds']:.2f} s"
                     + (" with errors: " + "; ".join(td["errors"]) if td["errors"] else ""))
    return [printable(mask(line)) for line in lines]


def markdown(data: dict) -> str:
    """Return the report as Markdown (one table per environment), for CI artifacts."""
    from .outcomes import empty
    run = data["run"]
    auto = " (chosen by auto)" if run["port_offset_auto"] else ""
    out = [f"# pytest-jaws report: site {data['site']}", "",
           f"run from {run['start']} to {run['end']} ({run['seconds']:.2f} s), port offset "
           f"{run['port_offset']}{auto}", "",
           f"supervisor {data['supervisor_version']}, sites file `{data['sites_file']}`", ""]
    for env in data["environments"]:
        tests = env.get("tests") or empty()
        out += [f"## {env['name']}: {env['status']}", "", f"tests: {_outcome_text(tests)}", ""]
        out += [f"- not passed: `{nodeid}`" for nodeid in tests["failing"]]
        out += [""] if tests["failing"] else []
        skips = tests.get("skip_reasons") or {}
        out += [f"- skipped ({len(ids)}): {reason}" for reason, ids in skips.items()]
        out += [""] if skips else []
        if env["error"]:
            out += ["```", env["error"], "```", ""]
        if env["instances"]:
            header, *rows = env_rows(env)
            out += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            out += ["| " + " | ".join(row) + " |" for row in rows]
            out.append("")
    return mask("\n".join(out)) + "\n"


def write_report(path: Path, data: dict) -> tuple[Path, Path]:
    """Write ``data`` as JSON to ``path`` and as Markdown beside it (``.md``), each atomically.

    Atomically: a new file renamed into place (a link planted at either name is replaced, never
    written through), into a directory the user owns (see :func:`pytest_jaws.host.safefs.write_file`).

    :returns: ``(json path, markdown path)``.
    :raises OSError: (:class:`pytest_jaws.errors.UnsafePathError` included) when it cannot.
    """
    path = Path(path).absolute()
    safedirs.make_dirs(path.parent)
    safefs.write_file(path, mask(json.dumps(data, indent=2)) + "\n", 0o644, parent_owned=True)
    md = path.with_suffix(".md")
    safefs.write_file(md, markdown(data), 0o644, parent_owned=True)
    return path, md
