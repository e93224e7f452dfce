import sys

from bench.ingest import main

sys.exit(main())
