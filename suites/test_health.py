"""Health suite: both supervisord instances, every program, every HTTP service, central status.

Run: ``pytest suites --jaws-site=local --jaws-env=dev``. Every test runs once per environment.
"""

import pytest
from tenacity import Retrying, stop_after_delay, wait_fixed

from pytest_jaws import probes

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


def test_program_running(jaws_deployment, jaws_program):
    plan = jaws_deployment.plan
    inst = jaws_deployment.instance_of(jaws_program)
    client = jaws_deployment.client(inst.role)
    info = client.supervisor.getProcessInfo(f"{plan.group}:{jaws_program}")
    assert info["statename"] == "RUNNING", (
        f"program {jaws_program} of {client.where} is {info['statename']} "
        f"(spawn error: {info.get('spawnerr') or 'none'}, exit status {info['exitstatus']})")


def test_service_healthy(jaws_deployment, jaws_service):
    program = jaws_deployment.plan.programs[jaws_service]
    result = probes.health(jaws_deployment.plan, program)
    assert result.ok, f"service {jaws_service} is unhealthy: {result.detail}"


def _central(jaws_deployment):
    programs = jaws_deployment.plan.programs
    if "central-rest" not in programs:
        pytest.skip(f"site {jaws_deployment.plan.site} runs no central-rest")
    return programs["central-rest"]


def test_central_status_every_part_up(jaws_deployment):
    rest = _central(jaws_deployment)
    last = None
    for attempt in Retrying(stop=stop_after_delay(STATUS_DEADLINE), wait=wait_fixed(0.5),
                            reraise=True):
        with attempt:
            last = probes.http_get(rest.url + "/api/v2/status")
            down = [k for k, v in (last.body or {}).items() if v != "UP"] if last.ok else ["?"]
            assert last.ok and not down
    assert last.ok, f"central-rest status failed: {last.detail}"


def test_central_status_names_every_part(jaws_deployment):
    rest = _central(jaws_deployment)
    prefix = jaws_deployment.plan.site.upper()
    body = probes.http_get(rest.url + "/api/v2/status").body or {}
    expected = {"JAWS-Central", f"{prefix}-Site", f"{prefix}-Cromwell"}
    assert expected <= set(body), f"central-rest status lacks {expected - set(body)}: {body}"


def test_central_info_names_environment(jaws_deployment):
    rest = _central(jaws_deployment)
    result = probes.http_get(rest.url + "/api/v2/info")
    assert result.ok, f"central-rest info failed: {result.detail}"
    assert result.body.get("name") == jaws_deployment.env, (
        f"central-rest info names environment {result.body.get('name')!r}, "
        f"expected {jaws_deployment.env!r}: {result.body}")
