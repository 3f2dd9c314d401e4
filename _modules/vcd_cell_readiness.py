"""
What a precheck reads on a cell, days before the window, touching nothing: the extension that runs here,
the software the window would install (the installer on a Linux cell, the extracted update package on an
appliance), the free space it needs, the certificate it serves and the transfer share the group shares. The master-side
precheck (``vcd_upgrade.precheck``, ``vcd_rolling.precheck``) judges it.

Part of the ``vcd_cell`` execution module: Salt's loader puts the functions of every file whose
``__virtualname__`` is ``vcd_cell`` under that one name. The settings are those of
:py:mod:`vcd_cell <saltext.vcd_cell.modules.vcd_cell>`.
"""

import types

try:
    # The machinery, in _utils (see the vcd_cell module).
    import _vcd_cell_certificate as certificates
    import _vcd_cell_disk as disk
    import _vcd_cell_errors as errors
    import _vcd_cell_package as packages
    import _vcd_cell_settings as config
    import _vcd_cell_share as share
    import _vcd_cell_values as valid
    import _vcd_extension as extension
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


@errors.at_the_edge
def readiness(checksum=False):
    """
    What this cell holds for a window, read touching nothing:

    - ``cell_name``: the cell's name in vCD, and ``appliance``: whether it is a vCD appliance;
    - ``extension``: the version of this extension, a digest of its machinery (the master's precheck
      compares them with its own) and the directory it was loaded from;
    - ``package``: on a Linux cell the installer ``vcd_cell:installer`` (``present``, ``executable``, the
      ``version`` its name carries and, with ``checksum=True``, its ``sha256``, which takes a few seconds
      for a 2 GB installer); on an appliance the update package at ``vcd_cell:update_repo`` (``present``,
      the ``version`` its manifest names, or the ``problem`` reading it);
    - ``transfer_share``: the share at ``vcd_cell:transfer_share`` (``present``, ``writable``, ``mount_point``,
      its mount's ``fstype`` and ``source``, ``network`` and the ``identity`` the master compares across
      the cells);
    - ``disk``: the free space (``free``, bytes) where it is ``needed`` (bytes, None where nothing is
      there to size): on a Linux cell at ``vcd_cell:unpack_dir``, twice the installer's size; on an
      appliance at ``vcd_cell:database_dir``, the database's size, which a major upgrade copies;
    - ``certificate``: the HTTPS certificate served at ``vcd_cell:api_url`` (``expires``, ``expires_at``,
      ``verified`` by ``vcd_cell:api_verify``, or the ``problem`` reading it; an ``http://``
      address has none: its ``scheme`` only);
    - ``backup`` (appliances): the newest database backup under the share's ``backups`` (``newest``, its
      ``age_seconds``, ``count``).

    CLI Example:

    .. code-block:: bash

        salt 'cell*' vcd_cell.readiness
        salt 'cell*' vcd_cell.readiness checksum=True
    """
    valid.flag("checksum", checksum)
    settings = config.read(__salt__, __opts__)
    if settings.appliance:
        package = packages.update_package(settings.update_repo)
        space = disk.for_database(settings.database_dir)
    else:
        package = packages.installer(settings.installer, checksum)
        space = disk.for_installer(settings.installer, settings.unpack_dir)
    facts = {
        "cell_name": settings.cell_name,
        "appliance": settings.appliance,
        "extension": extension.identity(),
        "package": package,
        "transfer_share": share.transfer_share(settings.transfer_share),
        "disk": space,
        "certificate": certificates.served(settings.api_url, settings.api_verify),
    }
    if settings.appliance:
        facts["backup"] = share.newest_backup(settings.transfer_share)
    return facts
