import math
import pathlib

import numpy as np

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
