"""
An orchestration's progress as ``salt-run`` prints it while the run goes on: each ``progress`` event of
``vcd_rolling.rollout`` and ``vcd_upgrade.upgrade`` as its one line (the time, the step or cell, what
happened). ``--out=json`` (or any ``--out``) shows the events' structure instead.

CLI Example:

.. code-block:: bash

    salt-run vcd_upgrade.upgrade cells='cell*' version=10.6.0 backup_completed=True
"""

__virtualname__ = "vcd_progress"


def __virtual__():
    return __virtualname__


def output(data, **kwargs):  # pylint: disable=unused-argument
    """The event's ``message`` (``salt-run`` hands the outputter ``{"suffix", "event"}``); else as it is."""
    event = data.get("event") if isinstance(data, dict) else None
    if isinstance(event, dict) and "message" in event:
        return str(event["message"])
    if isinstance(data, dict) and "message" in data:
        return str(data["message"])
    return str(data)
