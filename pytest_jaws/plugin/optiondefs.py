"""What the options of pytest-jaws are: each ``--jaws-*`` option, its ini key, default and help.

Each option with what ``pytest --help`` lists under "pytest-jaws", the flags, and what each
accepts, for the message when one is given empty. :mod:`pytest_jaws.plugin.options` resolves their
values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import OptionsError

if TYPE_CHECKING:
    from ..sites.sites import SitesFile

#: The title of the options' group in ``pytest --help``.
GROUP_TITLE = "pytest-jaws: deploy and verify JAWS's supervisord instances (jaws, jtm, central)"
#: (option, ini key, default, help). Every option has an ini key of the same name.
OPTIONS: tuple[tuple[str, str, str | None, str], ...] = (
    ("--jaws-site", "jaws_site", "local",
     "site to deploy and verify (a name in the sites file; default: local, the fake site)"),
    ("--jaws-env", "jaws_env", "dev",
     "environment(s): dev, staging, prod, a comma list (dev,prod) or all (default: dev)"),
    ("--jaws-sites-file", "jaws_sites_file", None,
     "sites file (default: sites.yaml in the rootdir, else the copy shipped with pytest-jaws)"),
    ("--jaws-basedir", "jaws_basedir", None,
     "directory that receives jaws-supervisord-<env>/ (default for fake sites: inside "
     "pytest's temporary directory)"),
    ("--jaws-port-offset", "jaws_port_offset", "0",
     "shift every port of the table by N >= 0 (fake sites only), so two runs on one host do not "
     "collide; auto picks a free offset and holds it for the run (default: 0)"),
    ("--jaws-teardown", "jaws_teardown", None,
     "always | on-success | never: when to take the deployment down at the end of the run "
     "(default: always for fake sites, never for real sites)"),
    ("--jaws-report", "jaws_report", None,
     "write the run report as JSON to PATH (schema pytest_jaws/report/report.schema.json) and as "
     "Markdown beside it (PATH with .md)"),
    ("--jaws-plan-dir", "jaws_plan_dir", None,
     "with --jaws-plan: also write every planned file under DIR (keys masked)"),
    ("--jaws-source", "jaws_source", None,
     "JAWS checkout whose rpc/, site/, central/ and jtm/ are built into wheels and installed "
     "into the service venvs (default: the CI checkout $CI_PROJECT_DIR on real sites, the fake "
     "checkout shipped with pytest-jaws on fake sites)"),
    ("--jaws-python", "jaws_python", None,
     "Python interpreter of the site's version (sites.yaml python_version, 3.8 for the real "
     "sites) for the service venvs of a fake twin that runs a JAWS checkout (--jaws-fake "
     "--jaws-source); default: python<version> on PATH, else pyenv's; every role user must "
     "be able to run it"),
    ("--jaws-cromwell-jar", "jaws_cromwell_jar", None,
     "Cromwell jar to put at jaws-<env>/cromwell.jar (checked against sites.yaml's sha256; "
     "default: the jar already there; fake sites: the Cromwell stand-in)"),
)
#: Flags (store_true) with a bool ini key of the same name: (option, ini, help).
FLAGS: tuple[tuple[str, str, str], ...] = (
    ("--jaws-plan", "jaws_plan",
     "print the deployment plan (files with owner, mode and contents; commands with their "
     "user) for the site and environments, execute nothing, and exit 0"),
    ("--jaws-down", "jaws_down",
     "take down a deployment that a run left up (--jaws-teardown never or on-success), found "
     "by --jaws-site, --jaws-env and --jaws-basedir (default: where such a run puts it), at "
     "the port offset its configuration was written with; runs no test"),
    ("--jaws-fake", "jaws_fake",
     "deploy a fake twin of a real site: its topology, layout and configuration with the fake "
     "services on 127.0.0.1, under a local base directory, as local users"),
    ("--jaws-play-operator", "jaws_play_operator",
     "with --jaws-fake: the run plays the operator of the instances sites.yaml marks start: "
     "operator (cori's jtm): it starts one that is down with the operator's command, as its "
     "role user, and ends it at teardown (see docs/operator.md)"),
    ("--jaws-allow-destructive", "jaws_allow_destructive",
     "also run the checks that disturb service (marker jaws_destructive, e.g. the recovery "
     "check that kills a program) on a real site; never allowed with prod"),
)
#: The values of --jaws-teardown.
TEARDOWN_POLICIES = ("always", "on-success", "never")


def valid_values(ini: str, model: SitesFile | None) -> str | None:
    """Return what option ``ini`` accepts, in words (None: the sites file is needed to say it)."""
    if ini == "jaws_site":
        return f"one of {', '.join(model.sites)}" if model else None
    if ini == "jaws_env":
        return (f"one of {', '.join(model.ports)}, a comma list of them, or all"
                if model else None)
    return {"jaws_port_offset": "a whole number, e.g. 0 or 100",
            "jaws_teardown": f"one of {', '.join(TEARDOWN_POLICIES)}",
            "jaws_sites_file": "the path of a sites file",
            "jaws_basedir": "a directory path",
            "jaws_report": "a file path, e.g. reports/jaws-report.json",
            "jaws_plan_dir": "a directory path",
            "jaws_python": "the path of a Python interpreter"}.get(ini)


def check_empty(values: dict, model: SitesFile | None) -> None:
    """Refuse an option given with an empty value: it is an error, never the default.

    An empty value is what an unset CI variable renders to (``--jaws-env=``).

    :param model: the sites model, to list the valid sites and environments (None: check
        only the options whose valid values do not depend on it).
    :raises OptionsError: naming the option and listing its valid values.
    """
    for flag, ini, _default, _help in OPTIONS:
        value = values.get(ini)
        valid = valid_values(ini, model)
        if isinstance(value, str) and not value.strip() and valid:
            raise OptionsError(
                f"{flag} is empty (an unset CI variable?); give {valid}, or leave the option "
                "out to use its default")
