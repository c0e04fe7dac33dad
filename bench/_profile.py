"""The implementation of bench/profile.py (see there); a separate module because a module named
``profile`` imported by others must be the standard library's."""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--steps", type=int, default=6)
p.add_argument("--llama", action="store_true", help="also one SmolLM2-135M decoding step")
p.add_argument("--small", action="store_true", help="GPT-S only")
args = p.parse_args()    # this module is only imported by bench/profile.py, which runs it as the program
# At 1 thread the timers read the process's CPU time, which barely moves when other processes take the
# cores (a shared machine); with more threads they read the wall clock.
CLOCK = time.process_time if args.threads == 1 else time.perf_counter
for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[k] = str(args.threads)

import numpy as np  # noqa: E402

from tinygrad_llm import autograd, backend, optim  # noqa: E402
from tinygrad_llm.functional import _dispatch  # noqa: E402
from tinygrad_llm.functional.linear import Linear as LinearFn  # noqa: E402
from tinygrad_llm.models.gpt import GPT, GPTConfig  # noqa: E402
from tinygrad_llm.nn import Module  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _paired import blas_info, load  # noqa: E402


class Profiler:
    def __init__(self):
        self.t = collections.defaultdict(float)
        self.stack = []
        self.on = False

    def wrap(self, category, fn):
        prof = self

        def timed(*a, **k):
            if not prof.on:
                return fn(*a, **k)
            cat = category(*a, **k) if callable(category) else category
            t0 = CLOCK()
            prof.stack.append(0.0)
            try:
                return fn(*a, **k)
            finally:
                dt = CLOCK() - t0
                inner = prof.stack.pop()
                prof.t[cat] += dt - inner
                if prof.stack:
                    prof.stack[-1] += dt
        timed.__wrapped__ = fn
        return timed

    def install(self):
        def subclasses(c):
            for s in c.__subclasses__():
                yield s
                yield from subclasses(s)
        for cls in set(subclasses(autograd.Function)):
            gemm = cls is LinearFn
            for phase in ("forward", "backward"):
                if phase in cls.__dict__:
                    cat = "GEMM: linear layers" if gemm else f"elementwise: {cls.__name__}.{phase}"
                    setattr(cls, phase, staticmethod(self.wrap(cat, cls.__dict__[phase].__func__)))
        name_of = lambda name, *a, **k: ("GEMM: dispatch matmul" if name == "matmul"  # noqa: E731
                                         else f"kernel: {name}")
        _dispatch.dispatch = self.wrap(name_of, _dispatch.dispatch)
        # the functional modules imported dispatch by name: point them at the wrapper too
        for mod in list(sys.modules.values()):
            if getattr(mod, "__name__", "").startswith("tinygrad_llm.functional.") and hasattr(mod, "dispatch"):
                mod.dispatch = _dispatch.dispatch
        apply = autograd.Function.__dict__["apply"].__func__
        autograd.Function.apply = classmethod(self.wrap("bookkeeping: Function.apply", apply))
        from tinygrad_llm.tensor import Tensor
        Tensor.backward = self.wrap("bookkeeping: backward engine", Tensor.backward)
        Module.__call__ = self.wrap("bookkeeping: module Python", Module.__call__)
        optim.clip_grad_norm_ = self.wrap("optimizer: clip_grad_norm_", optim.clip_grad_norm_)
        optim.Optimizer.step = self.wrap("optimizer: step", optim.Optimizer.step)
        optim.Optimizer.zero_grad = self.wrap("optimizer: zero_grad", optim.Optimizer.zero_grad)

    def run(self, fn, steps):
        """Per-step exclusive times {category: [ms per step]} and the step times."""
        per = collections.defaultdict(list)
        totals = []
        fn()
        for _ in range(steps):
            self.t.clear()
            self.on = True
            t0 = CLOCK()
            self.stack.append(0.0)
            fn()
            dt = CLOCK() - t0
            inner = self.stack.pop()
            self.on = False
            self.t["bookkeeping: other Python"] += dt - inner
            totals.append(dt)
            for k, v in self.t.items():
                per[k].append(v)
        return {k: 1e3 * float(np.median(v + [0.0] * (steps - len(v)))) for k, v in per.items()}, 1e3 * float(np.median(totals))


def group(times):
    """The summary lines: GEMM, each kernel, elementwise (total), optimizer, bookkeeping."""
    out = collections.defaultdict(float)
    for k, v in times.items():
        head = k.split(":")[0]
        out[k if head == "kernel" else head] += v
    return out


def report(title, times, total):
    g = group(times)
    print(f"\n## {title}: {sum(g.values()):.1f} ms per step (sum of the medians; median of whole steps "
          f"{total:.1f} ms)")
    total = sum(g.values())
    print(f"| where | ms | share |\n|---|---:|---:|")
    for k, v in sorted(g.items(), key=lambda kv: -kv[1]):
        print(f"| {k} | {v:.2f} | {v / total:.0%} |")
    print("\ndetail (top 14):")
    for k, v in sorted(times.items(), key=lambda kv: -kv[1])[:14]:
        print(f"  {k:<52} {v:8.2f} ms  {v / total:5.1%}")


def gpt_step(L, H, C, T, B):
    backend.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=65, block_size=T, n_layer=L, n_head=H, n_embd=C))
    opt = optim.AdamW(optim.param_groups_for_weight_decay(model, 0.1), lr=1e-3)
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 65, (B, T)), rng.integers(0, 65, (B, T))

    def step():
        loss = model(x, y)[1]
        opt.zero_grad()
        loss.backward()
        optim.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return model, step


def main():
    prof = Profiler()
    print(f"threads={args.threads} (BLAS {blas_info()}), {load()}")
    model_s, step_s = gpt_step(4, 4, 128, 64, 16)
    prof.install()
    report("GPT-S train step (L4 H4 C128, T64, B16)", *prof.run(step_s, args.steps))
    if not args.small:
        _, step_m = gpt_step(6, 6, 384, 256, 8)
        report("GPT L6 H6 C384 train step (T256, B8)", *prof.run(step_m, max(3, args.steps // 2)))

    model_s.eval()
    ids = np.random.default_rng(1).integers(0, 65, (1, 40))
    state = {}

    def decode():
        # one new token after a 40-token context whose keys/values are cached
        _, st = model_s.next_logits(ids[:, :-1], None)
        state["st"] = st
    decode()

    def decode_step():
        st = state["st"]
        st["seen"] = 39
        for c in range(len(model_s.h)):
            st["cache"]._n[c] = 39                     # forget the token added by the previous call
        model_s.next_logits(ids, st)
    report("GPT-S decoding step (KV cache, 40 tokens of context)", *prof.run(decode_step, 200))

    if args.llama:
        from tinygrad_llm.apps import pretrained
        llama, _ = pretrained.load("smollm2")
        lids = np.random.default_rng(2).integers(0, 49152, (1, 33))
        cache = {"c": None}

        def llama_step():
            st = {"cache": llama.new_cache()} if cache["c"] is None else cache["c"]
            for i in range(len(llama.layers)):
                st["cache"]._n[i] = min(st["cache"]._n[i], 32)
            cache["c"] = llama.next_logits(lids, st)[1]
        llama.next_logits(lids[:, :32], {"cache": llama.new_cache()})
        report("SmolLM2-135M decoding step (KV cache, 32 tokens of context)", *prof.run(llama_step, 10))


