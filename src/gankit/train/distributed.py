"""Training on several processes with PyTorch's DistributedDataParallel (``torchrun``).

``torchrun --nproc_per_node N -m gankit train NAME ...`` (or ``gankit train NAME --nproc N``) starts N copies of the
command; each finds its rank in the environment torchrun sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``) and joins
one process group (NCCL on CUDA, gloo on the CPU). What each rank does (Li et al. 2020, "PyTorch Distributed",
arXiv 2006.15704, for DDP itself):

* **The same run, split.** ``batch_size`` is the global batch. Every rank holds the same seeded loader (same
  permutation, same position) and takes its own contiguous slice of each global batch (``batch_size / N`` rows), so
  the loader state, and with it every checkpoint, is the same whatever N is.
* **Noise.** The latent ``z`` of :meth:`GAN.sample_z` comes from one stream shared by all ranks: each draw is the
  global batch's ``z`` and a rank keeps its slice, so a run on N processes sees the data *and* the latents of the
  one-process run with the same global batch. Every other random draw inside a step (penalty interpolation,
  sampled labels, dropout) is the rank's own: the default generator is reseeded at every step from
  ``(seed, step, rank)``, which also makes a resume exact for any N.
* **Gradients.** Every phase of a step (D's, G's, an encoder's ...) is one forward of a single
  :class:`~torch.nn.parallel.DistributedDataParallel` over a module that runs that phase, with
  ``find_unused_parameters`` (a phase touches one optimiser group; the others are marked unused, not an error).
  Gradient penalties take their inner gradient with ``torch.autograd.grad`` inside that forward (no parameter
  gradient is accumulated there), and the outer backward is all-reduced as usual.
* **Batch norm** (``train.sync_bn``, default on): every batch-norm layer computes its statistics over the global
  batch (:class:`SyncedBatchNorm`, one differentiable all-reduce per call, which also runs on gloo, where
  :class:`torch.nn.SyncBatchNorm` is CUDA-only), so the networks see the batch the paper's statistics assume.
* **Who writes.** Rank 0 alone writes logs (losses averaged over ranks), samples, evaluations and checkpoints.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Dict, List, Optional

import torch
import torch.distributed as dist
from torch import nn

from ..errors import ConfigError, GankitError, PeerLost

ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass
class Dist:
    """This process's place in a multi-process run."""

    rank: int
    world: int
    local_rank: int
    control: object  # a gloo group for CPU messages (losses, stop decisions)

    @property
    def writer(self) -> bool:
        return self.rank == 0


_current: Optional[Dist] = None
_ours = False  # whether gankit joined the process group (and so leaves it at the end)


def world_from_env() -> int:
    """``WORLD_SIZE`` as torchrun sets it (1 when not under torchrun)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def current() -> Optional[Dist]:
    """The run's :class:`Dist` under torchrun with 2 or more processes (joining the process group the first time),
    else None."""
    global _current, _ours
    if _current is not None:
        return _current
    if world_from_env() < 2:
        return None
    missing = [k for k in ENV if k not in os.environ]
    if missing:
        raise GankitError(f"WORLD_SIZE={os.environ['WORLD_SIZE']} but {', '.join(missing)} not set; start several "
                          f"processes with `torchrun --nproc_per_node N -m gankit train ...` or `gankit train --nproc N`")
    rank, local = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() and os.environ.get("GANKIT_DIST_BACKEND") != "gloo" else "gloo"
        kw = {"device_id": torch.device("cuda", local)} if backend == "nccl" else {}
        # periodic evaluations run on rank 0 while the others wait in their next all-reduce
        dist.init_process_group(backend, timeout=datetime.timedelta(hours=2), **kw)
        _ours = True
    control = dist.new_group(backend="gloo") if dist.get_backend() != "gloo" else dist.group.WORLD
    _current = Dist(rank, dist.get_world_size(), local, control)
    return _current


def is_writer() -> bool:
    """True in a one-process run and on rank 0 of a multi-process one (without joining a group)."""
    return _current.writer if _current is not None else int(os.environ.get("RANK", "0") or 0) == 0


def shutdown() -> None:
    """Leave the process group gankit joined (one the caller made is left alone)."""
    global _current, _ours
    if _ours and dist.is_initialized():
        dist.destroy_process_group()
    _current, _ours = None, False


def device_for(name: str, d: Dist) -> str:
    """``device`` for rank ``d``: CUDA runs put local rank k on ``cuda:k``."""
    if name in ("auto", "cuda") and torch.cuda.is_available():
        return f"cuda:{d.local_rank}"
    return name


def check_batch(batch_size: int, d: Dist) -> None:
    if batch_size % d.world:
        raise ConfigError(f"config: batch_size={batch_size} (the global batch) does not split evenly over "
                          f"{d.world} processes; use a multiple of {d.world}")


# ---------------------------------------------------------------- messages between ranks
def broadcast_text(text: Optional[str], d: Dist) -> str:
    """Rank 0's ``text`` on every rank (UTF-8 bytes in a tensor: nothing is unpickled). A rank waiting for it when
    rank 0 stops (its own line says why) raises :class:`PeerLost`."""
    data = torch.tensor(list((text or "").encode()), dtype=torch.uint8) if d.writer else torch.zeros(0, dtype=torch.uint8)
    size = torch.tensor([data.numel()], dtype=torch.long)
    try:
        dist.broadcast(size, 0, group=d.control)
        if not d.writer:
            data = torch.zeros(int(size), dtype=torch.uint8)
        dist.broadcast(data, 0, group=d.control)
    except Exception as e:
        if not d.writer and is_lost_peer(e):
            raise PeerLost(f"rank 0 stopped (rank {d.rank} of {d.world} was waiting for it)") from None
        raise
    return bytes(data.tolist()).decode()


def mean_over_ranks(values: Dict[str, float], d: Dist) -> Dict[str, float]:
    """Each logged number averaged over the ranks (one CPU all-reduce; keys are the same on every rank)."""
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64)
    dist.all_reduce(t, group=d.control)
    return {k: v / d.world for k, v in zip(keys, t.tolist())}


def any_rank(flag: bool, d: Dist) -> bool:
    """True on every rank when ``flag`` is True on one (e.g. the time budget ran out on one clock first)."""
    t = torch.tensor([int(flag)], dtype=torch.long)
    dist.all_reduce(t, op=dist.ReduceOp.MAX, group=d.control)
    return bool(t.item())


def barrier(d: Dist) -> None:
    dist.barrier(group=d.control)


def broadcast_module(module: nn.Module) -> None:
    """Rank 0's parameters and buffers on every rank (after work done outside DDP, e.g. a pre-trained labeller)."""
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, 0)


# ---------------------------------------------------------------- random numbers
def step_seed(seed: int, step: int, rank: int) -> int:
    """The seed of rank ``rank``'s own draws at ``step`` (a 63-bit mix; distinct per rank and step)."""
    x = (int(seed) * 0x9E3779B97F4A7C15 + int(step) * 0xBF58476D1CE4E5B9 + (int(rank) + 1) * 0x94D049BB133111EB)
    x ^= x >> 31
    return x % (2 ** 63 - 1)


class LatentStream:
    """The shared stream of latents (see the module docstring): ``wrap(sample_z)`` draws the global batch from the
    stream's own generator state and returns this rank's slice; seeded draws (a generator passed) are left alone."""

    def __init__(self, d: Dist, device: torch.device):
        self.d, self.device = d, device
        self.cuda = device.type == "cuda"
        self.state = self._get()  # the default generator's state now: the same on every rank

    def _get(self):
        return (torch.get_rng_state(), torch.cuda.get_rng_state(self.device) if self.cuda else None)

    def _set(self, state) -> None:
        torch.set_rng_state(state[0])
        if self.cuda:
            torch.cuda.set_rng_state(state[1], self.device)

    def wrap(self, sample_z):
        d = self.d

        def sharded(n: int, generator: Optional[torch.Generator] = None):
            if generator is not None:
                return sample_z(n, generator)
            own = self._get()
            self._set(self.state)
            try:
                z = sample_z(n * d.world)
                self.state = self._get()
            finally:
                self._set(own)
            return z[d.rank * n:(d.rank + 1) * n]

        return sharded

    def rng_torch(self) -> Dict[str, object]:
        """The stream's state in :func:`gankit.train.checkpoint.rng_state`'s keys (what a checkpoint stores)."""
        out = {"torch": self.state[0]}
        if self.cuda:
            out["cuda"] = [torch.cuda.get_rng_state(i) for i in range(torch.cuda.device_count())]
            out["cuda"][self.device.index or 0] = self.state[1]
        return out


# ---------------------------------------------------------------- the DDP module
class PhaseRunner(nn.Module):
    """The module DDP wraps: its forward runs phase ``i`` of the GAN (``fn(real, labels) -> (loss, logs)``)."""

    def __init__(self, gan: nn.Module, phases: List):
        super().__init__()
        self.gan = gan
        self.fns = [p.fn for p in phases]

    def forward(self, i: int, real, labels):
        return self.fns[i](real, labels)


def wrap_ddp(gan: nn.Module, phases: List, device: torch.device) -> nn.Module:
    from torch.nn.parallel import DistributedDataParallel

    ids = [device] if device.type == "cuda" else None
    return DistributedDataParallel(PhaseRunner(gan, phases), device_ids=ids, find_unused_parameters=True)


# ---------------------------------------------------------------- batch norm over the global batch
class SyncedBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training statistics are those of the global batch over every rank (Ioffe & Szegedy 2015,
    arXiv 1502.03167, computed across devices as in Peng et al. 2018, MegDet, arXiv 1711.07240). One differentiable
    all-reduce per call carries each channel's sum and sum of squares of ``x - c``, shifted by ``c`` = the running
    mean (the same on every rank; the shift keeps ``E[d^2] - E[d]^2`` clear of cancellation), so gradients also flow
    through the other ranks' statistics. The same parameters, buffers and names as ``nn.BatchNorm*d``; outside
    training, or with one process, it is plain batch norm."""

    def _check_input_dim(self, x):
        if x.dim() < 2:
            raise ValueError(f"expected at least 2-D input, got {x.dim()}-D")

    def forward(self, x):
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        from torch.distributed import _functional_collectives as fc  # all_reduce with a backward (a sum of grads)

        self._check_input_dim(x)
        c_dim = x.shape[1]
        dims = [0] + list(range(2, x.dim()))
        shape = [1, -1] + [1] * (x.dim() - 2)
        xf = x.float()
        shift = (self.running_mean.detach().float() if self.track_running_stats
                 else torch.zeros(c_dim, device=x.device)).view(shape)
        d = xf - shift
        count = torch.full((1,), x.numel() / c_dim, device=x.device, dtype=torch.float32)
        total = fc.wait_tensor(fc.all_reduce(torch.cat([d.sum(dims), (d * d).sum(dims), count]), "sum",
                                             dist.group.WORLD))
        n = total[-1]
        mean_d = total[:c_dim] / n
        var = (total[c_dim:2 * c_dim] / n - mean_d * mean_d).clamp(min=0)
        mean = mean_d + shift.flatten()
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                f = (1.0 / float(self.num_batches_tracked)) if self.momentum is None else self.momentum
                self.running_mean.mul_(1 - f).add_(mean.detach(), alpha=f)
                self.running_var.mul_(1 - f).add_(var.detach() * n / (n - 1).clamp(min=1), alpha=f)
        y = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)


def sync_batchnorm(module: nn.Module) -> int:
    """Replace every batch-norm layer in ``module`` by a :class:`SyncedBatchNorm` sharing its parameters and
    buffers (the optimiser's parameters stay the same objects); returns how many were replaced."""
    count = 0
    for name, child in list(module.named_children()):
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(child, SyncedBatchNorm):
            new = SyncedBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                  child.track_running_stats)
            for k in ("weight", "bias"):
                setattr(new, k, getattr(child, k))
            for k in ("running_mean", "running_var", "num_batches_tracked"):
                setattr(new, k, getattr(child, k))
            new.train(child.training)
            setattr(module, name, new)
            count += 1
        else:
            count += sync_batchnorm(child)
    return count


def is_lost_peer(e: BaseException) -> bool:
    """True for the error a collective raises when another rank died."""
    if isinstance(e, getattr(dist, "DistError", ())):
        return True
    text = str(e)
    return isinstance(e, RuntimeError) and any(s in text for s in ("gloo", "Gloo", "NCCL", "Connection closed",
                                                                   "Connection reset", "Broken pipe"))
