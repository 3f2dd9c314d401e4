"""
A fake VMware Cloud Director cell for testing the vcd_cell Salt modules without a real vCD.

- :mod:`simulator.model`: the cell's behaviour and its timeline, no I/O.
- :mod:`simulator.app`, :mod:`simulator.api`, :mod:`simulator.control`: the Flask app (vCD REST subset,
  health checks, the ``/sim/`` test-control API).
- :mod:`simulator.server`: serving it on 127.0.0.1.
- :mod:`simulator.cmt`, :mod:`simulator.service_script`: the stub ``cell-management-tool`` and
  ``vmware-vcd-cell`` behind ``simulator/bin/``; :mod:`simulator.upgrade_tools`: the installer, the
  database ``upgrade`` utility and ``vcd-version``.
- :mod:`simulator.group`: cells sharing one database (a server group).
- :mod:`simulator.appliance`: vCD appliances and their embedded database cluster;
  :mod:`simulator.appliance_api`: an appliance's management API; :mod:`simulator.appliance_tools`:
  the stub ``vamicli``, ``create-backup.sh`` and ``reboot``.

Importing this package imports nothing else, so the stub CLIs start without Flask.
"""

import os

BIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin")
CELL_MANAGEMENT_TOOL = os.path.join(BIN_DIR, "cell-management-tool")
VMWARE_VCD_CELL = os.path.join(BIN_DIR, "vmware-vcd-cell")
INSTALLER = os.path.join(BIN_DIR, "vmware-vcloud-director-distribution.bin")
UPGRADE_TOOL = os.path.join(BIN_DIR, "upgrade")
VCD_VERSION = os.path.join(BIN_DIR, "vcd-version")
VAMICLI = os.path.join(BIN_DIR, "vamicli")
CREATE_BACKUP = os.path.join(BIN_DIR, "create-backup.sh")
REBOOT = os.path.join(BIN_DIR, "reboot")
BOOT_ID = os.path.join(BIN_DIR, "boot-id")
