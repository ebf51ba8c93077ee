"""Long texts shown once per run, every later mention a one-line reference.

The first test that reports a given thing (the failure section of an environment and
instance, a setup error of an environment) shows it in full; every later one carries a
one-line reference to that first test.

Under pytest-xdist the workers share the run's temporary root: the first worker to create
``jaws-first-<key>`` there (``O_CREAT | O_EXCL``, atomic) shows the text, the file holds that
test's node id for the others.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

#: Bytes of a node id read back from a marker file.
NODEID_BYTES = 2048


class RunWide:
    """Base of what is kept once per run: in this process, or in the xdist shared directory.

    :param shared: xdist: the run's shared directory; None: this process only.
    """

    def __init__(self, shared: Path | None = None):
        self.shared = shared
        self._seen: dict = {}
        self._lock = threading.Lock()


class FirstShown(RunWide):
    """Who showed what first (:class:`RunWide`'s ``shared``)."""

    def claim(self, key: str, nodeid: str) -> str | None:
        """Claim ``key`` for ``nodeid``; return None if it is the first to show it, else who did.

        The first shows the text in full; for any other, the node id of the test that did.
        """
        with self._lock:
            if key in self._seen:
                first = self._seen[key]
                return None if first == nodeid else first
            shown = self._claim_shared(self.shared, key, nodeid) if self.shared is not None else None
            self._seen[key] = shown or nodeid
            return shown

    @staticmethod
    def _claim_shared(shared: Path, key: str, nodeid: str) -> str | None:
        path = shared / f"jaws-first-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            try:
                with open(path, "rb") as fh:
                    return fh.read(NODEID_BYTES).decode("utf-8", "replace") or "another test"
            except OSError:
                return "another test"
        except OSError:
            return None  # no shared directory to coordinate in: show it here
        with os.fdopen(fd, "wb") as fh:
            fh.write(nodeid.encode())
        return None
