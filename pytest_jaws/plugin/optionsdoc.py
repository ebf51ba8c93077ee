"""The options table of the documentation, generated from :mod:`pytest_jaws.plugin.optiondefs`.

``docs/options.md`` holds the table between two marker comments; the documentation build
(``scripts/mkdocs_hooks.py``) regenerates it there, and ``tests/test_docs.py`` checks that
the committed copy is the generated one, so the table cannot drift from the options that
``pytest --help`` lists.
"""

from __future__ import annotations

import html

from .optiondefs import FLAGS, OPTIONS

#: The comments that enclose the generated table in a Markdown page.
BEGIN = "<!-- BEGIN options table: generated from pytest_jaws/plugin/optiondefs.py, do not edit -->"
END = "<!-- END options table -->"


def _cell(text: str) -> str:
    """Return ``text`` safe in a Markdown table cell: HTML-escaped, ``|`` escaped."""
    return html.escape(text, quote=False).replace("|", "\\|")


def options_table() -> str:
    """Return the Markdown table of every ``--jaws-*`` option: option, ini key, default, help.

    The help is the text ``pytest --help`` shows; a default of None is "see the help" (it
    depends on the site, and the help says how), a flag's default is "off".
    """
    rows = ["| option | ini key | default | what it does |", "|---|---|---|---|"]
    for flag, ini, default, help_text in OPTIONS:
        shown = f"`{default}`" if default is not None else "see the text"
        rows.append(f"| `{flag}` | `{ini}` | {shown} | {_cell(help_text)} |")
    for flag, ini, help_text in FLAGS:
        rows.append(f"| `{flag}` | `{ini}` | off | {_cell(help_text)} |")
    return "\n".join(rows)


def with_table(markdown: str) -> str:
    """Return ``markdown`` with the text between :data:`BEGIN` and :data:`END` regenerated.

    :raises ValueError: when the page lacks either marker (the table would silently vanish).
    """
    start, end = markdown.find(BEGIN), markdown.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the page has no {BEGIN!r} ... {END!r} pair to put the options table in")
    return f"{markdown[:start]}{BEGIN}\n{options_table()}\n{markdown[end:]}"
