"""Command-line programs of pytest-jaws.

``python -m pytest_jaws.tools.configkeys`` (JAWS configs against what a checkout's packages
read; configscan finds the reads) and ``python -m pytest_jaws.tools.cicheck`` (the GitLab job's
pre-check).

May import: ``pytest_jaws.plugin``, ``pytest_jaws.report``, ``pytest_jaws.deploy``,
``pytest_jaws.probes``, ``pytest_jaws.install``, ``pytest_jaws.host``, ``pytest_jaws.render``,
``pytest_jaws.plan``, ``pytest_jaws.sites``, ``pytest_jaws.keys``, ``pytest_jaws.errors``.
Checked by lint-imports (pyproject.toml's [tool.importlinter]).
"""
