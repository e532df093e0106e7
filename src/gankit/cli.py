"""The ``gankit`` command line: list | train | sample | eval.

A user mistake (bad config, missing data, bad path, corrupt checkpoint) or a failing environment
(disk full, read-only file system, out of memory) prints one line starting with ``gankit: error:``
and exits with status 2; Ctrl-C exits with 130; bugs still show their traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import List, Optional

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a Unix tool killed by a closed pipe reports
EXIT_PEER_LOST = 3  # a rank of a multi-process run stopped because another one did
#: set by ``gankit train --nproc`` for its processes: a folder where each rank leaves its closing line
LAUNCH_DIR = "GANKIT_LAUNCH_DIR"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of usage + message
        self.exit(EXIT_USER_ERROR, f"gankit: error: {_one_line(message)} (see `{self.prog} --help`)\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="gankit", description="Generative adversarial networks: train, sample, evaluate.")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    sub.add_parser("list", help="GANs, objectives, penalties, datasets, metrics and config presets")

    t = sub.add_parser("train", help="train a GAN: gankit train NAME|FILE.yaml [KEY=VALUE ...]")
    t.add_argument("config", nargs="?", help="GAN or preset name (see `gankit list`) or a YAML file")
    t.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="e.g. data=mnist steps=3000 batch_size=128 out=runs/d train.ema=0.999")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue RUN_DIR from its newest checkpoint")
    t.add_argument("--overwrite", action="store_true", help="replace an existing run directory given by out=")
    t.add_argument("--data-root", metavar="DIR", help="directory holding the dataset (same as data.root=DIR)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--nproc", type=int, default=None, metavar="N",
                   help="train on N processes with DistributedDataParallel (one per GPU, or gloo on the CPU): "
                        "starts `torchrun --standalone --nproc_per_node N -m gankit train ...`; batch_size is the "
                        "global batch")

    s = sub.add_parser("sample", help="draw samples from a run (EMA generator when there is one)")
    s.add_argument("run_dir")
    s.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument("--seed", type=int, default=0, help="noise seed; same seed and weights -> same output")
    s.add_argument("--out", default=None, help="FILE.png (grid / scatter), FILE.npy (raw samples) or FILE.npz "
                   "(arrays x and, for conditional and InfoGAN runs, y: the labels / codes used)")
    s.add_argument("--class", dest="class_", type=int, default=None, metavar="K",
                   help="conditional runs: every sample of class K (default: all classes in turn)")
    s.add_argument("--caption", default=None, metavar="TEXT",
                   help='text-conditioned runs (stackgan, stackgan++): every sample for this caption, e.g. '
                   '"a thin upright one" (words: the class and the attribute words the run lists)')
    s.add_argument("--code", default=None, metavar="c=K",
                   help="InfoGAN runs: fix the categorical code to K (default: all values in turn)")
    s.add_argument("--recon", action="store_true",
                   help="runs with an encoder (bigan, vaegan): a .png of --n test images (chosen by --seed) in rows of 8, "
                   "each row above its reconstructions G(E(x)) (default --out RUN_DIR/recon-seedS.png)")
    s.add_argument("--truncation", type=float, default=None, metavar="T",
                   help="truncation trick: BigGAN and other runs with z ~ N(0, I): redraw every |z_i| above T; "
                   "stylegan: psi in W, w' = w_avg + T (w - w_avg)")
    s.add_argument("--style-mix", dest="style_mix", type=int, default=None, metavar="K",
                   help="stylegan runs: a .png style-mixing grid, 4 sources (rows, seed --seed) giving the styles of "
                   "the layers before K and 5 (columns, seed --seed + 1) the rest (default --out "
                   "RUN_DIR/style-mix-K-seedS.png)")
    s.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    s.add_argument("--device", default="cpu")

    e = sub.add_parser("eval", help="score a run, a folder of images, or real data (--real DATASET)",
                       description="gankit eval RUN_DIR | gankit eval IMAGE_DIR --real DATASET | "
                                   "gankit eval --real DATASET (the real-data ceilings)")
    e.add_argument("path", nargs="?", help="a run directory (scores its EMA generator) or a folder of images")
    e.add_argument("--real", metavar="DATASET", help="reference dataset (mnist, fashion-mnist, ...); alone: "
                   "score its train[:N] against test[:N], the ceilings")
    e.add_argument("--n", type=int, default=None, help="generated samples (default: 10000 for images, "
                   "the config's eval_samples for 2-D data)")
    e.add_argument("--seed", type=int, default=None, help="noise seed (default: the run's seed; 0)")
    e.add_argument("--features", default="auto", help="auto | classifier | inception (default auto: the "
                   "dataset's reference classifier, else Inception)")
    e.add_argument("--metrics", default=None, help="comma-separated, e.g. fid,kid,is (see `gankit list`)")
    e.add_argument("--num-real", type=int, default=10000, help="reference images: the first N of --split")
    e.add_argument("--split", default="test", help="reference split (default test)")
    e.add_argument("--probe-size", type=int, default=None, metavar="N",
                   help="GANs with an encoder (BiGAN/ALI): fit the linear probe and the 1-NN on the first N "
                        "training images (default: all of them)")
    e.add_argument("--inception-weights", metavar="FILE", default=None,
                   help="pt_inception-2015-12-05-6726825d.pth (or set GANKIT_INCEPTION_WEIGHTS)")
    e.add_argument("--data-root", metavar="DIR", help="directory holding the dataset")
    e.add_argument("--out", default=None, help="JSON file to write (default: RUN_DIR/eval.json for runs, "
                   "IMAGE_DIR.eval.json for folders, ceilings-DATASET.json for --real alone)")
    e.add_argument("--truncation", type=float, default=None, metavar="T",
                   help="score samples drawn with the truncation trick at threshold T (runs with z ~ N(0, I))")
    e.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    e.add_argument("--batch-size", type=int, default=500)
    e.add_argument("--device", default="cpu")

    tr = sub.add_parser("translate", help="apply an image-to-image run (pix2pix, cyclegan, ...) to images")
    tr.add_argument("run_dir")
    tr.add_argument("--input", required=True, metavar="FILE.npy|DIR",
                    help="images of the source domain: a .npy array (N, C, H, W) or (N, H, W), floats in [-1, 1] or "
                    "uint8; or a folder of image files (sorted by name)")
    tr.add_argument("--to", default=None, metavar="a|b|ATTRS", help="the domain to translate into (default b; a for "
                    "the two-way runs); stargan: the target attributes, comma-separated, e.g. red,thick")
    tr.add_argument("--out", required=True, metavar="FILE.npy|FILE.png|DIR",
                    help="a .npy array, a .png grid, or a new folder of PNG files named like the inputs")
    tr.add_argument("--overwrite", action="store_true", help="replace an existing --out file, or write into an "
                    "existing --out folder that holds only files of the names written")
    tr.add_argument("--device", default="cpu")

    c = sub.add_parser("classifier", help="train a reference classifier with its fixed recipe")
    c.add_argument("dataset", help="mnist | fashion-mnist | mnist-attributes (the attribute classifier)")
    c.add_argument("--out-dir", default=None, help="where to write it (default: the installed package's weights)")
    c.add_argument("--epochs", type=int, default=None, help="override the recipe (the record says so)")
    c.add_argument("--data-root", metavar="DIR")
    c.add_argument("--overwrite", action="store_true")
    c.add_argument("--threads", type=int, default=None, help="torch threads (the weights depend on it; "
                   "the shipped ones: see their .json record)")
    return p


def cmd_list() -> None:
    from .config import preset_names
    from .data import DATASETS
    from .gans import GANS
    from .metrics import METRICS
    from .objectives import OBJECTIVES
    from .penalties import PENALTIES

    def doc(obj) -> str:
        d = (getattr(obj, "doc", "") or getattr(obj, "__doc__", "") or "").strip()
        return d.splitlines()[0] if d else ""

    for title, reg in (("GANs", GANS), ("objectives", OBJECTIVES), ("penalties", PENALTIES),
                       ("datasets", DATASETS), ("metrics", METRICS)):
        print(f"{title}:")
        for name, obj in reg.items():
            print(f"  {name:<16} {doc(obj)[:90]}")
    print("config presets: " + ", ".join(preset_names()))


_STOPPING = False  # a stop signal arrived: what fails after it (e.g. an import it cut short) is part of the stop


def _stop_signals_interrupt() -> None:
    """SIGINT (Ctrl-C) and SIGTERM (a scheduler's or `kill`'s stop) raise KeyboardInterrupt once:
    the command cleans up (temp files removed, run status "interrupted", lock released) and ends
    with one line. Later signals are ignored while it does, so a second Ctrl-C cannot turn the
    clean stop into a traceback."""
    import signal

    def handler(signum, frame):
        global _STOPPING
        _STOPPING = True
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        raise KeyboardInterrupt

    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, handler)
    except (ValueError, OSError):  # not the main thread
        pass


def _stop_with_the_launcher() -> None:
    """Under ``--nproc``: a process whose launcher dies (``kill -9`` of the ``gankit`` command) gets SIGTERM and
    stops as if interrupted, instead of training on without anyone to report to (Linux; elsewhere nothing)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the launcher died before the line above
        os.kill(os.getpid(), signal.SIGTERM)


def _quiet_thread_oserrors() -> None:
    """A write failing in a helper thread (TensorBoard's writer on a full disk) is reported once, by
    the command's own one-line error, not as a thread traceback."""
    import threading

    default = threading.excepthook

    def hook(args):
        if not issubclass(args.exc_type, OSError):
            default(args)

    threading.excepthook = hook


def cmd_train(a) -> None:
    from .train.run import train

    overrides = list(a.overrides)
    if a.config and "=" in a.config and not a.config.endswith((".yaml", ".yml")):
        overrides.insert(0, a.config)  # `gankit train steps=10` means the default GAN
        a.config = None
    if a.data_root:
        overrides.append(f"data.root={a.data_root}")
    if a.quiet:
        overrides.append("train.progress=false")
    if a.resume and a.config:
        from .errors import GankitError

        raise GankitError("use either a config or --resume RUN_DIR, not both")
    if a.nproc is not None:
        _launch(a, overrides)
    if a.resume:
        run = train(None, *overrides, resume=a.resume)
    else:
        run = train(a.config, *overrides, overwrite=a.overwrite)
    from .train.distributed import is_writer

    if not is_writer():
        return
    print(f"run directory: {run.dir}")
    meta = _run_meta(run.dir)
    if meta.get("stopped_by") == "max_minutes":
        print(f"stopped by train.max_minutes after {meta.get('train_seconds', 0) / 60:.2f} minutes of training, "
              f"at step {meta.get('step')} of {meta.get('steps')}")
    if (run.dir / "eval.json").is_file():
        print(_table(json.loads((run.dir / "eval.json").read_text())))


def _launch(a, overrides) -> None:
    """``gankit train ... --nproc N``: the same command on N processes (what ``torchrun --standalone
    --nproc_per_node N -m gankit train ...`` does, through torchrun's launcher in this process); a process that
    fails or is killed stops the others and ends the command with one line and its status."""
    import logging
    import tempfile
    import uuid

    os.environ.setdefault("LOGLEVEL", "CRITICAL")  # torchrun's loggers read it when they are made
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")  # the ranks' C++ warnings on the way out of a stop
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    from .errors import GankitError

    if a.nproc < 1:
        raise GankitError(f"--nproc must be at least 1, got {a.nproc}")
    if os.environ.get("WORLD_SIZE"):
        raise GankitError("--nproc inside a torchrun process; give one or the other")
    args = ["-m", "gankit", "train"] + ([a.config] if a.config else []) + list(overrides)
    args += ["--resume", a.resume] if a.resume else []
    args += ["--overwrite"] if a.overwrite else []
    # CPU ranks share the cores
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // a.nproc)))
    for name in [n for n in logging.root.manager.loggerDict if n.startswith("torch.distributed")]:
        logging.getLogger(name).setLevel(logging.CRITICAL)  # the launcher's own chatter
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=a.nproc, run_id=uuid.uuid4().hex,
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0, monitor_interval=0.5,
                          start_method="spawn")
    with tempfile.TemporaryDirectory(prefix="gankit-launch-") as said:
        os.environ[LAUNCH_DIR] = said
        try:
            elastic_launch(config, sys.executable)(*args)
        except SignalException:  # Ctrl-C or a scheduler's SIGTERM: the ranks stopped and rank 0 said where
            raise SystemExit(EXIT_INTERRUPTED) from None
        except ChildFailedError as e:
            first, _ = e.get_first_failure()
            codes = {r: f.exitcode for r, f in e.failures.items()}
            _stopped_by(codes, first, _lines_said(said, a.nproc), a, overrides)
        finally:
            os.environ.pop(LAUNCH_DIR, None)
    raise SystemExit(0)


def _lines_said(folder: str, n: int) -> dict:
    """``{rank: closing line}`` the processes of a ``--nproc`` run left (see :func:`_say`)."""
    lines = {}
    for r in range(n):
        try:
            with open(os.path.join(folder, f"rank-{r}")) as f:
                lines[r] = f.read().strip()
        except OSError:
            pass
    return lines


def _stopped_by(codes: dict, first: int, said: dict, a, overrides) -> None:
    """One line and an exit status for a ``--nproc`` run whose processes did not all finish: the line of the process
    that stopped it. Rank 0 printed its own line already; a process that lost its peers is not the cause, nor one that
    torchrun stopped (SIGTERM) after another had failed; a process killed without a word is named."""
    import signal

    from .errors import GankitError

    spoken = [r for r in codes if codes[r] in (EXIT_USER_ERROR, EXIT_INTERRUPTED) and r in said]
    if 0 in said:  # rank 0 printed its line (torchrun may have stopped it afterwards)
        raise SystemExit(codes[0 if 0 in spoken else spoken[0]] if spoken else EXIT_USER_ERROR)
    if spoken:  # a user error or a stop met by another rank first (rank 0 was stopped before it could say it)
        rank = first if first in spoken else min(spoken)
        line = said[rank]
        if rank != 0:
            line = line.replace("gankit: ", f"gankit: process {rank} of {a.nproc}: ", 1)
        print(line, file=sys.stderr)
        raise SystemExit(codes[rank])
    causes = {r: c for r, c in codes.items() if c != EXIT_PEER_LOST}
    killed = {r: c for r, c in causes.items() if c != -signal.SIGTERM} or causes
    if not killed:
        raise SystemExit(EXIT_USER_ERROR)
    rank = first if first in killed else min(killed)
    code = killed[rank]
    how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
    out = a.resume or next((o.split("=", 1)[1] for o in overrides if o.startswith("out=")), "RUN_DIR")
    raise GankitError(f"process {rank} of {a.nproc} {how}, so the run stopped; `gankit train --resume {out}` "
                      f"continues from its last checkpoint (with any --nproc)")


def _run_meta(run_dir) -> dict:
    """The run's run.json ({} if it cannot be read)."""
    try:
        meta = json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _table(result: dict) -> str:
    rows = [(k, v) for k, v in result.items() if isinstance(v, (int, float, str)) and k != "protocol"]
    lines = [f"  {k:<20} {v:.4g}" if isinstance(v, float) else f"  {k:<20} {v}" for k, v in rows]
    p = result.get("protocol")
    if isinstance(p, dict) and "features" in p:
        ref = p.get("reference") or {}
        where = f"{p.get('dataset')} {ref.get('split')}[:{ref.get('num_real')}]" if ref else "no reference"
        lines.append(f"  protocol: {p['features']['name']} (sha256 {p['features']['weights_sha256'][:12]}), "
                     f"{p['num_fake']} images vs {where}, seed {p['seed']}, gankit {p['gankit']}")
    return "\n".join(lines)


def cmd_sample(a) -> None:
    from pathlib import Path

    from .errors import GankitError
    from .train.run import SAMPLE_SUFFIXES, load_run

    from .config import check_seed

    if a.n < 1:
        raise GankitError(f"--n must be ≥ 1, got {a.n}")
    check_seed(a.seed, "--seed")
    if a.out and Path(a.out).suffix not in SAMPLE_SUFFIXES:
        raise GankitError(f"output '{a.out}' must end in .png, .npy or .npz")
    if a.class_ is not None and a.code is not None:
        raise GankitError("give --class (conditional runs) or --code (InfoGAN runs), not both")
    if a.caption is not None and (a.class_ is not None or a.code is not None):
        raise GankitError("give --caption or --class / --code, not both (the caption names the class)")
    if a.caption is not None and (a.recon or a.style_mix is not None):
        raise GankitError("--caption draws samples; it takes no --recon or --style-mix")
    code = _parse_code(a.code) if a.code is not None else None
    if a.recon:
        if a.truncation is not None:
            raise GankitError("--recon reconstructs real images; it takes no --truncation")
        if a.class_ is not None or code is not None:
            raise GankitError("--recon reconstructs real images; it takes no --class or --code")
        if a.out and Path(a.out).suffix != ".png":
            raise GankitError(f"--recon writes a picture; --out '{a.out}' must end in .png")
        run = load_run(a.run_dir, device=a.device)
        path = run.save_reconstructions(a.out, n=a.n, seed=a.seed, overwrite=a.overwrite)
        print(f"wrote {a.n} test images and their reconstructions to {path}")
        return
    if a.style_mix is not None:
        if a.recon or a.class_ is not None or code is not None:
            raise GankitError("--style-mix takes no --recon, --class or --code")
        if a.out and Path(a.out).suffix != ".png":
            raise GankitError(f"--style-mix writes a picture; --out '{a.out}' must end in .png")
        run = load_run(a.run_dir, device=a.device)
        if not hasattr(run.gan, "style_mixing"):
            raise GankitError(f"--style-mix needs a style-based run (stylegan); this is a {run.config.gan} run")
        out = Path(a.out) if a.out else run.dir / f"style-mix-{a.style_mix}-seed{a.seed}.png"
        if (out.exists() or out.is_symlink()) and not a.overwrite:
            raise GankitError(f"'{out}' already exists; pass --overwrite or choose another --out")
        psi = run.check_truncation(a.truncation, "--truncation")
        try:
            images, per_row = run.gan.style_mixing(crossover=a.style_mix, seed=a.seed, psi=psi)
        except ValueError as e:
            raise GankitError(f"--style-mix: {e}") from None
        from .viz import save_image_grid

        save_image_grid(images.cpu(), out, nrow=per_row)
        print(f"wrote a style-mixing grid (crossover layer {a.style_mix}) to {out}")
        return
    run = load_run(a.run_dir, device=a.device)
    label = None
    if a.class_ is not None:
        if run.gan.code_labels:
            raise GankitError(f"--class: this {run.config.gan} run has no classes; fix its categorical code with --code c=K")
        if not run.gan.conditional:
            raise GankitError(f"--class needs a class-conditional run (e.g. cgan, acgan, projection); this "
                              f"{run.config.gan} run is unconditional")
        label = run.check_label(a.class_, "--class")
    if code is not None:
        if not run.gan.code_labels:
            raise GankitError(f"--code is for runs with a categorical latent code (infogan); this is a {run.config.gan} run"
                              + (", use --class K" if run.gan.conditional else ""))
        label = run.check_label(code, "--code c=K")
    out = Path(a.out) if a.out else run.dir / f"samples-seed{a.seed}.png"
    if out.is_dir():
        raise GankitError(f"--out '{out}' is a directory; give a file name ending in .png, .npy or .npz")
    if (out.exists() or out.is_symlink()) and not a.overwrite:
        raise GankitError(f"'{out}' already exists; pass --overwrite or choose another --out")
    run.check_sample_size(a.n, "--n")
    truncation = run.check_truncation(a.truncation, "--truncation")
    if a.caption is not None:
        run.caption_rows(a.caption, 1, "--caption")  # a bad caption fails before anything is drawn
    run.save_samples(out, n=a.n, seed=a.seed, overwrite=a.overwrite, label=label, truncation=truncation,
                     caption=a.caption)
    print(f"wrote {a.n} samples to {out}" + (f" for the caption {a.caption!r}" if a.caption is not None else ""))


def cmd_translate(a) -> None:
    from pathlib import Path

    import numpy as np

    from .errors import GankitError
    from .train.run import load_run

    if not a.out.strip():
        raise GankitError("--out is empty; give a .npy or .png file or a folder")
    out = Path(a.out)
    suffix = out.suffix.lower()
    if suffix in (".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".npz", ".pt") and not a.out.endswith("/"):
        raise GankitError(f"--out '{out}' must end in .npy or .png, or name a folder")
    to_dir = a.out.endswith(("/", "\\")) or suffix not in (".npy", ".png")
    if (out.exists() or out.is_symlink()) and not a.overwrite:
        raise GankitError(f"'{out}' already exists; pass --overwrite or choose another --out")
    if to_dir and out.exists() and not out.is_dir():
        raise GankitError(f"--out '{out}' is a file; name a folder, or a file ending in .npy or .png")
    if not to_dir and out.is_dir():
        raise GankitError(f"--out '{out}' is a folder; give a file name ending in .npy or .png")
    names = _translation_names(Path(a.input), out) if to_dir else None  # refuse clashing names before any work
    run = load_run(a.run_dir, device=a.device)
    x = run.read_translation_input(a.input, a.to)
    if to_dir:  # one PNG per input, named like it (a .npy input: by index); never mixed with older files
        names = names or [f"{i:06d}.png" for i in range(len(x))]
        if out.is_dir():
            others = sorted(p.name for p in out.iterdir() if p.name not in set(names))
            if others:
                raise GankitError(f"--out folder '{out}' holds other files ({others[0]}, ...); choose a new folder")
    y = run.translate(x, a.to)
    where = run.gan.describe(run.gan.target(a.to))
    from .io import atomic_write_bytes
    from .viz import save_image_grid

    if not to_dir and suffix == ".npy":
        import io

        buf = io.BytesIO()
        np.save(buf, y.numpy().astype(np.float32))
        atomic_write_bytes(out, buf.getvalue())
    elif not to_dir:
        save_image_grid(y, out)
    else:
        out.mkdir(parents=True, exist_ok=True)
        for name, img in zip(names, y):
            save_image_grid(img[None], out / name, nrow=1, padding=0)
    print(f"translated {len(y)} image{'s' if len(y) != 1 else ''} into {where}: {out}")


def _translation_names(src, out):
    """The output file names for a folder of inputs (each input's path inside the folder, '/' as '__', with .png),
    or None for a .npy input; one-line errors when two inputs would give one name or --out lies inside the input."""
    from .data.imagefolder import collect_images
    from .errors import GankitError

    if not src.is_dir():
        return None
    if out.resolve() == src.resolve() or src.resolve() in out.resolve().parents:
        raise GankitError(f"--out '{out}' is inside the input folder '{src}'; write the translations elsewhere")
    names, seen = [], {}
    for p in collect_images(src):
        name = "__".join(p.relative_to(src).with_suffix("").parts) + ".png"
        if name in seen:
            raise GankitError(f"two inputs would write the same output '{name}' ({seen[name]} and "
                              f"{p.relative_to(src)}); rename one")
        seen[name] = p.relative_to(src)
        names.append(name)
    return names


def _parse_code(text: str) -> int:
    """``--code c=K`` -> K (InfoGAN's one categorical code is named c)."""
    from .errors import GankitError, clip

    name, eq, value = text.partition("=")
    if not eq or name.strip() != "c":
        raise GankitError(f"--code must be c=K (K: a value of the categorical code), got '{clip(text, 40)}'")
    try:
        return int(value.strip())
    except ValueError:
        raise GankitError(f"--code c=K needs an integer K, got '{clip(value, 40)}'") from None


def _eval_kw(a) -> dict:
    kw = dict(features=a.features, metrics=a.metrics, num_real=a.num_real, split=a.split,
              inception_weights=a.inception_weights, batch_size=a.batch_size)
    if a.data_root:
        kw["root"] = a.data_root
    if a.probe_size is not None:
        kw["probe_size"] = a.probe_size
    return kw


def _check_out(path, overwrite: bool):
    """Refuse an existing output file before any work (unless --overwrite)."""
    from pathlib import Path

    from .errors import GankitError

    path = Path(path)
    if path.is_dir():
        raise GankitError(f"--out '{path}' is a directory; give a JSON file name")
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise GankitError(f"'{path}' already exists; pass --overwrite or choose another --out")
    return path


def _write_json(path, result: dict) -> None:
    from .io import atomic_write_text
    from .jsonutil import dumps

    atomic_write_text(path, dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


def cmd_eval(a) -> None:
    from pathlib import Path

    from .errors import GankitError

    from .config import check_seed

    if a.n is not None and a.n < 2:
        raise GankitError(f"--n must be ≥ 2, got {a.n}")
    if a.num_real < 2:
        raise GankitError(f"--num-real must be ≥ 2, got {a.num_real}")
    if a.batch_size < 1:
        raise GankitError(f"--batch-size must be ≥ 1, got {a.batch_size}")
    if a.probe_size is not None and a.probe_size < 1:
        raise GankitError(f"--probe-size must be ≥ 1, got {a.probe_size}")
    if a.seed is not None:
        check_seed(a.seed, "--seed")
    if a.features not in ("auto", "classifier", "inception"):
        raise GankitError(f"--features must be auto, classifier or inception, got '{a.features[:40]}'")
    if a.real:
        from .data import DATASETS

        DATASETS.get(a.real)  # an unknown name: one line with the nearest valid one, before any work
    if a.path is None:
        if not a.real:
            raise GankitError("give a run directory, a folder of images (with --real DATASET), or --real DATASET")
        from .metrics import real_ceilings
        from .metrics.suite import _resolve_metrics

        if a.metrics:
            _resolve_metrics(a.metrics, None, None, a.real)
        out = _check_out(a.out or f"ceilings-{a.real}.json", a.overwrite)
        kw = _eval_kw(a)
        kw.pop("split")
        kw.pop("probe_size", None)  # no encoder here
        result = real_ceilings(a.real, device=a.device, seed=a.seed or 0, **kw)
        print(f"real-data ceilings for {a.real}:")
        print(_table(result))
        _write_json(out, result)
        return
    path = Path(a.path)
    if not path.exists():
        raise GankitError(f"'{path}' does not exist (expected a run directory or a folder of images)")
    if not path.is_dir():
        raise GankitError(f"'{path}' is a file, not a directory (expected a run directory or a folder of images)")
    from .train.rundir import is_run_dir

    if is_run_dir(path):
        from .train.run import load_run

        run = load_run(path, device=a.device)
        if a.real and a.real != run.info.name:
            raise GankitError(f"this run was trained on '{run.info.name}'; --real must match it or be left out")
        kw = _eval_kw(a) if run.info.kind != "points" else {"metrics": a.metrics}
        if "root" not in kw and run.info.kind != "points":
            kw["root"] = run.config.data.root
        out = _check_out(a.out, a.overwrite) if a.out else None
        truncation = run.check_truncation(a.truncation, "--truncation")
        result = run.evaluate(n=a.n, seed=a.seed, out=out, overwrite=a.overwrite, truncation=truncation, **kw)
        print(f"{run.config.gan} at step {run.step} ({run.dir}):")
        print(_table(result))
        print(f"wrote {out or run.dir / 'eval.json'}")
        return
    if not a.real:
        raise GankitError(f"'{path}' is not a run directory; to score a folder of images name the reference "
                          f"data: gankit eval {path} --real mnist")
    from .data import load_dataset
    from .metrics import score_images
    from .metrics.features import CLASSIFIER_DATASETS

    from .metrics.suite import _resolve_metrics

    if a.metrics:
        _resolve_metrics(a.metrics, None, None, a.real)
    out = _check_out(a.out or f"{str(path).rstrip('/')}.eval.json", a.overwrite)
    features = a.features
    if features == "auto":
        features = "classifier" if a.real in CLASSIFIER_DATASETS else "inception"
    channels = 1 if features == "classifier" and a.real != "stacked-mnist" else 3
    resolution = 28 if features == "classifier" else 64
    x, _, _ = load_dataset("imagefolder", root=str(path), resolution=resolution, channels=channels,
                           size=a.n)
    kw = _eval_kw(a)
    kw["features"] = features
    result = score_images(x, a.real, device=a.device, seed=a.seed or 0, source=f"image folder {path}", **kw)
    print(f"{len(x)} images in {path} vs {a.real}:")
    print(_table(result))
    _write_json(out, result)


def cmd_classifier(a) -> None:
    from .errors import GankitError
    from .metrics.reference import train_reference_classifier

    if a.epochs is not None and a.epochs < 1:
        raise GankitError(f"--epochs must be ≥ 1, got {a.epochs}")
    if a.threads is not None and a.threads < 1:
        raise GankitError(f"--threads must be ≥ 1, got {a.threads}")
    rec = train_reference_classifier(a.dataset, a.data_root, a.out_dir, a.epochs, overwrite=a.overwrite,
                                     threads=a.threads)
    print(f"{a.dataset}: test accuracy {rec['test_accuracy']:.4f} (required {rec['required_accuracy']}), "
          f"sha256 {rec['sha256'][:16]}, {rec['train_seconds']} s")


MAX_ERROR_CHARS = 400


def _one_line(message: str) -> str:
    """An error message as one bounded line (no control characters, at most MAX_ERROR_CHARS)."""
    from .errors import clip, shorten

    return shorten(message, MAX_ERROR_CHARS) or clip(shorten(message, len(str(message))), MAX_ERROR_CHARS)


def _speaks() -> bool:
    """False on the ranks above 0 under torchrun: every rank meets the same error or stop, and rank 0 says it."""
    return os.environ.get("RANK", "0") in ("0", "")


def _say(line: str) -> None:
    """A process's closing line: rank 0 prints it; under ``--nproc`` every rank also leaves it for the launcher,
    which says the line of the process that stopped the run when that is not rank 0."""
    if _speaks():
        print(line, file=sys.stderr)
    folder = os.environ.get(LAUNCH_DIR)
    if folder:
        try:
            with open(os.path.join(folder, f"rank-{os.environ.get('RANK', '0')}"), "w") as f:
                f.write(line)
        except OSError:
            pass


def _error(message: str) -> int:
    _say(f"gankit: error: {_one_line(message)}")
    return EXIT_USER_ERROR


def _interrupted(e: KeyboardInterrupt, command: Optional[str]) -> int:
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):  # stop quietly even if signalled again
        try:
            signal.signal(sig, signal.SIG_IGN)
        except (ValueError, OSError):
            pass
    run_dir = getattr(e, "run_dir", None)
    touched = None
    rundir = sys.modules.get("gankit.train.rundir")  # not loaded: no run directory was touched
    if run_dir is None and command == "train" and rundir is not None:
        touched = rundir.active()
    if run_dir is not None:
        msg = (f"interrupted at step {e.step}; `gankit train --resume {run_dir}` continues from its last "
               f"checkpoint")
    elif touched is not None:
        msg = (f"interrupted while preparing run directory '{touched}', before any training step; "
               f"start it again with out={touched} --overwrite")
    elif command == "train":
        msg = "interrupted before any training step; no run directory was changed"
    else:
        msg = f"interrupted; {command or 'the command'} stopped before finishing (no partial output is left)"
    _say(f"gankit: {msg}")
    return EXIT_INTERRUPTED


def _broken_pipe() -> int:
    """The reader went away (`gankit list | head -3`): stop quietly, like other Unix tools."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return EXIT_BROKEN_PIPE


def main(argv: Optional[List[str]] = None) -> int:
    """The ``gankit`` command. Every user mistake and environment failure (disk full, read-only
    file system, out of memory, Ctrl-C) ends in one line and an exit status: 2 for errors, 130 for
    an interrupt, 141 when the reader of the output went away. ``GANKIT_DEBUG=1`` re-raises errors
    with their traceback."""
    command = None
    try:
        _stop_signals_interrupt()
        if os.environ.get(LAUNCH_DIR) and os.environ.get("RANK"):
            _stop_with_the_launcher()
        _quiet_thread_oserrors()
        command = next((c for c in (argv if argv is not None else sys.argv[1:])
                        if c in ("train", "sample", "eval", "classifier", "list")), None)
        return _main(argv)
    except KeyboardInterrupt as e:
        return _interrupted(e, command)
    except BrokenPipeError:
        return _broken_pipe()
    except SystemExit:
        raise
    except Exception as e:
        from .errors import GankitError, PeerLost
        from .memory import is_oom

        if os.environ.get("GANKIT_DEBUG"):
            raise
        if _STOPPING and not isinstance(e, GankitError):
            return _interrupted(KeyboardInterrupt(), command)
        if isinstance(e, PeerLost):  # under --nproc the launcher names the process that stopped
            if not os.environ.get(LAUNCH_DIR) and _speaks():
                print(f"gankit: error: {_one_line(str(e))}", file=sys.stderr)
            return EXIT_PEER_LOST
        if isinstance(e, GankitError):
            return _error(str(e))
        if isinstance(e, OSError) and e.errno is not None:  # the environment, not a bug in gankit
            where = f" '{e.filename}'" if e.filename else ""
            return _error(f"cannot access{where}: {e.strerror or e}")
        if is_oom(e):
            return _error("out of memory; lower the batch size, the model widths or the number of samples")
        raise


def _main(argv: Optional[List[str]] = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # options interleaved with KEY=VALUE overrides leave the rest here
        overrides = [e for e in extra if "=" in e and not e.startswith("-")]
        if args.command != "train" or len(overrides) != len(extra):
            parser.error("unrecognized arguments: " + " ".join(e for e in extra if e not in overrides or args.command != "train"))
        args.overrides = list(args.overrides) + overrides
    if args.version:
        from . import __version__

        print(f"gankit {__version__}")
        return 0
    if not args.command:
        _parser().print_help()
        return EXIT_USER_ERROR
    {"list": lambda: cmd_list(), "train": lambda: cmd_train(args),
     "sample": lambda: cmd_sample(args), "eval": lambda: cmd_eval(args),
     "classifier": lambda: cmd_classifier(args), "translate": lambda: cmd_translate(args)}[args.command]()
    sys.stdout.flush()  # a closed pipe shows here, inside main's handler
    return 0


if __name__ == "__main__":
    sys.exit(main())
