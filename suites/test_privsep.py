"""Privilege-separation suite.

Role users, a unique key per instance, authentication, protected files, and supervisord's own
warnings.

Checks that need two distinct role users are skipped, with the reason, on sites where both
roles are the same user; the key and authentication checks always run.
"""

import getpass
import os
import pwd
import re
import shlex
import stat
from pathlib import Path

import psutil
import pytest

from pytest_jaws.deploy import livelogs
from pytest_jaws.deploy.files import resolve_secrets, tail
from pytest_jaws.host import become, perms, processes, saferead
from pytest_jaws.host.supervisor import InstanceAuthError
from pytest_jaws.probes import fileaudit
from pytest_jaws.sites import sitevars

#: What supervisord logs when [inet_http_server] has no username/password.
NO_AUTH_LINE = "running without any HTTP authentication checking"
#: What supervisord logs when it stays root because no user= is configured.
ROOT_LINE = "Supervisor is running as root"
#: Names of the harness's environment variables that may hold a secret (CI variables too).
SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|^CI_|^GITLAB_", re.IGNORECASE)


def _role_user(settings, role):
    """Return the role's user as the site says (sites.yaml), not as the deployment did it."""
    spec = getattr(settings.model.sites[settings.site].roles, role)
    return spec.user or getpass.getuser()


def _need_distinct_users(settings, dep=None):
    """Skip, with the reason, on a site whose two roles are one user (as sites.yaml says).

    Also (``dep`` given) on one that runs no jtm instance next to a jaws-role one.
    """
    if dep is not None and ("jtm" not in dep.instances or len(dep.instances) < 2):
        pytest.skip(f"site {settings.site} runs no jtm-role instance beside a jaws-role one: "
                    "cross-role checks do not apply")
    jaws_user, jtm_user = _role_user(settings, "jaws"), _role_user(settings, "jtm")
    if jaws_user == jtm_user:
        pytest.skip(f"site {settings.site} runs both roles as user {jaws_user!r}: "
                    "user-distinctness checks do not apply")


def test_the_two_supervisords_run_as_distinct_users(jaws_deployment, jaws_settings):
    _need_distinct_users(jaws_settings, jaws_deployment)
    users = {key: psutil.Process(jaws_deployment.client(key).supervisor.getPID()).username()
             for key in jaws_deployment.instances}
    shared = [key for key, inst in jaws_deployment.instances.items()
              if inst.role == "jaws" and users[key] == users["jtm"]]
    assert not shared, (
        f"supervisord-jtm and {', '.join('supervisord-' + k for k in shared)} of "
        f"{jaws_deployment.env} all run as {users['jtm']!r}: the workload role could control "
        "the JAWS services")


def test_supervisord_and_its_programs_run_as_the_role_user(jaws_deployment, jaws_role,
                                                          jaws_settings):
    inst = jaws_deployment.instances[jaws_role]
    user = _role_user(jaws_settings, inst.role)
    client = jaws_deployment.client(jaws_role)
    names = {info["pid"]: info["name"] for info in client.supervisor.getAllProcessInfo()}
    pid = client.supervisor.getPID()
    names[pid] = inst.name
    wrong = [f"{names.get(p.pid, 'child')} (PID {p.pid}) runs as {p.username()!r}"
             for p in processes.descendants(pid) if p.username() != user]
    assert not wrong, (f"role {inst.role} must run as {user!r} ({inst.name} and all its "
                       "programs), but: " + "; ".join(wrong))


def test_call_without_credentials_is_refused(jaws_deployment, jaws_role):
    client = jaws_deployment.client(jaws_role, key=None)
    try:
        client.supervisor.getState()
    except InstanceAuthError:
        return
    pytest.fail(f"{client.where} answered an XML-RPC call without credentials: "
                "[inet_http_server] has no username/password (no HTTP authentication)")


def test_instance_keys_differ(jaws_deployment):
    keys = jaws_deployment.keys
    same = [(a, b) for a in keys for b in keys if a < b and keys[a] == keys[b]]
    assert not same, (
        f"{', '.join(f'supervisord-{a} and supervisord-{b}' for a, b in same)} of "
        f"{jaws_deployment.env} use the same key: each instance needs its own key (check the "
        "JAWS_SUPERVISOR_KEY_* variables; JAWS gives every instance one password)")


def test_jtm_key_is_refused_by_the_jaws_role_instances(jaws_deployment, jaws_settings):
    if "jtm" not in jaws_deployment.instances:
        pytest.skip(f"site {jaws_settings.site} runs no supervisord-jtm")
    jtm = jaws_deployment.instances["jtm"]
    for key, inst in jaws_deployment.instances.items():
        if inst.role != "jaws":
            continue
        for username in (inst.username, jtm.username):
            client = jaws_deployment.client(key, key=jaws_deployment.keys["jtm"],
                                            username=username)
            try:
                client.supervisor.getState()
            except InstanceAuthError:
                continue
            pytest.fail(f"{client.where} accepted the jtm instance's key (user {username!r}): "
                        "the workload role can control the JAWS services")


def _jaws_configs(dep, role):
    """Return the JAWS configuration files (with secrets) of ``role``."""
    return [c.path for c in dep.plan.configs if c.role == role]


def test_config_and_key_are_protected(jaws_deployment, jaws_role):
    """Check owner, group and mode are as the runner's privileges give them.

    pytest_jaws.host.perms: the role user's, 0600, as root; the runner's with the role's group,
    0640, without root; never anything for others.
    """
    inst = jaws_deployment.instances[jaws_role]
    problems = []
    mine = [c for c in _jaws_configs(jaws_deployment, inst.role) if c.parent.parent == inst.install_dir]
    for path in (inst.conf, inst.key_file, *mine):
        try:
            st = path.stat()
        except FileNotFoundError:
            problems.append(f"{path} does not exist: the deployment did not write it, or it "
                            "was removed (deploy again)")
            continue
        want = perms.perm(jaws_deployment.plan, inst.role, "secret", 0o600)
        found = (_name(st.st_uid), _group(st.st_gid))
        jaws = fileaudit.jaws_script(jaws_deployment.plan, path)  # on a real site
        if found != (want.owner, want.group):
            problems.append(f"{path} is owned by {':'.join(found)}, expected "
                            f"{want.owner}:{want.group}{jaws}")
        if st.st_mode & 0o007:
            problems.append(f"{path} has mode {stat.filemode(st.st_mode)} "
                            f"({oct(st.st_mode & 0o777)}): others may access it; expected "
                            f"{want.mode:04o}{jaws}")
    assert not problems, "; ".join(problems)


def test_no_file_holding_a_key_or_secret_is_readable_by_another_user(jaws_deployment):
    """Check every file of the deployment, whoever wrote it, for keys and secrets others may read.

    Configurations and their ``<file>.<timestamp>`` backups, JAWS's own files of an adopted
    site (``supervisord-cwl-backend.conf`` with the shared password): a file holding a key may
    be read by its role user and the runner only (pytest_jaws.probes.fileaudit).
    """
    problems = fileaudit.exposed_secrets(jaws_deployment.plan, jaws_deployment.keys)
    assert not problems, "; ".join(problems)


def test_what_the_roles_run_is_writable_by_no_other_user(jaws_deployment):
    """Check bin/, shims, venvs and configuration directories by owner, group and mode.

    Whoever wrote them: a user other than the owner and the runner who may write one (through
    its group, JAWS's jtm group of 770 directories, or as everyone) could change what a role
    runs.
    """
    problems = fileaudit.writable_by_other_roles(jaws_deployment.plan)
    assert not problems, "; ".join(problems)


def test_no_directory_is_world_writable_beyond_what_jaws_needs(jaws_deployment):
    """Check that no directory of the deployment is writable by every user.

    pytest-jaws needs none (JAWS makes its inputs directory 777: test/integration/define-env;
    pytest-jaws does not make it).
    """
    problems = fileaudit.world_writable_dirs(jaws_deployment.plan, needed={})
    assert not problems, "; ".join(problems)


def test_jaws_working_directories_are_made_stricter_than_jaws(jaws_deployment):
    """Check JAWS's working directories (define-env) have the planned owner, group and mode.

    The scratch directories, inputs, cromwell-executions, the data repository and Cromwell's
    workflow logs: JAWS opens them to its jtm group or to everyone (777, 775, 2775, ACLs);
    pytest-jaws gives each to the role that writes it, readable through the group of the role
    that reads it (pytest_jaws.host.perms.data_dir). Each finding says what JAWS makes of it.
    """
    plan = jaws_deployment.plan
    problems = []
    for path, owner, reader, mode, jaws in plan.data_dirs:
        want = perms.data_dir(plan, owner, reader, mode)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            problems.append(f"{path} does not exist (JAWS: {jaws}; planned {want.text()})")
            continue
        found = (_name(st.st_uid), _group(st.st_gid), stat.S_IMODE(st.st_mode))
        if found != (want.owner, want.group, want.mode):
            problems.append(f"{path} is {found[0]}:{found[1]} {found[2]:04o}, planned "
                            f"{want.text()} (written by role {owner}, read by role {reader}; "
                            f"JAWS: {jaws}, which pytest-jaws does not copy)")
    assert not problems, "; ".join(problems)


def test_each_role_reaches_the_working_directories_it_needs(jaws_deployment):
    """Check, as the role users, that the reader of each working directory can read it.

    For real: Cromwell (jtm) reads the inputs jaws-site receives, jaws-site the executions
    Cromwell writes; the writing role can write its own.
    """
    dep = jaws_deployment
    others = _other_role_users(dep)
    problems = []
    for path, owner, reader, _mode, _jaws in dep.plan.data_dirs:
        for role, test, what in ((reader, "-r", "read"), (owner, "-w", "write")):
            if role not in others:
                continue
            inst = others[role]
            done = _as_role(inst, f"[ -x {shlex.quote(str(path))} ] && "
                                  f"[ {test} {shlex.quote(str(path))} ] || echo no")
            if done.stdout.strip():
                problems.append(f"{inst.user} (role {role}) cannot {what} {_describe(path)}")
    assert not problems, "; ".join(problems)


def _group(gid):
    import grp
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _other_role_users(dep):
    """Return ``{role: instance}`` of the roles whose user is not the one running pytest.

    The runner owns what it deploys. Skip, with the reason, when there is none.
    """
    me = getpass.getuser()
    out = {}
    for inst in dep.instances.values():
        if inst.user != me:
            out.setdefault(inst.role, inst)
    if not out:
        pytest.skip(f"every role of {dep.plan.site} runs as {me!r}, who deploys: no other role "
                    "user to check")
    return out


def _as_role(inst, code):
    """Run ``sh -c code`` as the instance's role user, the switch proven first.

    Fails with "could not become <user>: <reason>", never passes because the switch failed.
    """
    try:
        become.prove(inst.become, inst.user)
    except become.SwitchError as exc:
        pytest.fail(f"role {inst.role}: {exc}", pytrace=False)
    return become.run_as(inst.become, ["/bin/sh", "-c", code])


def _describe(path):
    st = os.lstat(path)
    return (f"{path} (owner {_name(st.st_uid)}, group {_group(st.st_gid)}, mode "
            f"{stat.filemode(st.st_mode)})")


def _entries(directory):
    """Return what is in ``directory`` (nothing when it does not exist)."""
    try:
        return list(directory.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []


def _deployed_not_role_owned(dep):
    """List what only the runner, or the one role owning a secret, may change.

    bin/, shims/, configs/, the venvs, the wheelhouse and supervisor's copy with what is in
    them (bin/ of a venv), and every supervisord configuration, key and JAWS configuration file.
    """
    plan = dep.plan
    from pytest_jaws.install.installsteps import wheelhouse
    paths = []
    for directory in plan.directories:
        paths += [directory, directory / "bin", *_entries(directory / "bin")]
    for inst in plan.instances.values():
        shims = inst.install_dir / "shims"
        paths += [inst.install_dir, shims, *_entries(shims), inst.install_dir / "configs",
                  inst.conf, inst.key_file]
    paths += [c.path for c in plan.configs]
    for extra in (plan.libdir, plan.bootstrap_venv, wheelhouse(plan),
                  *(v.path for v in plan.venvs.values())):
        if extra is not None and extra.exists():
            paths += [extra, *extra.glob("*"), *(extra / "bin").glob("*")]
    return list(dict.fromkeys(p for p in paths if p.exists() or p.is_symlink()))


def test_no_role_can_write_bin_shims_venvs_or_configs_it_does_not_own(jaws_deployment):
    """Check, as each role user other than the runner, that it cannot write what it does not own.

    For real: nothing of bin/, shims/, the venvs, the wheelhouse or the configurations is
    writable unless that user owns it (JAWS makes them group-writable for the jtm group:
    test/integration/deploy-supervisord, generate-venvs, generate-configs; pytest-jaws does not).
    """
    dep = jaws_deployment
    paths = _deployed_not_role_owned(dep)
    problems = []
    for role, inst in _other_role_users(dep).items():
        uid = pwd.getpwnam(inst.user).pw_uid
        candidates = [p for p in paths if os.lstat(p).st_uid != uid]
        quoted = " ".join(shlex.quote(str(p)) for p in candidates)
        done = _as_role(inst, f'for p in {quoted}; do [ -w "$p" ] && echo "$p"; done; true')
        problems += [f"{_describe(p)} is writable by {inst.user} (role {role}), who does not "
                     f"own it{fileaudit.jaws_script(dep.plan, Path(p))}"
                     for p in done.stdout.splitlines() if p]
    assert not problems, "; ".join(problems)


def test_each_role_can_read_its_own_config_and_key(jaws_deployment):
    """Check, as each role user other than the runner, that it can read its own secrets.

    For real: its supervisord configuration and key and its JAWS configuration files (as root
    they are its own; without root they reach it through its group, pytest_jaws.host.perms).
    """
    dep = jaws_deployment
    problems = []
    for role, inst in _other_role_users(dep).items():
        own = [p for i in dep.instances.values() if i.role == role
               for p in (i.conf, i.key_file)] + _jaws_configs(dep, role)
        quoted = " ".join(shlex.quote(str(p)) for p in own)
        done = _as_role(inst, f'for p in {quoted}; do [ -r "$p" ] || echo "$p"; done; true')
        problems += [f"{inst.user} (role {role}) cannot read its own {_describe(p)}"
                     for p in done.stdout.splitlines() if p]
    assert not problems, "; ".join(problems)


def _name(uid):
    return pwd.getpwuid(uid).pw_name


def _as_jtm(dep, code):
    """Run ``sh -c code`` as the jtm user, with a minimal environment.

    This run's own environment may hold CI secrets, which a jtm process must never see; no
    terminal, stdin closed. The switch is proven first (``id -un`` prints the jtm user): the check
    fails with "could not become <user>: <reason>" otherwise, never passes because the switch
    failed.
    """
    jtm = dep.instances["jtm"]
    try:
        become.prove(jtm.become, jtm.user)
    except become.SwitchError as exc:
        pytest.fail(f"role jtm: {exc}", pytrace=False)
    return become.run_as(jtm.become, ["/bin/sh", "-c", code])


def test_jtm_user_cannot_read_the_jaws_config_or_key(jaws_deployment, jaws_settings):
    _need_distinct_users(jaws_settings, jaws_deployment)
    paths = [p for inst in jaws_deployment.instances.values() if inst.role == "jaws"
             for p in (inst.conf, inst.key_file)] + _jaws_configs(jaws_deployment, "jaws")
    for path in paths:
        done = _as_jtm(jaws_deployment, f"cat {path} > /dev/null")
        assert done.returncode != 0, (
            f"user {jaws_deployment.instances['jtm'].user!r} (role jtm) can read {path}")


def test_jtm_user_cannot_write_into_jaws_directories(jaws_deployment, jaws_settings):
    _need_distinct_users(jaws_settings, jaws_deployment)
    dirs = [d for inst in jaws_deployment.instances.values() if inst.role == "jaws"
            for d in (inst.state_dir, inst.state_dir / "logs", inst.directory,
                      inst.install_dir / "shims", inst.install_dir / "configs")]
    dirs += [v.path / "bin" for v in jaws_deployment.plan.venvs.values()]
    for directory in dict.fromkeys(dirs):
        probe = directory / f".jtm-write-probe-{os.getpid()}"
        done = _as_jtm(jaws_deployment, f"touch {probe}")
        probe.unlink(missing_ok=True)
        assert done.returncode != 0, (
            f"user {jaws_deployment.instances['jtm'].user!r} (role jtm) can write into {directory}")


def _log_text(dep, role) -> tuple[str, object]:
    """Read the instance's supervisord log as a role-owned file is read: ``(text, path)``.

    Its real log (an adopted instance's own, pytest_jaws.deploy.livelogs); no link, no FIFO, at most
    its 5 MB of logfile_maxbytes. A log the instance never wrote (deleted, or its
    configuration logs elsewhere) skips the check, naming the file: it has nothing to read.
    """
    path = livelogs.instance_log(dep, role)
    try:
        return saferead.read_file(path, 6 << 20).decode("utf-8", "replace"), path
    except FileNotFoundError:
        pytest.skip(f"{dep.instances[role].name} has no log at {path} (the deployment did not "
                    "write it, or it was removed): nothing to check")


def test_supervisord_log_has_no_authentication_warning(jaws_deployment, jaws_role):
    inst = jaws_deployment.instances[jaws_role]
    text, path = _log_text(jaws_deployment, jaws_role)
    lines = [ln for ln in text.splitlines() if NO_AUTH_LINE in ln]
    assert not lines, f"{inst.name} runs without HTTP authentication: {path}: {lines[0]}"


def test_supervisord_does_not_stay_root(jaws_deployment, jaws_role, jaws_settings):
    inst = jaws_deployment.instances[jaws_role]
    site = jaws_settings.model.sites[jaws_deployment.plan.site]
    if getattr(site.roles, inst.role).user is None and inst.user == "root":
        pytest.skip(f"role {inst.role} runs as the invoking user, root (site "
                    f"{jaws_deployment.plan.site} run by root): there is no other user to drop to")
    text, path = _log_text(jaws_deployment, jaws_role)
    lines = [ln for ln in text.splitlines() if ROOT_LINE in ln]
    assert not lines, f"{inst.name} stays root without user=: {path}: {lines[0]}"


def test_supervisor_is_recent(jaws_deployment, jaws_role):
    version = jaws_deployment.client(jaws_role).supervisor.getSupervisorVersion()
    parts = tuple(int(x) for x in version.split(".")[:2])
    assert parts >= (4, 3), (
        f"{jaws_deployment.instances[jaws_role].name} runs supervisor {version}; "
        "4.3 or newer is required (4.2 breaks on setuptools 82, <3.3.3 has CVE-2017-11610)")


def _need_jtm_shell(dep):
    """Prove that this run can run commands as the jtm user.

    Fail (never skip, never pass) with "could not become <user>: <reason>" when it cannot.
    """
    _as_jtm(dep, "true")


def _environ_as_jtm(dep, pid):
    """``/proc/<pid>/environ`` read by the jtm user (None when it cannot), as a dict."""
    done = _as_jtm(dep, f"cat /proc/{pid}/environ")
    if done.returncode != 0:
        return None
    return dict(item.split("=", 1) for item in done.stdout.split("\0") if "=" in item)


def test_jtm_processes_hold_no_key_and_no_secret_of_the_harness(jaws_deployment, jaws_settings):
    dep = jaws_deployment
    if "jtm" not in dep.instances:
        pytest.skip(f"site {jaws_settings.site} runs no supervisord-jtm")
    _need_jtm_shell(dep)
    harness = {k: v for k, v in os.environ.items() if SECRET_NAME.search(k) and v}
    pid = dep.client("jtm").supervisor.getPID()
    problems = []
    for proc in processes.descendants(pid):
        env = _environ_as_jtm(dep, proc.pid)
        for name, value in (env or {}).items():
            if name.startswith("JAWS_SUPERVISOR_KEY_"):
                problems.append(f"PID {proc.pid} has {name}")
            elif any(dep.keys[k] in value for k, i in dep.instances.items() if i.role == "jaws"):
                problems.append(f"PID {proc.pid} holds the key of a jaws-role supervisord in "
                                f"{name}")
            elif harness.get(name) == value:
                problems.append(f"PID {proc.pid} has {name} of the harness's environment")
    assert not problems, ("processes of role jtm can read secrets in their environment "
                          "(/proc/<pid>/environ): " + "; ".join(problems))


def test_jtm_role_holds_no_password_of_the_jaws_role(jaws_deployment, jaws_settings):
    """Check, as the jtm user, that its configuration files hold no password of the jaws role.

    jtm and Cromwell take a user and password of their own (jtm reads both from each of its
    ``[MYSQL]``, ``[RMQ]``, ``[SITE_RPC_CLIENT]`` and ``[JTM_RPC_SERVER]`` sections:
    jtm/jaws_jtm/lib/rabbitmqconnection.py, jtm_manager.py) where the site names the jtm
    role's user (sites.yaml ``config.db.jtm_user``, ``config.site_rmq.jtm_user``). A password
    of the jaws role that no jtm program reads is a failure. JAWS's own layout, which gives the
    jtm role the jaws role's database and broker passwords (test/integration/generate-configs
    writes the one JAWS_DB_PW and <SITE>_RMQ_PW into both roles' files), is reported as an
    expected failure naming the sites.yaml key that ends it.
    """
    dep = jaws_deployment
    _need_distinct_users(jaws_settings, dep)
    plan = dep.plan
    held = sitevars.role_secrets(plan.spec, [c.kind for c in plan.configs])
    values = resolve_secrets(plan)
    files = [c.path for c in plan.configs if c.kind in sitevars.JTM_KINDS]
    done = _as_jtm(dep, "cat " + " ".join(shlex.quote(str(p)) for p in files))
    assert done.returncode == 0, f"the jtm user cannot read its own files: {done.stderr[:300]}"
    found = {name for name in held["jaws"] if values[name] in done.stdout}
    names = ", ".join(p.name for p in files)
    # read by no program of the jtm role; a value the jtm role holds under a name of its own is
    # that secret (one broker serving central and the site, one user: the run-started RabbitMQ
    # gives RMQ_PASSWORD and SITE_RMQ_PASSWORD one value, pytest_jaws/deploy/serverpasswords.py)
    own = {values[n] for n in held["jtm"] if n in values}
    leaked = sorted(n for n in found - held["jtm"] if values[n] not in own)
    assert not leaked, (f"the jtm role's files ({names}) hold the value of the jaws role's "
                        f"{', '.join(leaked)}, which no program of the jtm role reads")
    shared = sorted(found & held["jtm"])  # the site's layout: no jtm user of its own
    why = {"DB_PASSWORD": "config.db.jtm_user", "SITE_RMQ_PASSWORD": "config.site_rmq.jtm_user"}
    if shared:
        pytest.xfail(f"JAWS's layout: the jtm role's files ({names}) hold the jaws role's "
                     + ", ".join(shared) + f"; site {plan.site} names no jtm user of its own "
                     "(sites.yaml " + ", ".join(f"sites.{plan.site}.{why.get(n, n)}" for n in shared)
                     + "); JAWS's test/integration/generate-configs writes one JAWS_DB_PW and "
                     "<SITE>_RMQ_PW into both roles' files")


def test_jtm_user_cannot_change_what_the_jaws_role_runs(jaws_deployment, jaws_settings):
    _need_distinct_users(jaws_settings, jaws_deployment)
    _need_jtm_shell(jaws_deployment)
    plan = jaws_deployment.plan
    paths = []
    for inst in plan.instances.values():
        if inst.role != "jaws":
            continue
        shims = inst.install_dir / "shims"
        paths += [inst.directory, inst.directory / "bin", *_entries(inst.directory / "bin"),
                  inst.install_dir, shims, *_entries(shims), inst.install_dir / "configs",
                  inst.conf, inst.key_file]
    paths += [c.path for c in plan.configs if c.role == "jaws"]
    for extra in (plan.libdir, plan.bootstrap_venv,
                  *(v.path for v in plan.venvs.values() if v.role == "jaws")):
        if extra is not None and extra.exists():
            paths += [extra, *(extra / "bin").glob("*")]
    checks = " ".join(f"'{p}'" for p in dict.fromkeys(paths))
    done = _as_jtm(jaws_deployment, f'for p in {checks}; do [ -w "$p" ] && echo "$p"; done; true')
    writable = [p + fileaudit.jaws_script(plan, Path(p)) for p in done.stdout.split()]
    assert not writable, (f"user {jaws_deployment.instances['jtm'].user!r} (role jtm) can "
                          f"change what the jaws role runs: {', '.join(writable)} writable")


def test_a_jtm_log_cannot_make_the_harness_read_another_file(jaws_deployment, jaws_settings):
    dep = jaws_deployment
    if "jtm" not in dep.instances or "jaws" not in dep.instances:
        pytest.skip(f"site {jaws_settings.site} runs no supervisord-jtm beside supervisord-jaws")
    _need_jtm_shell(dep)
    probe = dep.instances["jtm"].state_dir / "logs" / f".pytest-jaws-probe-{os.getpid()}.log"
    shown = []
    try:
        for plant in (f"ln -s {dep.instances['jaws'].key_file} {probe}",
                      f"ln -s /proc/self/environ {probe}", f"mkfifo {probe}"):
            _as_jtm(dep, f"rm -f {probe}; {plant}")
            text = tail(probe)
            if text and not text.startswith("(not shown"):
                shown.append(plant)
            assert dep.keys["jaws"] not in text
    finally:
        _as_jtm(dep, f"rm -f {probe}")
    assert not shown, ("a log of role jtm made the harness read another file: "
                       + "; ".join(shown))
