"""Write ``docs/faults.md`` to stdout: ``python -m bmsgateway.protection.faultdoc > docs/faults.md``."""

from __future__ import annotations

import sys

from bmsgateway.protection.table import render_faults_markdown

if __name__ == "__main__":  # pragma: no cover - documentation generator
    sys.stdout.write(render_faults_markdown())
