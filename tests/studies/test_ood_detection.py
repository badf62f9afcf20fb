"""OOD table against JSON MK4 probabilities and pairwise AUROC counts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ctmc_lab.studies import ood_detection
from tests.figure_oracles import (
    MK4,
    col,
    read_csv,
    tabled,
)


def test_ood_detection(tmp_path):
    mk4 = MK4()
    res = ood_detection.ood_detection(n_per_group=30, budgets=(1, 8), seed=9)
    rows = tabled(tmp_path, res, ood_detection.COLUMNS)
    exact = np.array([-math.log(mk4.window_prob(r["sequence"])) for r in rows])
    np.testing.assert_allclose(col(rows, "exact_nll"), exact, rtol=0, atol=1e-11)
    label = col(rows, "label", int)
    assert (label == 0).sum() == (label == 1).sum() == 30

    def pairwise(neg, pos):
        return float(np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg]))

    auc = {r["nll"]: float(r["auroc"]) for r in read_csv(tmp_path / "ood_detection_auroc.csv")}
    assert abs(auc["exact"] - pairwise(exact[label == 0], exact[label == 1])) < 1e-12
    for n in (1, 8):
        est = col(rows, f"estimated_nll_n{n}")
        assert abs(auc[f"estimated_n{n}"] - pairwise(est[label == 0], est[label == 1])) < 1e-12


# ====================================================================== helpers, style, CLI


def test_auroc_and_roc_against_pairwise():
    rng = np.random.default_rng(0)
    neg = rng.integers(0, 6, 40).astype(float)  # many ties
    pos = rng.integers(2, 9, 30).astype(float)
    want = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
    assert abs(ood_detection.auroc(neg, pos) - want) < 1e-15
    fpr, tpr = ood_detection.roc_curve(neg, pos)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert abs(np.trapezoid(tpr, fpr) - want) < 1e-12  # trapezoids count ties as halves
    with pytest.raises(ValueError, match="scores_in"):
        ood_detection.auroc([], [1.0])
    with pytest.raises(ValueError, match="NaN"):
        ood_detection.auroc([1.0], [np.nan])
