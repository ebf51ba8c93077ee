"""Applying a plan and taking it down.

Pre-flight, files, start or adopt, waits, stop, --jaws-down, the servers a run starts, the
commands printed for a person, what a deployment gives (its result, its live logs) and whether
its programs stayed up since it settled.

May import: ``pytest_jaws.probes``, ``pytest_jaws.install``, ``pytest_jaws.host``,
``pytest_jaws.render``, ``pytest_jaws.plan``, ``pytest_jaws.sites``, ``pytest_jaws.keys``,
``pytest_jaws.errors``. Checked by lint-imports (pyproject.toml's [tool.importlinter]).
"""
