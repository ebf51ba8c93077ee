"""Fake jaws_jtm (pytest-jaws's JAWS-shaped checkout).

The ``jtm`` command.
"""
