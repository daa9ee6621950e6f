"""The container HEALTHCHECK: `fupin health` without the rest of the CLI's imports.

    python -m clients.healthcheck [HOST:PORT]      # default 127.0.0.1:50051; exit 0 if SERVING

`fupin health` loads every command's modules first (matplotlib among them): 4 s in the image on
a host at load 10, against 0.4 s for this, and a HEALTHCHECK that times out marks a serving
container unhealthy (docker-compose then refuses to start what depends on it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from clients.cli.health import run_health


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    target = given[0] if given else "127.0.0.1:50051"
    return run_health(argparse.Namespace(target=target, service="", timeout=5.0))


if __name__ == "__main__":
    raise SystemExit(main())
