"""MySQL and RabbitMQ, as the site declares them (sites.yaml ``dependencies:``), checked live.

The same checks as the pre-flight (:mod:`pytest_jaws.probes.dependencies`), at test time: login, every
database usable, every vhost with a channel. A failure names the dependency, ``host:port``, the
database or vhost and the cause. These tests need no deployment, so they still say why when
the deployment itself is failing because a dependency went away. Sites without dependencies
skip them with that reason.
"""

from __future__ import annotations

import pytest

from pytest_jaws.probes import dependencies, probes


def test_dependency_usable(jaws_dependency, jaws_manager, jaws_env):
    check = jaws_dependency
    password = dependencies.password_of(check, jaws_manager.settings.site, jaws_env)
    problems = dependencies.run_check(check, password)
    assert not problems, "\n".join(problems)


def test_central_rmq_part_is_the_real_broker(jaws_dependency, jaws_deployment, jaws_manager,
                                            jaws_env):
    """central-rest's ``<SITE>-RMQ`` says what central's broker really is (UP or DOWN).

    For every site central serves (its config's sites, sites.yaml ``config.central_sites``;
    central/jaws_central/utils.py ``status`` checks each site's broker parameters, which are
    central's broker): on central itself these are the other sites, not ``CENTRAL``.
    """
    if jaws_dependency.key != "rabbitmq":
        pytest.skip("only central's broker is part of central-rest's status")
    plan = jaws_deployment.plan
    rest = [p for p in plan.programs.values() if p.port == plan.port_table["central-rest"]]
    if not rest:
        pytest.skip(f"site {plan.site} runs no central-rest")
    password = dependencies.password_of(jaws_dependency, jaws_manager.settings.site, jaws_env)
    problems = dependencies.run_check(jaws_dependency, password)
    expected = "DOWN" if problems else "UP"
    probe = probes.http_get(rest[0].url + "/api/v2/status", owner=probes.owner_of(plan, rest[0]))
    assert probe.ok, f"central-rest status failed: {probe.detail}"
    served = list(plan.spec.config.central_sites) if plan.spec is not None else [plan.site_id]
    got = {f"{sid}-RMQ": (probe.body or {}).get(f"{sid}-RMQ") for sid in served or [plan.site_id]}
    wrong = {part: state for part, state in got.items() if state != expected}
    assert not wrong, (
        f"central-rest reports {', '.join(f'{p} {s}' for p, s in wrong.items())}, but "
        f"{jaws_dependency.label} {jaws_dependency.address} is {expected}"
        + (f": {'; '.join(problems)}" if problems else ""))
