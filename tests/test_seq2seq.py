"""Encoder-decoder Transformer: the dates task, masks, decoding, training, BLEU."""
import datetime
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_llm as tg
from tinygrad_llm import backend
from tinygrad_llm.data import translation as tr
from tinygrad_llm.metrics.bleu import corpus_bleu
from tinygrad_llm.models.seq2seq import Seq2SeqTransformer, beam_search, greedy_decode, record_cross_attention
from tinygrad_llm.apps.seq2seq import build_model, evaluate, train, translate


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """The matrices here are tiny: BLAS threads only add contention (several times slower on 2 busy cores)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


# ----------------------------------------------------------------------------- an independent reader
_CARD = {w: i for i, w in enumerate(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                                     "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen",
                                     "sixteen", "seventeen", "eighteen", "nineteen"])}
_CARD.update(twenty=20, thirty=30, forty=40, fifty=50, sixty=60, seventy=70, eighty=80, ninety=90)
_ORD = dict(first=1, second=2, third=3, fourth=4, fifth=5, sixth=6, seventh=7, eighth=8, ninth=9, tenth=10,
            eleventh=11, twelfth=12, thirteenth=13, fourteenth=14, fifteenth=15, sixteenth=16, seventeenth=17,
            eighteenth=18, nineteenth=19, twentieth=20, thirtieth=30)
_MONTH = {m: i + 1 for i, m in enumerate(["january", "february", "march", "april", "may", "june", "july",
                                          "august", "september", "october", "november", "december"])}


def _read_number(words):
    return sum(_CARD[w] for w in words)


def read_date(text):
    """Parse a worded date back, written independently of the generator (English number grammar)."""
    w = text.split()
    if w[0] == "the":                                   # the <ordinal> of <month> <year>
        of = w.index("of")
        day_words, month, year_words = w[1:of], w[of + 1], w[of + 2:]
    else:                                               # <month> <ordinal> <year>
        month = w[0]
        end = 2 if w[1] in _ORD else 3
        day_words, year_words = w[1:end], w[end:]
    day = sum(_ORD[x] if x in _ORD else _CARD[x] for x in day_words)
    if year_words[:2] == ["two", "thousand"]:
        year = 2000 + _read_number([x for x in year_words[2:] if x != "and"])
    else:                                               # <century> (hundred | oh <n> | <n>)
        century = _CARD[year_words[0]]
        rest = year_words[1:]
        year = century * 100 + (0 if rest == ["hundred"] else _read_number([x for x in rest if x != "oh"]))
    return datetime.date(year, _MONTH[month], day)


# ----------------------------------------------------------------------------- data
def test_every_wording_reads_back_to_its_date():
    dates = tr.all_dates()
    assert len(dates) == (datetime.date(2100, 1, 1) - datetime.date(1900, 1, 1)).days
    for d in dates[::7] + [datetime.date(2000, 2, 29), datetime.date(1900, 12, 31)]:
        for template in (0, 1):
            for variant in (0, 1):
                assert read_date(tr.date_to_words(d, template, variant)) == d


def test_known_wordings():
    d = datetime.date(1992, 6, 21)
    assert tr.date_to_words(d, 0) == "june twenty first nineteen ninety two"
    assert tr.date_to_words(d, 1) == "the twenty first of june nineteen ninety two"
    assert tr.year_words(1905) == ["nineteen", "oh", "five"]
    assert tr.year_words(2005, 0) == ["two", "thousand", "and", "five"]
    assert tr.year_words(2005, 1) == ["two", "thousand", "five"]
    assert tr.year_words(1900) == ["nineteen", "hundred"]
    assert tr.ordinal_words(30) == ["thirtieth"] and tr.ordinal_words(12) == ["twelfth"]
    assert tr.date_to_iso(datetime.date(2005, 3, 3)) == "2005-03-03"


@pytest.mark.parametrize("fn,bad", [(tr.number_words, 0), (tr.number_words, 100), (tr.ordinal_words, 32),
                                    (tr.year_words, 1899), (tr.year_words, 2100)])
def test_out_of_range_words_raise(fn, bad):
    with pytest.raises(ValueError, match=fn.__name__):
        fn(bad)


def test_dataset_is_deterministic_and_seeded():
    a = tr.make_dates_task(300, 50, 80, seed=5)
    b = tr.make_dates_task(300, 50, 80, seed=5)
    c = tr.make_dates_task(300, 50, 80, seed=6)
    assert (a.train, a.valid, a.test) == (b.train, b.valid, b.test) and a.src_vocab == b.src_vocab
    assert a.test != c.test


def test_splits_are_disjoint_by_date_and_correct():
    t = tr.make_dates_task(5000, 500, 1000, seed=1)
    assert (len(t.train), len(t.valid), len(t.test)) == (5000, 500, 1000)
    dates = [set(tgt for _, tgt in split) for split in (t.train, t.valid, t.test)]
    assert sum(map(len, dates)) == 6500                 # no date twice, not even inside one split
    assert not (dates[0] & dates[1]) and not (dates[0] & dates[2]) and not (dates[1] & dates[2])
    for src, tgt in t.train[:300] + t.test[:300]:
        assert read_date(src).isoformat() == tgt
    assert {len(s.split()) > 5 for s, _ in t.train} == {True, False}   # both templates occur


def test_sizes_are_checked():
    with pytest.raises(ValueError, match="make_dates_task"):
        tr.make_dates_task(n_train=80000)


def test_vocab_roundtrip_and_no_unknowns():
    t = tr.make_dates_task(2000, 10, 10, seed=0)
    for src, tgt in t.train:
        s, y = t.encode_pair(src, tgt)
        assert t.src_vocab.unk_id not in s and t.tgt_vocab.unk_id not in y and y[-1] == t.tgt_vocab.eos_id
        assert " ".join(t.src_vocab.decode(s)) == src and t.decode_target(y) == tgt
    v = t.tgt_vocab
    assert (v.pad_id, v.bos_id, v.eos_id, v.unk_id) == (0, 1, 2, 3)
    assert v.decode([v.bos_id] + v.encode(list("12")) + [v.eos_id] + v.encode(list("3"))) == ["1", "2"]
    with pytest.raises(IndexError, match="Vocab.decode"):
        v.decode([len(v)])
    j = tr.make_dates_task(10, 10, 10, joint_vocab=True)
    assert j.src_vocab is j.tgt_vocab and len(j.src_vocab) == len(t.src_vocab) + len(t.tgt_vocab) - 4


def test_make_batch_shifts_targets():
    t = tr.make_dates_task(10, 10, 10)
    src, tgt_in, tgt_out = tr.make_batch(t, t.train[:4])
    assert src.dtype == np.int64 and tgt_in.shape == tgt_out.shape
    assert (tgt_in[:, 0] == t.tgt_vocab.bos_id).all()
    assert (tgt_in[:, 1:] == tgt_out[:, :-1]).all()
    lengths = [len(s.split()) for s, _ in t.train[:4]]
    assert src.shape[1] == max(lengths)
    assert all((src[i, n:] == 0).all() and (src[i, :n] != 0).all() for i, n in enumerate(lengths))


# ----------------------------------------------------------------------------- the model
def small_model(V_src=13, V_tgt=11, **kw):
    cfg = dict(d_model=16, nhead=2, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=32, dropout=0.0)
    cfg.update(kw)
    return Seq2SeqTransformer(V_src, V_tgt, **cfg).eval()


def random_ids(rng, B, T, V, lengths=None):
    ids = rng.integers(4, V, size=(B, T))
    if lengths is not None:
        for i, n in enumerate(lengths):
            ids[i, n:] = 0
    return ids


@pytest.mark.parametrize("norm_first", [True, False])
def test_extra_source_padding_changes_nothing(norm_first):
    rng = np.random.default_rng(0)
    m = small_model(norm_first=norm_first)
    src = random_ids(rng, 3, 6, 13, lengths=[6, 4, 2])
    tgt = np.concatenate([np.ones((3, 1), np.int64), random_ids(rng, 3, 4, 11)], axis=1)
    base = m(src, tgt).numpy()
    padded = np.concatenate([src, np.zeros((3, 5), np.int64)], axis=1)
    assert np.allclose(m(padded, tgt).numpy(), base, atol=1e-5)
    # and a row's output does not depend on how long the other rows of its batch are
    alone = m(src[2:, :2], tgt[2:]).numpy()
    assert np.allclose(alone, base[2:], atol=1e-5)


def test_extra_target_padding_changes_nothing_at_real_positions():
    rng = np.random.default_rng(1)
    m = small_model()
    src = random_ids(rng, 2, 5, 13)
    tgt = np.concatenate([np.ones((2, 1), np.int64), random_ids(rng, 2, 3, 11)], axis=1)
    base = m(src, tgt).numpy()
    padded = np.concatenate([tgt, np.zeros((2, 4), np.int64)], axis=1)
    assert np.allclose(m(src, padded).numpy()[:, :4], base, atol=1e-5)


@settings(max_examples=15)
@given(t=st.integers(0, 5), seed=st.integers(0, 10_000))
def test_decoder_output_at_t_ignores_later_target_tokens(t, seed):
    rng = np.random.default_rng(seed)
    m = small_model()
    src = random_ids(rng, 2, 5, 13)
    tgt = np.concatenate([np.ones((2, 1), np.int64), random_ids(rng, 2, 5, 11)], axis=1)   # (2, 6)
    changed = tgt.copy()
    changed[:, t + 1:] = random_ids(rng, 2, 5 - t, 11)
    a, b = m(src, tgt).numpy(), m(src, changed).numpy()
    assert np.allclose(a[:, :t + 1], b[:, :t + 1], atol=1e-5)
    if t < 5 and (changed[:, t + 1:] != tgt[:, t + 1:]).any():
        assert not np.allclose(a[:, t + 1:], b[:, t + 1:], atol=1e-5)   # later positions do see them


def test_source_tokens_reach_every_decoder_position():
    rng = np.random.default_rng(2)
    m = small_model()
    src = random_ids(rng, 1, 5, 13)
    tgt = np.array([[1, 5, 6]])
    changed = src.copy()
    changed[0, 3] = 4 if src[0, 3] != 4 else 5
    diff = np.abs(m(src, tgt).numpy() - m(changed, tgt).numpy()).max(axis=-1)
    assert (diff > 1e-6).all()                         # no causal mask on the source side


def test_parameter_sharing_options():
    a = small_model(V_src=11, V_tgt=11, share_embeddings=True, tie_output=True)
    b = small_model(V_src=11, V_tgt=11, share_embeddings=False, tie_output=True)
    c = small_model(V_src=11, V_tgt=11, share_embeddings=False, tie_output=False)
    assert a.src_embed is a.tgt_embed and a.generator is None and c.generator is not None
    assert b.num_parameters() - a.num_parameters() == 11 * 16
    assert c.num_parameters() - b.num_parameters() == 11 * 16 + 11
    assert "src_embed.weight" in a.state_dict() and "tgt_embed.weight" not in a.state_dict()
    with pytest.raises(ValueError, match="share_embeddings"):
        small_model(V_src=12, V_tgt=11, share_embeddings=True)
    with pytest.raises(TypeError, match="integer"):
        a(np.zeros((1, 3)), np.ones((1, 2), np.int64))


def test_joint_vocabulary_task_builds_a_shared_embedding_model():
    task = tr.make_dates_task(20, 5, 5, joint_vocab=True)
    m = build_model(task, d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=32)
    assert m.src_embed is m.tgt_embed
    src, tgt_in, tgt_out = tr.make_batch(task, task.train[:4])
    assert np.isfinite(m.loss(src, tgt_in, tgt_out).item())


def test_gradients_reach_every_parameter():
    rng = np.random.default_rng(3)
    m = small_model(tie_output=False).train()
    src = random_ids(rng, 2, 5, 13, lengths=[5, 3])
    tgt_out = random_ids(rng, 2, 4, 11, lengths=[4, 2])
    tgt_in = np.concatenate([np.ones((2, 1), np.int64), tgt_out[:, :-1]], axis=1)
    m.loss(src, tgt_in, tgt_out).backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and np.isfinite(p.grad.numpy()).all(), name
        assert np.abs(p.grad.numpy()).max() > 0, name


def test_loss_ignores_padding_targets():
    rng = np.random.default_rng(4)
    m = small_model()
    src = random_ids(rng, 1, 4, 13)
    tgt_in, tgt_out = np.array([[1, 5, 6]]), np.array([[5, 6, 2]])
    base = m.loss(src, tgt_in, tgt_out).item()
    padded = m.loss(src, np.array([[1, 5, 6, 2, 0]]), np.array([[5, 6, 2, 0, 0]])).item()
    assert padded == pytest.approx(base, rel=1e-5)


# ----------------------------------------------------------------------------- decoding
def _sequence_logprob(m, src, ids, eos):
    """log p(ids + <eos> | src) by teacher forcing (float64 log-softmax)."""
    y = list(ids) + [eos]
    logits = m(src[None], np.array([[m.bos_id] + y[:-1]])).numpy()[0].astype(np.float64)
    logp = logits - logits.max(-1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
    return float(sum(logp[t, v] for t, v in enumerate(y))), len(y)


@pytest.mark.parametrize("seed", range(4))
def test_beam_search_with_one_beam_is_greedy(seed):
    tg.manual_seed(seed)
    rng = np.random.default_rng(seed)
    m = small_model(V_tgt=6)          # tiny vocabulary: <eos> (id 2) gets picked now and then
    src = random_ids(rng, 5, 6, 13, lengths=[6, 5, 4, 3, 2])
    g = greedy_decode(m, src, max_len=7)
    for alpha in (0.0, 1.0, 2.0):
        assert beam_search(m, src, num_beams=1, max_len=7, length_penalty=alpha) == g


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0])
def test_beam_scores_are_length_penalised_log_probabilities(alpha):
    tg.manual_seed(7)
    m = small_model(V_tgt=6)
    src = random_ids(np.random.default_rng(7), 3, 5, 13, lengths=[5, 4, 3])
    results = beam_search(m, src, num_beams=3, max_len=6, length_penalty=alpha, return_all=True)
    for b, hyps in enumerate(results):
        scores = [s for s, _ in hyps]
        assert scores == sorted(scores, reverse=True) and len(hyps) >= 3
        for s, ids in hyps:
            if len(ids) < 6:                                  # finished with <eos>
                lp, n = _sequence_logprob(m, src[b], ids, m.eos_id)
                assert s == pytest.approx(lp / n ** alpha, abs=1e-4)
        assert beam_search(m, src[b:b + 1], num_beams=3, max_len=6, length_penalty=alpha)[0] == hyps[0][1]


def test_decoding_restores_training_mode_and_checks_arguments():
    m = small_model().train()
    src = np.array([[5, 6, 7]])
    greedy_decode(m, src, 3)
    beam_search(m, src, 2, 3)
    assert m.training
    with pytest.raises(ValueError, match="num_beams"):
        beam_search(m, src, 0)
    with pytest.raises(ValueError, match="max_len"):
        beam_search(m, src, 2, max_len=0)


def test_cross_attention_weights_are_distributions_over_real_source_tokens():
    rng = np.random.default_rng(5)
    m = small_model()
    src = random_ids(rng, 2, 6, 13, lengths=[6, 3])
    tgt = np.array([[1, 4, 5], [1, 6, 7]])
    with record_cross_attention(m) as weights:
        m(src, tgt)
    assert len(weights) == 2
    for w in weights:
        assert w.shape == (2, 3, 6)
        assert np.allclose(w.sum(-1), 1.0, atol=1e-5)
        assert np.abs(w[1, :, 3:]).max() == 0.0
    with record_cross_attention(m) as again:
        pass
    m(src, tgt)
    assert again == []                                  # the hook is removed on exit


# ----------------------------------------------------------------------------- training and BLEU
def test_training_memorises_a_tiny_task():
    tg.manual_seed(0)
    task = tr.make_dates_task(n_train=8, n_valid=0, n_test=8, seed=0)
    model = build_model(task, d_model=32, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                        dim_feedforward=64)
    # with NUMBA_DISABLE_JIT=1 the kernels run as plain Python loops: use the NumPy reference path then
    with backend.use_kernels(backend.kernels_enabled() and os.environ.get("NUMBA_DISABLE_JIT", "0") != "1"):
        hist = train(model, task, steps=300, batch_size=16, lr=1e-2, warmup=20)
    losses = [r["loss"] for r in hist["train"]]
    assert np.mean(losses[:20]) > 1.5 and np.mean(losses[-20:]) < 0.05
    assert hist["train"][-1]["step"] == 300 and hist["train"][-1]["lr"] < 1e-6   # cosine decay to 0
    r = evaluate(model, task, task.train)
    assert r["exact_match"] == 1.0 and r["bleu"] == pytest.approx(100.0)
    assert evaluate(model, task, task.train, num_beams=3)["exact_match"] == 1.0


def test_bleu_of_perfect_outputs_is_100_and_of_wrong_ones_lower():
    task = tr.make_dates_task(10, 10, 50)
    refs = [t for _, t in task.test]
    assert corpus_bleu(refs, [refs]).score == pytest.approx(100.0)
    wrong = [r[:-1] + ("0" if r[-1] != "0" else "1") for r in refs]     # every day wrong
    assert 0.0 < corpus_bleu(wrong, [refs]).score < 100.0


@pytest.mark.oracle
def test_bleu_of_date_outputs_matches_sacrebleu():
    sacrebleu = pytest.importorskip("sacrebleu")
    task = tr.make_dates_task(10, 10, 60)
    refs = [t for _, t in task.test]
    rng = np.random.default_rng(0)
    hyps = [r if rng.random() < 0.5 else r[:5] + r[8:] + r[4:8] for r in refs]
    assert corpus_bleu(hyps, [refs]).score == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score, abs=1e-9)


def test_translate_batches_do_not_change_outputs():
    tg.manual_seed(1)
    task = tr.make_dates_task(10, 10, 12)
    model = build_model(task, d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                        dim_feedforward=32)
    sources = [s for s, _ in task.test]
    assert translate(model, task, sources, batch_size=5) == translate(model, task, sources, batch_size=12)


def test_command_line_writes_model_and_metrics(tmp_path):
    import json
    from tinygrad_llm import cli
    from tinygrad_llm.io.checkpoint import load_checkpoint
    assert cli.main(["seq2seq", "--steps", "4", "--n-train", "40", "--n-test", "12", "--beams", "2", "--quiet",
                     "--out", str(tmp_path)]) == 0
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert set(saved) >= {"config", "greedy", "beam2", "train_seconds"}
    ck = load_checkpoint(tmp_path / "checkpoint.npz")
    assert ck.model_type == "seq2seq" and ck.config == saved["config"]
    model = Seq2SeqTransformer(**ck.config)
    model.load_state_dict(ck.model_state)
    task = tr.make_dates_task(n_train=40, n_test=12, seed=0)
    again = evaluate(model, task, task.test)
    assert again["exact_match"] == saved["greedy"]["exact_match"] and again["bleu"] == saved["greedy"]["bleu"]


# ----------------------------------------------------------------------------- PyTorch oracle
def _sinusoids(T, d):
    """PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(p / 10000^(2i/d)) (Vaswani et al., 2017)."""
    pos, i = np.arange(T)[:, None], np.arange(0, d, 2)[None, :]
    pe = np.zeros((T, d))
    pe[:, 0::2], pe[:, 1::2] = np.sin(pos / 10000 ** (i / d)), np.cos(pos / 10000 ** (i / d))
    return pe


def _torch_reference_logits(m, src, tgt_in):
    """The same network built from torch.nn.Transformer{Encoder,Decoder}Layer with our weights copied in."""
    import torch
    cfg = m.config
    sd = {k: torch.tensor(v, dtype=torch.float64) for k, v in m.state_dict().items()}

    def layers(cls, prefix, n):
        out = []
        for i in range(n):
            layer = cls(cfg["d_model"], cfg["nhead"], cfg["dim_feedforward"], 0.0, cfg["activation"],
                        batch_first=True, norm_first=cfg["norm_first"]).double().train()   # train(): no fast path
            p = f"{prefix}.{i}."
            layer.load_state_dict({k[len(p):]: v for k, v in sd.items() if k.startswith(p)})
            out.append(layer)
        return out

    d = cfg["d_model"]
    enc = layers(torch.nn.TransformerEncoderLayer, "encoder_layers", cfg["num_encoder_layers"])
    dec = layers(torch.nn.TransformerDecoderLayer, "decoder_layers", cfg["num_decoder_layers"])
    E_src, E_tgt = sd["src_embed.weight"], sd["tgt_embed.weight" if "tgt_embed.weight" in sd else "src_embed.weight"]
    src_t, tgt_t = torch.tensor(src), torch.tensor(tgt_in)
    src_pad, tgt_pad = src_t == cfg["pad_id"], tgt_t == cfg["pad_id"]
    pe = torch.tensor(_sinusoids(max(src.shape[1], tgt_in.shape[1]), d))

    def ln(x, name):
        return torch.nn.functional.layer_norm(x, (d,), sd[name + ".weight"], sd[name + ".bias"], 1e-5)

    with torch.no_grad():
        h = E_src[src_t] * d ** 0.5 + pe[:src.shape[1]]
        for layer in enc:
            h = layer(h, src_key_padding_mask=src_pad)
        if cfg["norm_first"]:
            h = ln(h, "encoder_norm")
        T = tgt_in.shape[1]
        z = E_tgt[tgt_t] * d ** 0.5 + pe[:T]
        causal = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
        for layer in dec:
            z = layer(z, h, tgt_mask=causal, tgt_key_padding_mask=tgt_pad, memory_key_padding_mask=src_pad)
        if cfg["norm_first"]:
            z = ln(z, "decoder_norm")
        return (z @ E_tgt.T).numpy()


@pytest.mark.torch
@pytest.mark.parametrize("norm_first,share", [(True, False), (False, True)])
def test_logits_match_pytorch_transformer_layers(norm_first, share):
    pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    with backend.default_dtype(np.float64):
        m = small_model(V_src=11, V_tgt=11, norm_first=norm_first, share_embeddings=share)
    src = random_ids(rng, 3, 6, 11, lengths=[6, 4, 2])
    tgt_in = np.concatenate([np.ones((3, 1), np.int64), random_ids(rng, 3, 4, 11, lengths=[4, 3, 1])], axis=1)
    ours = m(src, tgt_in).numpy()
    ref = _torch_reference_logits(m, src, tgt_in)
    real = tgt_in != 0                                   # padded target positions are not compared
    assert np.allclose(ours[real], ref[real], atol=1e-8), np.abs(ours[real] - ref[real]).max()
