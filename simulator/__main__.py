"""
Command line of the simulator.

.. code-block:: bash

    python -m simulator serve --port 8443 --cell-name cell1 --version 10.5 --jobs 3 --job-seconds 20
    python -m simulator serve --appliances primary,standby,cell --update-package /tmp/local-update-package
    python -m simulator manual-drain --jobs 3 --job-seconds 6
"""

import argparse
import signal
import sys

from simulator.appliance import AUTOMATIC, MANUAL, ROLES, Appliance, ApplianceConfig, ApplianceGroup
from simulator.group import ServerGroup
from simulator.model import ACTIVE_FALSE_AT_ONCE, ACTIVE_UNTIL_DRAINED, VERSIONS, Cell, CellConfig
from simulator.pillar import write_update_package
from simulator.server import ApplianceServer, CellServer, quiet_request_log


def _non_negative(text):
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text}")
    return value


def add_cell_options(parser):
    """The options that describe a fake cell, shared by every subcommand that starts one."""
    parser.add_argument("--cell-name", default="cell1", help="the cell's name in task records")
    parser.add_argument("--version", choices=VERSIONS, default="10.5", help="the vCD version to behave like")
    parser.add_argument("--jobs", type=int, default=0, help="jobs running when the cell starts")
    parser.add_argument(
        "--job-seconds",
        type=_non_negative,
        default=10.0,
        help="the starting jobs end evenly spread over this many seconds, the last at the end",
    )
    parser.add_argument("--admin-user", default="administrator")
    parser.add_argument("--admin-password", default="vmware")
    blocking = parser.add_mutually_exclusive_group()
    blocking.add_argument("--quiesce-blocks", dest="quiesce_blocks", action="store_true", default=None)
    blocking.add_argument("--quiesce-returns", dest="quiesce_blocks", action="store_false")
    parser.add_argument("--active-after-quiesce", choices=(ACTIVE_FALSE_AT_ONCE, ACTIVE_UNTIL_DRAINED), default=None)
    parser.add_argument("--layout", choices=("lines", "oneline"), default="lines")
    parser.add_argument("--noise", action="store_true", help="JVM and log lines around the tool's output")
    parser.add_argument("--crlf", action="store_true", help="the tool ends lines with CRLF")
    parser.add_argument(
        "--cli-delay", type=_non_negative, default=0.0, help="seconds each run of a Java tool takes to start"
    )
    parser.add_argument("--start-seconds", type=_non_negative, default=0.0, help="seconds a start takes")
    parser.add_argument("--cancel-seconds", type=_non_negative, default=0.0, help="seconds a cancel takes")


def cell_from_options(options):
    config = CellConfig(
        cell_name=options.cell_name,
        version=options.version,
        admin_user=options.admin_user,
        admin_password=options.admin_password,
        quiesce_blocks=options.quiesce_blocks,
        active_after_quiesce=options.active_after_quiesce,
        layout=options.layout,
        noise=options.noise,
        crlf=options.crlf,
        cli_delay=options.cli_delay,
        start_seconds=options.start_seconds,
        cancel_seconds=options.cancel_seconds,
        installed_version=getattr(options, "installed_version", "10.5.0"),
    )
    cell = Cell(config)
    for index in range(options.jobs):
        cell.add_job(seconds=options.job_seconds * (index + 1) / options.jobs, name=f"job{index + 1}")
    return cell


def _interrupt(signum, frame):
    """SIGINT and SIGTERM end the server as Ctrl-C does at a terminal, so a parent process can stop it cleanly."""
    raise KeyboardInterrupt


def _cells_to_serve(options):
    """
    One cell, or ``--cells N`` cells sharing one database, numbered from the cell name (cell1,
    cell2...), or with ``--appliances`` one appliance a role; returns the cells and the appliances.
    """
    roles = options.appliances
    count = len(roles) if roles else options.cells
    if count == 1 and not roles:
        return [cell_from_options(options)], []
    base = options.cell_name.rstrip("0123456789") or "cell"
    names = [f"{base}{index}" for index in range(1, count + 1)]
    cells = [cell_from_options(argparse.Namespace(**dict(vars(options), cell_name=name))) for name in names]
    if not roles:
        ServerGroup(cells)
        return cells, []
    appliances = [Appliance(cell, ApplianceConfig(role=role)) for cell, role in zip(cells, roles, strict=False)]
    ApplianceGroup(appliances, failover=options.failover)
    return cells, appliances


def _appliance_roles(text):
    roles = [role.strip() for role in text.split(",") if role.strip()]
    unknown = sorted(set(roles) - set(ROLES))
    if unknown or roles.count("primary") != 1:
        raise argparse.ArgumentTypeError(f"a comma-separated list of {', '.join(ROLES)} with one primary: {text}")
    return roles


def serve(options):
    quiet_request_log()
    servers = []
    try:
        cells, appliances = _cells_to_serve(options)
        for offset, cell in enumerate(cells):
            port = options.port + offset if options.port else 0
            servers.append(CellServer(cell, port=port).start())
            print(f"Fake vCD cell {cell.config.cell_name!r} (vCD {options.version}) at {servers[-1].url}", flush=True)
        for appliance in appliances:
            servers.append(ApplianceServer(appliance).start())
            role = appliance.config.role
            print(f"  appliance {appliance.name!r} ({role}): appliance API at {servers[-1].url}", flush=True)
        if options.update_package:
            url = write_update_package(options.update_package, *options.update_version.split("-"))
            print(f"  update package {options.update_version} at {url}", flush=True)
        print(f"  export VCD_SIM_URL={servers[0].url}", flush=True)
        # Ctrl-C stops it even when started in the background of a script, whose shell ignores SIGINT
        # for it (Python then leaves SIGINT ignored too).
        signal.signal(signal.SIGINT, _interrupt)
        signal.signal(signal.SIGTERM, _interrupt)
        _wait_for_interrupt()
    finally:
        for server in servers:
            server.stop()
    print("Fake cell stopped." if len(servers) == 1 else "Fake cells stopped.", flush=True)
    return 0


def _wait_for_interrupt():
    try:
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass


def manual_drain(options):
    from simulator.manual_procedure import run_procedure

    return run_procedure(cell_from_options(options))


def parse(argv):
    parser = argparse.ArgumentParser(prog="python -m simulator", description="A fake vCloud Director cell.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="serve one fake cell on 127.0.0.1 until Ctrl-C")
    serve_parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free one)")
    serve_parser.add_argument(
        "--cells", type=int, default=1, help="serve a server group of this many cells sharing one database"
    )
    serve_parser.add_argument("--installed-version", default="10.5.0", help="the vCD software the cells run")
    serve_parser.add_argument(
        "--appliances",
        type=_appliance_roles,
        default=None,
        help="serve a group of vCD appliances, one per role: e.g. primary,standby,cell (one primary)",
    )
    serve_parser.add_argument("--failover", choices=(AUTOMATIC, MANUAL), default=AUTOMATIC)
    serve_parser.add_argument("--update-package", default=None, help="write an appliance update package here")
    serve_parser.add_argument("--update-version", default="10.6.0-24000000", help="its VERSION-BUILD")
    add_cell_options(serve_parser)
    serve_parser.set_defaults(run=serve)
    manual_parser = commands.add_parser(
        "manual-drain", help="walk a fake cell through the manual quiesce-and-shutdown procedure"
    )
    add_cell_options(manual_parser)
    manual_parser.set_defaults(run=manual_drain, jobs=3, job_seconds=6.0)
    options = parser.parse_args(argv)
    if options.jobs < 0:
        parser.error("--jobs must not be negative")
    if getattr(options, "cells", 1) < 1:
        parser.error("--cells must be at least 1")
    return options


def main(argv=None):
    options = parse(sys.argv[1:] if argv is None else argv)
    return options.run(options)


if __name__ == "__main__":
    sys.exit(main())
