"""
`make bench`: the drain against the hand loop, the state's overhead, a 3-cell rollout, a 3-cell upgrade
a 3-appliance upgrade, the vCenter proxies over a rollout, and salt-ssh's cost per call. The growth of
the orchestrations' cost over 3, 6 and 12 cells (`--only scale`, with up to 12 minions) runs on its own.
"""

import argparse
import datetime
import os
import platform

from bench import appliance, drain, overhead, proxies, rollout, scale, ssh, upgrade
from simulator.server import quiet_request_log

BENCHMARKS = {
    "drain": drain,
    "overhead": overhead,
    "rollout": rollout,
    "upgrade": upgrade,
    "appliance": appliance,
    "proxies": proxies,
    "ssh": ssh,
    "scale": scale,
}


def main():
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--repeats", type=int, default=5, help="runs per measurement (medians are reported)")
    parser.add_argument("--only", choices=tuple(BENCHMARKS), help="run one benchmark")
    options = parser.parse_args()
    if options.repeats < 1:
        parser.error("--repeats must be at least 1")
    quiet_request_log()
    print(
        f"{datetime.date.today()} on {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    if options.only:
        BENCHMARKS[options.only].main(options.repeats)
        return
    drained = drain.main(options.repeats)
    costs = overhead.main(options.repeats)
    rolled = rollout.main(options.repeats)
    upgraded = upgrade.main(options.repeats)
    appliances = appliance.main(options.repeats)
    moved = proxies.main(options.repeats)
    ssh.main(options.repeats)
    rest, polled, cells_api, masterless, hand = drained.values()
    print("\nTargets:")
    print(f"  decision latency with REST <= 1 s: {rest['decision']:.2f} s; cells API {cells_api['decision']:.2f} s")
    print(f"  decision latency without REST <= one interval ({drain.INTERVAL} s): {polled['decision']:.2f} s")
    print(
        f"  detection <= half the hand loop's ({hand['detection'] / 2:.2f} s): REST {rest['detection']:.2f} s, "
        f"tool polling {polled['detection']:.2f} s, cells API {cells_api['detection']:.2f} s"
    )
    print(f"  tool runs per drain: <= 4 with REST: {rest['runs']}; <= 2 on 10.5.1: {cells_api['runs']}")
    print(
        "  --shutdown started within 0.2 s of the reading that allowed it, masterless: "
        f"{masterless['reading_to_shutdown']:.2f} s (in-process {rest['reading_to_shutdown']:.2f} s)"
    )
    print(f"  state on a stopped cell <= 1.5 x test.ping: {costs['ratio']:.2f} x")
    print(
        "  rollout overhead <= 2 s per cell: "
        + ", ".join(f"{r['per_cell']:.2f} s on {name}" for name, r in rolled.items())
    )
    salt_run, by_hand = upgraded.values()
    print(f"  upgrade overhead <= 3 s per cell: {salt_run['per_cell']:.2f} s")
    print(f"  appliance upgrade overhead <= 3 s per appliance: {appliances['per_appliance']:.2f} s")
    print(
        "  a vCenter without a live proxy over a rollout: "
        f"{moved['vcenter_reconnect: true']['longest']:.2f} s with the reconnect, "
        f"{moved['vcenter_reconnect: false']['longest']:.2f} s without (the heartbeat failover)"
    )
    print(
        f"  upgrade window of 3 cells: {salt_run['window']:.2f} s against {by_hand['window']:.2f} s by hand "
        f"({salt_run['window'] / by_hand['window']:.2f} x)"
    )


if __name__ == "__main__":
    main()
