r"""Count-based n-gram language model over integer token ids.

A language model assigns a probability to every sequence by the chain rule, and an n-gram model cuts the
history to the last $n-1$ tokens (the Markov assumption):

$$P(w_1,\dots,w_T) = \prod_{t=1}^{T} P(w_t \mid w_{<t}) \approx \prod_{t=1}^{T} P(w_t \mid w_{t-n+1}^{t-1})$$

Counts $c(h, w)$ of context $h$ followed by token $w$ give the maximum-likelihood estimate
$c(h, w)/c(h)$ with $c(h) = \sum_w c(h, w)$; it gives probability 0 to anything unseen, so we smooth.
$V$ is the vocabulary size, $h'$ is $h$ without its oldest token, and the recursion ends at the uniform
distribution $1/V$. A context never seen in training ($c(h) = 0$) falls through to $P(w \mid h')$.

Add-k (Laplace for $k = 1$), using the longest context only:

$$P_{\text{add-}k}(w \mid h) = \frac{c(h, w) + k}{c(h) + kV}$$

Jelinek–Mercer interpolation of every order with a fixed weight $\lambda$:

$$P_{\mathrm{JM}}(w \mid h) = \lambda\,\frac{c(h, w)}{c(h)} + (1 - \lambda)\,P_{\mathrm{JM}}(w \mid h')$$

Interpolated Kneser–Ney: subtract a discount $D$ from every seen count and give the freed mass to the
lower order, in proportion to the number $N_{1+}(h\,\bullet)$ of distinct tokens seen after $h$:

$$P_{\mathrm{KN}}(w \mid h) = \frac{\max(c(h, w) - D, 0)}{c(h)} + \frac{D\,N_{1+}(h\,\bullet)}{c(h)}\,P_{\mathrm{KN}}(w \mid h')$$

Below the top order the counts are *continuation counts*, the number of distinct tokens seen before the
n-gram, $c_{\mathrm{KN}}(h', w) = N_{1+}(\bullet\,h'\,w)$ ("how many contexts does $w$ complete?"). The default
discount per order is Ney's estimate $D = \frac{n_1}{n_1 + 2 n_2}$ from the numbers $n_1, n_2$ of n-grams
counted once and twice, clipped to $[0.05, 0.9]$ (a tiny corpus with no n-gram seen twice would give
$D = 1$ and wipe out its own counts). Each smoothing sums to 1 over the vocabulary for every context.

Implementation: the n-gram $(w_0, \dots, w_m)$ is the integer key $\sum_i w_i V^{m-i}$; ``np.unique`` over
the keys of all windows gives the counts, sorted, so a lookup is a ``np.searchsorted`` and all contexts
$h$ occupy the contiguous key range $[hV, hV + V)$. Scoring a whole sequence is vectorised over positions.
"""
from __future__ import annotations

import math

import numpy as np

SMOOTHINGS = ("add_k", "jelinek_mercer", "kneser_ney")


class NGramLM:
    """n-gram language model. ``n`` is the order (1 = unigram); contexts hold the last ``n - 1`` ids.

    ``smoothing``: 'add_k' (parameter ``k``), 'jelinek_mercer' (``lam``), 'kneser_ney' (``discount``,
    None = estimated per order). The parameters can be changed after ``fit`` without refitting.
    """

    def __init__(self, n: int, vocab_size: int | None = None, smoothing: str = "kneser_ney", k: float = 1.0,
                 lam: float = 0.8, discount: float | None = None):
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"NGramLM: order n must be an integer >= 1, got {n!r}")
        if smoothing not in SMOOTHINGS:
            raise ValueError(f"NGramLM: unknown smoothing {smoothing!r}, expected one of {SMOOTHINGS}")
        self.n, self.vocab_size, self.smoothing = int(n), vocab_size, smoothing
        self.k, self.lam, self.discount = k, lam, discount
        self.levels = None                     # per context length m = 0..n-1, filled by fit()

    # ------------------------------------------------------------------ helpers
    def _check_ids(self, ids, op: str, allow_empty: bool = False) -> np.ndarray:
        a = np.asarray(ids)
        if a.ndim != 1:
            raise ValueError(f"NGramLM.{op}: expected a 1-D sequence of token ids, got shape {a.shape}")
        if a.size == 0:
            if allow_empty:
                return a.astype(np.int64)
            raise ValueError(f"NGramLM.{op}: empty sequence of token ids")
        if not np.issubdtype(a.dtype, np.integer):
            raise TypeError(f"NGramLM.{op}: token ids must be integers, got dtype {a.dtype}")
        V = self.vocab_size
        if V is not None and (a.min() < 0 or a.max() >= V):
            bad = a[(a < 0) | (a >= V)][0]
            raise IndexError(f"NGramLM.{op}: token id {bad} outside the vocabulary [0, {V})")
        return a.astype(np.int64)

    def _check_params(self):
        if self.levels is None:
            raise RuntimeError("NGramLM: call fit(ids) before asking for probabilities")
        if self.smoothing == "add_k" and not self.k > 0:
            raise ValueError(f"NGramLM: add-k needs k > 0, got k={self.k}")
        if self.smoothing == "jelinek_mercer" and not 0 <= self.lam <= 1:
            raise ValueError(f"NGramLM: Jelinek-Mercer needs 0 <= lam <= 1, got lam={self.lam}")
        if self.smoothing == "kneser_ney" and self.discount is not None and not 0 < self.discount <= 1:
            raise ValueError(f"NGramLM: Kneser-Ney needs 0 < discount <= 1, got discount={self.discount}")

    @staticmethod
    def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
        """values[i] where keys[i] == query, else 0 (keys sorted)."""
        if keys.size == 0:
            return np.zeros(len(query), dtype=values.dtype)
        i = np.searchsorted(keys, query)                     # (Q,)
        i_clip = np.minimum(i, len(keys) - 1)
        found = (i < len(keys)) & (keys[i_clip] == query)
        return np.where(found, values[i_clip], 0)

    # ------------------------------------------------------------------ fit
    # [start:fit]
    def fit(self, ids) -> "NGramLM":
        """Count every m-gram, m = 1..n, of the training ids (and continuation counts for Kneser-Ney)."""
        ids = self._check_ids(ids, "fit")
        if self.vocab_size is None:
            self.vocab_size = int(ids.max()) + 1
            ids = self._check_ids(ids, "fit")
        V, n = self.vocab_size, self.n
        if float(V) ** n >= 2.0 ** 62:
            raise ValueError(f"NGramLM.fit: V^n = {V}^{n} does not fit the int64 n-gram keys; lower n")
        grams = []                                           # (keys, counts) of (m+1)-grams, m = 0..n-1
        key = ids.copy()                                     # (N,) 1-gram keys
        for m in range(n):
            if m > 0:
                key = key[:-1] * V + ids[m:]                 # (N-m,) append the next token
            if key.size == 0:
                grams.append((np.zeros(0, np.int64), np.zeros(0, np.int64)))
                continue
            grams.append(np.unique(key, return_counts=True))
        self.levels = []
        for m in range(n):
            keys, counts = grams[m]
            if self.smoothing == "kneser_ney" and m < n - 1:
                # continuation count: distinct tokens seen before this (m+1)-gram = #(m+2)-gram types ending in it
                keys, counts = np.unique(grams[m + 1][0] % V ** (m + 1), return_counts=True)
            self.levels.append(self._level(keys, counts.astype(np.float64), V))
        return self
    # [end:fit]

    @staticmethod
    def _level(keys: np.ndarray, counts: np.ndarray, V: int) -> dict:
        """Sorted n-gram keys and counts, plus per-context totals c(h), types N1+(h .), and n1, n2."""
        ctx = keys // V                                      # sorted because keys are
        ctx_keys, start = np.unique(ctx, return_index=True)
        total = np.add.reduceat(counts, start) if keys.size else np.zeros(0)
        types = np.diff(np.append(start, keys.size)).astype(np.float64)
        n1, n2 = float(np.sum(counts == 1)), float(np.sum(counts == 2))
        d = n1 / (n1 + 2 * n2) if n1 + 2 * n2 > 0 else 0.5
        return {"keys": keys, "counts": counts, "ctx_keys": ctx_keys, "ctx_total": total, "ctx_types": types,
                "ney_discount": float(np.clip(d, 0.05, 0.9))}

    # [start:smoothing]
    def _interpolate(self, m: int, c_hw, c_h, types_h, p_lower):
        """One step of the recursion: P_m(w | h) from counts at context length m and P_{m-1}(w | h')."""
        seen = c_h > 0
        safe = np.where(seen, c_h, 1.0)
        if self.smoothing == "add_k":
            V = self.vocab_size
            return (c_hw + self.k) / (np.where(seen, c_h, 0.0) + self.k * V)
        if self.smoothing == "jelinek_mercer":
            p = self.lam * c_hw / safe + (1 - self.lam) * p_lower
        else:                                                # interpolated Kneser-Ney
            D = self.levels[m]["ney_discount"] if self.discount is None else self.discount
            p = np.maximum(c_hw - D, 0.0) / safe + D * types_h / safe * p_lower
        return np.where(seen, p, p_lower)                    # unseen context: back to the lower order
    # [end:smoothing]

    def _orders(self, ctx_len: int):
        """Context lengths used for a history of ``ctx_len`` tokens (add-k uses only the longest)."""
        top = min(ctx_len, self.n - 1)
        return [top] if self.smoothing == "add_k" else list(range(top + 1))

    # ------------------------------------------------------------------ one context, whole vocabulary
    # [start:probs]
    def probs(self, context=()) -> np.ndarray:
        """The next-token distribution P(. | context) over the whole vocabulary, shape (V,)."""
        self._check_params()
        ctx = self._check_ids(context, "probs", allow_empty=True)
        ctx = ctx[len(ctx) - min(len(ctx), self.n - 1):]     # keep the last n-1 tokens
        V = self.vocab_size
        p = np.full(V, 1.0 / V)                              # order "-1": uniform
        for m in self._orders(len(ctx)):
            lvl, h = self.levels[m], 0
            for w in ctx[len(ctx) - m:] if m else ():
                h = h * V + int(w)                           # context key
            lo, hi = np.searchsorted(lvl["keys"], [h * V, h * V + V])
            c_hw = np.zeros(V)                               # (V,) counts c(h, w)
            c_hw[lvl["keys"][lo:hi] - h * V] = lvl["counts"][lo:hi]
            p = self._interpolate(m, c_hw, c_hw.sum(), float(hi - lo), p)
        return p
    # [end:probs]

    def prob(self, next_id: int, context=()) -> float:
        """P(next_id | context)."""
        p = self.probs(context)
        if not 0 <= int(next_id) < len(p):
            raise IndexError(f"NGramLM.prob: token id {next_id} outside the vocabulary [0, {len(p)})")
        return float(p[int(next_id)])

    # ------------------------------------------------------------------ whole sequence, vectorised
    def log_prob_sequence(self, ids) -> np.ndarray:
        """log P(w_t | w_{t-n+1..t-1}) for every position t (the first tokens see shorter contexts), (T,)."""
        self._check_params()
        ids = self._check_ids(ids, "log_prob_sequence")
        T, V = len(ids), self.vocab_size
        pos = np.arange(T)
        p = np.full(T, 1.0 / V)                              # (T,)
        ctx_key = np.zeros(T, dtype=np.int64)                # (T,) key of the m tokens before t
        for m in range(self.n):
            if m > 0:
                older = np.where(pos >= m, ids[np.maximum(pos - m, 0)], 0)
                ctx_key = ctx_key + older * V ** (m - 1)     # the oldest token is the most significant digit
            use = pos >= m if self.smoothing != "add_k" else (pos == m) | ((m == self.n - 1) & (pos >= m))
            if not use.any():
                continue
            lvl = self.levels[m]
            h = ctx_key[use]
            c_hw = self._lookup(lvl["keys"], lvl["counts"], h * V + ids[use])
            c_h = self._lookup(lvl["ctx_keys"], lvl["ctx_total"], h)
            types = self._lookup(lvl["ctx_keys"], lvl["ctx_types"], h)
            p[use] = self._interpolate(m, c_hw, c_h, types, p[use])
        return np.log(p)

    def perplexity(self, ids) -> float:
        """exp of the mean negative log-likelihood per token of ``ids``."""
        from tinygrad_llm.metrics.perplexity import perplexity
        return perplexity(self.log_prob_sequence(ids))

    # ------------------------------------------------------------------ generation
    # [start:sample]
    def sample(self, context, n: int, rng=None, temperature: float = 1.0) -> np.ndarray:
        """The autoregressive loop: predict P(. | context), choose a token, append it, repeat ``n`` times.

        ``rng``: a numpy Generator or an int seed. Returns the ``n`` new ids (without the context).
        """
        if temperature <= 0:
            raise ValueError(f"NGramLM.sample: temperature must be > 0, got {temperature}")
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        seq = [int(t) for t in self._check_ids(context, "sample", allow_empty=True)]
        start = len(seq)
        for _ in range(int(n)):
            p = self.probs(seq[len(seq) - min(len(seq), self.n - 1):])   # predict
            if temperature != 1.0:
                p = np.exp(np.log(np.maximum(p, 1e-300)) / temperature)
            cdf = np.cumsum(p)
            nxt = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))  # choose
            seq.append(min(nxt, len(p) - 1))                                   # append, repeat
        return np.array(seq[start:], dtype=np.int64)
    # [end:sample]
