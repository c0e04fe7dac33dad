import pathlib

from chapter_helpers import assert_quoted, recorded

CHAPTER = pathlib.Path(__file__).resolve().parents[2] / "chapters" / "05_rnn_lstm"


def test_lstm_lm_walkthrough_runs_fast(notebook):
    r = notebook(f"{CHAPTER.name}/run_lm.py")
    assert (r.out / "lstm_lm_loss.png").is_file()
    table = [l for l in r.stdout.splitlines() if l.startswith("| ") and "gram" in l or l.startswith("| LSTM")]
    assert len(table) == 4
    ppl = [float(l.split("|")[2]) for l in table]
    assert all(p > 1 for p in ppl) and ppl[1] < ppl[0]                 # a trigram beats a unigram
    assert [row["model"] for row in r.results["table"]] == [l.split("|")[1].strip() for l in table]


# ---------------------------------------------------------------------------------------------------------
# The chapter text against the numbers of run_lm.py's last full run (figures/results_lm.json).

def _eval_at(lstm, step):
    return dict((s, p) for s, p in lstm["eval"])[step]


def _passes_trigram(r):
    trigram = r["table"][1]["perplexity"]
    return next(s for s, p in r["lstm"]["eval"] if p < trigram)


def lm_fields(r):
    d, t, lstm = r["data"], r["table"], r["lstm"]
    fields = {"M": f"{d['characters'] / 1e6:.0f}", "train": f"{d['train']:,}", "val": f"{d['validation']:,}",
              "V": d["vocabulary"], "steps": f"{lstm['steps']:,}", "E": lstm["embedding"], "H": lstm["hidden"],
              "window": lstm["window"], "lstm_ppl": f"{t[3]['perplexity']:.2f}",
              "lstm_cpu": f"{t[3]['cpu_seconds']:.0f}", "lstm_wall": f"{t[3]['seconds']:.0f}",
              "threads": "one thread" if lstm["threads"]["numba_threads"] == 1 else
              f"{lstm['threads']['numba_threads']} threads",
              "seen5": f"{t[2]['validation_ngrams_seen']:.0%}".replace("%", " %"),
              "pass_step": f"{_passes_trigram(r):,}", "pass_ppl": f"{_eval_at(lstm, _passes_trigram(r)):.2f}"}
    for n, row in zip((1, 3, 5), t):
        fields[f"ng{n}"] = f"{row['perplexity']:.2f} | {row['cpu_seconds']:.1f} s"
    for step in (1000, 2000, lstm["steps"]):
        fields[f"at{step}"] = f"{_eval_at(lstm, step):.2f}"
    return fields


def test_readme_quotes_the_recorded_run():
    assert_quoted(CHAPTER, lm_fields(recorded(CHAPTER, "results_lm.json")), [
        "trains the `cpu` preset (embedding {E}, hidden {H}, windows of {window}) for {steps} steps on the first "
        "{M} M characters of the corpus ({train} for training, {val} for validation, {V} distinct)",
        "| 1-gram, Kneser-Ney | {ng1} |", "| 3-gram, Kneser-Ney | {ng3} |", "| 5-gram, Kneser-Ney | {ng5} |",
        "| LSTM LM (E{E}, H{H}), {steps} steps | {lstm_ppl} | {lstm_cpu} s ({lstm_wall} s wall, {threads}) |",
        "it scores {pass_ppl} at step {pass_step}, {at1000} at step 1,000, {at2000} at 2,000 and {at2500} at "
        "{steps} (the table's {lstm_ppl} scores every window of the validation split)",
        "{seen5} of the 5-grams of the validation text occur in the training text"])


def test_the_recorded_run_shows_what_the_text_says():
    r = recorded(CHAPTER, "results_lm.json")
    assert _passes_trigram(r) <= 500                                   # "after a few hundred steps"
    curve = [p for _, p in r["lstm"]["eval"]]
    assert curve[-1] < curve[-2] < curve[-3]                           # still improving when the run stops
    assert r["table"][2]["perplexity"] < r["table"][3]["perplexity"]   # the 5-gram is ahead of this LSTM
    assert r["table"][2]["validation_ngrams_seen"] > 0.5               # most validation 5-grams were seen
