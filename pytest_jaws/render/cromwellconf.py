"""``cromwell.conf`` as JAWS's test/integration/deploy-cromwell writes it (a pure function).

Cromwell's web service on 127.0.0.1 and the environment's (shifted) port; the system,
workflow-options, call-caching and docker sections; the ``LOCAL`` backend and the default
``JTM`` backend, whose runtime attributes carry the site's batch settings and whose ``submit``
and ``submit-docker`` call ``jtm --config=<jaws-jtm.conf> submit`` with every option
deploy-cromwell passes, the pool (``-p``) among them (jtm/jaws_jtm/jtm.py refuses a submit
without one); and the MySQL database. Values go into HOCON quoted strings (escaped) or into
the shell scripts Cromwell runs (quoted for the shell); a value that Cromwell's own
``${...}`` substitution or a triple-quoted string would change is refused.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from ..plan.depplan import database_name
from ..plan.planmodel import EnvironmentPlan
from ..sites.sites import Site
from ..sites.sitevars import jtm_credentials

#: The default pool of a jtm worker and of Cromwell's tasks ([JTM] pool_name in generate-configs,
#: ``poolname`` in deploy-cromwell's runtime attributes); :mod:`pytest_jaws.render.jawsconf` writes it too.
JTM_POOL = "small"
#: The [SLURM] defaults of a pool (generate-configs): nodes, cores, wall time, memory.
JTM_SLURM = {"nnodes": 1, "ncpus": 32, "jobtime": "00:30:00", "mempercpu": "1gb",
             "mempernode": "5gb"}
#: The JDBC options of Cromwell's database URL (deploy-cromwell).
JDBC_OPTIONS = ("rewriteBatchedStatements=true&useSSL=false&autoReconnect=true&useUnicode=true"
                "&useJDBCCompliantTimezoneShift=true&useLegacyDatetimeCode=false"
                "&serverTimezone=UTC")
#: Where a container mounts the site's reference data (deploy-cromwell).
REFDATA_MOUNT = "/refdata"


def _hocon(value: object) -> str:
    """Return ``value`` as a HOCON quoted string."""
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _plain(value: object, what: str) -> str:
    """Return ``value`` for a triple-quoted string Cromwell expands, or refuse it.

    :raises ValueError: naming ``what`` for a line break, ``${`` (Cromwell would substitute it)
        or a triple quote (it would end the string).
    """
    text = str(value)
    if "\n" in text or "\r" in text or "${" in text or '"""' in text:
        raise ValueError(f"{what} {text!r} cannot be written into cromwell.conf's scripts "
                         "(a line break, '${' or a triple quote)")
    return text


def _sh(value: object, what: str) -> str:
    """Return ``value`` as one shell word (quoted) for a script in cromwell.conf.

    :raises ValueError: as :func:`_plain`.
    """
    return shlex.quote(_plain(value, what))


def _wdl(value: object, what: str) -> str:
    """Return ``value`` as a WDL string literal of the runtime attributes."""
    return '"' + _plain(value, what).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _container_paths(plan: EnvironmentPlan, site: Site, jtm_scratch_base: Path) -> dict[str, str]:
    """Return the container wrapper, reference data and image directories of the site.

    test/integration/define-env: ``SITE_CONTAINERS_PULLDIR`` under the jtm scratch base,
    ``SITE_CONTAINERS_TMPDIR`` under the site's container temporary directory, both named
    ``<type>_files``; deploy-cromwell installs ``<type>_exec.sh`` into the install directory.
    """
    box = site.config.container
    base = {"base": plan.base}
    tmp = Path(box.tmpdir.format(**base)) if box.tmpdir else jtm_scratch_base
    return {
        "wrapper": str(plan.base / f"jaws-{plan.env}" / f"{box.type}_exec.sh"),
        "ref_data": box.ref_data.format(**base) if box.ref_data else
        str(jtm_scratch_base / "refdata"),
        "pull_dir": str(jtm_scratch_base / f"{box.type}_files"),
        "tmp_dir": str(tmp / f"{box.type}_files"),
    }


def _pull_and_exec(site: Site, paths: dict[str, str]) -> tuple[list[str], str]:
    """Return the lines that fetch a task's image and the command that runs the task in it.

    As deploy-cromwell chooses them by the site's container type: shifter looks the image up
    (pulling it when absent) and runs ``shifter_exec.sh <image> <refdata> /refdata <shell>
    <script>``; docker pulls it and runs ``docker_exec.sh <refdata> /refdata <cwd> <docker cwd>
    <image> <shell> <script>``; singularity pulls ``<image>.sif`` into the pull directory under
    a lock and runs ``singularity_exec.sh`` with that file in place of the image. The lines set
    ``task`` to the command, each word quoted (``printf %q``) for the jtm worker's shell, which
    runs it; the paths are quoted for the script's own shell.
    """
    kind = site.config.container.type
    lines = [f"wrapper={_sh(paths['wrapper'], 'container wrapper')}",
             f"refdata={_sh(paths['ref_data'], 'reference data directory')}"]
    fail = 'echo "cannot pull the image ${docker}" >&2; exit 1'
    if kind == "shifter":
        lines.append(f"shifterimg lookup ${{docker}} || shifterimg pull ${{docker}} || "
                     f"{{ {fail}; }}")
        words = '"$wrapper" "${docker}" "$refdata"'
    elif kind == "docker":
        lines.append(f"docker pull ${{docker}} || {{ {fail}; }}")
        words = '"$wrapper" "$refdata" "${cwd}" "${docker_cwd}" "${docker}"'
    else:
        tmp = _sh(paths["tmp_dir"], "container temporary directory")
        lines += [f"export {name}={tmp}" for name in (
            "SINGULARITY_CACHEDIR", "SINGULARITY_TMPDIR", "SINGULARITY_LOCALCACHEDIR")]
        lines += [f"export SINGULARITY_PULLFOLDER={_sh(paths['pull_dir'], 'container pull directory')}",
                  "IMAGE=$(echo ${docker} | tr '/:' '__').sif",
                  'mkdir -p "$SINGULARITY_CACHEDIR"',
                  'out=$(flock --exclusive --timeout 900 /tmp/singularity_pull_flock '
                  'singularity pull "$IMAGE" docker://${docker} 2>&1) || '
                  f'echo "$out" | grep -q exists || {{ {fail}; }}']
        words = '"$wrapper" "$refdata" "${cwd}" "${docker_cwd}" "$SINGULARITY_PULLFOLDER/$IMAGE"'
    words = words.replace('"$refdata"', f'"$refdata" {REFDATA_MOUNT}')
    lines.append(f"task=$(printf '%q ' {words} \"${{job_shell}}\" \"${{script}}\")")
    return lines, '"$task"'


def _submit(jtm_conf: Path, command: str, prelude: list[str]) -> str:
    """Return a ``submit``/``submit-docker`` script: ``jtm submit`` with the task's settings.

    The options are those deploy-cromwell passes (jtm/jaws_jtm/jtm.py ``submit``): the command,
    cluster, wall time, cores, memory, pool, nodes, workers per node, Cromwell's job name,
    account and sharing, then the constraint, QOS and partition where the task sets them.
    """
    return "\n".join([
        *prelude,
        "extra=''",
        '[ -z "${constraint}" ] || extra="$extra -C ${constraint}"',
        '[ -z "${qos}" ] || extra="$extra --qos ${qos}"',
        '[ -z "${partition}" ] || extra="$extra -P ${partition}"',
        f"jtm --config={_sh(jtm_conf, 'jaws-jtm.conf path')} submit -cmd {command} "
        "-cl ${cluster} -t ${time} -c ${cpu} -m ${memory_gb} -p ${poolname} -N ${node} "
        "-nwpn ${nwpn} -jid ${job_name} -A ${account} --shared ${shared} $extra",
    ])


def cromwell_conf(plan: EnvironmentPlan, site: Site, secrets: dict[str, str],
                  dirs: dict[str, Path]) -> str:
    """Return ``cromwell.conf`` as deploy-cromwell writes it.

    :param dirs: the environment's directories (:func:`pytest_jaws.render.jawsconf.config_dirs`).
    :param secrets: ``{"DB_PASSWORD": ...}`` (or ``JTM_DB_PASSWORD``: the jtm role's own,
        :func:`pytest_jaws.render.jawsconf.jtm_credentials`).
    :raises ValueError: for a value the file cannot hold (see the module docstring).
    """
    c, env = site.config, plan.env
    db_user, db_secret = jtm_credentials(site, "db")  # Cromwell is the jtm role's program
    jtm_conf = dirs["configs"] / "jaws-jtm.conf"
    jtm_base = dirs["jtm_scratch"].parent
    url = (f"jdbc:mysql://{c.db.host}:{c.db.port}/{database_name(site, 'cromwell', env)}"
           f"?{JDBC_OPTIONS}")
    cl = c.cluster
    attributes = [
        "String? docker",
        f"String time = {_wdl(JTM_SLURM['jobtime'], 'wall time')}",
        f"Int cpu = {JTM_SLURM['ncpus']}",
        "Float? memory_gb = 5",
        f"String cluster = {_wdl(plan.site_id.lower(), 'site id')}",
        f"String poolname = {_wdl(JTM_POOL, 'pool')}",
        f"String constraint = {_wdl(cl.constraint, 'cluster constraint')}",
        f"String qos = {_wdl(cl.qos, 'cluster QOS')}",
        f"String account = {_wdl(cl.account, 'cluster account')}",
        f"String partition = {_wdl(cl.partition, 'cluster partition')}",
        f"Int node = {JTM_SLURM['nnodes']}",
        "Int nwpn = 1",
        "Int shared = 0",
    ]
    prelude, in_container = _pull_and_exec(site, _container_paths(plan, site, jtm_base))
    submit = _submit(jtm_conf, "'/bin/bash ${script}'", [])
    submit_docker = _submit(jtm_conf, in_container, prelude)
    jtm = f"jtm --config={_sh(jtm_conf, 'jaws-jtm.conf path')}"
    return "\n".join([
        "# generated by pytest-jaws; JAWS: test/integration/deploy-cromwell",
        'include required(classpath("application"))',
        "webservice {",
        f"  port = {plan.port_table['cromwell']}",
        "  interface = 127.0.0.1",
        "}",
        "system {",
        "  abort-jobs-on-terminate = true",
        "  graceful-server-shutdown = true",
        "  workflow-restart = false",
        "  max-concurrent-workflows = 100000",
        "  max-workflow-launch-count = 100000",
        "  new-workflow-poll-rate = 1",
        "  number-of-workflow-log-copy-workers = 20",
        "  number-of-cache-read-workers = 50",
        "  job-rate-control {",
        "    jobs = 1",
        "    per = 1 second",
        "  }",
        "}",
        "workflow-options {",
        f"  workflow-log-dir = {_hocon(dirs['logs'] / 'cromwell-workflow-logs')}",
        "  workflow-log-temporary = false",
        '  workflow-failure-mode = "ContinueWhilePossible"',
        "  default {",
        "    workflow-type = WDL",
        '    workflow-type-version = "draft-2"',
        "  }",
        "}",
        "call-caching {",
        "  enabled = true",
        "  invalidate-bad-cache-result = true",
        "}",
        "docker {",
        "  hash-lookup {",
        "    enabled = false",
        "  }",
        "}",
        "backend {",
        '  default = "JTM"',
        "  providers {",
        "    LOCAL {",
        '      actor-factory = "cromwell.backend.impl.sfs.config.ConfigBackendLifecycleActorFactory"',
        "      config {",
        "        concurrent-job-limit = 0",
        "      }",
        "    }",
        "    JTM {",
        '      actor-factory = "cromwell.backend.impl.sfs.config.ConfigBackendLifecycleActorFactory"',
        "      config {",
        "        exit-code-timeout-seconds = 60",
        '        runtime-attributes = """',
        *(f"        {line}" for line in attributes),
        '        """',
        "        filesystems {",
        "          local {",
        '            localization = ["hard-link", "copy"]',
        "            caching {",
        '              duplication-strategy = ["hard-link", "copy"]',
        '              hashing-strategy = "xxh64"',
        "            }",
        "            http {}",
        "          }",
        "        }",
        f"        kill = {_hocon(jtm + ' kill -tid ${job_id}')}",
        f"        check-alive = {_hocon(jtm + ' isalive -tid ${job_id}')}",
        '        job-id-regex = "JTM task ID (\\\\d+)"',
        f'        submit = """\n{submit}\n"""',
        f'        submit-docker = """\n{submit_docker}\n"""',
        f"        dockerRoot = {_hocon(dirs['jtm_scratch'] / 'cromwell-executions')}",
        "      }",
        "    }",
        "  }",
        "}",
        "database {",
        '  profile = "slick.jdbc.MySQLProfile$"',
        "  db {",
        '    driver = "com.mysql.cj.jdbc.Driver"',
        f"    url = {_hocon(url)}",
        f"    user = {_hocon(db_user)}",
        f"    password = {_hocon(secrets[db_secret])}",
        "    connectionTimeout = 5000",
        "  }",
        "  insert-batch-size = 2000",
        "}",
        "",
    ])
