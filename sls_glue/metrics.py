"""GLUE evaluation metrics, computed with scikit-learn and scipy.

Keys: ``"accuracy"`` (every classification task), ``"f1"`` (MRPC, QQP; binary F1 of
the positive class 1), ``"matthews"`` (CoLA), ``"pearson"`` and ``"spearman"`` (STS-B).
Which keys a task reports is ``get_task(task).metrics``.
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import ArrayLike

from sls_glue.tasks import TaskSpec, get_task

__all__ = ["compute_metrics"]


def compute_metrics(
    task: str | TaskSpec, predictions: ArrayLike, labels: ArrayLike
) -> dict[str, float]:
    """Compute the GLUE metrics of ``task``.

    Args:
        task: task name (case-insensitive, aliases accepted) or spec.
        predictions: classification: (n,) predicted class indices, or (n, num_labels)
            logits/probabilities (arg-maxed here); regression (STS-B): (n,) or (n, 1)
            predicted scores.
        labels: (n,) gold class indices or scores. Drop padding rows (weight 0) first.

    Returns:
        ``{metric: value}`` with the keys of ``spec.metrics``, as Python floats.
        Pearson/Spearman are NaN when either input is constant; Matthews is 0 then;
        F1 is 0 when there are no true or predicted positives.

    Raises:
        ValueError: unknown task, empty inputs, or ``predictions``/``labels`` of
            mismatched length or wrong rank.
    """
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

    spec = get_task(task)
    preds = np.asarray(predictions)
    gold = np.asarray(labels)
    if preds.ndim == 2:
        if spec.is_regression or preds.shape[1] == 1:
            if preds.shape[1] != 1:
                raise ValueError(
                    f"regression predictions must be (n,) or (n, 1), got {preds.shape}"
                )
            preds = preds[:, 0]
        else:
            preds = preds.argmax(axis=-1)
    if preds.ndim != 1 or gold.ndim != 1:
        raise ValueError(
            f"predictions and labels must be 1-D (predictions may be (n, num_labels) logits); "
            f"got shapes {np.shape(predictions)} and {gold.shape}"
        )
    if preds.shape[0] != gold.shape[0]:
        raise ValueError(f"{preds.shape[0]} predictions but {gold.shape[0]} labels")
    if preds.shape[0] == 0:
        raise ValueError("cannot compute metrics on zero examples")

    out: dict[str, float] = {}
    if spec.is_regression:
        from scipy.stats import pearsonr, spearmanr

        p = preds.astype(np.float64)
        g = gold.astype(np.float64)
        with warnings.catch_warnings():
            # constant input -> NaN (documented), without a warning per evaluation
            warnings.simplefilter("ignore")
            out["pearson"] = float(pearsonr(p, g)[0]) if p.shape[0] >= 2 else float("nan")
            out["spearman"] = float(spearmanr(p, g)[0]) if p.shape[0] >= 2 else float("nan")
        return {k: out[k] for k in spec.metrics}

    p = preds.astype(np.int64)
    g = gold.astype(np.int64)
    out["accuracy"] = float(accuracy_score(g, p))
    if "f1" in spec.metrics:
        out["f1"] = float(f1_score(g, p, pos_label=1, average="binary", zero_division=0))
    if "matthews" in spec.metrics:
        out["matthews"] = float(matthews_corrcoef(g, p))
    return {k: out[k] for k in spec.metrics}
