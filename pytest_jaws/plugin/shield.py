"""Teardown shielded from Ctrl-C: SIGINT, SIGTERM and SIGHUP are held off during teardown.

While a run takes its deployments down, SIGINT, SIGTERM and SIGHUP are held off, so that
teardown finishes, sweeps by marker and the summary is printed. Each signal that arrives meanwhile says
so on stderr. Only SIGKILL can stop a teardown; the next run on the same base directory then
finds and removes what is left.
"""

from __future__ import annotations

import os
import select
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
        if signum == signal.SIGHUP:
            silence_hung_up_terminals()
        # os.write: safe inside a signal handler, whatever the terminal writer is doing
        try:
            os.write(2, (f"\njaws: {name} received: teardown in progress, it finishes first (it "
                         "ends every process of the deployment and prints the summary); "
                         "only SIGKILL stops it now\n").encode())
        except OSError:
            pass  # no terminal any more: teardown goes on all the same

    previous = {sig: signal.signal(sig, held_off) for sig in SHIELDED}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def silence_hung_up_terminals() -> list[int]:
    """Point every file descriptor of a hung-up terminal at ``/dev/null``; return them.

    A closed terminal hangs up: it sends SIGHUP, and every later write to it fails with EIO,
    which would end the run in the middle of its teardown (everything left up). pytest keeps
    the terminal at more than one descriptor (its output capture saves the original), so each
    open descriptor that is a terminal (``/dev/pts/N``, ``/dev/tty*``) is probed with a write of
    nothing (EIO once hung up) and, when hung up, replaced. A terminal still there keeps its
    output.
    """
    silenced = []
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        fds = [0, 1, 2]
    for fd in fds:
        try:
            # isatty() is False once hung up (its ioctl fails too): the terminal is known by name
            if not os.readlink(f"/proc/self/fd/{fd}").startswith(("/dev/pts/", "/dev/tty")):
                continue
        except OSError:
            continue
        try:
            os.write(fd, b"")
        except OSError:
            if _to_devnull(fd):
                silenced.append(fd)
    return silenced


def _to_devnull(fd: int) -> bool:
    """Point ``fd`` at ``/dev/null``; return whether it could be."""
    try:
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, fd)
        os.close(null)
    except OSError:
        return False
    return True


def silence_lost_outputs() -> list[int]:
    """Point every output whose reader is gone at ``/dev/null``; return the descriptors.

    Two kinds: a hung-up terminal (:func:`silence_hung_up_terminals`), and the write end of a
    pipe or socket whose reader has closed it, as ``pytest ... | head -30`` leaves it once
    ``head`` has its lines. Python ignores SIGPIPE, so every later write raises
    BrokenPipeError: the first line of the teardown would end the run with everything left up.
    The kernel reports a pipe without readers as ``POLLERR`` to its writer (Linux
    fs/pipe.c ``pipe_poll``); nothing is written to probe it. Called before the teardown.
    """
    silenced = silence_hung_up_terminals()
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        fds = [1, 2]
    for fd in fds:
        try:
            if not os.readlink(f"/proc/self/fd/{fd}").startswith(("pipe:", "socket:")):
                continue
            poller = select.poll()
            poller.register(fd, select.POLLOUT)
            events = poller.poll(0)
        except OSError:
            continue
        if any(mask & select.POLLERR for _fd, mask in events) and _to_devnull(fd):
            silenced.append(fd)
    return silenced
