r"""Classification metrics: accuracy, precision, recall, F1 and the confusion matrix (scikit-learn semantics).

For each class $k$, with true positives $TP_k$, false positives $FP_k$ and false negatives $FN_k$:

$$P_k = \frac{TP_k}{TP_k + FP_k},\qquad R_k = \frac{TP_k}{TP_k + FN_k},\qquad F_{1,k} = \frac{2\,TP_k}{2\,TP_k + FP_k + FN_k}$$

($F_{1,k}$ is the harmonic mean $2P_kR_k/(P_k+R_k)$ written without the divisions). Accuracy is
$\frac{1}{N}\sum_i [\hat y_i = y_i]$. Averaging over the $K$ classes:

- ``micro``: sum $TP$, $FP$, $FN$ over classes first, then apply the formulas (for single-label
  multiclass data micro-$P$ = micro-$R$ = micro-$F_1$ = accuracy).
- ``macro``: $\frac{1}{K}\sum_k M_k$, every class counts the same.
- ``weighted``: $\sum_k \frac{n_k}{\sum_j n_j} M_k$ with support $n_k = TP_k + FN_k$.
- ``None``: the per-class values.

A ratio whose denominator is 0 (a class never predicted, never present) is replaced by ``zero_division``
(0, 1 or NaN; NaN values are then left out of the averages). The confusion matrix $C_{ij}$ counts samples
of true class $i$ predicted as class $j$; classes are the sorted union of labels unless ``labels`` is given.
"""
from __future__ import annotations

import math

import numpy as np


def _check(y_true, y_pred, op: str):
    yt, yp = np.asarray(y_true), np.asarray(y_pred)
    if yt.ndim != 1 or yp.ndim != 1:
        raise ValueError(f"{op}: expected 1-D label arrays, got shapes {yt.shape} and {yp.shape}")
    if yt.shape != yp.shape:
        raise ValueError(f"{op}: y_true has {yt.shape[0]} labels but y_pred has {yp.shape[0]}")
    if yt.size == 0:
        raise ValueError(f"{op}: empty input (no samples)")
    return yt, yp


def _labels(yt, yp, labels, op: str):
    if labels is None:
        return np.unique(np.concatenate([yt, yp]))
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"{op}: labels must be a non-empty 1-D list, got shape {labels.shape}")
    if np.unique(labels).size != labels.size:
        raise ValueError(f"{op}: labels contain duplicates: {labels.tolist()}")
    return labels


def accuracy(y_true, y_pred, normalize: bool = True) -> float:
    """Fraction (or, with ``normalize=False``, number) of exactly right predictions."""
    yt, yp = _check(y_true, y_pred, "accuracy")
    hits = int(np.sum(yt == yp))
    return hits / yt.size if normalize else hits


# [start:confusion_matrix]
def confusion_matrix(y_true, y_pred, labels=None) -> np.ndarray:
    """C[i, j] = number of samples with true label labels[i] predicted as labels[j]."""
    yt, yp = _check(y_true, y_pred, "confusion_matrix")
    labels = _labels(yt, yp, labels, "confusion_matrix")
    if not np.isin(labels, yt).any():
        raise ValueError(f"confusion_matrix: none of labels {labels.tolist()} occurs in y_true")
    index = {lab: i for i, lab in enumerate(labels.tolist())}
    K = len(labels)
    ti = np.array([index.get(v, -1) for v in yt.tolist()])  # (N,) row of each sample, -1 if not listed
    pi = np.array([index.get(v, -1) for v in yp.tolist()])  # (N,)
    keep = (ti >= 0) & (pi >= 0)
    cm = np.zeros((K, K), dtype=np.int64)                    # (K, K)
    np.add.at(cm, (ti[keep], pi[keep]), 1)
    return cm
# [end:confusion_matrix]


def _divide(num, den, zero_division):
    if isinstance(zero_division, str):
        if zero_division != "warn":
            raise ValueError(f"precision_recall_f1: zero_division must be 0, 1, nan or 'warn', got {zero_division!r}")
        fill = 0.0
    elif zero_division in (0, 1) or (isinstance(zero_division, float) and math.isnan(zero_division)):
        fill = float(zero_division)
    else:
        raise ValueError(f"precision_recall_f1: zero_division must be 0, 1, nan or 'warn', got {zero_division!r}")
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    out = np.full(num.shape, fill)
    ok = den != 0
    out[ok] = num[ok] / den[ok]
    return out


def _average(values, weights):
    keep = ~np.isnan(values)
    if not keep.any():
        return float("nan")
    values = values[keep]
    if weights is None:
        return float(values.mean())
    w = np.asarray(weights, dtype=np.float64)[keep]
    return float(values.mean()) if w.sum() == 0 else float(np.sum(values * w) / w.sum())


# [start:precision_recall_f1]
def precision_recall_f1(y_true, y_pred, average="macro", labels=None, zero_division="warn"):
    """(precision, recall, F1, support) like scikit-learn's ``precision_recall_fscore_support``.

    ``average``: 'micro' | 'macro' | 'weighted' | None (per-class arrays and the support).
    """
    if average not in ("micro", "macro", "weighted", None):
        raise ValueError(f"precision_recall_f1: average must be 'micro', 'macro', 'weighted' or None, got {average!r}")
    yt, yp = _check(y_true, y_pred, "precision_recall_f1")
    labels = _labels(yt, yp, labels, "precision_recall_f1")
    labels_all = np.unique(np.concatenate([yt, yp, labels]))
    cm = confusion_matrix(yt, yp, labels=labels_all)          # (K_all, K_all)
    pick = np.searchsorted(labels_all, labels)
    tp = np.diag(cm)[pick]                                    # (K,)
    pred = cm.sum(axis=0)[pick]                               # TP + FP
    true = cm.sum(axis=1)[pick]                               # TP + FN = support
    if average == "micro":
        tp, pred, true_used = tp.sum(keepdims=True), pred.sum(keepdims=True), true.sum(keepdims=True)
    else:
        true_used = true
    precision = _divide(tp, pred, zero_division)
    recall = _divide(tp, true_used, zero_division)
    f1 = _divide(2 * tp, true_used + pred, zero_division)
    if average is None:
        return precision, recall, f1, true
    weights = true if average == "weighted" else None
    return _average(precision, weights), _average(recall, weights), _average(f1, weights), None
# [end:precision_recall_f1]


def precision_score(y_true, y_pred, average="macro", labels=None, zero_division="warn"):
    return precision_recall_f1(y_true, y_pred, average, labels, zero_division)[0]


def recall_score(y_true, y_pred, average="macro", labels=None, zero_division="warn"):
    return precision_recall_f1(y_true, y_pred, average, labels, zero_division)[1]


def f1_score(y_true, y_pred, average="macro", labels=None, zero_division="warn"):
    return precision_recall_f1(y_true, y_pred, average, labels, zero_division)[2]
