"""Fake jaws_jtm (pytest-jaws's JAWS-shaped checkout).

The ``jtm`` command, and ``fake-java``, the launcher of the Cromwell stand-in jar.
"""
