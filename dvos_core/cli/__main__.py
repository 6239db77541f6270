import sys

from dvos_core.cli import main

sys.exit(main())
