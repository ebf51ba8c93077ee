"""Options -> settings: the ``jaws`` command-line options and ini keys, resolved and checked.

:func:`resolve` turns raw option values into a :class:`Settings` or raises
:class:`OptionsError` (the plugin shows it as a pytest usage error) before anything is deployed.
"""

from __future__ import annotations

import getpass
import grp
import os
import pwd
import shutil
import socket
from pathlib import Path

from ..deploy.runservers import missing_programs
from ..deploy.serverpasswords import set_passwords
from ..errors import InvalidKeyError, NoFreeOffset, OptionsError, PlanError, SitesError, SourceError
from ..host import portoffset
from ..host.perms import not_member
from ..install.interp import resolve_python
from ..keys import check_key
from ..plan.installspec import check_source
from ..plan.plan import ROLE_PATH
from ..sites.settings import Settings
from ..sites.sitecheck import select_environments, select_site
from ..sites.sitemodel import ROLES
from ..sites.sites import Site, SitesFile, find_sites_file, load_sites
from ..sites.sitevars import (
    check_secret,
    config_kinds,
    key_variable,
    secret_variable,
    secrets_needed,
    shifted_ports,
)
from ..sites.twin import fake_twin, twin_users
from .optiondefs import TEARDOWN_POLICIES, check_empty


def ci_variables(model: SitesFile, site_name: str, env: str) -> list[str]:
    """Return the CI variables a real site's deployment of ``env`` needs.

    One supervisor key per instance (:func:`pytest_jaws.sites.sitevars.key_variable`) and the secrets of
    its JAWS configuration files (:func:`pytest_jaws.sites.sitevars.secret_variable`), in that order.

    :raises KeyError: for an unknown site.
    """
    site = model.sites[site_name]
    return ([key_variable(site_name, env, i) for i in site.programs.by_instance()]
            + [secret_variable(site_name, env, n) for n in secrets_needed(config_kinds(site), site)])


def check_role_users(site_name: str, site: Site) -> None:
    """Check that this machine can run the site's roles as their users.

    :raises OptionsError: when a role user other than the current one is needed but pytest
        does not run as root (except for a role an operator starts), when pytest runs without
        root as a user who is not a member of another role's group (:mod:`pytest_jaws.host.perms`),
        or when a role user or group does not exist (naming the command
        that creates it).
    """
    current = getpass.getuser()
    for role in ROLES:
        spec = getattr(site.roles, role)
        if not spec.user or spec.user == current:
            continue
        try:
            pwd.getpwnam(spec.user)
        except KeyError:
            raise OptionsError(
                f"site {site_name!r} runs role {role} as user {spec.user!r}, which does not "
                f"exist on this machine; create it with: sudo scripts/create-users.sh "
                f"(or: useradd --system --user-group {spec.user})") from None
        if spec.group:
            try:
                grp.getgrnam(spec.group)
            except KeyError:
                raise OptionsError(
                    f"site {site_name!r}: group {spec.group!r} of role {role} does not exist; "
                    f"create it with: sudo scripts/create-users.sh (or: groupadd {spec.group})"
                ) from None
        needs_root = not spec.become or spec.become.split()[0] == "runuser"
        # an operator starts such an instance as its user; the harness only writes its files,
        # which without root it gives the role through the role's group (pytest_jaws.host.perms)
        if needs_root and os.geteuid() != 0 and spec.start != "operator":
            raise OptionsError(
                f"site {site_name!r} runs role {role} as user {spec.user!r}, which needs root "
                f"(pytest runs as {current!r}); run it as root, or use --jaws-site=local")
        problem = not_member(role, spec.user, spec.group)
        if problem:
            raise OptionsError(f"site {site_name!r}: {problem}")


def check_report_path(path: Path) -> None:
    """Check that the ``--jaws-report`` path is a file that can be written.

    Checked before anything is deployed.

    :raises OptionsError: naming the path and the problem.
    """
    path = path.absolute()
    if path.is_dir():
        raise OptionsError(f"--jaws-report {path} is a directory; give a file name, e.g. "
                           f"{path / 'jaws-report.json'}")
    parent = next((p for p in [path.parent, *path.parent.parents] if p.exists()), None)
    if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise OptionsError(f"--jaws-report {path}: cannot create files under {parent}; "
                           "choose a writable location")
    if path.exists() and not os.access(path, os.W_OK):
        raise OptionsError(f"--jaws-report {path} exists and is not writable")


def check_host(site_name: str, site: Site) -> None:
    """Check that a real site deploys only on its supervisor host.

    :raises OptionsError: naming the site's host and this one, and the alternatives.
    """
    if site.fake or site.supervisor_host in (None, "localhost", "127.0.0.1"):
        return
    here = {socket.gethostname(), socket.getfqdn()}
    here |= {name.split(".")[0] for name in here}
    if site.supervisor_host not in here and site.supervisor_host.split(".")[0] not in here:
        raise OptionsError(
            f"site {site_name!r} deploys on {site.supervisor_host} (sites.{site_name}."
            f"supervisor_host), and this machine is {socket.getfqdn()}; run it on that host's "
            "runner, or use --jaws-plan to see what it would do, or --jaws-fake to deploy its "
            "fake twin here")


def resolve(values: dict, rootdir: Path, check_users: bool = True) -> Settings:
    """Resolve raw values keyed by ini name (``jaws_site`` ...) into :class:`Settings`.

    :param check_users: check that this machine can become the role users (not for
        ``--jaws-plan``, which may show any site's plan anywhere).
    :raises OptionsError: unknown site or environment (valid names listed), invalid sites
        file (key path), bad port offset (the port it pushes out of range), missing users.
    """
    replaced: tuple[str, ...] = ()
    try:
        check_empty(values, None)
        sites_file = find_sites_file(values.get("jaws_sites_file"), rootdir)
        model = load_sites(sites_file)
        check_empty(values, model)
        site_name = values.get("jaws_site") or "local"
        site = select_site(model, site_name)
        envs = select_environments(model, values.get("jaws_env") or "dev")
    except SitesError as exc:
        raise OptionsError(str(exc)) from None
    allow_destructive = bool(values.get("jaws_allow_destructive"))
    if allow_destructive and "prod" in envs:
        raise OptionsError(
            "--jaws-allow-destructive with environment prod: checks that disturb service "
            "(marker jaws_destructive) never run on prod; leave prod out of --jaws-env, or "
            "drop --jaws-allow-destructive")
    source = values.get("jaws_source") or (
        None if site.fake or values.get("jaws_fake") else os.environ.get("CI_PROJECT_DIR"))
    play_operator = bool(values.get("jaws_play_operator"))
    if play_operator and not values.get("jaws_fake"):
        raise OptionsError(
            "--jaws-play-operator: only a fake twin (--jaws-fake) may play the operator; on a "
            f"{'real' if not site.fake else 'fake'} site the instances marked start: operator "
            "are started by a person, as the command the run prints says")
    jar = values.get("jaws_cromwell_jar")
    if values.get("jaws_fake") and not site.fake:
        python, java = None, "fake-java"
        if source:  # the real code: an interpreter of the site's version (checked to deploy)
            version = site.python_version or "3"
            python = resolve_python(values.get("jaws_python"), version, twin_users(site),
                                    site_name) if check_users else values.get("jaws_python")
            if jar:  # a real Cromwell needs a JDK on the role users' PATH
                if not shutil.which("java", path=ROLE_PATH):
                    raise OptionsError(f"--jaws-cromwell-jar {jar}: no java on the role users' "
                                       f"PATH ({ROLE_PATH}); install a JDK (Debian: "
                                       "default-jre-headless), or leave the option out to run "
                                       "the Cromwell stand-in")
                java = "java"
        model, replaced = fake_twin(model, site_name, source_given=bool(source), python=python,
                                    java=java)
        site = model.sites[site_name]
    elif values.get("jaws_python"):
        raise OptionsError("--jaws-python applies to a fake twin that runs a JAWS checkout "
                           "(--jaws-fake --jaws-source=PATH); leave it out here")
    if site.dependencies is not None and site.dependencies.start and check_users:
        missing = missing_programs(site.dependencies.start)
        if missing:
            names = {"mysql": "MariaDB", "rabbitmq": "RabbitMQ"}
            raise OptionsError(
                f"site {site_name!r} runs its own "
                f"{' and '.join(names[k] for k in site.dependencies.start)} for the run, "
                "and the server programs are not installed; install the Debian "
                f"package{'s' if len(missing) > 1 else ''} {' '.join(missing)} (apt-get install "
                f"{' '.join(missing)}), or give the servers by address in the sites file "
                f"(sites.{site_name}.dependencies.mysql / rabbitmq)")
    if source:
        if site.runtime != "venv":
            raise OptionsError(
                f"--jaws-source {source}: site {site_name!r} installs the fake checkout the fast "
                f"way (runtime {site.runtime}); build a checkout with --jaws-site=local-venv or "
                "a real site's fake twin (--jaws-fake)")
        try:
            check_source(Path(source))
        except SourceError as exc:
            raise OptionsError(str(exc)) from None
    if jar and not Path(jar).is_file():
        raise OptionsError(f"--jaws-cromwell-jar {jar}: no such file; give the path of the "
                           "Cromwell release jar")
    raw_offset = values.get("jaws_port_offset") or "0"
    if raw_offset == "auto":
        if not site.fake:
            raise OptionsError(f"--jaws-port-offset=auto: site {site_name!r} is a real site, "
                               "whose ports are fixed by the port table; use it with a fake site")
        offset = 0  # chosen (and locked) last, after every other check
    else:
        try:
            offset = int(raw_offset)
        except ValueError:
            raise OptionsError(f"--jaws-port-offset must be a whole number or auto, got "
                               f"{raw_offset!r}") from None
        if offset < 0:
            # a negative offset moves ports onto other rows of the port table (-2000 puts
            # central-rest on 3001, central-auth's documented port)
            raise OptionsError(f"--jaws-port-offset must be 0 or more (added to every port of "
                               f"the table), or auto; got {offset}")

    if offset and not site.fake:
        raise OptionsError(
            f"--jaws-port-offset {offset}: site {site_name!r} is a real site, whose ports are "
            "fixed by the port table; use the offset with a fake site only")
    try:
        for env in envs:
            shifted_ports(model, env, offset)
    except PlanError as exc:
        raise OptionsError(str(exc)) from None
    if check_users:
        check_host(site_name, site)
        check_role_users(site_name, site)
        if not site.fake and not source:
            raise OptionsError(
                f"site {site_name!r} installs JAWS from a checkout: run from the CI job of the "
                "JAWS repository ($CI_PROJECT_DIR is not set), or pass --jaws-source PATH")
    for env in envs:
        if not site.fake and check_users:
            for name in secrets_needed(config_kinds(site), site):
                variable = secret_variable(site_name, env, name)
                if not os.environ.get(variable):
                    raise OptionsError(
                        f"site {site_name!r} environment {env}: secret {name} of its JAWS "
                        f"configuration is not set; set the masked CI variable ${variable}")
                try:
                    check_secret(os.environ[variable], f"${variable}")
                except ValueError as exc:
                    raise OptionsError(str(exc)) from None
    for env in envs:
        for instance in site.programs.by_instance():
            variable = key_variable(site_name, env, instance)
            if variable in os.environ:
                try:
                    check_key(os.environ[variable], f"${variable}")
                except InvalidKeyError as exc:
                    raise OptionsError(str(exc)) from None
    teardown = values.get("jaws_teardown") or ("always" if site.fake else "never")
    if teardown not in TEARDOWN_POLICIES:
        raise OptionsError(f"--jaws-teardown {teardown!r}: use one of "
                           f"{', '.join(TEARDOWN_POLICIES)}")
    basedir = values.get("jaws_basedir")
    report = values.get("jaws_report")
    if report:
        check_report_path(Path(report))
    lock = None
    if site.dependencies is not None and site.dependencies.start and check_users:
        set_passwords(site_name, envs, site.dependencies.start)
    if raw_offset == "auto":
        try:
            offset, lock = portoffset.choose(model, envs, portoffset.recorded(
                Path(basedir).absolute() if basedir else None, envs), site.dependencies)
        except NoFreeOffset as exc:
            raise OptionsError(str(exc)) from None
    return Settings(model, site_name, tuple(envs), sites_file,
                    Path(basedir).absolute() if basedir else None, offset, teardown,
                    Path(report).absolute() if report else None, replaced,
                    Path(source).absolute() if source else None,
                    Path(jar).absolute() if jar else None,
                    allow_destructive=allow_destructive, offset_lock=lock,
                    play_operator=play_operator)
