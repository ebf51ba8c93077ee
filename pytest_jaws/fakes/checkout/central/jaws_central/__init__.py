"""Fake jaws_central (pytest-jaws's JAWS-shaped checkout): the ``jaws-central`` command."""
