"""What a service venv holds, as the harness put it there: a record beside the venv's files.

``<venv>/.jaws-installed.json`` maps each package's import name to the content key of the
wheel that went in (:func:`pytest_jaws.install.wheels.content`), the digest of its files, its
version and ``since``: when files of that digest went in (seconds since the epoch; a new
version of the same files keeps it). A redeploy compares it with the checkout: a package
whose key is the same (and whose installed version is the wheel's) is left alone; one whose
files differ makes the programs that run from the venv restart. The health suite checks
that each program started after ``since`` of every package of its venv.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from ..host import safefs, saferead
from ..plan.installspec import PackageChange

#: The record's file name inside a venv.
RECORD = ".jaws-installed.json"


def read(venv: Path) -> dict[str, dict]:
    """Return the record of ``venv`` (``{import name: {key, files, version, since}}``); {} if none.

    A record that is not a JSON object of objects counts as none (everything is reinstalled).
    """
    text = saferead.read_text(venv / RECORD, 1 << 16)
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        return {}
    return data


def write(venv: Path, packages: dict[str, dict]) -> None:
    """Write the record of ``venv`` (world-readable, like the venv), atomically."""
    safefs.write_file(venv / RECORD, json.dumps(packages, indent=1, sort_keys=True) + "\n", 0o644)


def merge(changes: list[PackageChange]) -> list[PackageChange]:
    """Merge the per-venv changes of each package into one, where they agree.

    Entries of one package with the same old and new version and the same flags become one
    with every venv; the order of first appearance is kept (jaws_rpc first).
    """
    merged: dict[tuple, PackageChange] = {}
    for c in changes:
        key = (c.package, c.old, c.new, c.files_changed, c.reinstalled, c.built)
        if key in merged:
            merged[key] = replace(c, venvs=merged[key].venvs + c.venvs)
        else:
            merged[key] = c
    return list(merged.values())


def summary_lines(packages: list[dict]) -> list[str]:
    """Return the deploy summary's install lines for a report's ``changes.packages``.

    One line per package that went in, ``old -> new`` with its venvs and what restarted
    for it; or one line saying that nothing changed, with the versions in place and whether a
    wheel was built.
    """
    def venvs(entry: dict) -> str:
        names = entry["venvs"]
        return f"{', '.join(names)} venv{'s' if len(names) > 1 else ''}"

    went_in = [e for e in packages if e["reinstalled"]]
    lines = []
    for e in went_in:
        if e["old"] is None:
            line = f"  install: {e['package']} {e['new']} ({venvs(e)})"
        else:
            line = f"  install: {e['package']} {e['old']} -> {e['new']} ({venvs(e)})"
            if not e["files_changed"]:
                line += "; same files, a new version only: nothing restarted"
            elif e["old"] == e["new"]:
                line += "; same version, other files: reinstalled"
        if e["restarted"]:
            line += f"; restarted {', '.join(e['restarted'])}"
        lines.append(line)
    kept = list(dict.fromkeys(f"{e['package']} {e['new']}" for e in packages
                              if not e["reinstalled"]))
    if kept:
        built = [e["package"] for e in packages if e["built"] and not e["reinstalled"]]
        how = (f"built again (not in the wheelhouse): {', '.join(dict.fromkeys(built))}"
               if built else "no wheel built")
        lead = "nothing changed" if not went_in else "unchanged"
        lines.append(f"  install: {lead}: {', '.join(kept)} ({how}; nothing installed"
                     f"{'' if went_in else ' or restarted'} for them)")
    return lines
