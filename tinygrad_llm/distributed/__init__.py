"""Data parallelism over MPI: the communicator (``comm``), a ring allreduce written by hand (``ring``),
``DistributedDataParallel`` with gradient buckets overlapping backward (``ddp``) and ZeRO stage 1 (``zero``).
``mpi4py`` is imported only when a communicator is made (the ``distributed`` extra)."""
from .comm import Comm, find_mpiexec, launched_by_mpiexec, run_or_abort, world, world_if_launched
from .ddp import DistributedDataParallel, broadcast_parameters, check_agreement
from .ring import alpha_beta_time, fit_alpha_beta, predict_step, ring_allreduce, ring_bytes
from .zero import ZeroRedundancyOptimizer

__all__ = ["Comm", "DistributedDataParallel", "ZeroRedundancyOptimizer", "alpha_beta_time", "broadcast_parameters",
           "check_agreement", "find_mpiexec", "fit_alpha_beta", "launched_by_mpiexec", "predict_step", "ring_allreduce", "ring_bytes",
           "run_or_abort", "world", "world_if_launched"]
