"""Testing helpers: reusable hypothesis strategies (:mod:`ctmc_lab.testing.strategies`)."""
