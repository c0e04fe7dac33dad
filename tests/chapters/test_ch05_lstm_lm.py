import pathlib

CHAPTER = pathlib.Path(__file__).resolve().parents[2] / "chapters" / "05_rnn_lstm"


def test_lstm_lm_walkthrough_runs_fast(notebook):
    r = notebook(f"{CHAPTER.name}/run_lm.py")
    assert (r.out / "lstm_lm_loss.png").is_file()
    table = [l for l in r.stdout.splitlines() if l.startswith("| ") and "gram" in l or l.startswith("| LSTM")]
    assert len(table) == 4
    ppl = [float(l.split("|")[2]) for l in table]
    assert all(p > 1 for p in ppl) and ppl[1] < ppl[0]                 # a trigram beats a unigram
