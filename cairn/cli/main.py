"""cairn: the control-plane command line.

    cairn check-log DIR [--truncate]   check the transaction log in a data directory (and cut a bad tail)
    cairn server [ARGS...]             the same as cairn-server ARGS...
    cairn local-cluster up [--replicas N] [--dir DIR] [--port P]
                                       a multi-AZ shard on this machine: three etcd
                                       members and 1+N nodes on loopback (Ctrl-C stops)
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "check-log":
        import os

        from cairn.durability.checklog import main as check_log

        # Accept the server's data directory as well as its log directory.
        rest = [
            os.path.join(a, "log") if os.path.isdir(os.path.join(a, "log")) else a for a in rest
        ]
        return check_log(rest)
    if command == "local-cluster":
        if not rest or rest[0] != "up":
            print("usage: cairn local-cluster up [--replicas N] [--dir DIR] [--port P]",
                  file=sys.stderr)
            return 2
        from cairn.replication.localcluster import up

        return up(rest[1:])
    if command == "server":
        from cairn.cli.server import main as server_main

        return server_main(rest)
    print(f"cairn: unknown command '{command}'\n{__doc__}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
