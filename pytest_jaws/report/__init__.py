"""What a person reads.

State tables, failure sections, the summary, the JSON and Markdown report (report.schema.json),
per-environment outcomes, and --jaws-plan's view.

May import: ``pytest_jaws.deploy``, ``pytest_jaws.probes``, ``pytest_jaws.install``,
``pytest_jaws.host``, ``pytest_jaws.render``, ``pytest_jaws.plan``, ``pytest_jaws.sites``,
``pytest_jaws.keys``, ``pytest_jaws.errors``. Checked by lint-imports (pyproject.toml's
[tool.importlinter]).
"""
