"""OOD tables, run by the engine, against JSON MK4 probabilities and pairwise AUROC counts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ctmc_lab.studies import engine, ood_detection
from tests.figure_oracles import MK4


def _pairwise(neg, pos):
    return float(np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg]))


def test_ood_detection(tmp_path):
    mk4 = MK4()
    run = engine.run_study(ood_detection, out_dir=tmp_path, seed=9, progress=None, notes=None)
    tables = engine.read_tables(run, ood_detection)
    t, au = tables["table"], tables["auroc"]
    exact = np.array([-math.log(mk4.window_prob(s)) for s in t["sequence"]])
    np.testing.assert_allclose(t["exact_nll"], exact, rtol=0, atol=1e-11)
    label = t["label"]
    n = ood_detection.SETTINGS["small"]["n_per_group"]
    assert (label == 0).sum() == (label == 1).sum() == n
    assert np.all((t["group"] == "shifted") == (label == 1))
    auc = dict(zip(au["nll"], au["auroc"]))
    assert au["n_samples"].tolist() == [0, *ood_detection.BUDGETS]
    assert abs(auc["exact"] - _pairwise(exact[label == 0], exact[label == 1])) < 1e-12
    for b in ood_detection.BUDGETS:
        est = t[f"estimated_nll_n{b}"]
        assert abs(auc[f"estimated_n{b}"] - _pairwise(est[label == 0], est[label == 1])) < 1e-12


def test_auroc_and_roc_against_pairwise():
    rng = np.random.default_rng(0)
    neg = rng.integers(0, 6, 40).astype(float)  # many ties
    pos = rng.integers(2, 9, 30).astype(float)
    want = _pairwise(neg, pos)
    assert abs(ood_detection.auroc(neg, pos) - want) < 1e-15
    fpr, tpr = ood_detection.roc_curve(neg, pos)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert abs(np.trapezoid(tpr, fpr) - want) < 1e-12  # trapezoids count ties as halves
    with pytest.raises(ValueError, match="scores_in"):
        ood_detection.auroc([], [1.0])
    with pytest.raises(ValueError, match="NaN"):
        ood_detection.auroc([1.0], [np.nan])
