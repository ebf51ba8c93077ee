"""pytest-jaws: deploy JAWS's supervisord instances for a site and environment, and verify them.

Importing this package is cheap on purpose: the fake services import it on every start.
"""

__version__ = "0.1.0"
