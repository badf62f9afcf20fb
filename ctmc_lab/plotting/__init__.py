"""Drawing: the house style and one drawing function per figure, from the tables the studies return."""

from ctmc_lab.plotting.style import *  # noqa: F403
from ctmc_lab.plotting.style import __all__  # noqa: F401
