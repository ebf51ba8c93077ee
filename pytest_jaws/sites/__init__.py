"""The sites file and what a run chose from it.

The model (pydantic) read from sites.yaml and checked across its keys, a real site's fake twin,
the shipped sites.yaml; the facts several stages need (key and secret variable names, the
secrets of each JAWS file, the shifted port table) and the run's settings.

May import: ``pytest_jaws.keys``, ``pytest_jaws.errors``. Checked by lint-imports
(pyproject.toml's [tool.importlinter]).
"""
