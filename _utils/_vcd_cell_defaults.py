"""
Every default of a drain, an activation, a rollout and an upgrade, written once.

The state and runner functions take their defaults from here, the SLS files pass only what the pillar
sets (so these apply), and the reference docs show them through the functions' signatures.
"""

# vcd_cell.drained (and vcd_cell.drain / wait_drained in the execution module).
DRAIN = {
    "timeout": 3600,
    "interval": 5,
    "maintenance_message": False,
    "on_timeout": "fail",
    "cancel_grace": 300,
    "lease": 900,
    "vcenter_reconnect": False,
    # Act on a cell another run's live window holds (logged); refused otherwise.
    "force": False,
}

# vcd_cell.active (and vcd_cell.wait_serving).
ACTIVE = {
    "health_timeout": 600,
    "force": False,
}

# The checks both orchestrations run before they touch anything (and their precheck runners run alone).
PRECHECK = {
    # Seconds a cell's clock may differ from the master's.
    "clock_tolerance": 60,
    # When the window ends (ISO 8601): a certificate must outlast it. None: the timeout from now.
    "window_end": None,
    # "report": a failed check that makes the window unsafe refuses it, the others are reported in its
    # return; "strict": any failed check refuses it.
    "precheck": "report",
}

# Both orchestrations: each run's report (in the master's cache); the newest this many are kept.
REPORT_KEEP = 50
REPORT = {"report_keep": REPORT_KEEP}

# The vcd_rolling runner (orch.vcd_rolling).
ROLLOUT = {
    "tgt_type": "glob",
    "batch": 1,
    "min_active": 1,
    "maintenance_sls": None,
    "health_timeout": ACTIVE["health_timeout"],
    "pause": 0,
    "timeout": 7200,
    "cell_pillar": None,
    "rollout_id": None,
    "switchover": True,
    "reboot": False,
    "vcenter_reconnect": True,
    "ssh": False,
    **PRECHECK,
    **REPORT,
}

# The vcd_upgrade runner (orch.vcd_upgrade).
UPGRADE = {
    "tgt_type": "glob",
    "backup": "confirmed",
    "backup_completed": False,
    "db_cell": None,
    "install_sls": None,
    "on_failure": "restore",
    "health_timeout": ACTIVE["health_timeout"],
    "timeout": 7200,
    "cell_pillar": None,
    "upgrade_id": None,
    "ssh": False,
    # VMware's published SHA-256 of the installer, compared with each cell's copy; None: not compared.
    "checksum": None,
    **PRECHECK,
    **REPORT,
}
