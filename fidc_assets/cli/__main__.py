"""`python -m fidc_assets.cli ...`: the same as `fidc-lake ...` (tests run it as a child process)."""

import sys

from fidc_assets.cli import main

sys.exit(main())
