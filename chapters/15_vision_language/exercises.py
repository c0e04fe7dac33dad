"""Chapter 15 exercises: fill in the functions below, then run ``python chapters/15_vision_language/exercises.py``
to check them. Worked answers are in ``solutions.py`` (tested in tests/chapters/test_ch15_vision_language.py)."""
from __future__ import annotations

import numpy as np


# Exercise 1: the patch embedding with explicit loops. x (B, C, H, W), weight (D, C, P, P), bias (D,) ->
# (B, N, D) with N = (H/P)(W/P) patches in row-major order: output [b, i*(W/P)+j, d] is the dot product of
# weight[d] with the patch x[b, :, iP:(i+1)P, jP:(j+1)P], plus bias[d]. (This is a convolution with stride P.)
def patch_embed_loops(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    raise NotImplementedError


# Exercise 2: undo pixel shuffle. y (B, N/r^2, r^2 D) from functional.pixel_shuffle(x, r) -> x (B, N, D).
# Since pixel shuffle only moves entries, this inverse is also its backward.
def pixel_unshuffle_tokens(y: np.ndarray, r: int) -> np.ndarray:
    raise NotImplementedError


# Exercise 3: InfoNCE in NumPy, and its derivative with respect to the log inverse temperature t.
# x, y (B, E) (not normalised), t a float. Returns (loss, dloss/dt).
def info_nce_and_dt(x: np.ndarray, y: np.ndarray, t: float) -> tuple[float, float]:
    raise NotImplementedError


# Exercise 4: how many image tokens the decoder reads for an image of side `image_size`, patches of side
# `patch_size` and pixel shuffle factor r.
def image_tokens(image_size: int, patch_size: int, r: int) -> int:
    raise NotImplementedError


# Exercise 5: the chance level of Recall@k: the probability that k items drawn at random (without
# replacement) from N include at least one of the m right ones.
def chance_recall(N: int, m: int, k: int) -> float:
    raise NotImplementedError


# ----------------------------------------------------------------------------- checks
def check(mod) -> dict:
    """Run every exercise of ``mod`` against the library; returns {exercise: 'ok' | 'not done' | error}."""
    import tinygrad_llm.functional as F
    from tinygrad_llm import Tensor, backend, nn
    from tinygrad_llm.models.vlm import VLMConfig

    rng = np.random.default_rng(0)

    def ex1():
        with backend.default_dtype(np.float64):
            layer = nn.PatchEmbedding(3, 5, 4)
        x = rng.standard_normal((2, 3, 8, 12))
        want = layer(Tensor(x)).numpy()
        got = mod.patch_embed_loops(x, layer.weight.numpy(), layer.bias.numpy())
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)

    def ex2():
        x = rng.standard_normal((2, 36, 5))
        for r in (1, 2, 3):
            y = F.pixel_shuffle(Tensor(x), r).numpy()
            np.testing.assert_array_equal(mod.pixel_unshuffle_tokens(y, r), x)
        xt = Tensor(x, requires_grad=True)
        g = rng.standard_normal((2, 9, 20))
        F.pixel_shuffle(xt, 2).backward(Tensor(g))
        np.testing.assert_array_equal(xt.grad.numpy(), mod.pixel_unshuffle_tokens(g, 2))

    def ex3():
        x, y = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
        t = Tensor(np.array(0.8), requires_grad=True)
        loss = F.info_nce(Tensor(x), Tensor(y), t)
        loss.backward()
        got_loss, got_dt = mod.info_nce_and_dt(x, y, 0.8)
        np.testing.assert_allclose([got_loss, got_dt], [loss.item(), float(t.grad.numpy())], rtol=1e-9)

    def ex4():
        for size, p, r in [(32, 4, 2), (32, 4, 1), (64, 8, 4), (512, 16, 4)]:
            assert mod.image_tokens(size, p, r) == VLMConfig(image_size=size, patch_size=p, shuffle_factor=r,
                                                            block_size=20000).image_tokens

    def ex5():
        for N, m, k in [(10, 1, 1), (10, 3, 5), (50, 2, 5), (7, 7, 1)]:
            draws = np.array([rng.permutation(N)[:k] for _ in range(20000)])
            est = (draws < m).any(axis=1).mean()
            assert abs(mod.chance_recall(N, m, k) - est) < 0.015, (N, m, k)

    out = {}
    for name, fn in [("1 patch_embed_loops", ex1), ("2 pixel_unshuffle_tokens", ex2), ("3 info_nce_and_dt", ex3),
                     ("4 image_tokens", ex4), ("5 chance_recall", ex5)]:
        try:
            fn()
            out[name] = "ok"
        except NotImplementedError:
            out[name] = "not done"
        except Exception as e:                                   # noqa: BLE001 - report, do not stop
            out[name] = f"wrong: {type(e).__name__}: {e}"
    return out


if __name__ == "__main__":
    import sys
    for name, result in check(sys.modules[__name__]).items():
        print(f"exercise {name}: {result}")
