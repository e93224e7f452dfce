"""`python -m bench.ingest`: see the package docstring."""

import sys

from bench.ingest.cli import main

sys.exit(main())
