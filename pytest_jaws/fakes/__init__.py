"""Fake JAWS: a JAWS-shaped checkout whose services answer as the real ones do.

``checkout/`` holds rpc/, site/, central/, jtm/ with JAWS's distribution names and console
scripts; the services answer over HTTP and RPC as the real ones do (see ``checkout/*/``
docstrings). Apart from any checkout, whatever JAWS code runs: ``cromwell/``, the Cromwell
stand-in built into a jar, and ``fakejava.py``, the ``fake-java`` launcher that runs it
(written into the jtm venv by :func:`pytest_jaws.install.cromwell.place_cromwell`).
"""
