"""Teardown shielded from Ctrl-C: SIGINT, SIGTERM and SIGHUP are held off during teardown.

While a run takes its deployments down, SIGINT, SIGTERM and SIGHUP are held off, so that
teardown finishes, sweeps by marker and the summary is printed. Each signal that arrives meanwhile says
so on stderr. Only SIGKILL can stop a teardown; the next run on the same base directory then
finds and removes what is left.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: The signals held off during teardown.
SHIELDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextmanager
def teardown_shield() -> Iterator[list[int]]:
    """Hold SIGINT, SIGTERM and SIGHUP off for the ``with`` block (main thread only, else a no-op).

    Yields the list of signal numbers received meanwhile; on leaving, the previous handlers are
    restored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield []
        return
    received: list[int] = []

    def held_off(signum, _frame) -> None:
        received.append(signum)
        name = signal.Signals(signum).name
        # os.write: safe inside a signal handler, whatever the terminal writer is doing
        os.write(2, (f"\njaws: {name} received: teardown in progress, it finishes first (it "
                     "ends every process of the deployment and prints the summary); "
                     "only SIGKILL stops it now\n").encode())

    previous = {sig: signal.signal(sig, held_off) for sig in SHIELDED}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
