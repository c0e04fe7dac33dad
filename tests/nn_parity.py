"""Shared helper for the layer-vs-PyTorch tests: copy torch's weights into our module, run both forward and
backward with the same inputs and upstream gradient, and return the worst absolute differences."""
from __future__ import annotations

import numpy as np

from tinygrad_llm import Tensor, backend
from tinygrad_llm.testing import assert_close

TOL = {np.float64: dict(rtol=1e-9, atol=1e-10), np.float32: dict(rtol=2e-4, atol=2e-5)}
MAX_ERR: dict = {}          # layer name -> worst abs error seen (forward or gradient), per dtype


def _flat(out):
    if isinstance(out, (tuple, list)):
        res = []
        for o in out:
            res += _flat(o)
        return res
    return [] if out is None else [out]


def parity(name, make_ours, theirs, arrays, run_ours, run_theirs, dtype, grad_inputs=True):
    """``make_ours()`` builds our module (in ``dtype``); ``arrays``: float input arrays (get gradients); ``run_*(module, *tensors)`` -> tensor or nested tuple."""
    import torch
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    theirs = theirs.to(tdt)
    with backend.default_dtype(dtype):
        ours = make_ours()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    xs = [Tensor(a.astype(dtype), requires_grad=grad_inputs) for a in arrays]
    txs = [torch.tensor(a.astype(dtype), requires_grad=grad_inputs) for a in arrays]
    outs, touts = _flat(run_ours(ours, *xs)), _flat(run_theirs(theirs, *txs))
    assert len(outs) == len(touts)
    rng = np.random.default_rng(7)
    worst = 0.0
    loss, tloss = 0.0, 0.0
    for o, t in zip(outs, touts):
        assert_close(o, t.detach().numpy(), **TOL[dtype], msg=f"{name} forward")
        worst = max(worst, float(np.abs(o.numpy().astype(np.float64) - t.detach().numpy()).max()))
        g = rng.standard_normal(o.shape).astype(dtype)
        loss = (o * Tensor(g)).sum() + loss
        tloss = (t * torch.tensor(g)).sum() + tloss
    loss.backward()
    tloss.backward()
    pairs = [(f"input {i}", x.grad, tx.grad) for i, (x, tx) in enumerate(zip(xs, txs))] if grad_inputs else []
    tparams = dict(theirs.named_parameters())
    pairs += [(n, p.grad, tparams[n].grad) for n, p in ours.named_parameters()]
    for what, a, b in pairs:
        expected = np.zeros(1) if b is None else b.numpy()
        actual = np.zeros(expected.shape) if a is None else a.numpy()
        assert_close(actual, expected, **TOL[dtype], msg=f"{name} grad of {what}")
        worst = max(worst, float(np.abs(actual.astype(np.float64) - expected).max()))
    key = (name, np.dtype(dtype).name)
    MAX_ERR[key] = max(MAX_ERR.get(key, 0.0), worst)
    print(f"MAXERR {name} {np.dtype(dtype).name} {worst:.3e}")
    return worst
