"""
The execution module's settings: every key under ``vcd_cell:`` with its default, read once per call
through ``config.get`` (minion config, grains, pillar) and checked before anything runs.
"""

import os
import shlex

from salt.exceptions import SaltInvocationError

import _vcd_cell_values as valid

DEFAULTS = {
    "cmt_path": "/opt/vmware/vcloud-director/bin/cell-management-tool",
    "cell_script": "/opt/vmware/vcloud-director/bin/vmware-vcd-cell",
    "pid_command": None,
    "username": "administrator",
    "password": None,
    "auth": None,
    "api_url": None,
    "group_api_url": None,
    "api_verify": True,
    "api_version": None,
    "cli_timeout": 300,
    "cell_name": None,
    "event_interval": 5,
    "installer": None,
    "upgrade_tool": "/opt/vmware/vcloud-director/bin/upgrade",
    "version_command": "rpm -q --queryformat %{VERSION} vmware-vcloud-director-distribution",
    "install_timeout": 3600,
    "db_upgrade_timeout": 7200,
    # A vCD appliance: its management API (its presence makes the cell an appliance), the node's name
    # in the database cluster (default: cell_name) and its host's tools.
    "appliance_api_url": None,
    "appliance_user": "root",
    "appliance_password": None,
    "appliance_verify": True,
    "appliance_node": None,
    "vamicli": "vamicli",
    "update_repo": "file:///tmp/local-update-package",
    "backup_command": "/opt/vmware/appliance/bin/create-backup.sh",
    "reboot_command": "shutdown -r now",
    # The host's boot id, new at each boot: how a reboot is seen done.
    "boot_id_command": "cat /proc/sys/kernel/random/boot_id",
    # The NFS transfer share every cell of the group mounts (the precheck reads it).
    "transfer_share": "/opt/vmware/vcloud-director/data/transfer",
    # Where the installer unpacks (its temporary directory), and an appliance's database (the
    # embedded PostgreSQL's data): the precheck reads the free space of both.
    "unpack_dir": "/tmp",
    "database_dir": "/var/vmware/vpostgres",
    # Where the quiesce lease and the drain's claim live (default: see lease_dir()).
    "lease_dir": None,
}
# The cachedir of a salt-minion or salt-call installed the usual way: the lease directory a salt-ssh run
# shares with them by default, as its own cachedir is inside its thin directory.
MINION_CACHEDIR = "/var/cache/salt/minion"
SECRETS = ("password", "appliance_password")
REDACTED = "******"


class Settings:
    """
    Every knob of the module, read once per call; ``repr`` never shows the password. ``salt`` and
    ``opts`` are the calling module's ``__salt__`` and ``__opts__``: the machinery runs Salt's functions
    (``cmd.run_all``, ``event.send``) and reads the minion's options through them.
    """

    def __init__(self, values, salt=None, opts=None):
        self.__dict__.update(values)
        self.salt = salt
        self.opts = opts if opts is not None else {}

    def __repr__(self):
        shown = {
            k: (REDACTED if k in SECRETS and v else v) for k, v in self.__dict__.items() if k not in ("salt", "opts")
        }
        return f"_Settings({shown})"

    @property
    def minion_id(self):
        return self.opts.get("id")

    @property
    def masterless(self):
        return masterless(self.opts)

    @property
    def appliance(self):
        """Whether the cell is a vCD appliance (its management API is configured)."""
        return bool(self.appliance_api_url)

    def redact(self, text):
        """``text`` with the passwords blanked out, for anything shown to a person."""
        for secret in (self.password, self.appliance_password):
            if secret and text:
                text = str(text).replace(secret, REDACTED)
        return text


def masterless(opts):
    """
    No master to talk to, as Salt's ``event.send`` judges it: ``salt-call --local``, a local file client
    or ``master_type: disable``, unless ``use_master_when_local`` says the master is still there.
    """
    local = bool(opts.get("local")) or opts.get("file_client") == "local" or opts.get("master_type") == "disable"
    return local and not opts.get("use_master_when_local")


def over_ssh(opts):
    """
    Whether salt-ssh runs this call: its shim starts ``salt-call --local -c <thin_dir>``, whose options
    set ``root_dir`` to ``<thin_dir>/running_data``. There is no master's bus to reach.
    """
    conf_dir = os.path.dirname(str(opts.get("conf_file") or ""))
    return bool(conf_dir) and os.path.normpath(str(opts.get("root_dir") or "")) == os.path.join(
        conf_dir, "running_data"
    )


def lease_dir(salt, opts):
    """
    The directory of the quiesce lease and the drain's claim: ``vcd_cell:lease_dir``, else
    ``<cachedir>/vcd_cell``, where a salt-ssh run takes the usual minion cachedir (not its thin
    directory's), so that one drain per cell holds across the minion, salt-call and salt-ssh.
    """
    configured = salt["config.get"]("vcd_cell:lease_dir", None)
    if configured is not None:
        return valid.absolute_path("vcd_cell:lease_dir", configured)
    cachedir = MINION_CACHEDIR if over_ssh(opts) else opts.get("cachedir", MINION_CACHEDIR)
    return os.path.join(cachedir, "vcd_cell")


def lease_only(salt, opts):
    """The settings the lease alone needs (its directory), for calls that touch nothing else."""
    return Settings({"lease_dir": lease_dir(salt, opts)}, salt, opts)


def command(argv):
    """A command given as a string or a list, as an argument list."""
    return shlex.split(argv) if isinstance(argv, str) else [str(part) for part in argv]


def _read_appliance(values):
    """The appliance keys, checked; they matter only when ``appliance_api_url`` is set."""
    values["appliance_password"] = values["appliance_password"] or None
    values["appliance_api_url"] = (values["appliance_api_url"] or "").rstrip("/") or None
    values["appliance_node"] = values["appliance_node"] or values["cell_name"]
    if not isinstance(values["appliance_verify"], (bool, str)):
        raise SaltInvocationError("vcd_cell:appliance_verify must be true, false or the path of a CA bundle")
    for key in ("vamicli", "update_repo", "backup_command", "boot_id_command"):
        valid.text(f"vcd_cell:{key}", values[key])
    reboot = values["reboot_command"]
    if not reboot or not isinstance(reboot, (str, list)):
        raise SaltInvocationError(f"vcd_cell:reboot_command must be a command, as a string or a list, not {reboot!r}")
    values["reboot_command"] = command(reboot)
    values["backup_command"] = command(values["backup_command"])
    values["boot_id_command"] = command(values["boot_id_command"])


def read(salt, opts):
    """The settings of this minion, checked; a SaltInvocationError names the key that is wrong."""
    values = {key: salt["config.get"](f"vcd_cell:{key}", default) for key, default in DEFAULTS.items()}
    values["password"] = values["password"] or None
    values["api_url"] = (values["api_url"] or "").rstrip("/") or None
    values["group_api_url"] = (values["group_api_url"] or "").rstrip("/") or None
    values["cell_name"] = values["cell_name"] or opts["id"]
    if values["auth"] is None:
        values["auth"] = "password" if values["password"] else "pid"
    if values["auth"] not in ("password", "pid"):
        raise SaltInvocationError(f"vcd_cell:auth must be 'password' or 'pid', not {values['auth']!r}")
    if values["auth"] == "password" and not (values["username"] and values["password"]):
        raise SaltInvocationError("vcd_cell:auth is 'password' but vcd_cell:username or vcd_cell:password is not set")
    for key in ("cli_timeout", "event_interval", "install_timeout", "db_upgrade_timeout"):
        valid.seconds(f"vcd_cell:{key}", values[key])
    if values["api_version"] is not None:
        values["api_version"] = str(values["api_version"])
    if not isinstance(values["api_verify"], (bool, str)):
        raise SaltInvocationError("vcd_cell:api_verify must be true, false or the path of a CA bundle")
    for key in ("transfer_share", "unpack_dir", "database_dir"):
        valid.absolute_path(f"vcd_cell:{key}", values[key])
    _read_appliance(values)
    pid_command = values["pid_command"] or [values["cell_script"], "pid"]
    values["pid_command"] = command(pid_command)
    values["version_command"] = command(values["version_command"])
    values["lease_dir"] = lease_dir(salt, opts)
    return Settings(values, salt, opts)
