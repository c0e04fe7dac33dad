"""Generation: KV cache = no cache (also past the window), sampling filters, temperature/beam limits, seeds."""
import importlib.util
import pathlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_llm import backend
from tinygrad_llm.generation import filter_logits, generate, sample_next
from tinygrad_llm.models.gpt import GPT, GPTConfig
from tinygrad_llm.models.lstm_lm import LSTMConfig, LSTMLM

ROOT = pathlib.Path(__file__).resolve().parents[1]


def sharp_gpt(block_size=8):
    """A tiny float64 GPT with large weights, so the next-token choice is far from ties."""
    with backend.default_dtype(np.float64):
        m = GPT(GPTConfig(vocab_size=11, block_size=block_size, n_layer=2, n_head=2, n_embd=16))
    for p in m.parameters():
        if p.ndim >= 2:
            p.data = p.data * 30
    return m


@pytest.mark.parametrize("n_new", [3, 30])
def test_cached_greedy_equals_uncached_gpt(n_new):
    m = sharp_gpt()
    prompt = np.array([[1, 2, 3], [4, 5, 6]])
    a = m.generate(prompt, n_new, use_cache=True)
    b = m.generate(prompt, n_new, use_cache=False)
    assert a.shape == (2, 3 + n_new)
    np.testing.assert_array_equal(a, b)                  # 30 new tokens run far past block_size 8


def test_cached_greedy_equals_uncached_lstm():
    with backend.default_dtype(np.float64):
        m = LSTMLM(LSTMConfig(vocab_size=11, n_embd=8, hidden_size=16))
    a = m.generate([1, 2, 3], 25, use_cache=True)
    b = m.generate([1, 2, 3], 25, use_cache=False)
    np.testing.assert_array_equal(a, b)


@pytest.mark.torch
def test_greedy_matches_torch_with_and_without_cache():
    import torch
    spec = importlib.util.spec_from_file_location("torch_models", ROOT / "bench" / "torch_models.py")
    tm = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tm)
    m = sharp_gpt()
    ref = tm.copy_weights(m, tm.TorchGPT(11, 8, 2, 2, 16).double())
    prompt = np.array([[1, 2, 3]])
    ours = m.generate(prompt, 20)
    for use_cache in (True, False):
        theirs = ref.generate(torch.from_numpy(prompt), 20, use_cache=use_cache).numpy()
        np.testing.assert_array_equal(ours, theirs)


def test_kv_cache_logits_equal_full_forward():
    m = sharp_gpt()
    ids = np.array([[3, 1, 4, 1, 5, 9]])
    state = None
    for n in range(1, 7):
        logits, state = m.next_logits(ids[:, :n], state, use_cache=True)
        np.testing.assert_allclose(logits, m(ids[:, :n]).data[:, -1], rtol=1e-10, atol=1e-10)


logit_rows = st.lists(st.floats(-5, 5, allow_nan=False), min_size=2, max_size=12)


@settings(max_examples=40)
@given(logit_rows, st.integers(1, 12), st.integers(0, 2**31 - 1))
def test_top_k_never_samples_outside_the_k_largest(row, k, seed):
    z = np.array([row])
    backend.manual_seed(seed)
    allowed = set(np.argsort(-z[0], kind="stable")[:k]) | set(np.flatnonzero(z[0] >= np.sort(z[0])[::-1][min(k, len(row)) - 1]))
    for _ in range(5):
        assert int(sample_next(z, 1.0, top_k=k)[0]) in allowed


@settings(max_examples=40)
@given(logit_rows, st.floats(0.05, 1.0), st.integers(0, 2**31 - 1))
def test_top_p_never_samples_outside_the_nucleus(row, p, seed):
    z = np.array(row)
    probs = np.exp(z - z.max()); probs /= probs.sum()
    order = np.argsort(-probs, kind="stable")
    # the nucleus: most likely tokens until their mass reaches p (ties at the boundary allowed)
    cum = np.cumsum(probs[order])
    n_keep = int(np.searchsorted(cum, p - 1e-12) + 1)
    threshold = probs[order[n_keep - 1]]
    allowed = set(np.flatnonzero(probs >= threshold - 1e-12))
    backend.manual_seed(seed)
    for _ in range(5):
        assert int(sample_next(z[None], 1.0, top_p=p)[0]) in allowed


def test_filter_logits_keeps_exactly_k_and_the_first_token():
    z = np.array([[0.1, 3.0, -1.0, 2.0, 0.5]])
    assert np.isfinite(filter_logits(z, top_k=2)).sum() == 2
    assert np.flatnonzero(np.isfinite(filter_logits(z, top_p=1e-9))).tolist() == [1]
    assert np.isfinite(filter_logits(z, top_p=1.0)).all()


def test_temperature_to_zero_equals_greedy():
    m = sharp_gpt()
    greedy = m.generate([1, 2], 15)
    assert np.array_equal(m.generate([1, 2], 15, do_sample=True, temperature=0.0), greedy)
    backend.manual_seed(5)
    assert np.array_equal(m.generate([1, 2], 15, do_sample=True, temperature=1e-4), greedy)


def test_beam_with_one_beam_equals_greedy_and_beams_score_at_least_greedy():
    m = sharp_gpt()
    greedy = m.generate([[1, 2, 3]], 6)
    np.testing.assert_array_equal(m.generate([[1, 2, 3]], 6, num_beams=1), greedy)
    beams = m.generate([[1, 2, 3]], 6, num_beams=4, num_return_sequences=3, length_penalty=0.0)
    assert beams.shape == (3, 9)

    def logp(seq):
        total = 0.0
        for t in range(3, len(seq)):
            z = m(seq[None, :t]).data[0, -1]
            total += z[seq[t]] - z.max() - np.log(np.exp(z - z.max()).sum())
        return total
    scores = [logp(b) for b in beams]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] >= logp(greedy[0]) - 1e-9


def test_beam_search_exhaustive_on_two_steps():
    """With as many beams as the vocabulary, two steps of beam search find the best 2-token continuation."""
    m = sharp_gpt()
    best, best_lp = None, -np.inf
    for a in range(11):
        za = m(np.array([[1, 2, a]])).data[0, -1]
        z0 = m(np.array([[1, 2]])).data[0, -1]
        lp = (z0[a] - z0.max() - np.log(np.exp(z0 - z0.max()).sum())
              + za.max() - za.max() - np.log(np.exp(za - za.max()).sum()))
        if lp > best_lp:
            best, best_lp = a, lp
    out = m.generate([1, 2], 2, num_beams=11, length_penalty=0.0)
    assert out[0, 2] == best


def test_seeded_sampling_repeats_and_differs_across_seeds():
    m = sharp_gpt()
    for p in m.parameters():
        p.data = p.data / 30                          # a flat distribution: samples vary
    runs = []
    for seed in (7, 7, 8):
        backend.manual_seed(seed)
        runs.append(m.generate([1], 20, do_sample=True, top_k=5, top_p=0.9, num_return_sequences=2))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_eos_stops_and_pads():
    m = sharp_gpt()
    free = m.generate([1, 2, 3], 10)[0]
    eos = int(free[5])
    out = m.generate([1, 2, 3], 10, eos_token_id=eos)[0]
    first = 3 + int(np.flatnonzero(free[3:] == eos)[0])
    np.testing.assert_array_equal(out[:first + 1], free[:first + 1])
    assert (out[first:] == eos).all()


def test_bad_arguments():
    m = sharp_gpt()
    for kw, msg in [({"temperature": -1}, "temperature"), ({"top_k": 0}, "top_k"), ({"top_p": 1.5}, "top_p"),
                    ({"num_beams": 2, "num_return_sequences": 3}, "num_return_sequences"),
                    ({"num_beams": 2, "do_sample": True}, "beam")]:
        with pytest.raises(ValueError, match=msg):
            generate(m, [1, 2], 3, **kw)
    with pytest.raises(ValueError, match="prompt"):
        generate(m, np.zeros((1, 0), np.int64), 3)


class _ThreadSpy:
    """A decoder whose logits favour token 1 (or ``eos`` from step ``stop_at``) and that records the BLAS
    and Numba thread counts seen by each step."""

    def __init__(self, stop_at=None):
        self.seen, self.stop_at = [], stop_at

    def next_logits(self, ids, state, use_cache=True):
        import numba
        from threadpoolctl import threadpool_info
        blas = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
        self.seen.append((max(blas), numba.get_num_threads()))
        logits = np.zeros((ids.shape[0], 5))
        logits[:, 4 if self.stop_at is not None and len(self.seen) >= self.stop_at else 1] = 1.0
        return logits, {}

    def reorder_state(self, state, rows):
        return state


@pytest.mark.parametrize("num_beams", [1, 2])
def test_decode_steps_run_with_one_thread_after_the_prompt_and_restore_the_pools(num_beams):
    """The thread policy (generation/threads.py): step 1 (the prompt) sees the pools as they were, every
    cached step after it one BLAS and one Numba thread, and the pools come back after the loop, also
    when eos ends it early; without the cache nothing changes."""
    import numba
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("Numba was started with one thread")
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        numba.set_num_threads(2)
        spy = _ThreadSpy()
        generate(spy, np.array([[0, 1]]), 4, num_beams=num_beams)
        assert spy.seen == [(2, 2)] + [(1, 1)] * 3
        stop = _ThreadSpy(stop_at=2)
        out = generate(stop, np.array([[0, 1]]), 6, eos_token_id=4)
        assert out.shape[1] == 4 and stop.seen == [(2, 2), (1, 1)]
        after = [p["num_threads"] for p in threadpoolctl.threadpool_info() if p.get("user_api") == "blas"]
        assert max(after) == 2 and numba.get_num_threads() == 2
        plain = _ThreadSpy()
        generate(plain, np.array([[0, 1]]), 3, use_cache=False)
        assert plain.seen == [(2, 2)] * 3


# ----------------------------------------------------------------------------- the loop one step at a time
@pytest.mark.parametrize("kwargs", [dict(do_sample=False), dict(do_sample=True, temperature=0.9, top_k=5),
                                    dict(do_sample=True, top_p=0.7, eos_token_id=3)])
def test_generate_stream_is_generate_step_by_step(kwargs):
    from tinygrad_llm.generation import generate_stream, sampling_probs
    m = sharp_gpt()
    prompt = np.array([[1, 2, 3], [4, 5, 6]])
    backend.manual_seed(5)
    full = m.generate(prompt, 12, **kwargs)
    backend.manual_seed(5)
    steps = list(generate_stream(m, prompt, 12, **kwargs))
    assert 1 <= len(steps) <= 12
    np.testing.assert_array_equal(steps[-1][0], full)
    for t, (ids, logits) in enumerate(steps):               # each step: the ids so far and its own logits
        assert ids.shape == (2, 3 + t + 1) and logits.shape == (2, 11)
        ref, _ = m.next_logits(ids[:, :-1], None, use_cache=False)
        np.testing.assert_allclose(logits, ref, atol=1e-9)
        if not kwargs.get("do_sample"):
            np.testing.assert_array_equal(ids[:, -1], np.argmax(logits, -1))
        p = sampling_probs(logits, kwargs.get("temperature", 1.0), kwargs.get("top_k"), kwargs.get("top_p"))
        live = ids[:, -2] != kwargs.get("eos_token_id", -1)  # rows past their end are padded with eos
        assert (p[np.arange(2), ids[:, -1]] > 0)[live].all()  # every chosen token had mass in its distribution


def test_own_rng_makes_sampling_repeat_whatever_the_global_generator_does():
    from tinygrad_llm.generation import generate_stream
    m = sharp_gpt()
    runs = []
    for seed in (1, 2):
        backend.manual_seed(seed)                           # the global generator differs between the runs
        rng = np.random.default_rng(42)
        runs.append(list(generate_stream(m, [1, 2], 15, do_sample=True, temperature=2.0, rng=rng))[-1][0])
    np.testing.assert_array_equal(runs[0], runs[1])
    other = list(generate_stream(m, [1, 2], 15, do_sample=True, temperature=2.0,
                                 rng=np.random.default_rng(43)))[-1][0]
    assert not np.array_equal(runs[0], other)


def test_sampling_probs_is_the_distribution_sample_next_draws_from():
    from tinygrad_llm.generation import sampling_probs
    z = np.array([[2.0, 1.0, 0.5, -1.0, 3.0]])
    greedy = sampling_probs(z, 0.0)
    np.testing.assert_array_equal(greedy, [[0, 0, 0, 0, 1]])
    p = sampling_probs(z, 0.5, top_k=3)
    assert np.isclose(p.sum(), 1) and np.count_nonzero(p) == 3
    e = np.exp(z[0, [0, 1, 4]] / 0.5)
    np.testing.assert_allclose(p[0, [0, 1, 4]], e / e.sum())
    rng = np.random.default_rng(0)
    draws = np.array([sample_next(np.repeat(z, 4000, 0), 0.5, top_k=3, rng=rng)]).ravel()
    freq = np.bincount(draws, minlength=5) / draws.size
    np.testing.assert_allclose(freq, p[0], atol=0.03)
    assert np.isclose(sampling_probs(z, 1.0, top_p=1e-9).max(), 1.0)


def test_limit_threads_shared_by_two_threads_restores_blas_when_the_last_leaves():
    """Two decoding threads (a server): A enters, B enters, A leaves, B leaves. The BLAS pool is one per
    process: A leaving must not restore it under B, and once both have left it is back to two threads
    (never left limited). (Whether OpenBLAS honours a limit set from a second Python thread is its own
    business: on this machine a fresh thread's set_num_threads did not always stick.)"""
    import threading
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas():
        return max(p["num_threads"] for p in threadpoolctl.threadpool_info() if p.get("user_api") == "blas")
    a_in, b_in, a_out, seen = threading.Event(), threading.Event(), threading.Event(), {}

    def a():
        with backend.limit_threads(1):
            a_in.set()
            b_in.wait(10)
        a_out.set()

    def b():
        a_in.wait(10)
        with backend.limit_threads(1):
            b_in.set()
            a_out.wait(10)
            seen["users_after_a_left"] = backend._limit_users
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        ts = [threading.Thread(target=f) for f in (a, b)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(20)
        assert seen == {"users_after_a_left": 1} and backend._limit_users == 0 and blas() == 2
