"""The three GEMMs of a linear layer at GPT L6 C384's MLP shape (M = B*T = 2048, C = 384, 4C = 1536):
forward x @ W^T, input gradient g @ W, weight gradient g^T @ x; NumPy (OpenBLAS) against torch, paired and
interleaved; GFLOP/s from wall time and from CPU time.

    python bench/gemm_shapes.py 1      # threads
"""
import os, sys
n=sys.argv[1]
for k in ("OMP_NUM_THREADS","OPENBLAS_NUM_THREADS","MKL_NUM_THREADS"): os.environ[k]=n
import numpy as np, torch, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _paired import interleaved, load, blas_info
torch.set_num_threads(int(n))
rng=np.random.default_rng(0)
M,C=2048,384
x=rng.standard_normal((M,C),dtype=np.float32); W=rng.standard_normal((4*C,C),dtype=np.float32)
g=rng.standard_normal((M,4*C),dtype=np.float32)
tx,tW,tg=map(torch.from_numpy,(x,W,g))
print(blas_info(), load())
for name,f,tf in [("x@W.T",lambda: x@W.T, lambda: tx@tW.T),("g@W",lambda: g@W,lambda: tg@tW),("g.T@x",lambda: g.T@x,lambda: tg.T@tx)]:
    t=interleaved({"np":f,"torch":tf},rounds=6,per_round=5)
    fl=2*M*C*4*C
    print(name, "np %.0f GF/s cpu %.0f"%(fl/t['np'].median/1e9, fl/t['np'].cpu/1e9), "torch %.0f cpu %.0f"%(fl/t['torch'].median/1e9, fl/t['torch'].cpu/1e9))
