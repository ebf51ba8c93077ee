"""MkDocs hooks of the documentation site (``mkdocs.yml``: ``hooks``).

The options page gets its table from :mod:`pytest_jaws.plugin.optionsdoc` at every build. Run as a
script, this file rewrites the committed copy in ``docs/options.md``:
``python scripts/mkdocs_hooks.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pytest_jaws.plugin.optionsdoc import BEGIN, with_table

OPTIONS_PAGE = Path(__file__).resolve().parent.parent / "docs" / "options.md"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Regenerate the options table of any page that carries its markers (MkDocs event)."""
    return with_table(markdown) if BEGIN in markdown else markdown


if __name__ == "__main__":
    OPTIONS_PAGE.write_text(with_table(OPTIONS_PAGE.read_text(encoding="utf-8")), encoding="utf-8")
    sys.stdout.write(f"rewrote the options table of {OPTIONS_PAGE}\n")
