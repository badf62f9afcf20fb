"""``python -m proofs_check``: the same as ``ctmc-lab verify`` (the command line owns argv)."""

import sys

from ctmc_lab.cli import main

sys.exit(main(["verify", *sys.argv[1:]]))
