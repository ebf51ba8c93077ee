"""One environment's deployment as plain frozen data.

Computed from the site model without touching the machine: paths, ports, users, programs,
commands, what to install, which MySQL and RabbitMQ checks, which servers the run starts.

May import: ``pytest_jaws.sites``, ``pytest_jaws.keys``, ``pytest_jaws.errors``. Checked by
lint-imports (pyproject.toml's [tool.importlinter]).
"""
