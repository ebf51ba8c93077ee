"""The record of who reserved which ephemeral ports, so that each run gives back exactly its own.

``net.ipv4.ip_local_reserved_ports`` is one host-wide (per network namespace) setting that
overlapping runs change. Writing back "what was there before" at the end of a run puts back a
stale value when runs overlap, and a killed run never writes anything back. Instead each holder
(a deployment, by its marker; a test session) has a record in the runner's private state
directory (:func:`pytest_jaws.host.hostlock.state_dir`, ``reserved-ports/<network namespace>/``):

``{"key": ..., "needed": [ports], "added": [ports], "holders": [[pid, start time], ...]}``

``added`` are the ports this holder put into the setting (they were not there); ``needed`` the
ports it needs, wherever they came from; ``holders`` the processes whose life keeps the record
(the deploying pytest, and a deployment's supervisords). A record with no live holder is dead:
the next run that takes the lock (:func:`locked`) removes it and gives back its ``added`` ports.
A port that one holder added and another live one needs is handed over to that one, never
removed under it. Ports put there by anyone else are never in an ``added`` and never removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from .hostlock import host_lock, state_dir

#: Bytes of a record read at most.
RECORD_BYTES = 1 << 20


def netns() -> str:
    """Return an id of this process's network namespace (its inode), '' when unknown."""
    try:
        return str(os.stat("/proc/self/ns/net").st_ino)
    except OSError:
        return ""


def _alive(holder: list) -> bool:
    try:
        pid, started = int(holder[0]), float(holder[1])
        return abs(psutil.Process(pid).create_time() - started) < 0.05
    except (psutil.Error, ValueError, TypeError, IndexError):
        return False


def me() -> list:
    """``[pid, start time]`` of this process, as a holder."""
    return [os.getpid(), psutil.Process().create_time()]


class Book:
    """The records of one network namespace; use it only inside :func:`locked`."""

    def __init__(self, directory: Path):
        self.directory = directory

    def _path(self, key: str) -> Path:
        return self.directory / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".json")

    def records(self) -> dict[Path, dict]:
        """Return path -> record of every readable record (an unreadable one is removed)."""
        out = {}
        for path in sorted(self.directory.glob("*.json")):
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
                with os.fdopen(fd, "rb") as fh:
                    data = json.loads(fh.read(RECORD_BYTES))
                data["needed"], data["added"] = set(data["needed"]), set(data["added"])
                out[path] = data
            except (OSError, ValueError, KeyError, TypeError):
                path.unlink(missing_ok=True)
        return out

    def _save(self, path: Path, data: dict) -> None:
        text = json.dumps({**data, "needed": sorted(data["needed"]),
                           "added": sorted(data["added"])})
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)

    def _give_back(self, ports: set[int], live: dict[Path, dict]) -> set[int]:
        """Hand each of ``ports`` to a live record that needs it; return the rest (to remove)."""
        rest = set(ports)
        for path, data in live.items():
            taken = rest & data["needed"]
            if taken:
                data["added"] |= taken
                self._save(path, data)
                rest -= taken
        return rest

    def sweep(self, have: set[int]) -> set[int]:
        """Remove the dead records; return the ports they added that no live holder needs.

        :param have: the ports in the setting now (a port not in it is not given back).
        """
        records = self.records()
        live = {p: d for p, d in records.items() if any(map(_alive, d.get("holders", [])))}
        freed: set[int] = set()
        for path, data in records.items():
            if path not in live:
                freed |= data["added"] & have
                path.unlink(missing_ok=True)
        return self._give_back(freed, live)

    def record(self, key: str, needed: set[int], added: set[int]) -> None:
        """Add ``needed`` and ``added`` to ``key``'s record, held (also) by this process."""
        path = self._path(key)
        data = self.records().get(path) or {"key": key, "needed": set(), "added": set(),
                                            "holders": []}
        data["needed"] |= needed
        data["added"] |= added
        if me() not in data["holders"]:
            data["holders"].append(me())
        self._save(path, data)

    def hold(self, key: str, pids: list[int]) -> None:
        """Add ``pids`` (live processes) to the holders of ``key``'s record, if it has one."""
        path = self._path(key)
        data = self.records().get(path)
        if data is None:
            return
        for pid in pids:
            try:
                holder = [pid, psutil.Process(pid).create_time()]
            except psutil.Error:
                continue
            if holder not in data["holders"]:
                data["holders"].append(holder)
        self._save(path, data)

    def drop(self, key: str) -> set[int]:
        """Remove ``key``'s record; return the ports it added that no other live holder needs."""
        path = self._path(key)
        records = self.records()
        data = records.pop(path, None)
        if data is None:
            return set()
        path.unlink(missing_ok=True)
        live = {p: d for p, d in records.items() if any(map(_alive, d.get("holders", [])))}
        return self._give_back(data["added"], live)


@contextmanager
def locked(cancel: threading.Event | None = None,
           on_wait: Callable[[str], None] | None = None) -> Iterator[Book]:
    """Hold the lock of this network namespace's reserved-ports setting; yield its records.

    The setting is per network namespace, and so are its lock and records: a run in a namespace
    of its own (``unshare -n``) never waits for one in another.

    :raises pytest_jaws.errors.HostLockBusy: held too long by another process (named).
    :raises pytest_jaws.errors.UnsafePathError: the state directory is not the runner's own.
    """
    name = f"reserved-ports-{netns() or 'host'}"
    with host_lock(name, "the reserved-ports setting (net.ipv4.ip_local_reserved_ports)",
                   cancel=cancel, on_wait=on_wait):
        book = Book(state_dir(name))
        _forget_gone_namespaces(book.directory)
        yield book


def _forget_gone_namespaces(mine: Path) -> None:
    """Remove the records of network namespaces no process is in any more (their settings went).

    A run in its own namespace (``unshare -n``) leaves its record behind when killed; once the
    namespace is gone, so is the setting it changed.
    """
    others = [d for d in mine.parent.glob("reserved-ports-*")
              if d.name not in (mine.name, f"{mine.name}.lock")]
    if not others:
        return
    live: set[str] = set()
    for pid in psutil.pids():
        try:
            live.add(str(os.stat(f"/proc/{pid}/ns/net").st_ino))
        except OSError:
            continue
    for entry in others:  # a namespace's directory of records, and its lock file
        ns = entry.name.removeprefix("reserved-ports-").removesuffix(".lock")
        if not ns.isdigit() or ns in live:
            continue
        try:  # another run may be forgetting it at the same moment
            if entry.is_dir() and not entry.is_symlink():
                for path in entry.iterdir():
                    path.unlink(missing_ok=True)
                entry.rmdir()
            else:
                entry.unlink(missing_ok=True)
        except OSError:
            continue
