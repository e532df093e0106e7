"""The one generic training loop (DESIGN principle 2).

It knows optimiser groups, step counts, ``n_critic`` (through the GAN's phases), per-group
learning rates (TTUR), schedules, EMA, bf16 autocast, seeding, checkpoints and callbacks, and
nothing about any particular GAN. A "step" is one generator step; each phase of the GAN runs its
``repeat`` updates, each on a fresh minibatch.

No host-device synchronisation happens inside a step: losses are accumulated on the device and read
back only at logging and checkpoint intervals, which is also where the NaN/Inf guard looks at them.
"""
from __future__ import annotations

import json
import os
import random
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional

import numpy as np
import torch

from .. import __version__, jsonutil
from ..config import Config, load_run_config, recorded_hash, resolve
from ..data import DataInfo, load_dataset, make_loader
from ..errors import CheckpointError, ConfigError, GankitError, PeerLost, TrainingDiverged, WriteError
from ..gans import GANS
from ..memory import check_fits, oom_guard, sample_bytes
from . import checkpoint as ckpt
from . import distributed
from .ema import ema_copy, ema_update
from .optim import make_optimizer, make_scheduler
from .rundir import RunDir, read_status, unique_dir

Callback = Callable[["Trainer", int], None]


# ---------------------------------------------------------------- environment
def resolve_device(name: str) -> torch.device:
    from ..registry import shown

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise ConfigError(f"config: device '{shown(name)}' is not a device; use auto, cpu, cuda or cuda:N") from None
    if dev.type not in ("cpu", "cuda") or (dev.type == "cpu" and dev.index not in (None, 0)):
        raise ConfigError(f"config: device '{shown(name)}' is not supported; use auto, cpu, cuda or cuda:N")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"config: device '{shown(name)}' requested but CUDA is not available here; "
                              f"use device=cpu or device=auto")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"config: device '{shown(name)}' does not exist; this machine has "
                              f"{torch.cuda.device_count()} CUDA device(s): cuda:0 .. cuda:{torch.cuda.device_count() - 1}")
    return dev


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(deterministic)


def info_to_dict(info: DataInfo) -> dict:
    d = asdict(info)
    d["shape"] = list(info.shape)
    d["modes"] = None if info.modes is None else info.modes.tolist()
    return d


def info_from_dict(d: dict) -> DataInfo:
    d = dict(d)
    d["shape"] = tuple(d["shape"])
    d["modes"] = None if d.get("modes") is None else torch.tensor(d["modes"])
    d["domains"] = tuple((str(n), int(c)) for n, c in d.get("domains") or ())
    d["attributes"] = tuple(d.get("attributes") or ())
    d["attribute_groups"] = tuple(tuple(g) for g in d.get("attribute_groups") or ())
    return DataInfo(**d)


def out_dir(cfg: Config) -> Path:
    """The run directory of ``cfg`` (``out=``, else the first free ``runs/<gan>-<data>[-i]``); fixes cfg.out."""
    out = Path(cfg.out) if cfg.out else unique_dir(Path("runs") / f"{cfg.gan}-{cfg.data.name}")
    cfg.out = str(out)
    return out


def prepare_run_dir(cfg: Config, overwrite: bool) -> Path:
    """Create the run directory (for code that drives a :class:`Trainer` itself, e.g. tests)."""
    rd = RunDir.create(out_dir(cfg), overwrite)
    rd.close()
    return rd.path


class Stopwatch:
    """Training wall time, accumulated across pauses (evaluation) and resumes; ``clock`` is
    injectable (tests use a fake one)."""

    def __init__(self, clock: Callable[[], float], spent: float = 0.0):
        self.clock, self.spent, self._since = clock, float(spent), None

    def start(self) -> None:
        if self._since is None:
            self._since = self.clock()

    def pause(self) -> None:
        if self._since is not None:
            self.spent += self.clock() - self._since
            self._since = None

    @property
    def seconds(self) -> float:
        return self.spent + (self.clock() - self._since if self._since is not None else 0.0)


class Meter:
    """Sums of logged tensors on the device; read back (one sync) only when asked."""

    def __init__(self):
        self.sums: Dict[str, torch.Tensor] = {}
        self.counts: Dict[str, int] = {}

    def add(self, logs: Dict[str, torch.Tensor]) -> None:
        for k, v in logs.items():
            self.sums[k] = self.sums[k] + v if k in self.sums else v.detach().float().clone()
            self.counts[k] = self.counts.get(k, 0) + 1

    def pop_means(self) -> Dict[str, float]:
        if not self.sums:
            return {}
        keys = list(self.sums)
        values = torch.stack([self.sums[k] for k in keys]).tolist()
        means = {k: v / self.counts[k] for k, v in zip(keys, values)}
        self.sums, self.counts = {}, {}
        return means


# ---------------------------------------------------------------- the trainer
def has_spectral_norm(net) -> bool:
    """True when ``net`` has a spectral-norm parametrization (whose power iteration updates buffers in forward)."""
    from torch.nn.utils import parametrize

    return any(parametrize.is_parametrized(m) for m in net.modules())


def compile_nets(gan) -> Dict[str, bool]:
    """``train.compile``: torch.compile each net's forward in place (``nn.Module.compile``, which keeps the
    checkpoint's parameter names); a ModuleDict / ModuleList of nets has each member compiled. Returns what was
    compiled. D stays eager

    * when a penalty differentiates its gradient (gp, dragan, r1, r2): torch.compile has no double backward;
    * when it has spectral norm: D is called on the real and the fake batch in one loss, and each call's power
      iteration updates SN's ``u`` / ``v`` in place; the compiled graph (torch 2.14) keeps the buffers themselves
      for its backward, which the second call has changed (autograd's version-counter error);
    * when the GAN says so (``GAN.eager_d_why``; InfoGAN: its D is called through ``outputs`` (eager) and
      ``forward`` (compiled) in one loss, and the compiled call's update of batch norm's running statistics changes
      a tensor the eager call's backward keeps).

    Nets called through other methods than ``forward`` (e.g. UNIT's encode / decode) run eager."""
    from torch import nn

    def compile_net(net: nn.Module) -> None:
        if isinstance(net, (nn.ModuleDict, nn.ModuleList)):
            for m in (net.values() if isinstance(net, nn.ModuleDict) else net):
                m.compile()
        else:
            net.compile()

    compile_net(gan.G)
    d = (not gan.per_sample_penalties and any(True for _ in gan.D.parameters()) and not has_spectral_norm(gan.D)
         and gan.eager_d_why is None)
    if d:
        compile_net(gan.D)
    return {"G": True, "D": d}


class Trainer:
    clock: Callable[[], float] = staticmethod(time.monotonic)  # the wall clock of train.max_minutes

    def __init__(self, cfg: Config, run_dir: Path, state: Optional[dict] = None,
                 callbacks: Iterable[Callback] = ()):
        self.cfg, self.dir = cfg, Path(run_dir)
        self.dist = distributed.current()  # None in one process; this rank's place under torchrun
        self.writer = self.dist is None or self.dist.writer  # who writes logs, samples and checkpoints
        self.device = resolve_device(cfg.device if self.dist is None else distributed.device_for(cfg.device, self.dist))
        self._prev_deterministic = torch.are_deterministic_algorithms_enabled()
        try:
            self._setup(cfg, state, callbacks)
        except BaseException:  # a refused start leaves the caller's process as it was
            torch.use_deterministic_algorithms(self._prev_deterministic)
            raise

    def _setup(self, cfg: Config, state: Optional[dict], callbacks: Iterable[Callback]) -> None:
        seed_everything(cfg.seed, cfg.train.deterministic)
        self.rundir: Optional[RunDir] = None  # the locked run directory, set by start()/resume()
        d = cfg.data
        with oom_guard("loading the data", "data.resolution or data.size"):
            x, y, self.info = load_dataset(d.name, root=d.root, resolution=d.resolution, channels=d.channels,
                                           download=d.download, split="train", size=d.size, seed=cfg.seed)
            self.loader = make_loader(x, y, self.info, cfg.batch_size, self.device, cfg.seed, labels=d.labels,
                                      label_fraction=d.label_fraction)
        if self.dist is not None:  # each rank its own slice of every global batch
            distributed.check_batch(cfg.batch_size, self.dist)
            self.loader.shard(self.dist.rank, self.dist.world)
        own = GANS.get(cfg.gan).own_evaluation  # scored by its task metrics, not through a feature extractor
        if cfg.train.eval_every and self.info.kind == "images" and not own:  # fail now, not at the first evaluation
            from ..metrics import get_extractor

            get_extractor(cfg.train.eval_features, self.info.name, "cpu", cfg.train.inception_weights)
        check_memory(cfg, self.info, self.device)
        with oom_guard("building the networks", "the model widths (model.*)"):
            self.gan = GANS.get(cfg.gan)(cfg, self.info).to(self.device)
        if self.dist is not None:
            self.gan.world = self.dist.world
            if cfg.train.sync_bn:
                distributed.sync_batchnorm(self.gan)
        if cfg.train.channels_last:
            self.gan.to(memory_format=torch.channels_last)
        self.compiled = compile_nets(self.gan) if cfg.train.compile else {}
        if state is None:  # a fresh run: nets initialised from data see one seeded batch (a resume restores them)
            pick = torch.randperm(len(x), generator=torch.Generator().manual_seed(cfg.seed))[:cfg.batch_size]
            self.gan.init_from_data(x[pick].to(self.device))
        self.params = self.gan.optim_groups()
        self.optims = {g: make_optimizer(cfg.optim[g], ps) for g, ps in self.params.items()}
        self.scheds = {g: make_scheduler(o, cfg.optim[g], cfg.steps) for g, o in self.optims.items()}
        self.phases = self.gan.phases()
        self.step = 0
        self.meter = Meter()
        self.callbacks: List[Callback] = list(callbacks)
        self.last_logs: Dict[str, float] = {}
        self._eval_parts: Optional[dict] = None  # feature extractor + reference, loaded at the first eval
        self.watch = Stopwatch(self.clock)
        self.stopped_by: Optional[str] = None  # "max_minutes" when the time budget ended the run
        if state is not None:
            self.load_state(state)
        self._stream, self._ddp = None, None
        if self.dist is not None:  # after the state: the latent stream continues the checkpoint's
            self._stream = distributed.LatentStream(self.dist, self.device)
            self.gan.sample_z = self._stream.wrap(self.gan.sample_z)
            self._ddp = distributed.wrap_ddp(self.gan, self.phases, self.device)
        # bf16 autocast on the training device (CUDA or CPU): train.amp changes the arithmetic everywhere
        self._amp = torch.autocast(self.device.type, dtype=torch.bfloat16) if cfg.train.amp else nullcontext()
        self._channels_last = cfg.train.channels_last and self.info.kind == "images"
        self._tb = None
        self._bar = None
        self._t0, self._s0 = time.perf_counter(), self.step

    # ------------------------------------------------------------ state
    def state_dict(self) -> dict:
        return {
            "step": self.step,
            "config": self.cfg.to_yaml(),
            "config_hash": self.cfg.hash,
            "gankit_version": __version__,
            "data_info": info_to_dict(self.info),
            "gan": self.gan.state_dict(),
            "optim": {g: o.state_dict() for g, o in self.optims.items()},
            "sched": {g: s.state_dict() for g, s in self.scheds.items()},
            "loader": self.loader.state_dict(),
            "rng": self._rng_state(),
            "train_seconds": self.watch.seconds,
        }

    def _rng_state(self) -> dict:
        """The generators' state to continue from; several processes: the shared latent stream's (each rank's own
        draws are reseeded from the step), which a resume with any number of processes continues."""
        state = ckpt.rng_state()
        if self._stream is not None:
            state.update(self._stream.rng_torch())
        return state

    def load_state(self, state: dict) -> None:
        try:
            self.gan.load_state_dict(state["gan"])
            for g, o in self.optims.items():
                o.load_state_dict(state["optim"][g])
            for g, s in self.scheds.items():
                s.load_state_dict(state["sched"][g])
            self.loader.load_state_dict(state["loader"])
            ckpt.set_rng_state(state["rng"])
            self.step = int(state["step"])
            self.watch = Stopwatch(self.clock, float(state.get("train_seconds", 0.0)))  # older checkpoints: 0
        except (KeyError, RuntimeError, ValueError, TypeError) as e:
            raise CheckpointError(f"checkpoint does not match this run ({str(e).splitlines()[0][:120]})") from None

    def save_checkpoint(self) -> Optional[Path]:
        self.log()  # every rank: the logged losses are averaged over the ranks
        if not self.writer:
            return None
        path = ckpt.checkpoint_path(self.dir / "checkpoints", self.step)
        ckpt.save(self.state_dict(), path)
        ckpt.prune(self.dir / "checkpoints", self.cfg.train.keep_last)
        return path

    # ------------------------------------------------------------ the loop
    def _trainable(self, group: str) -> None:
        for g, ps in self.params.items():
            flag = g == group
            for p in ps:
                p.requires_grad_(flag)

    def train_step(self) -> None:
        """One generator step: every phase of the GAN, each repeated on fresh minibatches."""
        if self.dist is not None:  # this rank's own draws: a function of (seed, step, rank), so resumes are exact
            torch.manual_seed(distributed.step_seed(self.cfg.seed, self.step, self.dist.rank))
        for i, phase in enumerate(self.phases):
            opt = self.optims[phase.group]
            self._trainable(phase.group)
            for _ in range(phase.repeat):
                real, labels = self.loader.next()
                if self._channels_last:
                    real = real.contiguous(memory_format=torch.channels_last)
                opt.zero_grad(set_to_none=True)
                with self._amp:
                    loss, logs = phase.fn(real, labels) if self._ddp is None else self._ddp(i, real, labels)
                loss.backward()
                opt.step()
                self.gan.after_step(phase.group)
                self.meter.add(logs)
        for s in self.scheds.values():
            s.step()
        if self.gan.G_ema is not None:
            if self.step < self.cfg.train.ema_start:
                ema_copy(self.gan.G_ema, self.gan.G)
            else:
                ema_update(self.gan.G_ema, self.gan.G, self.cfg.train.ema)
        self.step += 1

    def fit(self) -> None:
        cfg, t = self.cfg, self.cfg.train
        from tqdm.auto import tqdm

        self._bar = tqdm(total=cfg.steps, initial=self.step, disable=not (t.progress and self.writer), unit="step",
                         dynamic_ncols=True, desc=f"{cfg.gan}",
                         mininterval=0.5 if sys.stderr.isatty() else 10.0)
        self._t0, self._s0 = time.perf_counter(), self.step
        self._write_run_json("running")
        try:
            self._fit()
            self._write_run_json("finished")
            if self.dist is not None:  # every rank returns once rank 0's checkpoint, samples and evaluation exist
                distributed.barrier(self.dist)
        except TrainingDiverged:
            self._write_run_json("diverged", quiet=True)
            raise
        except KeyboardInterrupt:
            self._write_run_json("interrupted", quiet=True)
            raise RunInterrupted(self.dir, self.step) from None
        except (WriteError, OSError) as e:
            self._write_run_json("failed", quiet=True)
            path = getattr(e, "path", None) or getattr(e, "filename", None) or self.dir
            cause = str(e) if isinstance(e, WriteError) else f"cannot write '{path}': {e.strerror or e}"
            kept = self._kept_checkpoint("last good checkpoint")
            raise WriteError(f"{cause}; {kept}", path=path) from None
        except Exception as e:  # out of memory, a failing callback, a bug: the run did not finish
            self._write_run_json("failed", quiet=True)
            if self.dist is not None and distributed.is_lost_peer(e):
                kept = self._kept_checkpoint("last checkpoint")
                raise PeerLost(f"another process of this run stopped (rank {self.dist.rank} of {self.dist.world} "
                                  f"lost its peers at step {self.step}); {kept}; continue with "
                                  f"`gankit train --resume {self.dir}` (any number of processes)") from None
            raise
        finally:
            self._bar.close()
            if self._tb is not None:
                try:
                    self._tb.close()
                except Exception:  # e.g. disk full in TensorBoard's writer: the run's own error says it
                    pass
            torch.use_deterministic_algorithms(self._prev_deterministic)
            if self.rundir is not None:
                self.rundir.close()

    def _kept_checkpoint(self, label: str) -> str:
        """``label: <newest checkpoint>`` for a message about a stopped run (or that none was written)."""
        last = ckpt.list_checkpoints(self.dir / "checkpoints")
        return f"{label}: {last[-1]}" if last else "no checkpoint had been written yet"

    def _fit(self) -> None:
        cfg, t = self.cfg, self.cfg.train
        with oom_guard("training", f"batch_size or the model widths (model.*) and start again with "
                       f"out={self.dir} --overwrite (--resume cannot change them)"):
            budget = t.max_minutes * 60.0 if t.max_minutes else None
            self.watch.start()
            if self.step == 0:  # parts trained before the GAN (a resumed run has them in its checkpoint)
                self._bar.set_description(f"{cfg.gan} (pre-training)", refresh=False)
                pre = self.gan.pretrain(self.loader)
                if self.dist is not None:  # trained outside DDP on each rank's slice: every rank takes rank 0's
                    distributed.broadcast_module(self.gan)
                self._bar.set_description(f"{cfg.gan}", refresh=False)
                if pre:
                    self._record({k: float(v) for k, v in pre.items()})
            timed_out = self.out_of_time(budget)  # read once per step (a collective under torchrun)
            while self.step < cfg.steps and not timed_out:
                self.train_step()
                self._bar.update(1)
                s = self.step
                timed_out = s < cfg.steps and self.out_of_time(budget)  # the last step is not stopped by time
                last = s == cfg.steps or timed_out
                if s % t.log_every == 0 or last:
                    self.log()
                if (t.checkpoint_every and s % t.checkpoint_every == 0) or last:
                    self.save_checkpoint()
                if not self.writer:  # rank 0 alone writes samples, evaluations and runs callbacks
                    continue
                if t.sample_every and s % t.sample_every == 0:
                    self.save_samples(f"step-{s:08d}")
                if self._frame_every and (s % self._frame_every == 0 or last):
                    self.save_frame()
                if t.eval_every and s % t.eval_every == 0:
                    self.watch.pause()  # measuring is not training
                    self.evaluate()
                    self.watch.start()
                for cb in self.callbacks:
                    cb(self, s)
            self.watch.pause()
        if not self.writer:
            return
        with oom_guard("drawing the final samples", "train.grid_size or train.eval_samples"):
            self.save_samples("final")
            if self.info.kind == "images":  # the GAN's own pictures, e.g. InfoGAN's latent traversals
                from .run import write_pictures

                write_pictures(self.gan, self.dir / "samples", self.cfg.seed)
            if self._frame_every:
                self.save_gif()
            if self.info.kind == "points" or t.eval_every:
                self.evaluate(final=True)

    def out_of_time(self, budget: Optional[float]) -> bool:
        """True once ``budget`` seconds of training wall time are spent (train.max_minutes)."""
        if budget is None:
            return False
        up = self.watch.seconds >= budget
        if self.dist is not None:  # the ranks' clocks differ a little: all stop when the first one's is up
            up = distributed.any_rank(up, self.dist)
        if up:
            self.stopped_by = "max_minutes"
        return up

    # ------------------------------------------------------------ callbacks
    def log(self) -> None:
        """Write the losses averaged since the last call (the only host sync) and stop with
        :class:`TrainingDiverged` if any loss or parameter is NaN/Inf."""
        logs = self.meter.pop_means() if self.meter.sums else {}
        if logs and self.dist is not None:
            logs = distributed.mean_over_ranks(logs, self.dist)
        if logs:
            self._record(logs)
        bad = [k for k, v in self.last_logs.items() if not np.isfinite(v)]
        if not bad:
            flat = [p for ps in self.params.values() for p in ps]
            if not bool(torch.stack([p.detach().float().abs().sum() for p in flat]).sum().isfinite()):
                bad = ["parameters"]
        if bad:
            kept = self._kept_checkpoint("last good checkpoint kept")
            raise TrainingDiverged(
                f"training diverged: {', '.join(bad)} became NaN/Inf by step {self.step}; {kept}; "
                f"lower the learning rates (optim.g.lr, optim.d.lr) and start again with "
                f"out={self.dir} --overwrite or another out="
            )

    def _record(self, logs: Dict[str, float]) -> None:
        self.last_logs = logs
        if not self.writer:
            return
        now = time.perf_counter()
        rate = (self.step - self._s0) / max(now - self._t0, 1e-9)
        row = {"step": self.step, **{k: round(v, 6) for k, v in logs.items()}, "steps_per_s": round(rate, 3),
               "train_seconds": round(self.watch.seconds, 2)}
        with open(self.dir / "metrics.jsonl", "a") as f:
            f.write(jsonutil.dumps(row) + "\n")
        tb = self._tensorboard()
        if tb is not None:
            for k, v in logs.items():
                tb.add_scalar(f"loss/{k}", v, self.step)
        if self._bar is not None:
            self._bar.set_postfix({k: f"{v:.3g}" for k, v in logs.items()}, refresh=False)

    def _tensorboard(self):
        if self._tb is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is a dependency, but stay usable without it
                self._tb = False
                return None
            self._tb = SummaryWriter(str(self.dir / "tb"), purge_step=self.step)
        return self._tb or None

    @property
    def _frame_every(self) -> int:
        """Steps between frames of the 2-D training picture (0: no frames)."""
        n = self.cfg.train.gif_frames
        return max(1, self.cfg.steps // n) if n and self.info.kind == "points" else 0

    def _toy_picture(self, path: Path, n: int, size: float, dpi: int) -> Path:
        """Samples over the true modes with D's score shaded behind them (2-D data)."""
        from ..viz import save_scatter, toy_limit

        lim = toy_limit(self.info.modes)
        save_scatter(self.gan.sample(n, seed=self.cfg.seed), path, modes=self.info.modes, sigma=self.info.sigma,
                     title=f"{self.cfg.gan} on {self.info.name}, step {self.step}", lim=lim,
                     field=self.gan.d_field(lim), size=size, dpi=dpi)
        return path

    def save_frame(self) -> Path:
        """One frame of the training animation: ``frames/step-NNNNNNNN.png`` (small, drawn in pixels)."""
        from ..viz import toy_frame, toy_limit

        lim = toy_limit(self.info.modes)
        path = self.dir / "frames" / f"step-{self.step:08d}.png"
        toy_frame(self.gan.sample(1000, seed=self.cfg.seed), path, self.info.modes, lim, self.gan.d_field(lim, 60))
        return path

    def save_gif(self) -> Optional[Path]:
        """``samples/training.gif`` from the frames up to this step (a resumed run's too)."""
        from ..viz import save_gif

        frames = sorted(p for p in (self.dir / "frames").glob("step-*.png")
                        if p.is_file() and not p.is_symlink() and p.stem[5:].isdigit() and int(p.stem[5:]) <= self.step)
        path = self.dir / "samples" / "training.gif"
        return path if save_gif(frames, path) else None

    def save_samples(self, name: str) -> Path:
        from ..viz import save_image_grid

        if self.info.kind == "points":
            path = self._toy_picture(self.dir / "samples" / f"{name}.png", self.cfg.train.eval_samples, 5.0, 100)
        else:
            path = self.dir / "samples" / f"{name}.png"
            images, nrow = self.gan.sample_grid(self.cfg.train.grid_size, seed=self.cfg.seed)  # conditional: a row per class
            save_image_grid(images, path, nrow=nrow)
        return path

    def evaluate(self, final: bool = False) -> dict:
        from .run import evaluate_gan

        t = self.cfg.train
        parts = {}
        if self.info.kind == "images" and not self.gan.own_evaluation:  # extractor and reference loaded once per run
            if self._eval_parts is None:
                from ..metrics import get_extractor, reference_features

                ext = get_extractor(t.eval_features, self.info.name, self.device, t.inception_weights)
                self._eval_parts = {"extractor": ext,
                                    "reference": reference_features(ext, self.info.name, root=self.cfg.data.root)}
            parts = self._eval_parts
        result = evaluate_gan(self.gan, self.info, n=t.eval_samples, seed=self.cfg.seed,
                              features=t.eval_features, root=self.cfg.data.root,
                              inception_weights=t.inception_weights, source=f"training step {self.step}", **parts)
        result["step"] = self.step
        with open(self.dir / "metrics.jsonl", "a") as f:
            f.write(jsonutil.dumps({"step": self.step, "eval": result}) + "\n")
        tb = self._tensorboard()
        if tb is not None:
            for k, v in result.items():
                if isinstance(v, (int, float)):
                    tb.add_scalar(f"eval/{k}", v, self.step)
        if final:
            ckpt.atomic_write_text(self.dir / "eval.json", jsonutil.dumps(result, indent=2) + "\n")
        return result

    def _write_run_json(self, status: str, quiet: bool = False) -> None:
        """Record the run's state; ``quiet``: on the way out of a failure, never mask it."""
        if not self.writer:
            return
        if quiet:
            try:
                self._write_run_json(status)
            except Exception:
                pass
            return
        meta = {"status": status, "pid": os.getpid(), "step": self.step, "steps": self.cfg.steps, "gan": self.cfg.gan,
                "config_hash": self.cfg.hash, "gankit_version": __version__, "torch_version": torch.__version__,
                "device": str(self.device), "data_info": info_to_dict(self.info),
                "train_seconds": round(self.watch.seconds, 2), "stopped_by": self.stopped_by}
        ckpt.atomic_write_text(self.dir / "run.json", jsonutil.dumps(meta, indent=2) + "\n")


# ---------------------------------------------------------------- entry points
class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during training: the run directory and step, for a message that names the way on."""

    def __init__(self, run_dir: Path, step: int):
        super().__init__(f"interrupted at step {step}")
        self.run_dir, self.step = Path(run_dir), step


def check_memory(cfg: Config, info: DataInfo, device: torch.device) -> None:
    """Refuse, before allocating, networks or sample sets that cannot fit in memory."""
    try:  # the parameter count without allocating: build the networks on the meta device
        with torch.device("meta"):
            meta = GANS.get(cfg.gan)(cfg, info)
        n_params = sum(p.numel() for p in meta.parameters())
    except Exception:  # a network that cannot be built on meta: rely on oom_guard
        n_params = 0
    # weights, gradients and two Adam moments in float32
    check_fits(n_params * 4 * 4, f"the networks ({n_params:,} parameters with gradients and optimiser state)",
               "the model widths (model.*)", device)
    t = cfg.train
    draws = {"train.grid_size": t.grid_size}
    if info.kind == "points" or t.eval_every:
        draws["train.eval_samples"] = t.eval_samples
    key = max(draws, key=draws.get)
    check_fits(sample_bytes(info.shape, draws[key], cfg.model.get("z_dim", 0)), f"{key}={draws[key]} samples",
               key, device)


def write_config(cfg: Config, run_dir: Path) -> None:
    ckpt.atomic_write_text(run_dir / "config.yaml", f"# gankit {__version__} resolved config; hash {cfg.hash}\n" + cfg.to_yaml())


def start(cfg: Config, overwrite: bool = False, callbacks: Iterable[Callback] = ()) -> Trainer:
    """A new run: check everything, build the trainer, and only then create (or clear) the run dir."""
    auto = not cfg.out
    out = out_dir(cfg)
    RunDir.check_new(out, overwrite)                  # cheap checks, no side effects
    trainer = Trainer(cfg, out, callbacks=callbacks)  # device, data, networks: may raise user errors
    d = trainer.dist
    if not trainer.writer:  # rank 0 makes the directory; the others learn its name
        cfg.out = distributed.broadcast_text(None, d)
        trainer.dir = Path(cfg.out)
        return trainer
    rd = RunDir.create(out, overwrite, auto=auto)     # lock, clear gankit's files if asked, mark
    try:
        cfg.out = str(rd.path)  # another process may have taken the automatic name first
        trainer.dir = rd.path
        write_config(cfg, rd.path)
        if d is not None:
            distributed.broadcast_text(cfg.out, d)
    except BaseException:
        rd.close()
        raise
    trainer.rundir = rd
    return trainer


def _changed_settings(old: Config, new: Config) -> List[str]:
    """``key: old -> new`` for every setting that changes what is trained (the config hash)."""
    def flat(d, prefix=""):
        out = {}
        for k, v in d.items():
            if isinstance(v, dict):
                out.update(flat(v, f"{prefix}{k}."))
            else:
                out[f"{prefix}{k}"] = v
        return out

    a, b = flat(old.identity()), flat(new.identity())
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}"[:80] for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def _open_for_resume(run_dir, d) -> Optional[RunDir]:
    """Rank 0 (or the only process) locks the run; under torchrun it tells the other ranks, which only read the run,
    whether that worked, so a refusal (e.g. a run another process holds) stops every rank with the same line."""
    if d is None:
        return RunDir.open(run_dir, "resume")
    if not d.writer:
        verdict = distributed.broadcast_text(None, d)
        if verdict != "ok":
            raise GankitError(verdict)
        return None
    try:
        rd = RunDir.open(run_dir, "resume")
    except Exception as e:
        distributed.broadcast_text(" ".join(str(e).split()) or type(e).__name__, d)
        raise
    distributed.broadcast_text("ok", d)
    return rd


def resume(run_dir, overrides=(), callbacks: Iterable[Callback] = ()) -> Trainer:
    """Continue a run from its newest checkpoint (or from step 0 if it has none) to its total steps.

    Nothing in the run directory changes until the resume has succeeded (config, checkpoint and
    trainer all load); the directory is locked for the whole time.
    """
    d = distributed.current()
    rd = _open_for_resume(run_dir, d)
    try:
        run_dir = rd.path if rd is not None else Path(run_dir)
        if not (run_dir / "config.yaml").is_file():
            raise GankitError(f"run '{run_dir}' was stopped before its config was written; start it again with "
                              f"`gankit train NAME out={run_dir} --overwrite`")
        cfg = load_run_config(run_dir)
        new = resolve(cfg, overrides)
        if new.hash != cfg.hash:
            changed = _changed_settings(cfg, new)
            raise ConfigError(f"config: --resume cannot change what is trained ({'; '.join(changed[:3]) or 'settings'}); "
                              f"only steps, device and logging settings may change; start a new run with out=... instead")
        new.out = str(run_dir)
        found = ckpt.list_checkpoints(run_dir / "checkpoints")
        state = None
        if found:
            try:
                state = ckpt.load(found[-1], expected_hash=recorded_hash(run_dir) or cfg.hash)
            except CheckpointError as e:
                if len(found) > 1:
                    raise CheckpointError(f"{e}; to continue from the previous one ({found[-2].name}), move "
                                          f"'{found[-1].name}' out of {found[-1].parent}") from None
                raise
        step = int(state["step"]) if state is not None else 0
        spent = float(state.get("train_seconds", 0.0)) if state is not None else 0.0
        limit = new.train.max_minutes
        if limit and spent >= limit * 60.0 and read_status(run_dir) == "finished":
            raise GankitError(f"run '{run_dir}' already used its time budget ({spent / 60:.2f} of train.max_minutes="
                              f"{limit:g} minutes, step {step}); pass train.max_minutes=M with M > {spent / 60:.2f} "
                              f"to train longer")
        if step >= new.steps and read_status(run_dir) == "finished":
            raise GankitError(f"run '{run_dir}' already finished ({step} of {new.steps} steps); "
                              f"pass steps=N with N > {step} to train longer")
        if step > new.steps:
            raise GankitError(f"steps={new.steps} is below the {step} steps run '{run_dir}' already has; "
                              f"pass steps=N with N ≥ {step}")
        trainer = Trainer(new, run_dir, state=state, callbacks=callbacks)
        if rd is None:
            return trainer
        _truncate_log(run_dir / "metrics.jsonl", step)  # only now: the resume has succeeded
        write_config(new, run_dir)
        rd.tidy()
        trainer.rundir = rd
        return trainer
    except BaseException:
        if rd is not None:
            rd.close()
        raise


def _truncate_log(path: Path, step: int) -> None:
    """Drop log rows written after the checkpoint we resume from (they will be written again)."""
    if not path.is_file():
        return
    rows = path.read_text(errors="replace").splitlines(keepends=True)
    keep = []
    for i, r in enumerate(rows):
        try:
            row = json.loads(r)
            later = isinstance(row, dict) and float(row.get("step", 0)) > step
        except (ValueError, TypeError):  # not one of gankit's rows
            later = i == len(rows) - 1 and not r.endswith("\n")  # a torn last row from a killed process
        if not later:
            keep.append(r if r.endswith("\n") else r + "\n")
    if keep != rows:
        ckpt.atomic_write_text(path, "".join(keep))
