"""
The vCenters registered with the server group and their VC proxies (listeners), through the vCD
REST API: which cell runs each proxy, and a reconnect that moves it at once.

Part of the ``vcd_cell`` execution module: Salt's loader puts the functions of every file whose
``__virtualname__`` is ``vcd_cell`` under that one name. The settings are those of
:py:mod:`vcd_cell <saltext.vcd_cell.modules.vcd_cell>`.
"""

import types

from salt.exceptions import CommandExecutionError, SaltInvocationError

try:
    # The machinery, in _utils (see the vcd_cell module).
    import _vcd_cell_api as rest
    import _vcd_cell_errors as errors
    import _vcd_cell_settings as config
    import _vcd_cell_values as valid
except ImportError as exc:  # pragma: no cover - __virtual__ says what is missing
    MISSING = exc.name
    # The module does not load then (see __virtual__); its functions are defined as they are.
    errors = types.SimpleNamespace(at_the_edge=lambda function: function)
else:
    MISSING = None

__virtualname__ = "vcd_cell"


def __virtual__():
    if MISSING:
        return (False, f"vcd_cell cannot import {MISSING}: sync the utils too (saltutil.sync_all)")
    return __virtualname__


def _settings():
    return config.read(__salt__, __opts__)


@errors.at_the_edge
def vcenters():
    """
    The registered vCenters, through the REST API (``/api/query?type=virtualCenter``): each with its
    ``id``, ``name``, ``proxy`` (the cell its VC proxy runs on), ``listener`` (its listener's state),
    ``connected``, and ``here`` (the proxy runs on this cell: stopping the cell stalls that vCenter's
    work until the proxy moves).

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.vcenters
    """
    with rest.Api(_settings()) as api:
        return api.vcenters()


@errors.at_the_edge
def reconnect_vcenter(vcenter, timeout=300, api_url=None):
    """
    Reconnect a vCenter (``vcenter``: its id or its name) through this serving cell's API, or through
    ``api_url`` (another serving cell, or the server group's load balancer: what a stopped cell uses),
    with ``forcevimserverreconnect``, waiting up to ``timeout`` seconds for its task: its VC proxy moves
    to a serving cell at once, instead of after the heartbeat failover (5 minutes by default). Returns the
    vCenter as listed afterwards.

    CLI Example:

    .. code-block:: bash

        salt 'cell2*' vcd_cell.reconnect_vcenter vc1.example.com
        salt 'cell1*' vcd_cell.reconnect_vcenter vc1.example.com api_url=https://vcd.example.com
    """
    if not isinstance(vcenter, str) or not vcenter:
        raise SaltInvocationError(f"vcenter must be a vCenter's id or name, not {vcenter!r}")
    valid.seconds("timeout", timeout)
    settings = _settings()
    if api_url is not None:
        if not isinstance(api_url, str) or not api_url.startswith(("http://", "https://")):
            raise SaltInvocationError(f"api_url must be an http(s) URL, not {api_url!r}")
        settings.api_url = api_url.rstrip("/")
    with rest.Api(settings) as api:
        listed = api.vcenters()
        found = next((v for v in listed if vcenter in (v["id"], v["name"])), None)
        if found is None:
            names = ", ".join(str(v["name"]) for v in listed) or "none"
            raise CommandExecutionError(f"No vCenter is named or has the id {vcenter}: the vCenters are {names}")
        api.reconnect_vcenter(found["id"], timeout)
        return next((v for v in api.vcenters() if v["id"] == found["id"]), found)
