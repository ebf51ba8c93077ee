#!/usr/bin/env python
"""pytest-jaws benchmarks: how long deploying and tearing down the fake site ``local`` takes.

Run from anywhere once the project is installed (``python -m pip install -e ".[dev]"``)::

    python benchmarks/run.py            # every figure, median of 5 runs: benchmarks/results.md
    python benchmarks/run.py --quick    # every figure once (CI): benchmarks/results-quick.md

benchmarks/README.md says what each figure times. Only public entry points of pytest_jaws are
used: ``make_plan``, ``deploy.apply`` (its ``progress(env, step, seconds)`` events give the
phases), ``deploy.teardown`` and ``portoffset.choose`` (the port offset, held for the run).
Every process a run starts carries a deployment marker naming a directory under the run's
temporary directory: after every figure, and at the end, such a process is an error and is
ended by PID. Exit status: 0; 2 when a measurement failed or left a process behind; 1 with
``--check`` when a target was missed.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import xmlrpc.client
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path

import psutil
import requests
import yaml
from supervisor.xmlrpc import SupervisorTransport
from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from pytest_jaws.deploy import deploy
from pytest_jaws.host import portoffset
from pytest_jaws.plan.plan import MARKER_VARIABLE, make_plan
from pytest_jaws.sites.sites import PACKAGED_SITES_FILE, parse_sites

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SITE, ENVS = "local", ("dev", "staging", "prod")
#: Programs of the scaled site: local's own plus copies of its portless jaws-jtm.
SCALED = 30
#: Seconds between two polls of the baseline, and the longest any one wait may take.
POLL, DEADLINE = 0.05, 60.0

FIGURES = {
    "baseline": "baseline: plain supervisord -c, local/dev",
    "harness": "harness: deploy.apply, 1 env",
    "three": "harness: deploy.apply, 3 envs concurrently",
    "teardown": "teardown: deploy.teardown, 1 env",
    "scale30": f"harness: deploy.apply, 1 env, {SCALED} programs",
    "e2e": "main job end to end",
    "baseline30": f"(info) baseline: plain supervisord -c, {SCALED} programs",
    "teardown3": "(info) teardown: 3 envs concurrently",
    "teardown30": f"(info) teardown: 1 env, {SCALED} programs",
    "collect": "(info) main job with --collect-only",
    "selftest": "self-test, fast tier: pytest tests -n 2 (once, only with --only selftest)",
    "selftestslow": "(info) self-test, slow tier: pytest tests -n 2 -m slow (once, with it)",
}
#: What ``--only`` selects (each with its info rows).
GROUPS = ("baseline", "harness", "three", "scale30", "e2e")
#: Selected only by name (``--only selftest``): minutes long, measured once per benchmark.
OPTIONAL = ("selftest",)
#: (figure, figure it is divided by or None for seconds, limit or None for information)
TARGETS = [("harness", "baseline", 1.15), ("three", "harness", 1.3), ("teardown", None, 0.5),
           ("scale30", "harness", 1.5), ("e2e", None, 2.5), ("selftest", None, 180.0),
           ("baseline30", "baseline", None), ("scale30", "baseline30", None)]
#: The phases of a deployment, each ending at the last progress event that matches (a phase
#: without events is counted in the next): pre-flight and files up to the last install step
#: (``<step>: <seconds> s``), supervisord started and answering, RUNNING, healthy.
PHASES = [("pre-flight, files, installs", re.compile(r": [0-9.]+ s$")),
          ("instances up", re.compile(r" (started|reused|adopted) on port \d+$")),
          ("programs RUNNING", re.compile(r"^program \S+ RUNNING$")),
          ("services healthy", re.compile(r"^service \S+ healthy$"))]


class BenchError(RuntimeError):
    """A measurement that could not be made (the run then exits 2)."""


class Events:
    """``apply``'s progress callback: keeps ``(step, seconds since apply began)`` per env."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: dict[str, list[tuple[str, float]]] = defaultdict(list)

    def __call__(self, env: str, step: str, seconds: float) -> None:
        """Record that ``env`` began ``step``, ``seconds`` after ``apply`` began."""
        with self.lock:
            self.seen[env].append((step, seconds))

    def phases(self, env: str, total: float) -> dict[str, float]:
        """Seconds per phase of :data:`PHASES` (from the end of the one before), and the total."""
        out, prev = {}, 0.0
        for name, pattern in PHASES:
            ends = [s for step, s in self.seen[env] if pattern.search(step)]
            if ends:
                out[name], prev = max(0.0, max(ends) - prev), max(prev, *ends)
        out["total"] = total
        return out


def marked(root: Path, marker: str | None = None) -> list[psutil.Process]:
    """Return the live (not zombie) processes of a deployment marked ``marker`` or under ``root``.

    A process counts when its deployment marker is ``marker`` or names a directory under ``root``
    (markers are ``<site>/<env>:<directory>``). A zombie has exited: a daemonized supervisord stays
    one until PID 1 reaps it, which says nothing about the harness.
    """
    found = []
    for proc in psutil.process_iter():
        try:
            value = proc.environ().get(MARKER_VARIABLE, "")
            if (value == marker if marker else str(root) in value) \
                    and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def sweep(root: Path) -> list[int]:
    """End, by PID, every live process marked under ``root`` (SIGTERM, then SIGKILL)."""
    procs = marked(root)
    for proc in procs:
        try:
            proc.terminate()
        except psutil.Error:
            pass
    for proc in psutil.wait_procs(procs, timeout=5)[1]:
        try:
            proc.kill()
        except psutil.Error:
            pass
    return [p.pid for p in procs]


def poll(check, what: str):
    """Call ``check()`` every POLL s until it returns something true; return that.

    :raises BenchError: after DEADLINE seconds (an exception from ``check`` ends it at once).
    """
    try:
        return Retrying(wait=wait_fixed(POLL), stop=stop_after_delay(DEADLINE),
                        retry=retry_if_result(lambda result: not result))(check)
    except RetryError:
        raise BenchError(f"{what}: not within {DEADLINE:g} s") from None


def no_leftovers(root: Path, plan) -> None:
    """Raise BenchError when a process of ``plan``'s deployment is still alive."""
    left = marked(root, plan.marker)
    if left:
        raise BenchError(f"{plan.env}: processes left behind: {[p.pid for p in left]}")


# ------------------------------------------------------------------------------ the figures


def load_model(programs: int = 0, path: Path | None = None):
    """Return the shipped sites model, or a copy whose local site runs ``programs`` programs.

    With ``programs``, the copy (written to ``path``) runs its own programs plus ``jtm-01``...
    (copies of the portless jaws-jtm).
    """
    text = PACKAGED_SITES_FILE.read_text(encoding="utf-8")
    if not programs:
        return parse_sites(text, str(PACKAGED_SITES_FILE))
    data = yaml.safe_load(text)
    site = data["sites"][SITE]["programs"]
    names = [f"jtm-{i:02d}" for i in range(1, programs - sum(map(len, site.values())) + 1)]
    data["services"].update({name: dict(data["services"]["jaws-jtm"]) for name in names})
    site["jtm"] += names
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return parse_sites(path.read_text(encoding="utf-8"), str(path))


def plan_of(model, workdir: Path, offset: int, env: str = "dev"):
    """Return the plan of the benchmark's site for ``env`` at port offset ``offset``."""
    return make_plan(model, SITE, env, workdir, port_offset=offset)


def prepare_baseline(model, workdir: Path, offset: int):
    """Write the files of local/dev as the harness writes them; returns ``(plan, keys)``.

    One untimed apply + teardown, for the baseline to start with plain supervisord.
    """
    plan = plan_of(model, workdir, offset)
    dep = deploy.apply(plan)
    deploy.teardown(dep)
    return plan, dict(dep.keys)


def baseline_once(root: Path, plan, keys: dict[str, str]) -> tuple[float, dict[str, float]]:
    """Time plain supervisord, no harness code; returns (seconds, phases).

    Start every instance (``python -m supervisor.supervisord -c``, all at once), poll XML-RPC
    until every program is started (RUNNING, and where the site sets ``readysecs`` RUNNING
    under one PID for that long, as the harness asks: supervisord alone calls a program with
    startsecs 0 RUNNING at its spawn), then every health URL until it answers its status
    (timed); shut down over XML-RPC and wait until no process is left (not timed).
    """
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/", "LANG": "C.UTF-8",
           MARKER_VARIABLE: plan.marker}
    rpc = {role: xmlrpc.client.ServerProxy("http://127.0.0.1", transport=SupervisorTransport(
        inst.username, keys[role], inst.serverurl)) for role, inst in plan.instances.items()}
    phases: dict[str, float] = {}
    since: dict[str, tuple[int, float]] = {}  # program -> (PID, first seen RUNNING)

    def running() -> bool:
        states, pids = {}, {}
        for proxy in rpc.values():
            try:
                infos = proxy.supervisor.getAllProcessInfo()
            except (OSError, xmlrpc.client.ProtocolError):
                return False
            states.update((i["name"], i["statename"]) for i in infos)
            pids.update((i["name"], i["pid"]) for i in infos)
        failed = [name for name, state in states.items() if state in ("FATAL", "EXITED")]
        if failed:
            raise BenchError(f"baseline: programs failed: {failed}")
        now = time.monotonic()
        for name, state in states.items():
            if state == "RUNNING" and since.get(name, (None,))[0] != pids[name]:
                since[name] = (pids[name], now)
        return len(states) == len(plan.programs) and set(states.values()) == {"RUNNING"} and \
            all(now - since[n][1] >= plan.programs[n].readysecs for n in states)

    def healthy() -> bool:
        for prog in [p for p in plan.programs.values() if p.health_path]:
            try:
                if requests.get(prog.url + prog.health_path, timeout=2).status_code \
                        != prog.health_status:
                    return False
            except requests.RequestException:
                return False
        return True

    try:
        start = time.monotonic()
        starters = [subprocess.Popen([sys.executable, "-m", "supervisor.supervisord", "-c",
                                      str(inst.conf)], env=env, cwd=str(inst.directory),
                                     stdin=subprocess.DEVNULL)
                    for inst in plan.instances.values()]
        if any(p.wait(timeout=DEADLINE) for p in starters):
            raise BenchError(f"baseline: supervisord exited {[p.returncode for p in starters]}")
        phases["instances up"] = time.monotonic() - start
        poll(running, "baseline: every program RUNNING")
        phases["programs RUNNING"] = time.monotonic() - start - phases["instances up"]
        poll(healthy, "baseline: every service healthy")
        took = time.monotonic() - start
        phases["services healthy"] = took - phases["instances up"] - phases["programs RUNNING"]
        phases["total"] = took
        return took, phases
    finally:
        for proxy in rpc.values():
            try:
                proxy.supervisor.shutdown()
            except (OSError, xmlrpc.client.Error):
                pass
        try:
            poll(lambda: not marked(root, plan.marker), "baseline: shutdown")
        except BenchError:
            pass  # the sweep after the figure ends them and reports it


def timed_apply(plans: list, events: Events) -> tuple[float, list]:
    """Apply every plan at once, one thread each (as the plugin deploys several environments).

    Returns the seconds until the last is healthy and the deployments.

    :raises BenchError: when one failed (the others are torn down first).
    """
    start = time.monotonic()
    with ThreadPoolExecutor(len(plans)) as pool:
        futures = [pool.submit(deploy.apply, plan, events) for plan in plans]
    took = time.monotonic() - start
    errors = [f.exception() for f in futures if f.exception()]
    deps = [f.result() for f in futures if not f.exception()]
    if errors:
        timed_teardown(deps)
        raise BenchError(f"apply: {errors[0]!r}")
    return took, deps


def timed_teardown(deps: list) -> float:
    """Tear every deployment down at once; seconds until the last returned."""
    start = time.monotonic()
    with ThreadPoolExecutor(max(1, len(deps))) as pool:
        list(pool.map(deploy.teardown, deps))
    return time.monotonic() - start


def harness_once(root: Path, model, workdir: Path, offset: int, envs=("dev",)):
    """Time ``apply`` of ``envs`` concurrently, then their teardown.

    Returns (seconds to healthy, teardown seconds, phases of the slowest env).
    """
    plans = [plan_of(model, workdir, offset, env) for env in envs]
    events = Events()
    took, deps = timed_apply(plans, events)
    down = timed_teardown(deps)
    for plan in plans:
        no_leftovers(root, plan)
    slowest = max(envs, key=lambda env: max((s for _, s in events.seen[env]), default=0.0))
    return took, down, events.phases(slowest, took)


def e2e_once(workdir: Path, offset: int, collect_only: bool = False) -> tuple[float, str]:
    """Time the main job in a subprocess from the project root.

    Returns the wall seconds, and a warning when a suite test failed (the time still counts).
    ``--jaws-basedir`` puts the deployment under the run's temporary directory, where the sweep
    finds a leftover by its marker.
    """
    pytest = Path(sys.executable).with_name("pytest")
    argv = [*([str(pytest)] if pytest.exists() else [sys.executable, "-m", "pytest"]),
            "suites", f"--jaws-site={SITE}", "--jaws-env=dev", "-q", "-p", "no:cacheprovider",
            f"--jaws-port-offset={offset}", f"--jaws-basedir={workdir}",
            *(["--collect-only"] if collect_only else [])]
    start = time.monotonic()
    done = subprocess.run(argv, cwd=str(ROOT), capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=300)
    took = time.monotonic() - start
    if done.returncode == 1:
        failed = [ln for ln in done.stdout.splitlines() if ln.startswith(("FAILED", "ERROR"))]
        return took, f"main job: tests failed (time kept): {'; '.join(failed[:3])}"
    if done.returncode:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise BenchError(f"{' '.join(argv)} exited {done.returncode}:\n{tail}")
    return took, ""


def selftest_once(*more: str) -> tuple[float, str]:
    """Time ``pytest tests -n 2`` (the project's own tests, as CI runs them) from the root.

    :param more: further arguments: ``-m slow`` for the slow tier (README).
    Returns the wall seconds, and a warning naming the failed tests when some failed (the
    time still counts). Every test takes its own port offset and cleans up after itself.
    """
    argv = [sys.executable, "-m", "pytest", "tests", "-n", "2", "-q", "-p", "no:cacheprovider",
            *more]
    start = time.monotonic()
    done = subprocess.run(argv, cwd=str(ROOT), capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=3600)
    took = time.monotonic() - start
    if done.returncode:
        failed = [ln for ln in done.stdout.splitlines() if ln.startswith(("FAILED", "ERROR"))]
        return took, (f"self-test: exit status {done.returncode} (time kept): "
                      f"{'; '.join(failed[:5]) or done.stdout.strip().splitlines()[-1:]}")
    return took, ""


# ------------------------------------------------------------------------------ the report


def machine() -> dict[str, str]:
    """Return what the figures were measured on."""
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "?")
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=str(ROOT),
                            capture_output=True, text=True).stdout.strip() or "?"
    return {
        "CPUs (usable)": str(len(os.sched_getaffinity(0))),
        "CPU": cpu,
        "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "python": f"{platform.python_version()} ({sys.executable})",
        "supervisor": version("supervisor"),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
        "load average (1, 5, 15 min) at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def median(samples: dict[str, list[float]], key: str | None) -> float | None:
    """Return the median of ``samples[key]`` in seconds, or None without samples for ``key``."""
    return statistics.median(samples[key]) if key and samples.get(key) else None


def verdicts(samples: dict[str, list[float]]) -> list[tuple[str, str, str, str]]:
    """(target, measured, limit, verdict) for every row of TARGETS."""
    rows = []
    for num, den, limit in TARGETS:
        value, base = median(samples, num), median(samples, den) if den else 1.0
        unit = " x" if den else " s"
        text = f"{'' if limit else '(info) '}{num} {'/ ' + den if den else ''}".strip()
        if value is None or not base:
            rows.append((text, "n/a", "", "not measured"))
            continue
        verdict = "information" if limit is None else "met" if value / base <= limit else "MISSED"
        rows.append((text, f"{value / base:.2f}{unit}",
                     f"<= {limit:g}{unit}" if limit else "", verdict))
    return rows


def report(samples, phases, info: dict[str, str], notes: list[str], title: str) -> str:
    """Return the whole result as Markdown (printed and written)."""
    out = [f"# pytest-jaws benchmark: {title}", "", "| machine | |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in info.items()]
    out += ["", "| figure | median s | min | max | runs |", "|---|---:|---:|---:|---:|"]
    for key, label in FIGURES.items():
        values = samples.get(key)
        if not values:
            out.append(f"| {label} | n/a | n/a | n/a | 0 |")
            continue
        out.append(f"| {label} | {statistics.median(values):.3f} | {min(values):.3f} | "
                   f"{max(values):.3f} | {len(values)} |")
    out += ["", "| target | measured | limit | verdict |", "|---|---:|---:|---|"]
    out += [f"| {t} | {m} | {lim} | {'**MISSED**' if v == 'MISSED' else v} |"
            for t, m, lim, v in verdicts(samples)]
    out += ["", "Phases (median seconds; from `apply`'s progress events, each phase from the "
            "end of the one before; the baseline's from its own polls):", ""]
    for key, rows in phases.items():
        names = list(dict.fromkeys(n for row in rows for n in row))
        out.append(f"- {FIGURES[key]}: " + ", ".join(
            f"{n} {statistics.median([r.get(n, 0.0) for r in rows]):.3f}" for n in names))
    if notes:
        out += ["", "Notes and errors:", ""] + [f"- {n.splitlines()[0]}" for n in notes]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------ main


def _interrupt(_signum, _frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark from the command line; the exit status (2: a measurement failed)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="every figure once (CI); writes results-quick.md")
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (default 5)")
    parser.add_argument("--only", default=",".join(GROUPS),
                        help="comma list of: baseline, harness (with teardown), three, scale30 "
                             "(with baseline30), e2e (with collect); default all of these; "
                             "selftest (pytest tests -n 2, once: minutes) only when named")
    parser.add_argument("--port-offset", type=int, default=None,
                        help="port offset (default: a free one, chosen and held as "
                             "--jaws-port-offset=auto does)")
    parser.add_argument("--out", type=Path, default=None, help="Markdown output (default "
                        "benchmarks/results.md, with --quick benchmarks/results-quick.md)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary directory (every supervisord and program log)")
    args = parser.parse_args(argv)
    runs = 1 if args.quick else args.runs
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - set(GROUPS) - set(OPTIONAL)
    if unknown or runs < 1:
        parser.error(f"--only: unknown {sorted(unknown)}" if unknown else "--runs must be >= 1")
    out = args.out or HERE / ("results-quick.md" if args.quick else "results.md")
    signal.signal(signal.SIGTERM, _interrupt)  # a CI timeout unwinds like Ctrl-C

    model = load_model()
    offset, lock = (args.port_offset, None) if args.port_offset is not None \
        else portoffset.choose(model, ENVS)
    root = Path(tempfile.mkdtemp(prefix="jaws-bench-"))
    info = machine()
    print(f"pytest-jaws benchmark: {runs} run(s), port offset {offset}, work directory {root}")
    samples: dict[str, list[float]] = defaultdict(list)
    phases: dict[str, list[dict]] = defaultdict(list)
    notes: list[str] = []
    errors = 0

    def measure(key: str, fn, *args) -> None:
        nonlocal errors
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001 - one failed figure must not stop the rest
            errors += 1
            notes.append(f"{key}: FAILED: {exc}")
            print(f"  {key}: FAILED: {exc}")
            if not isinstance(exc, BenchError):
                traceback.print_exc()
        left = sweep(root)
        if left:
            errors += 1
            notes.append(f"{key}: left processes behind, ended by PID: {left}")

    def record(key: str, seconds: float, phase: dict | None = None) -> None:
        samples[key].append(seconds)
        if phase:
            phases[key].append(phase)
        print(f"  {FIGURES[key]:<52} {seconds:6.3f} s")

    def base(i: int, model, key: str) -> None:
        if key not in prepared:
            prepared[key] = prepare_baseline(model, root / key, offset)
        record(key, *baseline_once(root, *prepared[key]))

    def harness(i: int, model, key: str, down_key: str, envs=("dev",)) -> None:
        took, down, phase = harness_once(root, model, root / f"{key}-{i}", offset, envs)
        record(key, took, phase)
        record(down_key, down)

    def e2e(i: int) -> None:
        took, warning = e2e_once(root / f"e2e-{i}", offset)
        record("e2e", took)
        notes.extend([warning] if warning else [])
        record("collect", e2e_once(root / f"collect-{i}", offset, collect_only=True)[0])

    def selftest() -> None:
        took, warning = selftest_once()
        record("selftest", took)
        notes.extend([warning] if warning else [])
        took, warning = selftest_once("-m", "slow")
        record("selftestslow", took)
        notes.extend([warning] if warning else [])

    prepared: dict[str, tuple] = {}
    try:
        model30 = load_model(SCALED, root / "sites-scaled.yaml")
        for i in range(1, runs + 1):
            print(f"run {i}/{runs}")
            # figures compared with each other run back to back, in alternating order, so
            # that a noisy neighbour's burst does not always hit the same one
            pair = [("baseline", base, model, "baseline"),
                    ("harness", harness, model, "harness", "teardown")]
            pair30 = [("scale30", base, model30, "baseline30"),
                      ("scale30", harness, model30, "scale30", "teardown30")]
            tasks = [*(pair if i % 2 else pair[::-1]),
                     ("three", harness, model, "three", "teardown3", ENVS),
                     *(pair30 if i % 2 else pair30[::-1])]
            for name, fn, *rest in tasks:
                if name in only:
                    measure(rest[1], fn, i, *rest)
            if "e2e" in only:
                measure("e2e", e2e, i)
        if "selftest" in only:
            print("self-test (pytest tests -n 2, then -m slow), once each")
            measure("selftest", selftest)
    except KeyboardInterrupt:
        errors += 1
        notes.append("interrupted")
        print("interrupted: cleaning up")
    finally:
        left = sweep(root)
        if left:
            errors += 1
            notes.append(f"final sweep ended PIDs {left}")
        if lock is not None:
            lock.release()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    info["load average (1, 5, 15 min) at the end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    title = "quick, every figure once" if args.quick else f"median of {runs} runs"
    text = report(samples, phases, info, notes, f"{title}, port offset {offset}")
    out.write_text(text, encoding="utf-8")
    print(f"\n{text}\nwrote {out}")
    if errors:
        return 2
    return 1 if args.check and any(row[3] == "MISSED" for row in verdicts(samples)) else 0


if __name__ == "__main__":
    sys.exit(main())
