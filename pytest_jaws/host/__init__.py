"""The machine as the harness touches it, safely among hostile users.

The one file-system layer that never follows a planted link (safefs, safedirs, saferead),
processes and sockets (psutil, /proc/net/tcp), becoming a role user, the supervisord client,
host-wide locks and port reservations, actions done once per run across processes, process
limits, room on the file system, permissions, another user's text made safe for a terminal, and
a free port offset.

May import: ``pytest_jaws.plan``, ``pytest_jaws.sites``, ``pytest_jaws.keys``,
``pytest_jaws.errors``. Independent of ``pytest_jaws.render``: neither imports the other.
Checked by lint-imports (pyproject.toml's [tool.importlinter]).
"""
