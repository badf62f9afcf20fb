"""ctmc-lab: exact verification of the information theory of discrete diffusion."""

__version__ = "0.1.0"
