"""The run report: built as data, written as JSON and Markdown, summed up for the terminal.

:func:`build_report` (schema ``report.schema.json``, shipped beside this module),
:func:`write_report` (the JSON file and its Markdown twin), :func:`summary_lines` (the terminal
summary). Everything here passes through :func:`pytest_jaws.keys.mask` before it leaves the
harness, and what goes to a terminal through :func:`pytest_jaws.host.printable.printable`.
What a failed test shows is :mod:`pytest_jaws.report.failure`, the tables
:mod:`pytest_jaws.report.tables`.
"""

from __future__ import annotations

import datetime
import json
import time
from pathlib import Path

from ..deploy.result import Deployment
from ..host import safedirs, safefs
from ..host.printable import printable
from ..install import venvstate
from ..keys import mask
from .tables import env_rows, table

#: JSON schema of the ``--jaws-report`` file.
SCHEMA_FILE = Path(__file__).with_name("report.schema.json")
SCHEMA_ID = "pytest-jaws-report/1"


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
