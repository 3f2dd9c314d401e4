#!/usr/bin/env -S python3 -S
"""The simulator's create-backup.sh; see simulator/appliance_tools.py."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__)))))

from simulator.appliance_tools import backup_entry_point  # noqa: E402

sys.exit(backup_entry_point(sys.argv[1:]))
