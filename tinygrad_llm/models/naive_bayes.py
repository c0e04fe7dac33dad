r"""Multinomial naive Bayes on bags of words with add-one (Laplace) smoothing: the baseline that a fine-tuned
text classifier has to beat.
$$\hat y = \arg\max_c \Big[\log P(c) + \sum_w n_w \log \frac{N_{cw} + 1}{\sum_{w'} N_{cw'} + \lvert V\rvert}\Big]$$
$P(c)$ is the class frequency in training, $N_{cw}$ the count of word $w$ in the training texts of class
$c$, $n_w$ its count in the text to label, $V$ the training vocabulary (unseen words are dropped).
"""
from __future__ import annotations

import re
from collections import Counter

import numpy as np

_WORD = re.compile(r"[a-z']+")


def bag_of_words(text: str) -> Counter:
    return Counter(_WORD.findall(text.lower()))


class NaiveBayes:
    """Multinomial naive Bayes with add-one (Laplace) smoothing over word counts."""

    def fit(self, texts, labels, n_classes: int):
        counts = [bag_of_words(t) for t in texts]
        self.vocab = {w: i for i, w in enumerate(sorted(set().union(*counts)))}
        N = np.zeros((n_classes, len(self.vocab)))                     # (K, V) word counts per class
        for c, y in zip(counts, labels):
            for w, n in c.items():
                N[y, self.vocab[w]] += n
        self.log_prior = np.log(np.bincount(labels, minlength=n_classes) / len(labels))
        self.log_lik = np.log((N + 1) / (N.sum(axis=1, keepdims=True) + len(self.vocab)))
        return self

    def predict(self, texts) -> np.ndarray:
        X = np.zeros((len(texts), len(self.vocab)))                    # (N, V); unseen words dropped
        for i, t in enumerate(texts):
            for w, n in bag_of_words(t).items():
                if w in self.vocab:
                    X[i, self.vocab[w]] += n
        return np.argmax(X @ self.log_lik.T + self.log_prior, axis=1)
