"""``fake-java``: runs the Cromwell stand-in jar the way the cromwell shim runs the real one.

Not part of any checkout: pytest-jaws writes it as ``<jtm venv>/bin/fake-java`` (run by the
venv's Python) for a site whose Cromwell is the stand-in, whatever JAWS code the venv holds.

``fake-java [-Xmx..] [-Dkey=value ...] -jar <jar> <args>`` checks that the jar is a readable
file and runs it with the Python running this launcher (the stand-in jar is a Python zip
application), passing the ``-D`` properties in ``JAWS_FAKE_JAVA_PROPERTIES`` (JSON).
"""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    """Entry point of the ``fake-java`` console script."""
    argv = sys.argv[1:]
    props, jar = {}, None
    while argv:
        arg = argv.pop(0)
        if arg == "-jar":
            jar = argv.pop(0) if argv else None
            break
        if arg.startswith("-D") and "=" in arg:
            key, value = arg[2:].split("=", 1)
            props[key] = value
        elif not arg.startswith("-"):
            sys.exit(f"fake-java: unexpected argument {arg!r}")
    if not jar or not os.path.isfile(jar):
        sys.exit(f"Error: Unable to access jarfile {jar}")
    os.environ["JAWS_FAKE_JAVA_PROPERTIES"] = json.dumps(props)
    os.execv(sys.executable, [sys.executable, jar, *argv])  # noqa: S606 - the jar, as java runs it


if __name__ == "__main__":
    main()
