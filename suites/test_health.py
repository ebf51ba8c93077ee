"""Health suite: both supervisord instances, every program, every HTTP service, central status.

Run: ``pytest suites --jaws-site=local --jaws-env=dev``. Every test runs once per environment.
"""

import os
import signal
import time
from dataclasses import dataclass

import psutil
import pytest
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from pytest_jaws.deploy import livelogs, stability
from pytest_jaws.probes import probes

#: Seconds central's status may take to show every part UP (jaws-site beats every second).
STATUS_DEADLINE = 10.0


def test_instance_running_and_identified(jaws_deployment, jaws_role):
    inst = jaws_deployment.instances[jaws_role]
    client = jaws_deployment.client(jaws_role)
    state = client.supervisor.getState()
    assert state["statename"] == "RUNNING", (
        f"{client.where}: supervisor.getState is {state['statename']}, expected RUNNING")
    ident = client.supervisor.getIdentification()
    assert ident == inst.identifier, (
        f"{client.where} identifies as {ident!r}, expected {inst.identifier!r}: "
        "another supervisord answers on this port")


def _info(dep, program):
    inst = dep.instance_of(program)
    client = dep.client(inst.key)
    return client, client.supervisor.getProcessInfo(f"{inst.process_group}:{program}")


def _settled(dep, program, deadline, not_pid=None):
    """Return the program's process info once it is RUNNING with a PID other than ``not_pid``.

    Or the last one seen at the deadline (a program another test just restarted is STARTING for
    startsecs; a killed one is RUNNING under its old PID until supervisord reaps it).
    """
    client = _info(dep, program)[0]
    retrying = Retrying(stop=stop_after_delay(deadline), wait=wait_fixed(0.2),
                        retry=retry_if_result(lambda info: info["statename"] != "RUNNING"
                                              or info["pid"] == not_pid),
                        retry_error_callback=lambda state: state.outcome.result())
    return client, retrying(lambda: _info(dep, program)[1])


def test_program_running(jaws_deployment, jaws_program):
    prog = jaws_deployment.plan.programs[jaws_program]
    client, info = _settled(jaws_deployment, jaws_program, prog.startsecs + 2)
    assert info["statename"] == "RUNNING", (
        f"program {jaws_program} of {client.where} is {info['statename']} "
        f"(spawn error: {info.get('spawnerr') or 'none'}, "
        f"{livelogs.how_ended(jaws_deployment, prog.instance, info)})")


@pytest.mark.jaws_last
def test_program_stayed_up(jaws_deployment, jaws_program, jaws_once):
    """The program has not exited since the deployment settled: RUNNING is not enough.

    A crash-looping program (restarted by supervisord, each life longer than startsecs) is
    RUNNING most of the time. Runs last (marker ``jaws_last``), and watches at least
    the site's ``watchsecs`` (sites.yaml) after the deployment settled; the recovery
    check's own kill is forgiven (see :mod:`pytest_jaws.deploy.stability`).
    """
    why = stability.check(jaws_deployment, jaws_program, jaws_once)
    assert why is None, why


def test_service_healthy(jaws_deployment, jaws_service):
    program = jaws_deployment.plan.programs[jaws_service]
    result = probes.health(jaws_deployment.plan, program)
    assert result.ok, f"service {jaws_service} is unhealthy: {result.detail}"


def _central(jaws_deployment):
    """central-rest: the program on the port table's central-rest port."""
    plan = jaws_deployment.plan
    rest = [p for p in plan.programs.values() if p.port == plan.port_table["central-rest"]]
    if not rest:
        pytest.skip(f"site {plan.site} runs no central-rest")
    return rest[0]


def _parts(dep):
    """Return ``(every key central's status reports, the keys that must be UP)``.

    The keys: JAWS-Central, and ``<ID>-Site``, ``<ID>-Cromwell``, ``<ID>-RMQ`` for every site
    central serves (jaws_central.utils.status); UP is required of JAWS-Central and of the parts
    this deployment runs itself (each program's ``part`` in sites.yaml) and their broker.
    """
    plan = dep.plan
    reported = {"JAWS-Central"}
    for sid in plan.spec.config.central_sites:
        reported |= {f"{sid}-Site", f"{sid}-Cromwell", f"{sid}-RMQ"}
    parts = {p.part for p in plan.programs.values() if p.part}
    up = {"JAWS-Central"} | {f"{plan.site_id}-{part}" for part in parts}
    up |= {f"{plan.site_id}-RMQ"} if parts else set()
    return reported, up & reported


def test_central_status_every_part_up(jaws_deployment):
    rest = _central(jaws_deployment)
    url = rest.url + "/api/v2/status"

    must = _parts(jaws_deployment)[1]

    def down(probe):
        body = probe.body or {}
        return [k for k in sorted(must) if body.get(k) != "UP"] if probe.ok else ["?"]
    last = Retrying(stop=stop_after_delay(STATUS_DEADLINE), wait=wait_fixed(0.5),
                    retry=retry_if_result(lambda probe: bool(down(probe))),
                    retry_error_callback=lambda state: state.outcome.result())(
        lambda: probes.http_get(url, owner=probes.owner_of(jaws_deployment.plan, rest)))
    assert last.ok, f"central-rest status failed: {last.detail}"
    assert not down(last), (f"central-rest reports {down(last)} not UP (of {sorted(must)}) after "
                            f"{STATUS_DEADLINE:g} s: GET {url} -> {last.body}")


def test_central_status_names_every_part(jaws_deployment):
    rest = _central(jaws_deployment)
    body = probes.http_get(rest.url + "/api/v2/status",
                           owner=probes.owner_of(jaws_deployment.plan, rest)).body or {}
    expected = _parts(jaws_deployment)[0]
    assert set(body) == expected, (
        f"central-rest status names {sorted(body)}, expected {sorted(expected)}: {body}")


def test_central_info_names_environment(jaws_deployment):
    rest = _central(jaws_deployment)
    result = probes.http_get(rest.url + "/api/v2/info",
                             owner=probes.owner_of(jaws_deployment.plan, rest))
    assert result.ok, f"central-rest info failed: {result.detail}"
    assert result.body.get("name") == jaws_deployment.env, (
        f"central-rest info names environment {result.body.get('name')!r}, "
        f"expected {jaws_deployment.env!r}: {result.body}")


@dataclass
class Kill:
    """One SIGKILL of the program sites.yaml marks ``recovery: true``, once per environment and run.

    Holds its name, its process info before the kill (supervisord's getProcessInfo), the
    processes of its tree then (psutil, those still alive when this process looks), and when
    (``time.time()``, seconds: the kill may have been done by another xdist worker).
    """

    program: str
    before: dict
    tree: list
    at: float


def _processes(pids):
    alive = []
    for pid in pids:
        try:
            alive.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    return alive


@pytest.fixture(scope="session")
def recovery_kill(jaws_deployment, jaws_once):
    """Kill the recovery check's program, once per environment and run.

    The program sites.yaml marks ``recovery: true`` (nothing depends on it), SIGKILLed once it
    is RUNNING. Done by the first process of the run that gets here (``jaws_once``): under
    ``-n N --dist=each`` every worker runs the check, and only one kills. Skips where the site
    runs no such program.
    """
    programs = jaws_deployment.plan.programs
    victim = next((p.name for p in programs.values() if p.recovery), None)
    if victim is None:
        pytest.skip(f"site {jaws_deployment.plan.site} runs no program marked recovery: true in "
                    "sites.yaml (one that can be killed without disturbing the other checks)")

    def kill() -> dict:
        _client, before = _settled(jaws_deployment, victim, programs[victim].startsecs + 5)
        if before["statename"] != "RUNNING":
            return {"error": f"{victim} is {before['statename']} before the kill"}
        try:
            main = psutil.Process(before["pid"])
            tree = [main, *main.children(recursive=True)]
        except psutil.NoSuchProcess:
            return {"error": f"{victim} (PID {before['pid']}, RUNNING by supervisord) exited "
                             "before the kill: something else ends or restarts it"}
        os.kill(before["pid"], signal.SIGKILL)
        return {"before": before, "tree": [p.pid for p in tree], "at": time.time()}

    done = jaws_once.do(stability.recovery_key(victim, jaws_deployment.env), kill)
    assert "error" not in done, done.get("error")
    return Kill(victim, done["before"], _processes(done["tree"]), done["at"])


@pytest.mark.jaws_destructive
def test_killed_program_leaves_no_process_behind(recovery_kill):
    """Recovery, first half: SIGKILL on the PID supervisord reports ends the whole program.

    It does because its command execs the service. A process that outlives it (a shim that runs
    the service as a child) would hold its port and files when supervisord restarts it. The
    second half runs last (marker ``jaws_last``), so that the restart overlaps the other checks.
    """
    _gone, alive = psutil.wait_procs(recovery_kill.tree, timeout=3)
    assert not alive, (
        f"{recovery_kill.program} killed (PID {recovery_kill.before['pid']}): "
        + ", ".join(f"PID {p.pid} ({' '.join(_cmdline(p))})" for p in alive)
        + " outlived it 3 s later: its command does not exec the service, so the restarted "
        "program would find them holding its port and files")


def _cmdline(proc):
    try:
        return proc.cmdline()[:4]
    except psutil.Error:
        return ["?"]


@pytest.mark.jaws_destructive
@pytest.mark.jaws_last
def test_killed_program_is_restarted_and_healthy_again(jaws_deployment, recovery_kill):
    """Recovery, second half: the killed program is RUNNING again under a new PID.

    Its supervisord restarts it (autorestart=unexpected) within startsecs + 10 s of the kill
    (supervisord notices the exit, backs off, restarts; RUNNING after startsecs). Where the
    site sets ``readysecs`` (its programs' startsecs is 0), it must also stay RUNNING under
    that new PID for readysecs, as the deployment's own start check asks.
    """
    victim, before = recovery_kill.program, recovery_kill.before
    deadline = jaws_deployment.plan.programs[victim].startsecs + 10
    left = max(0.5, deadline - (time.time() - recovery_kill.at))
    _client, after = _settled(jaws_deployment, victim, left, not_pid=before["pid"])
    assert after["statename"] == "RUNNING" and after["pid"] != before["pid"], (
        f"{victim} killed (PID {before['pid']}) was not restarted within {deadline} s: "
        f"{after['statename']} PID {after['pid']} spawn error {after.get('spawnerr')!r}")
    ready = jaws_deployment.plan.programs[victim].readysecs
    if ready:
        # supervisord's start time is whole seconds: its next second is the latest it began
        time.sleep(max(0.0, ready - (time.time() - (after["start"] + 1))))
        again = _info(jaws_deployment, victim)[1]
        where = jaws_deployment.plan.programs[victim].instance
        assert again["statename"] == "RUNNING" and again["pid"] == after["pid"], (
            f"{victim} killed (PID {before['pid']}) was restarted as PID {after['pid']} but did "
            f"not stay up for its readysecs ({ready:g} s, sites.yaml): {again['statename']} PID "
            f"{again['pid']}, {livelogs.how_ended(jaws_deployment, where, again)}")
