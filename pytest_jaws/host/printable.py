r"""Text that another user wrote, made safe for a terminal: control sequences shown, not obeyed.

Log tails, command lines of other users' processes and paths they chose reach failure
sections, error messages and the summary. A role user who writes ``\e[1A\e[2K\e[32mALL
CHECKS PASSED`` into its log could otherwise rewrite what the person at the terminal (or a CI
log viewer that renders ANSI) sees. :func:`printable` escapes every character that a terminal
acts on instead of printing it.
"""

from __future__ import annotations

import re

#: What a terminal acts on: C0 controls but tab and line feed (ESC, CR, BS, BEL ...), DEL,
#: C1 controls (U+0080-U+009F, CSI U+009B among them), and Unicode's bidirectional overrides
#: and isolates, which reorder what is shown (U+202A-U+202E, U+2066-U+2069).
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    r"""Return ``text`` with every terminal control character escaped (``\x1b``, ``\u202e``).

    Line feeds and tabs are kept; a carriage return becomes ``\x0d`` (it would let a line
    overwrite itself).
    """
    return CONTROL.sub(_escape, text)
