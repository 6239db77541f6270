import sys

from dvos_core.cli import entry

sys.exit(entry())
