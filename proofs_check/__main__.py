"""``python -m proofs_check``: the same as ``ctmc-lab verify``."""

import sys

from .cli import main

sys.exit(main())
