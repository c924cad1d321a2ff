"""``python -m bmsgateway``."""

import sys

from bmsgateway.cli import main

sys.exit(main())
