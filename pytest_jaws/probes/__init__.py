"""What is asked of a live deployment.

Health probes, the MySQL and RabbitMQ checks, the audit of who may read and change every file of
a deployment.

May import: ``pytest_jaws.host``, ``pytest_jaws.render``, ``pytest_jaws.plan``,
``pytest_jaws.sites``, ``pytest_jaws.keys``, ``pytest_jaws.errors``. Independent of
``pytest_jaws.install``: neither imports the other. Checked by lint-imports (pyproject.toml's
[tool.importlinter]).
"""
