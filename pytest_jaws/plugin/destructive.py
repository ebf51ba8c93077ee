"""Checks that disturb service (marker ``jaws_destructive``): where they run, and why not.

The recovery check SIGKILLs a program; on a real site that is a production service. Such
checks carry the marker :data:`MARKER` and run by default on fake sites only. On a real site
they are deselected unless ``--jaws-allow-destructive`` is given (never together with prod:
:func:`pytest_jaws.plugin.options.resolve` refuses it), and on the prod environment of a real site's
fake twin they are deselected too (the twin rehearses what the real site would do).
"""

from __future__ import annotations

from ..sites.settings import Settings

#: The registered marker of checks that disturb service.
MARKER = "jaws_destructive"
#: Its description (``pytest --markers``).
MARKER_HELP = (f"{MARKER}: a check that disturbs service (kills or stops a program); runs on "
               "fake sites, deselected on real sites unless --jaws-allow-destructive (never on "
               "prod)")
#: The marker of a check that waits for something an earlier check started (the recovery
#: check waits for a killed program to be RUNNING again): it runs after every other check, so
#: that its wait overlaps them instead of adding to the run.
LAST = "jaws_last"
#: Its description (``pytest --markers``).
LAST_HELP = (f"{LAST}: a check that waits for what an earlier check started; runs after every "
             "other check, so that its wait overlaps them")


def deselected_envs(settings: Settings) -> dict[str, str]:
    """``{environment: reason}`` for the environments whose destructive checks do not run.

    :param settings: the resolved options (site, environments, fake twin, the flag).
    :returns: an empty mapping on fake sites; on a real site every environment unless
        ``--jaws-allow-destructive``; on a real site's fake twin its prod.
    """
    site = settings.site
    if not settings.fake:
        if settings.allow_destructive:
            return {}
        return {env: (f"site {site} is a real site: checks that disturb service (marker "
                      f"{MARKER}) run there only with --jaws-allow-destructive, never on prod")
                for env in settings.envs}
    if settings.replaced:
        return {env: (f"environment {env} of real site {site}'s fake twin: checks that disturb "
                      f"service (marker {MARKER}) never run on prod")
                for env in settings.envs if env == "prod"}
    return {}


def select(items: list, settings: Settings) -> tuple[list, list]:
    """Split collected test items into ``(kept, deselected)``.

    An item with the marker is deselected when its ``jaws_env`` parameter is an environment of
    :func:`deselected_envs` (an item without that parameter when any environment is).
    """
    skip = deselected_envs(settings)
    if not skip:
        return list(items), []
    kept: list = []
    dropped: list = []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        env = params.get("jaws_env")
        hit = item.get_closest_marker(MARKER) is not None and (
            env in skip if env is not None else True)
        (dropped if hit else kept).append(item)
    return kept, dropped


def run_last(items: list) -> list:
    """Return ``items`` with those carrying the marker :data:`LAST` moved to the end.

    Each group keeps its collected order (a stable sort: under xdist every worker keeps that order
    too).
    """
    return sorted(items, key=lambda item: item.get_closest_marker(LAST) is not None)


def header_lines(settings: Settings) -> list[str]:
    """One line per environment whose destructive checks are deselected, with the reason."""
    return [f"jaws: {env}: destructive checks deselected: {reason}"
            for env, reason in deselected_envs(settings).items()]
