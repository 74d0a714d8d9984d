"""``python -m gcc_flow ...`` runs the ``gcc-flow`` command line (see gcc_flow/cli/).

    python -m gcc_flow inspect model.pb  ->  the same output and exit code as gcc-flow inspect
"""
from __future__ import annotations

import sys

from gcc_flow.cli import main

if __name__ == "__main__":
    sys.exit(main())
