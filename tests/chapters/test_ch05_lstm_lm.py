import pathlib
import subprocess
import sys

CHAPTER = pathlib.Path(__file__).resolve().parents[2] / "chapters" / "05_rnn_lstm"


def test_lstm_lm_walkthrough_runs_fast(tmp_path):
    r = subprocess.run([sys.executable, str(CHAPTER / "run_lm.py"), "--fast", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "lstm_lm_loss.png").is_file()
    table = [l for l in r.stdout.splitlines() if l.startswith("| ") and "gram" in l or l.startswith("| LSTM")]
    assert len(table) == 4
    ppl = [float(l.split("|")[2]) for l in table]
    assert all(p > 1 for p in ppl) and ppl[1] < ppl[0]                 # a trigram beats a unigram
