"""Data-parallel training over N processes (gloo on CPU, NCCL on CUDA), launched by ``--nproc N``.

Every rank sees the same deterministic batch order; an optimizer step takes ``grad_accum * world``
micro-batches and rank r trains on every world-th one of them. Losses are normalised by the
supervised tokens of the whole step, and gradients are summed across ranks, so N processes compute
the same update as one process accumulating the same micro-batches. Rank 0 alone writes files.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import torch
import torch.distributed as dist

from mentor.errors import MentorError


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @staticmethod
    def current() -> Ranks:
        if dist.is_available() and dist.is_initialized():
            return Ranks(dist.get_rank(), dist.get_world_size())
        return Ranks()

    def sum(self, value: float) -> float:
        if self.world == 1:
            return value
        on_gpu = dist.get_backend() == "nccl"  # NCCL reduces GPU tensors only
        t = torch.tensor([value], dtype=torch.float64, device="cuda" if on_gpu else "cpu")
        dist.all_reduce(t)
        return float(t.item())

    def sum_grads(self, params: list[torch.nn.Parameter]) -> None:
        if self.world == 1:
            return
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            dist.all_reduce(p.grad)

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()


def launch(fn, nproc: int, *args) -> None:
    """Run ``fn(*args)`` in ``nproc`` processes joined in one process group."""
    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    try:
        mp.spawn(_worker, args=(nproc, port, fn, args), nprocs=nproc, join=True)
    except mp.ProcessRaisedException as e:  # the worker's traceback ends with the error itself
        last = str(e).strip().splitlines()[-1]
        raise MentorError(f"A training process failed: {last.split(': ', 1)[-1]}") from None


def _worker(rank: int, world: int, port: int, fn, args) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "gloo":  # share the cores instead of oversubscribing them
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    else:
        torch.cuda.set_device(rank % torch.cuda.device_count())
    dist.init_process_group(backend, rank=rank, world_size=world)
    try:
        fn(*args)
    finally:
        dist.destroy_process_group()
