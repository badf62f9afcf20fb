import sys

from ctmc_lab.cli import main

sys.exit(main())
