"""The plan's files as text, by pure functions.

supervisord configurations and shims (and the escaping of their values), JAWS's configuration
files and cromwell.conf, and jaws_required.yaml (the keys JAWS's packages read).

May import: ``pytest_jaws.plan``, ``pytest_jaws.sites``, ``pytest_jaws.keys``,
``pytest_jaws.errors``. Independent of ``pytest_jaws.host``: neither imports the other. Checked
by lint-imports (pyproject.toml's [tool.importlinter]).
"""
