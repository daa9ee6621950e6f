"""`python -m clients.cli` runs the `fupin` command line."""

import sys

from clients.cli.main import main

sys.exit(main())
