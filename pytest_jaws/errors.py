"""Every error pytest-jaws raises, in one hierarchy.

::

    JawsError
    ├── UsageError          bad input: options, sites file, plan, checkout; a pytest usage
    │   │                   error (exit status 4) before anything is deployed
    │   ├── OptionsError, SitesError, PlanError (UnsafeValueError), SourceError,
    │   └── InvalidKeyError, NoFreeOffset
    └── DeploymentError     deploying, using or tearing down an environment failed
        ├── PortBusyError (ForeignInstanceError, OperatorInstanceDown), DependencyError,
        ├── Cancelled, InstallError, TeardownError, RunLockBusy, HostLockBusy, SwitchError,
        │   UnsafePathError
        └── SupervisorError (InstanceNotRunning, InstanceAuthError, InstanceTimeout,
                             InstanceRestarting, StartError, ListenerMismatch)

Usage errors are also :class:`ValueError` and deployment errors :class:`RuntimeError`, as
each of them was before it moved here. Every message names the cause and what to do; keys
are masked by whoever shows it (:func:`pytest_jaws.keys.mask`). This module imports nothing
of the package: any module may raise these.
"""

from __future__ import annotations


class JawsError(Exception):
    """Base of every error pytest-jaws raises on purpose."""


# --- usage errors: bad input, found before anything is deployed ----------------------------


class UsageError(JawsError, ValueError):
    """Bad input (options, sites file, plan, checkout), shown as a pytest usage error.

    Exit status 4, naming the cause and what to do, before anything is deployed.
    """


class OptionsError(UsageError):
    """Option values that cannot be used; the message names the option and what to do."""


class SitesError(UsageError):
    """A sites file that cannot be used: missing, not YAML, or not valid against the model.

    The message names the file, the key path or line/column, and what was expected.
    """


class PlanError(UsageError):
    """A plan that cannot be made: bad port offset, unknown template variable, and so on."""


class UnsafeValueError(PlanError):
    """A value that supervisord would not read back unchanged from its configuration.

    A path, name, user, command or environment value. The message names the value, what it is,
    what supervisord would make of it, and what to do; a usage error before anything is
    deployed.
    """


class SourceError(UsageError):
    """A JAWS checkout that lacks a package directory (named in the message)."""


class InvalidKeyError(UsageError):
    """A key that supervisord cannot take (whitespace, empty, ``{SHA}`` prefix)."""


class NoFreeOffset(UsageError):
    """``--jaws-port-offset=auto``: every offset's table is in use or locked by another run.

    The message says so.
    """


# --- deployment errors: deploying, using or tearing down an environment --------------------


class DeploymentError(JawsError, RuntimeError):
    """Setup that cannot finish.

    The message names the program or port, its supervisor state, spawn error and the tail of its
    stderr log; keys are masked.
    """


class PortBusyError(DeploymentError):
    """Pre-flight: a port the environment needs is held by another process."""


class ForeignInstanceError(PortBusyError):
    """Something on an instance's port that is not this deployment's instance.

    A supervisord (or anything else) with another identifier, a refused key, another user.
    Nothing was changed.
    """


class OperatorInstanceDown(PortBusyError):
    """An instance that an operator starts (``start: operator``) is not running."""


class DependencyError(DeploymentError):
    """Pre-flight: MySQL or RabbitMQ cannot be used as the configuration files say.

    The message names the dependency, ``host:port``, the database or vhost and the cause;
    nothing of the environment was written or started.
    """


class Cancelled(DeploymentError):
    """The run was interrupted (SIGINT, SIGTERM or SIGHUP) while this environment was deploying."""


class InstallError(DeploymentError):
    """An install step failed: the message names the step, the package and the Python."""


class TeardownError(DeploymentError):
    """Processes of the deployment survived teardown (listed by PID)."""


class RunLockBusy(DeploymentError):
    """Another run holds the lock of a deployment directory.

    The message names its PID and command line.
    """


class HostLockBusy(DeploymentError):
    """A host-wide lock of pytest-jaws is held too long; the message names its holder."""


class SwitchError(DeploymentError):
    """The user switch did not work: ``could not become <user>: <reason>``."""


class UnsafePathError(DeploymentError):
    """A path that pytest-jaws refuses to use.

    A link where none may be, a directory owned by another user or writable by others, a
    non-regular file. The message says what to do.

    Found while deploying it fails the environment; found at start-up (a base directory, plan
    or report path given by option) the caller turns it into a usage error.
    """


class SupervisorError(DeploymentError):
    """A supervisord instance that does not answer as it should.

    The message names instance, port and environment.
    """


class InstanceNotRunning(SupervisorError):
    """Connection refused: nothing listens on the instance's port."""


class InstanceAuthError(SupervisorError):
    """HTTP 401: the key used does not match the instance's key."""


class InstanceTimeout(SupervisorError):
    """The instance accepted the connection but did not answer within the timeout."""


class InstanceRestarting(SupervisorError):
    """An instance kept restarting (SIGHUP, ``supervisorctl reload``) longer than a call waits."""


class StartError(SupervisorError):
    """``bin/supervisord -c <conf>`` failed (its output is in the message, keys masked)."""


class ListenerMismatch(SupervisorError):
    """The port is held by someone other than the instance's role user: nothing was sent."""


def message_of(exc: Exception) -> str:
    """Return how a failure reads in a message.

    The text of a :class:`JawsError` (it names its cause), ``TypeName: text`` of anything else
    (``KeyError: 'x'``). Not masked: the caller masks.
    """
    return str(exc) if isinstance(exc, JawsError) else f"{type(exc).__name__}: {exc}"
