#!/usr/bin/env python
"""What-if experiments behind the suggested fixes in benchmarks/README.md.

Each experiment patches pytest_jaws *at run time* (nothing on disk is edited) to try one
harness-side fix and compares it with the code as it is, interleaved, on the fake site::

    python benchmarks/experiments.py polling     # apply: poll every 0.05 s / both instances
    python benchmarks/experiments.py teardown    # teardown: zombie-aware wait + waking supervisord
    python benchmarks/experiments.py fakes       # CPU of one fake's start-up, as is vs trimmed
    python benchmarks/experiments.py reaping     # how long PID 1 takes to reap an orphan zombie

They patch private names of pytest_jaws (``waits._retrying``, ``deploy.wait_programs``,
``deploy.psutil``) as they are at the time of writing; when those move, an experiment says so
and stops. Not part of CI. Port offset 780 (override with ``--port-offset``).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from pytest_jaws import deploy, processes
from pytest_jaws.plan import make_plan
from pytest_jaws.sites import PACKAGED_SITES_FILE, load_sites


def summary(results: dict[str, list[float]]) -> None:
    for name, values in results.items():
        print(f"  {name:28} median {statistics.median(values):.3f} s   "
              f"min {min(values):.3f}   max {max(values):.3f}   (n={len(values)})")


def need(module, *names: str) -> None:
    missing = [n for n in names if not hasattr(module, n)]
    if missing:
        sys.exit(f"{module.__name__} has no {', '.join(missing)} any more: "
                 "this experiment is out of date")


def polling(root: Path, offset: int, runs: int) -> None:
    """apply as is vs waits polling every 0.05 s vs both instances' programs waited for at
    the same time (one thread per instance) vs both."""
    from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

    from pytest_jaws import waits
    from pytest_jaws.supervisor import SupervisorError
    need(waits, "_retrying", "_NotYet")
    need(deploy, "wait_programs")
    model = load_sites(PACKAGED_SITES_FILE)
    original_retrying, original_wait = waits._retrying, deploy.wait_programs

    def fast(timeout):
        return Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(0.05),
                        retry=retry_if_exception_type((waits._NotYet, SupervisorError)),
                        reraise=False)

    def together(dep, role, *args, **kwargs):
        roles = list(dep.plan.instances)
        if role != roles[0]:
            return
        errors = []

        def one(r):
            try:
                original_wait(dep, r, *args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                errors.append(exc)
        threads = [threading.Thread(target=one, args=(r,)) for r in roles]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    results: dict[str, list[float]] = {"as is": [], "poll 0.05 s": [],
                                       "both instances at once": [], "both": []}
    try:
        for i in range(runs):
            for name in results:
                waits._retrying = fast if name in ("poll 0.05 s", "both") else original_retrying
                deploy.wait_programs = (together if name in ("both instances at once", "both")
                                        else original_wait)
                plan = make_plan(model, "local", "dev", root / f"polling-{i}-{len(name)}",
                                 port_offset=offset)
                start = time.monotonic()
                dep = deploy.apply(plan)
                results[name].append(time.monotonic() - start)
                deploy.teardown(dep)
    finally:
        waits._retrying, deploy.wait_programs = original_retrying, original_wait
    print("deploy.apply, local/dev:")
    summary(results)


def wait_exited(procs, timeout=None, poke=None):
    """psutil.wait_procs, except that a zombie counts as gone (a daemonized supervisord is
    PID 1's child: its zombie lasts until PID 1 reaps it); with ``poke``, called every
    50 ms while waiting."""
    deadline = time.monotonic() + (timeout if timeout is not None else 15)
    alive = list(procs)
    while alive and time.monotonic() < deadline:
        still = []
        for proc in alive:
            try:
                if proc.status() != psutil.STATUS_ZOMBIE:
                    still.append(proc)
            except psutil.NoSuchProcess:
                pass
        alive = still
        if alive:
            if poke:
                poke()
            time.sleep(0.05 if poke else 0.01)
    return [p for p in procs if p not in alive], alive


def teardown(root: Path, offset: int, runs: int) -> None:
    """teardown as is vs with wait_exited vs wait_exited + an XML-RPC getState to each
    supervisord every 50 ms (a request wakes supervisord's main loop, which then reaps its
    exited children at once instead of at its next 1 s poll timeout)."""
    need(deploy, "psutil", "teardown")
    model = load_sites(PACKAGED_SITES_FILE)

    class Proxy:
        def __init__(self, **over):
            self.__dict__.update(over)

        def __getattr__(self, name):
            return getattr(psutil, name)

    results: dict[str, list[float]] = {"as is": [], "zombie-aware": [],
                                       "zombie-aware + wake": []}
    try:
        for i in range(runs):
            for name in results:
                plan = make_plan(model, "local", "dev", root / f"teardown-{i}-{len(name)}",
                                 port_offset=offset)
                dep = deploy.apply(plan)
                clients = [dep.client(r, timeout=0.5) for r in plan.instances]

                def wake(clients=clients):
                    for client in clients:
                        try:
                            client.supervisor.getState()
                        except Exception:  # noqa: BLE001 - it is going away
                            pass
                if name != "as is":
                    deploy.psutil = Proxy(wait_procs=lambda procs, timeout=None, n=name:
                                          wait_exited(procs, timeout,
                                                      wake if "wake" in n else None))
                start = time.monotonic()
                deploy.teardown(dep)
                results[name].append(time.monotonic() - start)
                deploy.psutil = psutil
                left = processes.marked(plan.marker)
                if left:
                    sys.exit(f"{name}: processes left: {[p.pid for p in left]}")
    finally:
        deploy.psutil = psutil
    print("deploy.teardown, local/dev:")
    summary(results)


def fakes(root: Path, offset: int, runs: int) -> None:
    """CPU seconds of one fake jtm start (``--help``: interpreter, imports, argument parsing)
    as it is; with ``python -S`` and PYTHONPATH instead of the site machinery; and the lower
    bound of a trimmed fake: ``-S`` importing only what jtm uses (fakes/common.py imports
    urllib.request and http.server for every fake, jtm needs neither)."""
    import pytest_jaws
    package_root = str(Path(pytest_jaws.__file__).parent.parent)
    cases = {
        "jtm as is": ([sys.executable, "-m", "pytest_jaws.fakes.jtm", "--help"], {}),
        "jtm, -S + PYTHONPATH": ([sys.executable, "-S", "-m", "pytest_jaws.fakes.jtm", "--help"],
                                 {"PYTHONPATH": package_root}),
        "trimmed jtm (lower bound)": ([sys.executable, "-S", "-c",
                                      "import argparse, json, signal, socket, sys, time"], {}),
        "bare python -c pass": ([sys.executable, "-c", "pass"], {}),
        "supervisord's imports": ([sys.executable, "-c", "import supervisor.supervisord"], {}),
    }
    print("CPU seconds (user + system) of one start:")
    for name, (argv, extra) in cases.items():
        env = dict(os.environ, **extra)
        cpu = []
        for _ in range(max(runs, 10)):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, cwd=str(root))
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        print(f"  {name:28} median {statistics.median(cpu):.3f} s")


def reaping(root: Path, offset: int, runs: int) -> None:
    """An orphan (double fork) exits; how long until PID 1 has reaped its zombie."""
    waits = []
    for _ in range(runs):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            grandchild = os.fork()
            if grandchild == 0:
                os.close(r)
                time.sleep(0.3)
                os._exit(0)
            os.write(w, str(grandchild).encode())
            os._exit(0)
        os.close(w)
        os.waitpid(pid, 0)
        orphan = int(os.read(r, 100))
        os.close(r)
        zombie_at = None
        while True:
            try:
                with open(f"/proc/{orphan}/stat") as fh:
                    state = fh.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                break
            if state == "Z" and zombie_at is None:
                zombie_at = time.monotonic()
            time.sleep(0.002)
        waits.append(time.monotonic() - (zombie_at or time.monotonic()))
    print(f"PID 1 ({psutil.Process(1).name()}) reaps an orphan's zombie after:")
    summary({"zombie -> gone": waits})


EXPERIMENTS = {"polling": polling, "teardown": teardown, "fakes": fakes, "reaping": reaping}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment", nargs="*",
                        help=f"any of {', '.join(EXPERIMENTS)} (default: all of them)")
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--port-offset", type=int, default=780)
    args = parser.parse_args()
    unknown = [e for e in args.experiment if e not in EXPERIMENTS]
    if unknown:
        parser.error(f"unknown experiment {', '.join(unknown)}; choose from {', '.join(EXPERIMENTS)}")
    root = Path(tempfile.mkdtemp(prefix="jaws-experiments-"))
    try:
        for name in args.experiment or list(EXPERIMENTS):
            print(f"== {name}")
            EXPERIMENTS[name](root, args.port_offset, args.runs)
    finally:
        for proc in psutil.process_iter():
            try:
                if str(root) in proc.environ().get("JAWS_DEPLOYMENT", ""):
                    proc.kill()
            except (psutil.Error, OSError):
                pass
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
