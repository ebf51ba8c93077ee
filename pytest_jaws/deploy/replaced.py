"""Files a deployment replaces: the previous version kept beside each, and what changed.

Before live files are written over, each existing one is copied to ``<path>.<UTC timestamp>``
(:func:`keep_previous`); the report lists each replaced file with a summary of the change that
names the ini sections touched, never a value (:func:`diff_summary`, :func:`replaced_report`).
"""

from __future__ import annotations

import difflib
import os
import time
from pathlib import Path

from ..host import safefs
from .files import read_or_none


def _sections(lines: list[str]) -> list[str]:
    out, current = [], ""
    for line in lines:
        if line.startswith("[") and "]" in line:
            current = line[: line.index("]") + 1]
        out.append(current)
    return out


def diff_summary(old: str, new: str) -> str:
    """Summarise a change as ``+3 -2 lines in [supervisord], [program:jaws-jtm]``.

    Counts and the ini sections that changed, never the values (they may hold keys or passwords).
    """
    a, b = old.splitlines(), new.splitlines()
    sa, sb = _sections(a), _sections(b)
    added = removed = 0
    touched: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        removed += i2 - i1
        added += j2 - j1
        touched += [s for s in sa[i1:i2] + sb[j1:j2] if s]
    where = ", ".join(dict.fromkeys(touched))
    return f"+{added} -{removed} lines" + (f" in {where}" if where else "")


def keep_previous(paths: list[Path], stamp: str | None = None) -> list[dict]:
    """Before live files are replaced, copy each existing one to ``<path>.<UTC timestamp>``.

    The copy is beside it, with its owner (when this run is root) and mode.

    :returns: ``[{"path", "backup", "old"}]`` for the files that existed (``old``: their text,
        for :func:`replaced_report`; never written to a report as such).
    :raises UnsafePathError: for a planted link or a directory that may not be
        written.
    """
    stamp = stamp or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    kept = []
    for path in paths:
        old = read_or_none(path)
        if old is None:
            continue
        st = os.lstat(path)
        owner = (st.st_uid, st.st_gid) if os.geteuid() == 0 else None
        backup = path.with_name(f"{path.name}.{stamp}")
        safefs.write_file(backup, old, st.st_mode & 0o777, owner)
        kept.append({"path": str(path), "backup": str(backup), "old": old})
    return kept


def replaced_report(kept: list[dict], rendered: dict) -> list[dict]:
    """Return ``[{"path", "backup", "summary"}]``: what the report lists for each replaced file.

    The summary is :func:`diff_summary`'s, no values.
    """
    return [{"path": k["path"], "backup": k["backup"],
             "summary": diff_summary(k["old"], rendered[k["path"]][0])} for k in kept]
