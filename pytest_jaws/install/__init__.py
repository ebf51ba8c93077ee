"""Installation: supervisor, the service venvs, Cromwell's jar.

Service venvs built from a JAWS checkout (wheels cached by content, the interpreter of the
site's Python version, what a venv holds), and Cromwell's jar checked and put in place.

May import: ``pytest_jaws.host``, ``pytest_jaws.render``, ``pytest_jaws.plan``,
``pytest_jaws.sites``, ``pytest_jaws.keys``, ``pytest_jaws.errors``. Independent of
``pytest_jaws.probes``: neither imports the other. Checked by lint-imports (pyproject.toml's
[tool.importlinter]).
"""
