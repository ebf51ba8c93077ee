"""Bounded views of logs for messages and reports, and what supervisord's own log recorded.

A log tail shown to a person is limited in lines, in characters per line and in bytes, so a
program that prints megabytes cannot flood a terminal, a JUnit file or a CI job log.
"""

from __future__ import annotations

import re
from pathlib import Path

from .files import tail

#: Bytes of one log shown in a message or failure section (UTF-8, after cutting lines).
TAIL_BYTES = 4096
#: Characters kept of one log line; the rest is replaced by a note of how much was cut.
LINE_CHARS = 240


def clip(text: str, max_bytes: int = TAIL_BYTES, line_chars: int = LINE_CHARS) -> str:
    """Return ``text`` with every line cut to ``line_chars`` characters, within ``max_bytes``.

    When the result is still over ``max_bytes`` bytes (UTF-8), only its last lines that fit are
    kept, after a note saying how many lines were left out.
    """
    lines = [ln if len(ln) <= line_chars else
             f"{ln[:line_chars]}... [{len(ln) - line_chars} more characters cut]"
             for ln in text.splitlines()]
    kept: list[str] = []
    size = 0
    for line in reversed(lines):
        size += len(line.encode("utf-8", "replace")) + 1
        if size > max_bytes:
            break
        kept.append(line)
    kept.reverse()
    if len(kept) < len(lines):
        kept.insert(0, f"[{len(lines) - len(kept)} earlier lines left out: over {max_bytes} bytes]")
    return "\n".join(kept)


def log_tail(path: Path, lines: int = 50, max_bytes: int = TAIL_BYTES) -> str:
    """Return the last ``lines`` lines of a log, :func:`clip`-ped to ``max_bytes`` bytes.

    Keys are masked; '' when the log is unreadable.
    """
    return clip(tail(path, lines), max_bytes)


_EXITED = re.compile(r"(?:exited|stopped): (?P<name>\S+) \((?P<how>[^)]*)\)")


def recorded_exit(logfile: Path, program: str) -> str | None:
    """Return how ``program`` last ended, as supervisord logged it, or None.

    ``exit status 3``, ``terminated by SIGKILL``; None when its log does not say.

    supervisord's XML-RPC ``exitstatus`` is 0 for a program that exited too quickly (it keeps
    no status then), so messages take the status from the log line
    ``exited: <program> (exit status 3; not expected)``.
    """
    how = None
    for line in tail(logfile, 400).splitlines():
        match = _EXITED.search(line)
        if match and match["name"] == program:
            how = match["how"].split(";")[0].strip()
    return how
