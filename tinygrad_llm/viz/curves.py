"""Plots for training runs: loss curves (train and validation) written as PNG with matplotlib (the Agg backend
unless pyplot is already in use or this is a Jupyter kernel: a notebook keeps its inline backend and, with
``close=False``, shows the plot).

The training loss is noisy (one batch per point), so it is drawn faintly with an exponential moving
average on top, $\\bar\\ell_t = \\beta\\,\\bar\\ell_{t-1} + (1-\\beta)\\,\\ell_t$ (bias-corrected by
$1 - \\beta^t$); validation points are averages over many batches and are drawn as they are.
"""
from __future__ import annotations

from pathlib import Path


def ema(values, beta: float = 0.9):
    """Bias-corrected exponential moving average of a sequence."""
    out, m = [], 0.0
    for t, v in enumerate(values, 1):
        m = beta * m + (1 - beta) * v
        out.append(m / (1 - beta ** t))
    return out


def plot_loss_curves(history: dict, path, title: str = "loss", ylabel: str = "cross-entropy (nats/token)",
                     close: bool = True):
    """``history`` is the ``Trainer``'s: records with ``step`` and ``loss`` under ``"train"`` and ``"eval"``
    (evaluations without a loss are skipped); writes a PNG to ``path``. ``close=False`` leaves the figure open
    (a notebook then shows it)."""
    import sys
    if "matplotlib.pyplot" not in sys.modules and "ipykernel" not in sys.modules:   # command line: files only
        import matplotlib
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    train = [(r["step"], r["loss"]) for r in history.get("train") or []]
    val = [(r["step"], r["loss"]) for r in history.get("eval") or [] if "loss" in r]
    if train:
        s, l = zip(*train)
        ax.plot(s, l, color="tab:blue", alpha=0.25, lw=0.8)
        ax.plot(s, ema(l), color="tab:blue", label="train (EMA)")
    if val:
        s, l = zip(*val)
        ax.plot(s, l, "o-", color="tab:orange", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if train or val:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    if close:
        plt.close(fig)
    return path
