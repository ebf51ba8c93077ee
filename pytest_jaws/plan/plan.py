"""The deployment plan of one environment: every path, port, user and command, as plain data.

A plan is computed from the validated site model (:mod:`pytest_jaws.sites.sites`) without touching
the machine, except to look up the current user name. It follows JAWS's own layout
(JGI-Bioinformatics/jaws ``test/integration/define-env``): per environment, under the install
base, ``jaws-supervisord-<env>/`` (the jaws and jtm supervisords), ``jaws-<env>/{configs,shims,
logs,site,jtm}`` and ``cromwell.jar``, and for central ``jaws-central-supervisord-<env>/`` and
``jaws-central-<env>/{configs,shims,logs,central}``. :mod:`pytest_jaws.render.render` turns a plan
into file contents; :mod:`pytest_jaws.deploy.deploy` applies it.
"""

from __future__ import annotations

import getpass
import shlex
import sys
from pathlib import Path

from ..errors import PlanError
from ..sites.sites import SitesFile
from ..sites.sitevars import key_variable, secret_variable, secrets_needed, shifted_ports
from .installspec import FAKE_CHECKOUT, CromwellPlan, VenvPlan
from .planmodel import ConfigPlan, EnvironmentPlan, InstancePlan, ProgramPlan

#: Environment variable set in every process a deployment starts (supervisord and, through
#: its ``environment=``, every program), so leftovers can be found again by PID.
MARKER_VARIABLE = "JAWS_DEPLOYMENT"
#: PATH of every process started as a role user (the caller's PATH is never passed on).
ROLE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: Environment variable naming the fake broker directory (fake sites only): the fake checkout's
#: RPC servers and clients meet there instead of on RabbitMQ.
FAKE_BROKER_VARIABLE = "JAWS_FAKE_BROKER"


def _become(template: str | None, user: str, current: str, site: str,
            role: str) -> tuple[str, ...]:
    if not template or user == current:
        return ()
    try:
        return tuple(shlex.split(template.format(user=user)))
    except (KeyError, IndexError, ValueError) as exc:
        raise PlanError(f"sites.{site}.roles.{role}.become: template {template!r} has an "
                        f"unknown variable {exc}; only {{user}} is known") from None


def _fill(template: str, values: dict, where: str) -> str:
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError) as exc:
        raise PlanError(f"{where}: unknown template variable {exc} in {template!r}; known: "
                        f"{', '.join('{' + k + '}' for k in values)}") from None


def _shim_name(program: str, instance: str, env: str) -> str:
    # JAWS names shims <program>-<env> (generate-shims) and central's jaws-central-<program>-<env>
    # (deploy-central), its programs being auth, rest and rpc.
    return f"{program}-{env}" if program.startswith("jaws-") else f"jaws-{instance}-{program}-{env}"


def _data_dirs(repo_base: str, jaws_scratch: Path, jtm_scratch: Path, install: Path,
               env: str) -> dict[Path, tuple[str, str, int, str]]:
    """Return JAWS's working directories, parents first: ``{path: (owner, reader, mode, JAWS)}``.

    test/integration/define-env (SITE_JAWS_SCRATCH_DIR, SITE_JTM_SCRATCH_DIR, SITE_UPLOADS_DIR,
    CROMWELL_EXECUTIONS_DIR, SITE_DATA_REPO_DIR, CROMWELL_WORKFLOW_LOGS_DIR) and the shims'
    permission steps (generate-shims: the daemon shim's chmod 2775 and set_jaws_acl, the jtm
    shim's chmod 2770/2775). Where the two scratch directories are one (one scratch base), the
    workload's (jtm) keeps it.
    """
    out: dict[Path, tuple[str, str, int, str]] = {}
    out[jaws_scratch] = ("jaws", "jtm", 0o2750, "define-env 770 and the daemon shim 2775, "
                         "jtm group")
    out[jtm_scratch] = ("jtm", "jaws", 0o2750, "define-env 775 and the jtm shim 2770, jtm group")
    # jaws-site receives the inputs (Globus), Cromwell (jtm) reads them; JAWS: 777 + ACLs
    out.setdefault(jaws_scratch / "inputs", ("jaws", "jtm", 0o2750, "define-env 777, the jtm "
                                             "shim 2775, the daemon shim setfacl rwx for the "
                                             "jaws, jtm and client groups"))
    # Cromwell (jtm) writes its executions, jaws-site reads the results; JAWS: 775 jtm group
    out.setdefault(jtm_scratch / "cromwell-executions", ("jtm", "jaws", 0o2750, "define-env "
                                                         "775, jtm group"))
    # jaws-site keeps the results there for the users to fetch; JAWS: 2775 client group + ACLs
    out.setdefault(Path(repo_base) / f"data-repository-{env}", (
        "jaws", "jtm", 0o2755, "define-env 2775, client group, and the daemon shim setfacl rwx "
        "for the jaws, jtm and client groups"))
    out.setdefault(install / "logs" / "jtm" / "cromwell-workflow-logs", (
        "jtm", "jaws", 0o2750, "define-env 770, jtm group"))
    return out


def make_plan(
    model: SitesFile,
    site_name: str,
    env: str,
    basedir: Path,
    *,
    port_offset: int = 0,
    python: str | None = None,
    current_user: str | None = None,
    source: Path | None = None,
    cromwell_jar: Path | None = None,
    play_operator: bool = False,
) -> EnvironmentPlan:
    """Compute the plan of one environment.

    :param basedir: the install base, the directories of sites.yaml's ``instances`` and
        ``venvs`` are created in it.
    :param port_offset: added to every port (fake sites only; the caller checks).
    :param python: interpreter for supervisord (default: the site's, else the running one).
    :param source: the JAWS checkout to build from (``--jaws-source``; default: the fake
        checkout on fake sites, the current directory, a CI checkout, on real ones).
    :param cromwell_jar: a Cromwell jar to put in place (``--jaws-cromwell-jar``).
    :param play_operator: start the operator's instances as their operator would
        (``--jaws-play-operator``; see :class:`EnvironmentPlan`).
    :raises PlanError: when the plan cannot be made (names the sites.yaml key).
    """
    site = model.sites[site_name]
    servers = None
    if site.dependencies is not None and site.dependencies.start:
        from .serverplan import run_site
        site, servers = run_site(site, list(model.ports).index(env), port_offset, env,
                                 base=Path(basedir).absolute(),
                                 marker=f"{site_name}/{env}:{Path(basedir).absolute()}")
    current = current_user or getpass.getuser()
    python = python or site.python or sys.executable
    ports = shifted_ports(model, env, port_offset)
    base = Path(basedir).absolute()
    if source is None:
        source = FAKE_CHECKOUT if site.fake else Path.cwd()
    scratch = _fill(site.config.scratch, {"base": base}, f"sites.{site_name}.config.scratch")
    jtm_scratch = _fill(site.config.jtm_scratch or site.config.scratch, {"base": base},
                        f"sites.{site_name}.config.jtm_scratch")
    jaws_scratch_dir = Path(scratch) / f"jaws-{env}"            # define-env SITE_JAWS_SCRATCH_DIR
    jtm_scratch_dir = Path(jtm_scratch) / f"jaws-{env}"         # define-env SITE_JTM_SCRATCH_DIR
    site_install = base / f"jaws-{env}"
    cromwell = model.cromwell_of(site_name)
    public = set(site.public_services)
    declared = {p: d.source for d in site.declared if d.behaviour == "binds-all-interfaces"
                for p in d.programs}
    values = {
        "log_level": model.log_levels[env], "java": site.java, "xmx": site.config.xmx,
        "cromwell_jar": site_install / "cromwell.jar",
        "cromwell_tmpdir": jtm_scratch_dir / "cromwell-tmp",   # define-env SITE_CROMWELL_TMPDIR
        "jtm_scratch": jtm_scratch_dir,
    }
    venvs = {}
    for venv_name, spec in model.venvs.items():
        role = "jtm" if venv_name == "jtm" else "jaws"
        venvs[venv_name] = VenvPlan(
            venv_name, base / _fill(spec.dir, {"env": env}, f"venvs.{venv_name}.dir"),
            tuple(spec.packages), role)
    instances: dict[str, InstancePlan] = {}
    log_dirs: dict[Path, str] = {}
    used_venvs: set[str] = set()
    for key, names in site.programs.by_instance().items():
        ispec = model.instances[key]
        role_spec = getattr(site.roles, ispec.role)
        user = role_spec.user or current
        directory = base / ispec.dir.format(env=env)
        install_dir = base / ispec.install.format(env=env)
        state_dir = directory / key
        # the jtm role writes its logs into a directory of its own (JAWS: one group-writable logs/)
        logs = install_dir / "logs" / ("jtm" if ispec.role == "jtm" else "")
        log_dirs.setdefault(Path(str(logs).rstrip("/")), ispec.role)
        here = dict(values, logs=Path(str(logs).rstrip("/")), configs=install_dir / "configs",
                    install=install_dir)
        programs = []
        for name in names:
            service = model.services[name]
            where = f"services.{name}"
            # split first, then fill: a path with spaces or quotes stays one argument
            command = tuple(_fill(token, here, f"{where}.command")
                            for token in shlex.split(service.command))
            override = site.overrides.get(name)
            if override and override.command:
                command = tuple(shlex.split(override.command))
            if override:
                command += tuple(override.args)
            startsecs = site.startsecs if site.startsecs is not None else service.startsecs
            used_venvs.add(service.venv)
            programs.append(ProgramPlan(
                name=name, instance=key, role=ispec.role,
                port=ports[service.port] if service.port else None,
                health_path=service.health, health_status=service.health_status,
                command=command, startsecs=startsecs, startretries=site.startretries,
                readysecs=(site.readysecs or 0.0) if startsecs == 0 else 0.0,
                stopwaitsecs=service.stopwaitsecs if not site.fake else 5,
                priority=service.priority,
                stdout_log=state_dir / "logs" / f"{name}.out.log",
                stderr_log=state_dir / "logs" / f"{name}.err.log",
                shim=install_dir / "shims" / _shim_name(name, key, env),
                venv=venvs[service.venv].path,
                environment=tuple((k, _fill(v, here, f"{where}.environment.{k}"))
                                  for k, v in service.environment.items()),
                workdir=Path(_fill(service.workdir, here, f"{where}.workdir"))
                if service.workdir else None,
                java_load=site.java_load if service.java else None,
                part=service.part, recovery=service.recovery,
                public=name in public or name in declared, declared=declared.get(name),
                java=service.java,
            ))
        iname = f"supervisord-{key}"
        instances[key] = InstancePlan(
            key=key, role=ispec.role, name=iname, env=env, port=ports[ispec.port],
            bind=site.bind, user=user, group=role_spec.group,
            become=_become(role_spec.become, user, current, site_name, ispec.role),
            identifier=ispec.identifier.format(env=env),
            process_group=ispec.group.format(env=env), username=f"{key}-{env}",
            key_variable=key_variable(site_name, env, key), directory=directory,
            install_dir=install_dir, conf=directory / ispec.conf,
            key_file=directory / f"{iname}.key", state_dir=state_dir,
            logfile=state_dir / "supervisord.log", pidfile=state_dir / "supervisord.pid",
            programs=tuple(programs), start=role_spec.start,
        )
    configs = []
    if "jaws" in instances:
        configs.append(ConfigPlan("jaws-site", site_install / "configs" / "jaws-site.conf", "jaws"))
    if "jtm" in instances:
        configs.append(ConfigPlan("jaws-jtm", site_install / "configs" / "jaws-jtm.conf", "jtm"))
        configs.append(ConfigPlan("cromwell", site_install / "configs" / "cromwell.conf", "jtm"))
    if "central" in instances:
        configs.append(ConfigPlan("jaws-central", instances["central"].install_dir / "configs"
                                  / "jaws-central.conf", "jaws"))
    from .depplan import plan_checks
    kinds = [c.kind for c in configs]
    secrets = {name: secret_variable(site_name, env, name)
               for name in secrets_needed(kinds, site)}
    # Cromwell by its role in the model (a service that runs the site's java on the Cromwell
    # jar), not by its name: a site may call it cromwell-server
    needs_cromwell = any(model.services[p.name].java or "{cromwell_jar}" in model.services[p.name].command
                         for i in instances.values() for p in i.programs)
    cromwell_plan = None
    if needs_cromwell:
        cromwell_plan = CromwellPlan(
            jar=site_install / "cromwell.jar", source=cromwell_jar, version=cromwell.version,
            sha256=cromwell.sha256, standin=site.fake and cromwell_jar is None, url=cromwell.url)
    repo = _fill(site.config.data_repo or scratch, {"base": base},
                 f"sites.{site_name}.config.data_repo")
    data_dirs = _data_dirs(repo, jaws_scratch_dir, jtm_scratch_dir,
                           site_install, env) if "jtm" in instances else {}
    scratch_dirs = []
    if "jaws" in instances or "jtm" in instances:
        scratch_dirs = [(jaws_scratch_dir, "jaws"), (jtm_scratch_dir, "jtm"),
                        (jtm_scratch_dir / "cromwell-tmp", "jtm")]
    first = next(iter(instances.values()))
    return EnvironmentPlan(
        site=site_name, site_id=site.site_id, env=env, fake=site.fake, base=base,
        directory=first.directory, python=python,
        marker=f"{site_name}/{env}:{base}", log_level=model.log_levels[env],
        instances=instances, runtime=site.runtime, python_load=site.python_load,
        deploying_user=current, port_table=ports, source=Path(source).absolute(),
        configs=tuple(configs),
        venvs={n: v for n, v in venvs.items() if n in used_venvs},
        cromwell=cromwell_plan, secrets=secrets,
        # one owner per directory: where JAWS's two scratch dirs coincide, the workload's (jtm)
        scratch_dirs=tuple(dict(scratch_dirs).items()),
        # a fake site with real dependencies does its RPC over the real broker
        broker=base / f"fake-broker-{env}" if site.fake and site.dependencies is None else None,
        locale=site.locale, dependencies=plan_checks(site, kinds, env), servers=servers,
        log_dirs=tuple(sorted(log_dirs.items())), spec=site, play_operator=play_operator,
        port_offset=port_offset,
        data_dirs=tuple((p, *v) for p, v in data_dirs.items()),
        peers={s.site_id: (site if s.site_id == site.site_id else s) for s in model.sites.values()
               if s.site_id in site.config.central_sites},
    )
