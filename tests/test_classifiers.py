"""Chapter 16's classification pieces: dialogue parsing and the question task, logistic regression on fixed
features (against scikit-learn), the mean-pooling head, and the comparison driver on tiny random models."""
import json

import numpy as np
import pytest

from tinygrad_llm import backend
from tinygrad_llm.apps import finetune as ft
from tinygrad_llm.data.dialogue import balanced_sample, question_sentences, sentences, turns
from tinygrad_llm.models.bert import BertConfig, BertModel
from tinygrad_llm.models.logistic_regression import LogisticRegression
from tinygrad_llm.nn.lora import apply_lora, lora_modules
from tinygrad_llm.tokenizers.wordpiece import WordPiece

PLAY = """ACT I.

SCENE I. A street.

[Enter OLIVIA and VIOLA.]

OLIVIA.
Is the duke come to court today?
Speak, good Viola.

VIOLA.
The duke is come to court today. Why ask you?

[Exit.]

I know not, lady.

OLIVIA.
Farewell.

VIOLA.
Farewell, fair lady. Shall I see you soon?
"""


def test_turns_drop_directions_and_headings_and_keep_continuations():
    t = turns(PLAY, min_turns=2)
    assert [s for s, _ in t] == ["OLIVIA", "VIOLA", "OLIVIA", "VIOLA"]
    assert t[0][1] == "Is the duke come to court today? Speak, good Viola."
    assert t[1][1] == "The duke is come to court today. Why ask you? I know not, lady."    # after [Exit.]
    assert sentences(t[1][1]) == ["The duke is come to court today.", "Why ask you?", "I know not, lady."]
    assert turns(PLAY, min_turns=3) == []                     # names must open at least min_turns blocks


def test_question_sentences_strip_the_mark_and_label_it():
    got = dict(question_sentences("\n\n".join(["A.\nIs the duke come to court today?", "B.\nThe duke is come to court.",
                                                "A.\nWhat, ho!", "B.\nNo.", "A.\nHe is.", "B.\nWhy?"]), min_words=2))
    assert got == {"Is the duke come to court today": 1, "The duke is come to court": 0, "He is": 0}


def test_balanced_sample():
    rows = [(str(i), int(i % 4 == 0)) for i in range(100)]              # 25 of class 1
    s = balanced_sample(rows, 40, np.random.default_rng(0))
    assert len(s) == 40 and sum(r[1] for r in s) == 20 and len(set(s)) == 40
    s = balanced_sample(rows, 80, np.random.default_rng(0))
    assert sum(r[1] for r in s) == 25 and len(s) == 65               # the rare class runs out


def _plays():
    def play(a, b, topic):
        blocks = []
        for i in range(40):
            blocks += [f"{a}.\nIs the {topic} come to town number {i}?", f"{b}.\nThe {topic} is come to town number {i}."]
        return "\n\n".join(blocks)
    titles = ["Macbeth", "Hamlet", "Twelfth Night", "As You Like It", "King John", "King Lear"]
    return {t: play(t.split()[0].upper() + "A", t.split()[-1].upper() + "B", t.split()[-1].lower()) for t in titles}


def test_question_dataset_is_balanced_split_by_play_and_the_test_set_fixed():
    plays = _plays()
    train, test = ft.build_question_dataset(20, 16, seed=0, plays=plays)
    train1, test1 = ft.build_question_dataset(20, 16, seed=1, plays=plays)
    assert test == test1 and train != train1 and ft.build_question_dataset(20, 16, 0, plays) == (train, test)
    assert {r[2] for r in test} <= set(ft.TEST_PLAYS) and not {r[2] for r in train} & (set(ft.TEST_PLAYS) | set(ft.VALID_PLAYS))
    assert sum(r[1] for r in train) == 10 and sum(r[1] for r in test) == 8
    valid = ft.build_question_dataset(20, 16, 0, plays, split="valid")[1]
    assert {r[2] for r in valid} == {"King John"}


@pytest.mark.oracle
def test_logistic_regression_matches_scikit_learn():
    sk = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 12))
    y = np.argmax(X @ rng.standard_normal((3, 12)).T + 2 * rng.standard_normal((300, 3)), 1)
    lam = 1e-2
    with backend.default_dtype(np.float64):
        ours = LogisticRegression(12, 3, l2=lam).fit(X, y, steps=3000)
    ref = sk.LogisticRegression(C=1 / (lam * len(y)), tol=1e-10, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-3)
    assert (ours.predict(X) == ref.predict(X)).mean() > 0.98
    assert ours.losses[-1] < ours.losses[0]


VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "is", "the", "come", "to", "town", "number", "duke",
         "macbeth", "hamlet", "night", "it", "john", "lear"] + [str(i) for i in range(10)]


def _tiny_bert(seed=0):
    backend.manual_seed(seed)
    return BertModel(BertConfig(vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=32, max_position_embeddings=48, hidden_dropout_prob=0.0,
                                attention_probs_dropout_prob=0.0))


def _tiny_classifier(seed=0, n_labels=2):
    bert = _tiny_bert(seed)
    bert.tokenizer = WordPiece(VOCAB)
    return ft.MeanPoolClassifier(bert, n_labels, dropout=0.0)


def test_mean_pool_head_ignores_padding_and_equals_the_sentence_embedding():
    m = _tiny_classifier().eval()
    tok = m.tokenizer
    one = tok(["is the duke come"], return_tensors="np")
    two = tok(["is the duke come", "the duke is come to town number 7 7 7"], padding=True, return_tensors="np")
    a = m(one["input_ids"], one["attention_mask"]).numpy()
    b = m(two["input_ids"], two["attention_mask"]).numpy()
    np.testing.assert_allclose(a[0], b[0], rtol=1e-5, atol=1e-6)
    h, _ = m.bert(one["input_ids"], one["attention_mask"])
    u = BertModel.mean_pool(h.numpy(), one["attention_mask"], normalize=False)
    np.testing.assert_allclose(a, u @ m.classifier.weight.numpy().T + m.classifier.bias.numpy(), rtol=1e-5, atol=1e-6)


def test_lora_recipe_targets_every_encoder_linear_layer():
    m = _tiny_classifier()
    r = ft.RECIPES["lora"]
    names = apply_lora(m, r["targets"], r["r"], r["alpha"], also_train=["classifier"])
    assert len(names) == 6 == len(lora_modules(m))                 # Q, K, V, attention output, FFN in and out
    assert "bert.pooler.dense" not in names


def test_compare_runs_resumes_and_summarises(tmp_path):
    plays = _plays()
    enc = _tiny_bert(1).eval()
    enc.tokenizer = WordPiece(VOCAB)
    kw = dict(sizes=(8, 16), seeds=(0, 1), n_test=8, log=None, plays=plays, encoder=enc,
              make_model=lambda recipe: _tiny_classifier(), curve_recipes=("tiny",), full_size_recipes=("tinylora",))
    ft.RECIPES["tiny"] = dict(ft.RECIPES["tuned"], min_steps=2)
    ft.RECIPES["tinylora"] = dict(ft.RECIPES["lora"], min_steps=2)
    try:
        res = ft.compare(tmp_path, **kw)
        rows = [dict(r) for r in res["rows"]]
        again = ft.compare(tmp_path, **kw)                 # all there: nothing reruns
        genre = ft.compare(None, **(kw | dict(seeds=(0,), full_size_recipes=(),
                                              make_model=lambda recipe: _tiny_classifier(n_labels=3))), task="genre")
    finally:
        del ft.RECIPES["tiny"], ft.RECIPES["tinylora"]
    assert len(again["rows"]) == len(res["rows"])
    assert [r["method"] for r in genre["rows"]] == ["naive_bayes", "frozen_lr", "tiny"]   # chapter 11's data set
    assert genre["rows"][0]["n_train"] == 4 * 30 and genre["settings"]["task"] == "genre"   # 4 training plays
    assert len(rows) == 2 * (2 * 3 + 1)              # seeds x (sizes x (NB, LR, tiny) + LoRA at 16)
    assert {r["method"] for r in rows} == {"naive_bayes", "frozen_lr", "tiny", "tinylora"}
    lora = [r for r in rows if r["method"] == "tinylora"]
    assert all(r["trainable_parameters"] < r["total_parameters"] and r["step_peak_bytes"] > 0 for r in lora)
    s = res["summary"]
    assert set(s["naive_bayes"]) == {"8", "16"} and s["tinylora"]["16"]["accuracy"][2] == 2
    saved = json.loads((tmp_path / "results.json").read_text())
    assert len(saved["rows"]) == len(rows)


def test_cli_recipes_and_classify_with_a_lora_adapter(tmp_path, capsys):
    from tinygrad_llm import cli
    from tinygrad_llm.io.adapters import model_identity, save_adapter
    parser = cli.build_parser()
    args = parser.parse_args(["finetune", "--task", "question", "--lora", "--lora-r", "4", "--lora-targets", "query,value"])
    r = ft._recipe(args)
    assert r["method"] == "lora" and r["r"] == 4 and r["targets"] == ("query", "value") and r["lr"] == 5e-4
    assert ft._recipe(parser.parse_args(["finetune"]))["lr"] == 2e-5                     # genre: the tutorial's
    assert ft._recipe(parser.parse_args(["finetune", "--task", "question", "--lr", "3e-5"]))["lr"] == 3e-5
    model = ft.MeanPoolClassifier.from_pretrained(ft.minilm_dir(), 2)
    apply_lora(model, ["query", "value"], 4, 8, also_train=["classifier"])
    save_adapter(model, tmp_path / "q" / "adapter", model_identity(model, "all-MiniLM-L6-v2") | {"labels": ["statement", "question"]})
    assert cli.main(["classify", str(tmp_path / "q"), "--text", "Is he come", "He is come"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[1] for line in lines] == ["Is he come", "He is come"]
    assert all(line.split("\t")[0] in ("statement", "question") for line in lines)
    assert cli.main(["classify", str(tmp_path / "nothing"), "--text", "x"]) == 2
    assert "nothing not found" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert cli.main(["classify", str(tmp_path / "empty"), "--text", "x"]) == 2
    err = capsys.readouterr().err
    assert "holds neither a model" in err and len(err.strip().splitlines()) == 1
