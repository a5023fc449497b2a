"""``python -m nsganet`` runs the command-line interface."""

import sys

from nsganet.cli import main

sys.exit(main())
