r"""Multinomial logistic regression on fixed features: one linear layer and the cross-entropy, trained with
our autograd. On frozen sentence embeddings it is the "feature extraction" baseline of fine-tuning.

$$p(c \mid x) = \mathrm{softmax}(W x + b)_c,\qquad
\mathcal L(W, b) = \frac1N \sum_{i=1}^N -\log p(y_i \mid x_i) + \frac{\lambda}{2}\lVert W\rVert_F^2$$

The loss is convex, so any optimizer that converges finds the same $(W, b)$; we take full-batch steps of
Adam with a decaying learning rate until the loss stops moving. scikit-learn's ``LogisticRegression(C=...)``
minimises $\frac12\lVert W\rVert^2 + C\sum_i -\log p(y_i\mid x_i)$, the same problem times $CN$ with
$C = 1/(\lambda N)$ (``tests/test_classifiers.py`` checks that both find the same probabilities).
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .. import optim
from ..autograd import no_grad
from ..nn import Linear, Module
from ..tensor import Tensor


class LogisticRegression(Module):
    def __init__(self, in_features: int, n_classes: int, l2: float = 1e-3):
        super().__init__()
        self.linear = Linear(in_features, n_classes)
        self.linear.weight.data[...] = 0                  # a convex problem: start from p = uniform
        self.linear.bias.data[...] = 0
        self.l2 = l2

    def forward(self, x):
        return self.linear(x)                              # logits (N, K)

    # [start:fit]
    def loss(self, X, y):
        W = self.linear.weight
        return F.cross_entropy(self(X), y) + (W * W).sum() * (self.l2 / 2)

    def fit(self, X, y, steps: int = 2000, lr: float = 0.05, tol: float = 1e-7):
        """Full-batch Adam on the regularised mean cross-entropy; stops early when the loss changed less
        than ``tol`` (relative) over the last 20 steps. Returns self (``self.losses`` holds the curve)."""
        X, y = Tensor(np.asarray(X, dtype=self.linear.weight.dtype)), np.asarray(y, dtype=np.int64)
        opt = optim.Adam(self.parameters(), lr=lr)
        sched = optim.LambdaLR(opt, lambda t: 1.0 / (1.0 + t / 100))   # decaying steps settle on the minimum
        self.losses = []
        for _ in range(steps):
            loss = self.loss(X, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            self.losses.append(loss.item())
            if len(self.losses) > 50 and abs(self.losses[-21] - self.losses[-1]) <= tol * abs(self.losses[-1]):
                break
        return self
    # [end:fit]

    def predict_proba(self, X) -> np.ndarray:
        with no_grad():
            return F.softmax(self(Tensor(np.asarray(X, dtype=self.linear.weight.dtype))), -1).numpy()

    def predict(self, X) -> np.ndarray:
        return np.argmax(self.predict_proba(X), axis=1)
