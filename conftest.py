"""Project-wide test settings for pytest-jaws's own runs (suites/ and tests/).

The plugin itself is loaded through its ``pytest11`` entry point once the package is
installed (``python -m pip install -e ".[dev]"``).
"""
