"""pytest-jaws: deploy the JAWS supervisord pair for a site and environment, and verify it.

Importing this package is cheap on purpose: the fake services import it on every start.
"""

__version__ = "0.1.0"
