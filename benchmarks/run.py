#!/usr/bin/env python
"""pytest-jaws benchmarks (issue 9): how long deploying and tearing down the fake site takes.

Run from anywhere (the project must be installed, ``python -m pip install -e ".[dev]"``)::

    python benchmarks/run.py            # every figure, median of 5 runs, writes results.md
    python benchmarks/run.py --quick    # every figure once (CI: proves the benchmark works)

Figures (seconds; median, min and max over the runs). The runs of different figures
interleave (one round measures every figure once), and figures that are compared with each
other run back to back in alternating order, so that a noisy neighbour's burst does not
always hit the same one:

* ``baseline``: the two generated configurations of ``local``/``dev`` (written with
  ``make_plan`` + ``render_files``) started with plain ``python -m supervisor.supervisord -c``,
  polled over XML-RPC until every program is RUNNING, then every health URL polled until 200.
  No harness code but writing the files.
* ``harness``: ``pytest_jaws.deploy.apply(plan)`` from an empty directory to healthy.
* ``three envs``: dev, staging and prod applied concurrently, one thread each (as
  ``DeploymentManager.deploy_all`` does).
* ``teardown``: ``pytest_jaws.deploy.teardown`` of one environment until no process is left.
* ``30 programs``: ``apply`` of a synthetic site whose jtm role runs 25 more copies of jtm.
* ``main job``: wall time of ``pytest suites --jaws-site=local --jaws-env=dev -q
  -p no:cacheprovider`` in a subprocess, from the project root.
* ``(info)`` rows, measured alongside to explain the others: the baseline with 30 programs,
  the 30-program apply with /bin/sleep as the 25 extra programs, when every process had
  actually exited during a teardown, supervisord's own shutdown, and the main job's parts.

Step timings of apply and teardown come from wrapping the functions that
``pytest_jaws.deploy`` calls (nothing in pytest_jaws is edited); see README.md.

Every run cleans up after itself, also on errors and Ctrl-C: a deployment is torn down, the
baseline's supervisords are shut down over XML-RPC and waited for by PID, and at the end any
process whose ``JAWS_DEPLOYMENT`` marker points into this run's temporary directory is
terminated by PID (nothing is matched by name). The exit status is 0 when every measurement
succeeded and left nothing behind, 2 when one failed (missed targets do not fail the run;
with ``--check`` they exit 1).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
import xmlrpc.client
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import yaml
from supervisor.xmlrpc import SupervisorTransport

from pytest_jaws import deploy, portoffset
from pytest_jaws.files import resolve_secrets, write_files
from pytest_jaws.jawsconf import render_configs
from pytest_jaws.plan import MARKER_VARIABLE, make_plan
from pytest_jaws.render import render_files
from pytest_jaws.sites import PACKAGED_SITES_FILE, parse_sites

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SITE = "local"
ENVS = ("dev", "staging", "prod")
EXTRA_PROGRAMS = 25
#: Seconds between two polls of the baseline script (the harness polls every 0.1 s).
POLL = 0.05
#: Seconds any single wait of the baseline may take before the run is declared failed.
DEADLINE = 60.0

# (key, label, what it is)
FIGURES = [
    ("baseline", "baseline: plain supervisord -c, 2 instances, 5 programs",
     "start both supervisords -> every program RUNNING (XML-RPC) -> every health URL 200"),
    ("harness", "harness: deploy.apply, 1 env, 5 programs",
     "pytest_jaws.deploy.apply(plan) from an empty directory to healthy"),
    ("three", "harness: deploy.apply, 3 envs concurrently",
     "dev, staging, prod applied at once, one thread each (as deploy_all)"),
    ("teardown", "teardown: deploy.teardown, 1 env",
     "pytest_jaws.deploy.teardown until no process of the environment is left"),
    ("scale30", "harness: deploy.apply, 1 env, 30 programs",
     "synthetic local site, jtm role with jtm-01..jtm-25 added"),
    ("e2e", "main job end to end",
     "pytest suites --jaws-site=local --jaws-env=dev -q -p no:cacheprovider"),
    ("baseline30", "(info) baseline: plain supervisord -c, 30 programs",
     "the baseline script on the 30-program site: what supervisord itself needs"),
    ("scale30_sleep", "(info) harness: 30 programs, the 25 extra are /bin/sleep",
     "the 30-program apply without the Python start-up of 25 fakes"),
    ("baseline_down", "(info) baseline: XML-RPC shutdown until every process exited",
     "supervisord's own shutdown, zombies (not yet reaped by PID 1) count as exited"),
    ("teardown_exited", "(info) teardown, 1 env: until every process exited",
     "watched during deploy.teardown: when the last process became a zombie or vanished"),
    ("teardown3", "(info) teardown: 3 envs concurrently", "deploy.teardown x 3 in threads"),
    ("teardown30", "(info) teardown: 1 env, 30 programs", "deploy.teardown of the 30-program site"),
    ("e2e_session", "(info) main job: pytest session (its 'in N s')",
     "what pytest reports: collection, deployment, tests, teardown"),
    ("e2e_teardown", "(info) main job: teardown (plugin's 'jaws teardown')",
     "the teardown inside the main job"),
    ("collect", "(info) main job with --collect-only",
     "interpreter, pytest, plugins and collection, no deployment"),
]
LABELS = {key: label for key, label, _ in FIGURES}

# (numerator, denominator or None for seconds, limit or None for information, text)
TARGETS = [
    ("harness", "baseline", 1.15, "harness <= 1.15 x baseline"),
    ("three", "harness", 1.3, "three envs <= 1.3 x one"),
    ("teardown", None, 0.5, "teardown <= 0.5 s per env"),
    ("scale30", "harness", 1.5, "30 programs <= 1.5 x 5 programs"),
    ("e2e", None, 3.0, "main job end to end <= 3 s"),
    ("baseline30", "baseline", None, "(info) plain supervisord: 30 / 5 programs"),
    ("scale30", "baseline30", None, "(info) harness / baseline at 30 programs"),
    ("scale30_sleep", "harness", None, "(info) 30 programs (25 x sleep) / 5 programs"),
]


#: Things worth saying that do not make the run fail (e.g. a failing suite test).
WARNINGS: list[str] = []


class BenchError(RuntimeError):
    """A measurement that could not be made (the run is then reported failed)."""


# --------------------------------------------------------------------------- cleanup


class Sweeper:
    """Finds and terminates, by PID, every process whose deployment marker points into
    this run's temporary directory (markers are ``<site>/<env>:<directory>``)."""

    def __init__(self, root: Path):
        self.root = str(root)

    def ours(self) -> list[psutil.Process]:
        found = []
        for proc in psutil.process_iter():
            if proc.pid == os.getpid():
                continue
            try:
                marker = proc.environ().get(MARKER_VARIABLE, "")
                if self.root in marker and proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
            except (psutil.Error, OSError):
                continue
        return found

    def sweep(self) -> list[int]:
        """Terminate what is left (SIGTERM, then SIGKILL); return the PIDs that were found."""
        procs = self.ours()
        for proc in procs:
            try:
                proc.terminate()
            except psutil.Error:
                pass
        _gone, alive = psutil.wait_procs(procs, timeout=5)
        for proc in alive:
            try:
                proc.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(alive, timeout=5)
        return [p.pid for p in procs]


# --------------------------------------------------------------------------- phases


class Phases:
    """Timing instrumentation of the harness: wraps the steps of ``deploy.apply`` and
    ``deploy.teardown`` (globals of pytest_jaws.deploy, looked up at call time) and records,
    per environment, how long each took. Names that the deploy.py in use does not have are
    simply not wrapped (other engineers move these functions around)."""

    APPLY = ["preflight", "_live_instance", "resolve_keys", "write_files", "start_instance",
             "_wait_instance", "wait_instance", "_wait_programs", "wait_programs",
             "_wait_healthy", "wait_healthy"]
    #: steps that run in parallel threads: the slowest counts, not the sum
    PARALLEL = {"start_instance"}
    PROCESSES = ["descendants", "marked", "terminate", "listeners"]

    def __init__(self):
        self.lock = threading.Lock()
        self.local = threading.local()
        self.data: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.saved: list[tuple[object, str, object]] = []

    def reset(self) -> None:
        with self.lock:
            self.data.clear()

    def take(self, env: str) -> dict[str, float]:
        with self.lock:
            return dict(self.data.pop(env, {}))

    def _add(self, env: str, name: str, seconds: float) -> None:
        with self.lock:
            if name.split(": ")[-1] in self.PARALLEL:
                self.data[env][name] = max(self.data[env][name], seconds)
            else:
                self.data[env][name] += seconds

    def _context(self) -> tuple[str, str]:
        return getattr(self.local, "context", ("?", "?"))

    def _wrap(self, owner, name: str, label, env_of) -> None:
        original = getattr(owner, name, None)
        if original is None or not callable(original):
            return
        phases = self

        def timed(*args, **kwargs):
            start = time.monotonic()
            try:
                return original(*args, **kwargs)
            finally:
                try:
                    env = env_of(args)
                except Exception:  # noqa: BLE001 - instrumentation must never break a run
                    env = "?"
                phases._add(env, label() if callable(label) else label,
                            time.monotonic() - start)

        self.saved.append((owner, name, original))
        setattr(owner, name, timed)

    def _staged(self, stage: str, original):
        phases = self

        def staged(*args, **kwargs):
            first = args[0]
            env = first.env if hasattr(first, "env") else first.plan.env
            before = getattr(phases.local, "context", None)
            phases.local.context = (env, stage)
            start = time.monotonic()
            try:
                return original(*args, **kwargs)
            finally:
                phases._add(env, f"{stage} total", time.monotonic() - start)
                phases.local.context = before
        return staged

    def install(self) -> None:
        def env_of(args):
            first = args[0]
            return first.env if hasattr(first, "env") else first.plan.env

        for name in self.APPLY:
            self._wrap(deploy, name, f"apply: {name.lstrip('_')}", env_of)
        for name in ("apply", "teardown"):
            self.saved.append((deploy, name, getattr(deploy, name)))
            setattr(deploy, name, self._staged(name, getattr(deploy, name)))
        # deploy.py's own calls into processes and psutil, through module proxies
        context = self._context
        proxy_procs = _Proxy(deploy.processes)
        for name in self.PROCESSES:
            self._wrap(proxy_procs, name,
                       lambda name=name: f"{context()[1]}: processes.{name}",
                       lambda a: context()[0])
        proxy_psutil = _Proxy(deploy.psutil)
        self._wrap(proxy_psutil, "wait_procs",
                   lambda: f"{context()[1]}: psutil.wait_procs", lambda a: context()[0])
        self.saved.append((deploy, "processes", deploy.processes))
        self.saved.append((deploy, "psutil", deploy.psutil))
        deploy.processes, deploy.psutil = proxy_procs, proxy_psutil

    def uninstall(self) -> None:
        for owner, name, original in reversed(self.saved):
            if not isinstance(owner, _Proxy):
                setattr(owner, name, original)
        self.saved.clear()


class _Proxy:
    """A stand-in for a module whose attributes can be replaced without touching the module."""

    def __init__(self, module):
        self.__dict__["_module"] = module

    def __getattr__(self, name):
        return getattr(self._module, name)


class ExitWatch:
    """Watches PIDs from a background thread (every 5 ms) and records when every one of
    them has exited: gone, or a zombie. A daemonized supervisord is not our child; once it
    exits it stays a zombie until PID 1 reaps it, which says nothing about the harness."""

    def __init__(self, pids: set[int]):
        self.pids = set(pids)
        self.start = time.monotonic()
        self.exited: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def running(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        return state not in ("Z", "X")

    def _run(self) -> None:
        while not self._stop.is_set():
            if not any(self.running(p) for p in self.pids):
                self.exited = time.monotonic() - self.start
                return
            time.sleep(0.005)

    def stop(self, timeout: float = 20.0) -> float | None:
        self._thread.join(timeout)
        self._stop.set()
        return self.exited


def deployment_pids(plan) -> set[int]:
    """Both supervisords of a plan (pidfiles) and all their descendants."""
    pids = set()
    for inst in plan.instances.values():
        try:
            pid = int(inst.pidfile.read_text().strip())
            proc = psutil.Process(pid)
            pids |= {pid, *(c.pid for c in proc.children(recursive=True))}
        except (OSError, ValueError, psutil.Error):
            pass
    return pids


PHASES = Phases()


# --------------------------------------------------------------------------- helpers


def load_model(extra: int = 0):
    """The shipped sites model; with ``extra`` > 0, a synthetic copy whose jtm role also runs
    ``jtm-01``..``jtm-<extra>`` (copies of the portless jtm), written to a temp file first."""
    text = PACKAGED_SITES_FILE.read_text(encoding="utf-8")
    if not extra:
        return parse_sites(text, str(PACKAGED_SITES_FILE)), None
    data = yaml.safe_load(text)
    names = [f"jtm-{i:02d}" for i in range(1, extra + 1)]
    for name in names:
        data["services"][name] = dict(data["services"]["jaws-jtm"])
    data["sites"][SITE]["programs"]["jtm"] += names
    return data, names


def write_sites(data: dict, path: Path):
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return parse_sites(path.read_text(encoding="utf-8"), str(path))


def choose_offset(model, wanted: int | None) -> int:
    """``wanted`` when given; else a free offset chosen (and locked for the whole benchmark)
    by :func:`pytest_jaws.portoffset.choose`, as ``--jaws-port-offset=auto`` does, so that the
    benchmark never collides with another run on the host."""
    if wanted is not None:
        return wanted
    offset, lock = portoffset.choose(model, list(ENVS))
    _LOCKS.append(lock)  # held until the process ends
    return offset


_LOCKS: list = []


def no_leftovers(marker: str, what: str) -> None:
    left = [p for p in psutil.process_iter() if _marker(p) == marker]
    if left:
        raise BenchError(f"{what}: processes left behind: {[p.pid for p in left]}")


def _marker(proc: psutil.Process) -> str | None:
    try:
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc.environ().get(MARKER_VARIABLE)
    except (psutil.Error, OSError):
        return None


# --------------------------------------------------------------------------- baseline


def _proxy(inst, key: str):
    transport = SupervisorTransport(inst.username, key, inst.serverurl)
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def baseline_once(model, workdir: Path, offset: int) -> tuple[float, dict[str, float], float]:
    """Plain supervisord: write the files, start, poll RUNNING, poll health (timed), then shut
    down (not timed). Returns (seconds to healthy, phases, seconds from the XML-RPC shutdown
    until every process has exited)."""
    plan = make_plan(model, SITE, "dev", workdir, port_offset=offset)
    keys = {name: secrets.token_urlsafe(24) for name in plan.instances}
    # the same files as the harness writes (configs, shims, light venvs), written untimed
    write_files(plan, keys, render_files(plan, keys, render_configs(plan, resolve_secrets(plan))))
    env = dict(os.environ, **{MARKER_VARIABLE: plan.marker})
    insts = list(plan.instances.values())
    phases: dict[str, float] = {}
    child_pids: set[int] = set()
    shutdown: list[float] = []
    try:
        start = time.monotonic()
        starters = [subprocess.Popen([sys.executable, "-m", "supervisor.supervisord", "-c",
                                      str(inst.conf)], env=env, stdin=subprocess.DEVNULL,
                                     cwd=str(inst.directory))
                    for inst in insts]
        for proc, inst in zip(starters, insts, strict=True):
            if proc.wait(timeout=DEADLINE) != 0:
                raise BenchError(f"supervisord -c {inst.conf} exited {proc.returncode}")
        mark = time.monotonic()
        phases["start: supervisord -c (daemonized)"] = mark - start

        proxies = {inst.key: _proxy(inst, keys[inst.key]) for inst in insts}
        while True:
            states = {}
            for role, proxy in list(proxies.items()):
                try:
                    for info in proxy.supervisor.getAllProcessInfo():
                        states[info["name"]] = info["statename"]
                        if info["pid"]:
                            child_pids.add(info["pid"])
                except (OSError, xmlrpc.client.ProtocolError):
                    proxies[role] = _proxy(plan.instances[role], keys[role])
            bad = [n for n, s in states.items() if s in ("FATAL", "EXITED")]
            if bad:
                raise BenchError(f"baseline: programs failed: {bad}")
            if len(states) == len(plan.programs) and all(s == "RUNNING"
                                                         for s in states.values()):
                break
            if time.monotonic() - start > DEADLINE:
                raise BenchError(f"baseline: not RUNNING within {DEADLINE} s: {states}")
            time.sleep(POLL)
        phases["wait RUNNING"] = time.monotonic() - mark
        mark = time.monotonic()

        pending = {name: prog for name, prog in plan.programs.items() if prog.health_path}
        while pending:
            for name, prog in list(pending.items()):
                request = urllib.request.Request(prog.url + prog.health_path)
                try:
                    with urllib.request.urlopen(request, timeout=2) as resp:
                        status = resp.status
                except urllib.error.HTTPError as exc:
                    status = exc.code
                except OSError:
                    status = 0
                if status == prog.health_status:
                    del pending[name]
            if pending and time.monotonic() - start > DEADLINE:
                raise BenchError(f"baseline: not healthy within {DEADLINE} s: {sorted(pending)}")
            if pending:
                time.sleep(POLL)
        total = time.monotonic() - start
        phases["wait healthy"] = time.monotonic() - mark
        return total, phases, shutdown
    finally:
        _baseline_down(plan, keys, child_pids, shutdown)


def _baseline_down(plan, keys: dict[str, str], child_pids: set[int],
                   shutdown: list[float]) -> None:
    """XML-RPC shutdown of both supervisords, then wait by PID until they and their programs
    have exited; kill (by PID) what has not after 20 s. Appends the seconds to ``shutdown``."""
    pids = set(child_pids) | deployment_pids(plan)
    watch = ExitWatch(pids)
    for inst in plan.instances.values():
        try:
            _proxy(inst, keys[inst.key]).supervisor.shutdown()
        except (OSError, xmlrpc.client.Error):
            pass
    exited = watch.stop(timeout=20)
    if exited is not None:
        shutdown.append(exited)
    killed = []
    for proc in psutil.process_iter():
        if (proc.pid in pids and ExitWatch.running(proc.pid)) or _marker(proc) == plan.marker:
            try:
                proc.kill()
                killed.append(proc.pid)
            except psutil.Error:
                pass
    if killed:
        raise BenchError(f"baseline: shutdown left processes, killed by PID: {killed}")


# --------------------------------------------------------------------------- harness


def _apply(plan):
    try:
        return deploy.apply(plan)
    except Exception as exc:  # noqa: BLE001 - reported by the caller
        return exc


def timed_teardown(dep) -> tuple[float, float | None]:
    """deploy.teardown (timed) and, watched alongside, when every process had exited."""
    watch = ExitWatch(deployment_pids(dep.plan))
    start = time.monotonic()
    deploy.teardown(dep)
    took = time.monotonic() - start
    exited = watch.stop(timeout=5)
    no_leftovers(dep.plan.marker, f"teardown of {dep.plan.env}")
    return took, exited


def harness_once(model, workdir: Path, offset: int):
    """apply (timed) then teardown (timed separately) of local/dev."""
    plan = make_plan(model, SITE, "dev", workdir, port_offset=offset)
    PHASES.reset()
    start = time.monotonic()
    dep = deploy.apply(plan)  # tears down what it started when it fails
    took = time.monotonic() - start
    apply_phases = PHASES.take("dev")
    down, exited = timed_teardown(dep)
    down_phases = PHASES.take("dev")
    return took, down, exited, apply_phases, down_phases


def three_once(model, workdir: Path, offset: int) -> tuple[float, dict, float]:
    plans = [make_plan(model, SITE, env, workdir, port_offset=offset) for env in ENVS]
    PHASES.reset()
    start = time.monotonic()
    with ThreadPoolExecutor(len(plans)) as pool:
        outcomes = list(pool.map(_apply, plans))
    took = time.monotonic() - start
    phases = {env: PHASES.take(env) for env in ENVS}
    deps = [o for o in outcomes if isinstance(o, deploy.Deployment)]
    start = time.monotonic()
    with ThreadPoolExecutor(max(1, len(deps))) as pool:
        list(pool.map(deploy.teardown, deps))
    down = time.monotonic() - start
    PHASES.reset()
    failed = [o for o in outcomes if not isinstance(o, deploy.Deployment)]
    if failed:
        raise BenchError(f"three envs: {failed[0]!r}")
    for plan in plans:
        no_leftovers(plan.marker, "three envs teardown")
    # the slowest environment's phases explain the figure
    slowest = max(phases.values(), key=lambda p: p.get("apply total", 0.0), default={})
    return took, slowest, down


def scale_once(model30, workdir: Path, offset: int):
    plan = make_plan(model30, SITE, "dev", workdir, port_offset=offset)
    base = len(make_plan(load_model()[0], SITE, "dev", Path("/nonexistent")).programs)
    if len(plan.programs) != base + EXTRA_PROGRAMS:
        raise BenchError(f"synthetic site has {len(plan.programs)} programs, expected "
                         f"{base + EXTRA_PROGRAMS}")
    PHASES.reset()
    start = time.monotonic()
    dep = deploy.apply(plan)
    took = time.monotonic() - start
    phases = PHASES.take("dev")
    down, _exited = timed_teardown(dep)
    PHASES.reset()
    return took, down, phases


# --------------------------------------------------------------------------- main job


def pytest_command() -> list[str]:
    script = Path(sys.executable).parent / "pytest"
    return [str(script)] if script.exists() else [sys.executable, "-m", "pytest"]


def e2e_once(workdir: Path, offset: int, collect_only: bool = False
             ) -> tuple[float, dict[str, float]]:
    """The main job in a subprocess from the project root; returns its wall time and what
    its output says (pytest's session seconds, the plugin's teardown seconds).
    ``--jaws-basedir`` puts the deployment inside this run's temporary directory, so that a
    leftover is found by its marker and never confused with a concurrent test run's."""
    argv = [*pytest_command(), "suites", f"--jaws-site={SITE}", "--jaws-env=dev", "-q",
            "-p", "no:cacheprovider", f"--jaws-port-offset={offset}",
            f"--jaws-basedir={workdir}"]
    if collect_only:
        argv.append("--collect-only")
    start = time.monotonic()
    done = subprocess.run(argv, cwd=str(ROOT), capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=300)
    took = time.monotonic() - start
    seen: dict[str, float] = {}
    if done.returncode == 1:  # it ran, but a test failed: the time still counts
        failed = [ln for ln in done.stdout.splitlines() if ln.startswith(("FAILED", "ERROR"))]
        WARNINGS.append(f"main job: tests failed (time kept): {'; '.join(failed[:3])}")
    elif done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise BenchError(f"{' '.join(argv)} exited {done.returncode}:\n{tail}")
    session = re.search(r" in ([0-9.]+)s\b", done.stdout)
    if session:
        seen["session"] = float(session.group(1))
    down = re.search(r"jaws teardown[^\n]*?([0-9.]+) ?s\b", done.stdout)
    if down:
        seen["teardown"] = float(down.group(1))
    return took, seen


def profile(model, root: Path, offset: int, out: Path) -> None:
    """cProfile of one harness apply + teardown (this thread only: start_instance runs in
    apply's thread pool) and of one main job (a subprocess under ``python -m cProfile``);
    the top functions by cumulative time go to ``out``."""
    import cProfile
    import io
    import pstats

    def top(stats: pstats.Stats, title: str, limit: int = 40) -> str:
        buf = io.StringIO()
        stats.stream = buf
        stats.sort_stats("cumulative").print_stats(limit)
        return f"## {title}\n\n{buf.getvalue()}"

    prof = cProfile.Profile()
    prof.enable()
    try:
        harness_once(model, root / "profile-harness", offset)
    finally:
        prof.disable()
    parts = [top(pstats.Stats(prof), "deploy.apply + deploy.teardown (local/dev)")]
    dump = root / "e2e.prof"
    argv = [sys.executable, "-m", "cProfile", "-o", str(dump), "-m", "pytest", "suites",
            f"--jaws-site={SITE}", "--jaws-env=dev", "-q", "-p", "no:cacheprovider",
            f"--jaws-port-offset={offset}", f"--jaws-basedir={root / 'profile-e2e'}"]
    subprocess.run(argv, cwd=str(ROOT), capture_output=True, text=True,
                   stdin=subprocess.DEVNULL, timeout=300)
    if dump.exists():
        parts.append(top(pstats.Stats(str(dump)), "main job (python -m cProfile -m pytest)", 60))
    parts.append(e2e_milestones(root, offset))
    out.write_text("\n".join(parts), encoding="utf-8")
    print(f"  profile written to {out}")


def e2e_milestones(root: Path, offset: int) -> str:
    """The main job once more, with benchmarks/phases_plugin.py loaded: seconds since the
    interpreter started at each of pytest's milestones (with and without the hypothesis
    plugin, which this machine's Python has installed and pytest loads on its own)."""
    import json

    out = ["## main job milestones (seconds since the interpreter started)", ""]
    for label, extra in [("as is", []), ("-p no:hypothesispytest", ["-p", "no:hypothesispytest"])]:
        marks_file = root / "milestones.json"
        marks_file.unlink(missing_ok=True)
        argv = [*pytest_command(), "suites", f"--jaws-site={SITE}", "--jaws-env=dev", "-q",
                "-p", "no:cacheprovider", f"--jaws-port-offset={offset}",
                f"--jaws-basedir={root / ('milestones-' + str(len(out)))}",
                "-p", "phases_plugin", *extra]
        env = dict(os.environ, JAWS_BENCH_PHASES=str(marks_file),
                   PYTHONPATH=os.pathsep.join(filter(None, [str(HERE),
                                                            os.environ.get("PYTHONPATH")])))
        start = time.monotonic()
        subprocess.run(argv, cwd=str(ROOT), capture_output=True, text=True, env=env,
                       stdin=subprocess.DEVNULL, timeout=300)
        wall = time.monotonic() - start
        out.append(f"{label}: wall {wall:.3f} s")
        try:
            marks = json.loads(marks_file.read_text())
        except (OSError, ValueError):
            out.append("  (no milestones recorded)")
            continue
        prev = 0.0
        for name, at in sorted(marks.items(), key=lambda kv: kv[1]):
            out.append(f"  {at:6.3f}  (+{at - prev:5.3f})  {name}")
            prev = at
        out.append("")
    text = "\n".join(out)
    print(text)
    return text


# --------------------------------------------------------------------------- report


def stats(values: list[float]) -> tuple[float, float, float] | None:
    if not values:
        return None
    return statistics.median(values), min(values), max(values)


def machine() -> dict[str, str]:
    try:
        nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    except OSError:
        nproc = str(len(os.sched_getaffinity(0)))
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=str(ROOT),
                                capture_output=True, text=True).stdout.strip() or "?"
    except OSError:
        commit = "?"
    import supervisor.options
    return {
        "nproc": nproc,
        "CPU": cpu,
        "python": f"{platform.python_version()} ({sys.executable})",
        "supervisor": supervisor.options.VERSION,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "commit": commit,
        "load average (1, 5, 15 min) at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


PHASE_SECTIONS = [
    ("baseline", "baseline (plain supervisord)"),
    ("harness", "harness apply, 1 env"),
    ("three", "harness apply, 3 envs (the slowest env)"),
    ("baseline30", "baseline, 30 programs"),
    ("scale30", "harness apply, 30 programs"),
    ("teardown", "teardown, 1 env"),
]


def verdicts(samples: dict[str, list[float]]) -> list[tuple[str, float | None, str, str]]:
    """(target text, measured value, limit text, verdict) for every row of TARGETS."""
    rows = []
    for num, den, limit, text in TARGETS:
        value = ratio(samples, num, den)
        unit = " x" if den else " s"
        limit_text = f"{limit:g}{unit}" if limit is not None else ""
        if value is None:
            verdict = "not measured"
        elif limit is None:
            verdict = "information"
        else:
            verdict = "met" if value <= limit else "MISSED"
        rows.append((text, None if value is None else value, limit_text,
                     verdict if value is None else verdict, unit))
    return rows


def render(samples: dict[str, list[float]], phases: dict[str, list[dict]], runs: int,
           offset: int, info: dict[str, str], errors: list[str], quick: bool) -> str:
    out = ["# pytest-jaws benchmark results", ""]
    mode = "quick mode, every figure once" if quick else f"median of {runs} runs"
    out.append(f"`python benchmarks/run.py{' --quick' if quick else ''}`: {mode}, "
               f"port offset {offset}; seconds. See README.md beside this file for what each "
               "figure means and where the time goes.")
    out.append("")
    out += ["| machine | |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in info.items()]
    out.append("")
    out += ["| figure | median | min | max | runs |", "|---|---:|---:|---:|---:|"]
    for key, label, _what in FIGURES:
        s = stats(samples.get(key, []))
        if s is None:
            out.append(f"| {label} | n/a | n/a | n/a | 0 |")
        else:
            out.append(f"| {label} | {s[0]:.3f} | {s[1]:.3f} | {s[2]:.3f} | "
                       f"{len(samples[key])} |")
    out.append("")
    out += ["| target | measured (medians) | limit | verdict |", "|---|---:|---:|---|"]
    for text, value, limit_text, verdict, unit in verdicts(samples):
        shown = "n/a" if value is None else f"{value:.2f}{unit}"
        verdict = "**MISSED**" if verdict == "MISSED" else verdict
        out.append(f"| {text} | {shown} | {limit_text} | {verdict} |")
    out.append("")
    out.append("Where the time goes: median seconds per step over the runs (instrumented "
               "steps of pytest_jaws.deploy; the steps run one after another, except "
               "start_instance, which starts both instances in parallel and counts once):")
    out.append("")
    out += phase_lines(phases)
    out.append("")
    if WARNINGS:
        out.append("Warnings:")
        out.append("")
        out += [f"- {w}" for w in dict.fromkeys(WARNINGS)]
        out.append("")
    if errors:
        out.append("Errors:")
        out.append("")
        out += [f"- {e.splitlines()[0]}" for e in errors]
        out.append("")
    return "\n".join(out)


def phase_lines(phases: dict[str, list[dict]]) -> list[str]:
    lines = []
    for key, title in PHASE_SECTIONS:
        rows = phases.get(key) or []
        if not rows:
            continue
        names = list(dict.fromkeys(n for row in rows for n in row))
        cells = ", ".join(f"{n} {statistics.median([r.get(n, 0.0) for r in rows]):.3f}"
                          for n in names)
        lines.append(f"- {title}: {cells}")
    return lines


def ratio(samples: dict[str, list[float]], num: str, den: str | None) -> float | None:
    a = stats(samples.get(num, []))
    if a is None:
        return None
    if den is None:
        return a[0]
    b = stats(samples.get(den, []))
    return None if b is None or b[0] == 0 else a[0] / b[0]


def print_table(samples: dict[str, list[float]], phases: dict[str, list[dict]]) -> None:
    width = max(len(label) for _k, label, _w in FIGURES)
    print(f"\n{'figure':<{width}}  {'median':>7} {'min':>7} {'max':>7} {'runs':>4}")
    for key, label, _what in FIGURES:
        s = stats(samples.get(key, []))
        if s is None:
            print(f"{label:<{width}}  {'n/a':>7} {'n/a':>7} {'n/a':>7} {0:>4}")
        else:
            print(f"{label:<{width}}  {s[0]:7.3f} {s[1]:7.3f} {s[2]:7.3f} "
                  f"{len(samples[key]):>4}")
    width = max(len(t[3]) for t in TARGETS)
    print(f"\n{'target':<{width}} {'measured':>9} {'limit':>7}  verdict")
    for text, value, limit_text, verdict, unit in verdicts(samples):
        shown = "n/a" if value is None else f"{value:.2f}{unit}"
        print(f"{text:<{width}} {shown:>9} {limit_text:>7}  {verdict}")
    print("\nwhere the time goes (medians):")
    for line in phase_lines(phases):
        print("  " + line[2:])


# --------------------------------------------------------------------------- main


def fmt(values: list[float]) -> str:
    return f"{values[0]:.3f} s" if values else "n/a"


def _interrupt(_signum, _frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="run every measurement once (CI); writes results-quick.md")
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (default 5)")
    parser.add_argument("--port-offset", type=int, default=None,
                        help="port offset (default: a free one, chosen and held as "
                             "--jaws-port-offset=auto does)")
    parser.add_argument("--out", type=Path, default=None,
                        help="Markdown output (default benchmarks/results.md, "
                             "benchmarks/results-quick.md with --quick)")
    parser.add_argument("--only", default="",
                        help="comma list of figures to run: baseline,harness,three,scale30,e2e "
                             "(default all; teardown comes with harness, the 30-program "
                             "baseline and the /bin/sleep variant with scale30)")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when a target is missed (default: only on errors)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary directory (logs of every run)")
    parser.add_argument("--profile", action="store_true",
                        help="after the measurements, profile one apply + teardown and one "
                             "main job with cProfile; writes benchmarks/profile.txt")
    args = parser.parse_args(argv)
    runs = 1 if args.quick else args.runs
    out = args.out or HERE / ("results-quick.md" if args.quick else "results.md")
    only = {s.strip() for s in args.only.split(",") if s.strip()} or {
        "baseline", "harness", "three", "scale30", "e2e"}

    # SIGTERM (e.g. a CI timeout) unwinds like Ctrl-C, so every finally: cleans up
    signal.signal(signal.SIGTERM, _interrupt)

    model, _ = load_model()
    offset = choose_offset(model, args.port_offset)
    root = Path(tempfile.mkdtemp(prefix="jaws-bench-"))
    sweeper = Sweeper(root)
    info = machine()
    print(f"pytest-jaws benchmark: {'quick, 1 run' if args.quick else f'{runs} runs'}, "
          f"port offset {offset}, work directory {root}")
    data30, names = load_model(EXTRA_PROGRAMS)
    model30 = write_sites(data30, root / "sites-30.yaml")
    # the same 30 programs, but the 25 extra ones are /bin/sleep instead of a Python fake:
    # what supervisord and the harness cost per program, without the fakes' start-up CPU
    data30["sites"][SITE]["overrides"] = {n: {"command": "sleep 3600"} for n in names}
    model30_sleep = write_sites(data30, root / "sites-30-sleep.yaml")

    samples: dict[str, list[float]] = defaultdict(list)
    phases: dict[str, list[dict]] = defaultdict(list)
    errors: list[str] = []
    PHASES.install()

    def measure(key: str, fn) -> None:
        try:
            fn()
        except BenchError as exc:
            errors.append(f"{key}: {exc}")
            print(f"  {key}: FAILED: {exc}")
        except Exception as exc:  # noqa: BLE001 - one failed figure must not stop the rest
            errors.append(f"{key}: {type(exc).__name__}: {exc}")
            print(f"  {key}: FAILED: {type(exc).__name__}: {exc}")
            traceback.print_exc()
        finally:
            left = sweeper.sweep()
            if left:
                errors.append(f"{key}: left processes behind, terminated by PID: {left}")
                print(f"  {key}: left processes behind, terminated by PID: {left}")

    try:
        for i in range(1, runs + 1):
            print(f"run {i}/{runs}")

            def base(i=i):
                took, ph, down = baseline_once(model, root / f"baseline-{i}", offset)
                samples["baseline"].append(took)
                samples["baseline_down"] += down
                phases["baseline"].append(ph)
                print(f"  baseline      {took:6.3f} s   shutdown {fmt(down)}")

            def harness(i=i):
                took, down, exited, ph, dph = harness_once(model, root / f"harness-{i}", offset)
                samples["harness"].append(took)
                samples["teardown"].append(down)
                if exited is not None:
                    samples["teardown_exited"].append(exited)
                phases["harness"].append(ph)
                phases["teardown"].append(dph)
                print(f"  harness       {took:6.3f} s   teardown {down:6.3f} s "
                      f"(all exited after {fmt([exited] if exited else [])})")

            def three(i=i):
                took, ph, down = three_once(model, root / f"three-{i}", offset)
                samples["three"].append(took)
                samples["teardown3"].append(down)
                phases["three"].append(ph)
                print(f"  three envs    {took:6.3f} s   teardown {down:6.3f} s")

            def scale(i=i):
                took, down, ph = scale_once(model30, root / f"scale30-{i}", offset)
                samples["scale30"].append(took)
                samples["teardown30"].append(down)
                phases["scale30"].append(ph)
                print(f"  30 programs   {took:6.3f} s   teardown {down:6.3f} s")

            def base30(i=i):
                took, ph, _down = baseline_once(model30, root / f"baseline30-{i}", offset)
                samples["baseline30"].append(took)
                phases["baseline30"].append(ph)
                print(f"  baseline 30   {took:6.3f} s")

            def scale_sleep(i=i):
                took, _down, _ph = scale_once(model30_sleep, root / f"sleep30-{i}", offset)
                samples["scale30_sleep"].append(took)
                print(f"  30 (sleep)    {took:6.3f} s")

            def e2e(i=i):
                took, seen = e2e_once(root / f"e2e-{i}", offset)
                samples["e2e"].append(took)
                for name in ("session", "teardown"):
                    if name in seen:
                        samples[f"e2e_{name}"].append(seen[name])
                coll, _seen = e2e_once(root / f"collect-{i}", offset, collect_only=True)
                samples["collect"].append(coll)
                print(f"  main job      {took:6.3f} s   (pytest session "
                      f"{fmt([seen['session']] if 'session' in seen else [])}, teardown "
                      f"{fmt([seen['teardown']] if 'teardown' in seen else [])}; "
                      f"--collect-only {coll:.3f} s)")

            # pairs that are compared with each other run back to back, in alternating
            # order, so that a noisy neighbour's burst does not always hit the same one
            pairs = [("baseline", base), ("harness", harness)]
            tasks = pairs if i % 2 else pairs[::-1]
            tasks = [t for t in tasks if t[0] in only]
            if "three" in only:
                tasks.append(("three", three))
            if "scale30" in only:
                group = [("baseline30", base30), ("scale30", scale)]
                tasks += (group if i % 2 else group[::-1]) + [("scale30_sleep", scale_sleep)]
            if "e2e" in only:
                tasks.append(("e2e", e2e))
            for key, task in tasks:
                measure(key, task)
        if args.profile:
            measure("profile", lambda: profile(model, root, offset, HERE / "profile.txt"))
    except KeyboardInterrupt:
        errors.append("interrupted")
        print("interrupted: cleaning up")
    finally:
        PHASES.uninstall()
        left = sweeper.sweep()
        if left:
            errors.append(f"final sweep terminated PIDs {left}")
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    info["load average (1, 5, 15 min) at the end"] = " ".join(
        f"{x:.2f}" for x in os.getloadavg())
    print_table(samples, phases)
    text = render(samples, phases, runs, offset, info, errors, args.quick)
    out.write_text(text + "\n", encoding="utf-8")
    print(f"\nwrote {out}")
    if WARNINGS:
        print("warnings:\n  " + "\n  ".join(dict.fromkeys(WARNINGS)))
    if errors:
        print("errors:\n  " + "\n  ".join(e.splitlines()[0] for e in errors))
        return 2
    if args.check:
        missed = [row[0] for row in verdicts(samples) if row[3] == "MISSED"]
        if missed:
            print("missed: " + "; ".join(missed))
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
