"""Fake jaws_site (pytest-jaws's JAWS-shaped checkout): the ``jaws-site`` command."""
