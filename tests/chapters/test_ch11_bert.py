import math
import pathlib

import numpy as np
from chapter_helpers import assert_quoted, recorded

from tinygrad_llm import optim
from tinygrad_llm.models.bert import BertConfig, BertModel
from tinygrad_llm.nn import Parameter

CHAPTER = pathlib.Path(__file__).resolve().parents[2] / "chapters" / "11_bert"


def test_parameter_count_matches_the_model(sol):
    for V, P, L, C, I, H in [(30, 16, 1, 8, 12, 2), (50, 20, 2, 16, 40, 4)]:
        m = BertModel(BertConfig(vocab_size=V, max_position_embeddings=P, num_hidden_layers=L, hidden_size=C,
                                 intermediate_size=I, num_attention_heads=H))
        assert sol.bert_num_parameters(V, P, 2, L, C, I) == m.num_parameters()
    # all-MiniLM-L6-v2: 22.7 M parameters (the model card's figure)
    assert round(sol.bert_num_parameters(30522, 512, 2, 6, 384, 1536) / 1e6, 1) == 22.7


def test_cosine_matrix(sol):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5, 7)) * rng.uniform(0.1, 10, size=(5, 1))
    S = sol.cosine_matrix(X)
    for i in range(5):
        for j in range(5):
            assert math.isclose(S[i, j], X[i] @ X[j] / (np.linalg.norm(X[i]) * np.linalg.norm(X[j])), rel_tol=1e-9,
                                abs_tol=1e-12)


def test_cls_embedding_is_the_first_token_of_the_encoder_output(sol):
    m = BertModel(BertConfig(vocab_size=30, max_position_embeddings=16, num_hidden_layers=1, hidden_size=8,
                             intermediate_size=12, num_attention_heads=2)).eval()
    h, _ = m(np.array([[2, 7, 9, 3], [2, 5, 3, 0]]), np.array([[1, 1, 1, 1], [1, 1, 1, 0]]))
    e = sol.cls_embedding(h.data)
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(e[0] * np.linalg.norm(h.data[0, 0]), h.data[0, 0], rtol=1e-5, atol=1e-6)


def test_lr_matches_the_scheduler(sol):
    p = Parameter(np.zeros(2, np.float32))
    opt = optim.AdamW([p], lr=2e-5)
    sched = optim.LambdaLR(opt, optim.warmup_linear(5, 30))
    for t in range(35):
        assert math.isclose(opt.param_groups[0]["lr"], sol.linear_warmup_lr(t, 2e-5, 5, 30), rel_tol=1e-12,
                            abs_tol=1e-18)
        sched.step()


def test_walkthrough_runs_fast(notebook):
    r = notebook(f"{CHAPTER.name}/run.py")
    assert (r.out / "similarity_heatmap.png").stat().st_size > 0
    assert (r.out / "finetune_curve.png").stat().st_size > 0
    assert "nearest: 'A man is eating a piece of bread.'" in r.stdout   # MiniLM pairs the two eating sentences


def test_a_passage_split_tests_on_plays_seen_in_training(sol):
    rows = [(f"passage {i} of {play}", i % 3, play) for play in ("Hamlet", "Macbeth", "Twelfth Night", "Henry V")
            for i in range(25)]
    train, test = sol.split_by_passage(rows, 0.2, seed=1)
    assert len(test) == 20 and len(train) == 80 and sorted(train + test) == sorted(rows)
    assert sol.seen_play_fraction(train, test) == 1.0                 # every test play was trained on
    by_play_train = [r for r in rows if r[2] != "Hamlet"]
    by_play_test = [r for r in rows if r[2] == "Hamlet"]
    assert sol.seen_play_fraction(by_play_train, by_play_test) == 0.0
    assert sol.split_by_passage(rows, 0.2, seed=1) == (train, test)


# ---------------------------------------------------------------------------------------------------------
# The chapter text against the numbers of the walk-through's last full run (chapters/11_bert/figures/results.json).

def _e(x: float) -> str:
    """1.9669e-06 -> '2.0e-6', as the text writes small numbers."""
    mantissa, exponent = f"{x:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


PAIRS = {"eat": (0, 1), "child": (2, 3), "hamlet": (4, 5)}          # the paraphrase pairs of the heatmap
STOCK = 6


def ch11_fields(r):
    m, p, d, f = r["minilm"], r["parity"], r["dataset"], r["finetune"]
    S = np.array(r["similarity"]["cosine"])
    fields = {"layers": m["layers"], "hidden": m["hidden"], "params": f"{m['parameters']:,}",
              "n_sent": {7: "seven"}.get(len(S), len(S)),
              "tok": _e(p["token_float32"]), "pool": _e(p["pooler_float32"]), "sent": _e(p["sentence_float32"]),
              "sent64": _e(p["sentence_float64"]),
              "stock": f"{np.delete(S[STOCK], STOCK).max():.2f}",
              "per_train": d["per_play_train"], "per_test": d["per_play_test"], "train_plays": d["train_plays"],
              "test_plays": len(d["test_plays"]), "n_train": d["train"], "n_test": d["test"],
              "cpus": r["machine"]["cpus"], "steps": f["steps"], "nb_s": f"{f['naive_bayes']['seconds']:.1f}",
              "bert_s": f"{f['bert']['train_seconds']:.0f}", "run_cpu": f"{f['run_cpu_seconds']:.0f}",
              "loss_first": f"{f['train_loss'][0]:.2f}", "loss_last10": f"{np.mean(f['train_loss'][-10:]):.2f}",
              "acc_curve": ", ".join(f"{e['accuracy']:.3f}" for e in f["eval"]), "every": f["eval"][0]["step"],
              "n_evals": {9: "nine"}.get(len(f["eval"]), len(f["eval"])),
              "threads": "one thread" if f["threads"]["numba_threads"] == 1 else f"{f['threads']['numba_threads']} threads"}
    for name, (i, j) in PAIRS.items():
        fields[name] = f"{S[i, j]:.2f}"
    for name in ("naive_bayes", "bert"):
        s = f[name]
        fields[name] = " | ".join(f"{s[k]:.3f}" for k in ("accuracy", "precision", "recall", "macro_f1"))
    return fields


def test_readme_quotes_the_recorded_run():
    r = recorded(CHAPTER)
    assert r["finetune"]["reused"] is False                            # the full run fine-tuned, it did not reuse
    assert_quoted(CHAPTER, ch11_fields(r), [
        "(all-MiniLM-L6-v2: a {layers}-layer, {hidden}-wide BERT",
        "puts its {n_sent} sentences through our model and through `transformers`' `BertModel` with the same weights",
        "the token vectors differ by at most {tok}, the pooler's output by {pool} and the sentence embeddings "
        "(the normalised mean of the token vectors, as sentence-transformers computes them) by {sent}",
        "In float64 on both sides the sentence embeddings agree to {sent64}.",
        "the two \"eating\" sentences ({eat}), the two \"child\" sentences ({child}) and Hamlet's line with its "
        "paraphrase ({hamlet}) are each other's nearest neighbours; the stock-market sentence is near nothing "
        "({stock} at most)",
        "{per_train} passages from each of the {train_plays} training plays ({n_train}), {per_test} from each of the "
        "{test_plays} test plays ({n_test})",
        "check all-MiniLM-L6-v2's {params}",
        "(one full run, seed 0, {cpus} CPU cores shared with other jobs; {n_test} test passages from the six "
        "held-out plays)",
        "| naive Bayes, bag of words | {naive_bayes} | {nb_s} s |",
        "| MiniLM fine-tuned (3 epochs, {steps} steps) | {bert} | {bert_s} s |",
        "loading MiniLM, {steps} steps, {n_evals} evaluations — took {run_cpu} s of CPU time with {threads}",
        "only {steps} steps the model is still learning (the training loss falls from {loss_first} at the first "
        "batch to {loss_last10} over the last ten",
        "test accuracy at the evaluations: {acc_curve}, one every {every} steps",
        "from every word of {n_train} passages, in {nb_s} s",
        ])


def test_the_recorded_run_shows_what_the_text_says():
    r = recorded(CHAPTER)
    assert r["parity"]["same_input_ids"] is True
    S = np.array(r["similarity"]["cosine"])
    for i, j in PAIRS.values():                                        # the paraphrases find each other
        assert np.argsort(-S[i])[1] == j and np.argsort(-S[j])[1] == i
    assert np.delete(S[STOCK], STOCK).max() < 0.1                      # the stock-market sentence: near nothing
    f = r["finetune"]
    assert np.mean(f["train_loss"][-10:]) < f["train_loss"][0] - 0.1   # still learning ...
    acc = [e["accuracy"] for e in f["eval"]]
    per_epoch = f["steps"] // 3
    first_epoch = [e["accuracy"] for e in f["eval"] if e["step"] <= per_epoch]
    assert first_epoch and all(abs(a - 1 / 3) < 0.01 for a in first_epoch)   # ... at chance through the first epoch
    assert acc[-1] > acc[0] + 0.1                                      # ... and only then climbs
    assert min(f["naive_bayes"]["accuracy"], f["bert"]["accuracy"]) > 1 / 3 + 0.1   # well above chance
