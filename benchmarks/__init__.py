"""Timing of the hot paths against their brute-force twins and physical bounds.

A package of the source checkout, not of the installed distribution: ``python -m benchmarks.run``
or ``python benchmarks/run.py`` from the checkout, or ``ctmc-lab bench`` (which imports
``benchmarks.run`` from the checkout it was installed from).
"""
