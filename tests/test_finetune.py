"""Fine-tuning: dataset builder (deterministic, no play in both splits), naive Bayes against its formula,
a few steps on a tiny random BERT lower the loss, the classifier folder round-trips, CLI wiring."""
import numpy as np
import pytest

from tinygrad_llm import backend
from tinygrad_llm.apps import finetune as ft
from tinygrad_llm.models.bert import BertConfig, BertForSequenceClassification
from tinygrad_llm.tokenizers.wordpiece import WordPiece

PLAYS = {"Macbeth": "\n".join(f"tragic line {i} blood night" for i in range(40)),
         "Hamlet": "\n".join(f"tragic line {i} ghost" for i in range(40)),
         "Twelfth Night": "\n".join(f"merry line {i} love" for i in range(40)),
         "As You Like It": "\n".join(f"merry line {i} forest love" for i in range(40)),
         "King Henry V": "\n".join(f"royal line {i} crown war" for i in range(40)),
         "King John": "\n".join(f"royal line {i} crown" for i in range(40)),
         "Pericles": "\n".join(f"unclassified {i}" for i in range(40))}


def test_folio_genres_cover_36_plays_once():
    titles = [t for ts in ft.GENRES.values() for t in ts]
    assert len(titles) == len(set(titles)) == 36
    assert {ft.GENRE_OF[t] for t in ft.TEST_PLAYS} == set(ft.LABELS)


def test_dataset_deterministic_and_split_by_play():
    a = ft.build_dataset(5, 6, lines=2, seed=3, plays=PLAYS)
    b = ft.build_dataset(5, 6, lines=2, seed=3, plays=PLAYS)
    assert a == b and a != ft.build_dataset(5, 6, lines=2, seed=4, plays=PLAYS)
    train, test = a
    assert not {r[2] for r in train} & {r[2] for r in test}
    assert {r[2] for r in test} == {"Macbeth", "Twelfth Night", "King Henry V"}
    assert "Pericles" not in {r[2] for r in train}          # not in the First Folio
    assert len(train) == 15 and len(test) == 18
    for text, y, title in train + test:
        assert ft.LABELS[y] == ft.GENRE_OF[title] and len(text.split(" line ")) == 3   # two lines a passage


def test_passages_group_non_empty_lines():
    assert ft.passages("a\n\n b \nc\nd\ne", 2) == ["a b", "c d"]


def test_naive_bayes_matches_formula():
    texts = ["love love night", "war crown", "night blood", "love forest"]
    y = np.array([0, 2, 1, 0])
    nb = ft.NaiveBayes().fit(texts, y, 3)
    V = len(nb.vocab)
    # hand computation for "love blood": class 0 has 5 words (love x3, night, forest)
    lp0 = np.log(2 / 4) + np.log((3 + 1) / (5 + V)) + np.log((0 + 1) / (5 + V))
    lp1 = np.log(1 / 4) + np.log((0 + 1) / (2 + V)) + np.log((1 + 1) / (2 + V))
    lp2 = np.log(1 / 4) + np.log((0 + 1) / (2 + V)) + np.log((0 + 1) / (2 + V))
    assert nb.predict(["love blood"])[0] == int(np.argmax([lp0, lp1, lp2]))
    assert list(nb.predict(texts)) == list(y)


def _tiny(num_labels=3):
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "tragic", "merry", "royal", "line", "love", "crown",
             "blood", "night", "ghost", "forest", "war"] + [str(i) for i in range(10)] + ["##" + str(i) for i in range(10)]
    backend.manual_seed(0)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=32, hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0)
    return BertForSequenceClassification(cfg, num_labels=num_labels), WordPiece(vocab)


def test_few_steps_reduce_loss_and_classifier_round_trips(tmp_path):
    model, tok = _tiny()
    train, test = ft.build_dataset(4, 4, lines=1, seed=0, plays=PLAYS)
    texts, y = [r[0] for r in train], np.array([r[1] for r in train])
    enc = tok(texts, padding=True, return_tensors="np")

    def loss():
        model.eval()
        return model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"], labels=y)[1].item()

    before = loss()
    hist = ft.finetune(model, tok, train, test, epochs=20, batch_size=4, lr=3e-3, warmup_ratio=0.1, progress=False,
                       eval_every=6)
    assert loss() < 0.5 * before
    assert len(hist["train"]) == 20 * 3 and [e["step"] for e in hist["eval"]][-2:] == [54, 60]
    lrs = [r["lr"] for r in hist["train"]]
    assert lrs[0] == 0.0 and max(lrs) == pytest.approx(3e-3) and lrs[-1] < lrs[len(lrs) // 2]   # warm-up, then decay
    folder = ft.save_classifier(model, tok, tmp_path / "clf")
    back = BertForSequenceClassification.from_pretrained(folder)
    p1 = ft.predict(model, tok, [r[0] for r in test])
    p2 = ft.predict(back, back.tokenizer, [r[0] for r in test])
    np.testing.assert_array_equal(p1, p2)
    s = ft.scores([r[1] for r in test], p1)
    assert 0.0 <= s["macro_f1"] <= 1.0 and s["accuracy"] == np.mean(p1 == np.array([r[1] for r in test]))


def test_cli_registers_finetune_and_classify(tmp_path, capsys):
    from tinygrad_llm import cli
    parser = cli.build_parser()
    args = parser.parse_args(["finetune", "--epochs", "1", "--out", str(tmp_path)])
    recipe = ft._recipe(args)                      # genre by default: the tutorial's recipe
    assert args.func is ft.cmd_finetune and recipe["lr"] == 2e-5 and recipe["epochs"] == 1 and args.task == "genre"
    model, tok = _tiny()
    ft.save_classifier(model, tok, tmp_path / "clf")
    args = parser.parse_args(["classify", str(tmp_path / "clf"), "--text", "merry love", "royal crown"])
    assert args.func(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all(line.split("\t")[0] in ft.LABELS for line in lines)
