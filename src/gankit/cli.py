"""The ``gankit`` command line: list | train | sample | eval.

A user mistake (bad config, missing data, bad path, corrupt checkpoint) prints one line starting
with ``gankit: error:`` and exits with status 2; bugs still show their traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional

EXIT_USER_ERROR = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of usage + message
        self.exit(EXIT_USER_ERROR, f"gankit: error: {message} (see `{self.prog} --help`)\n")


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

    s = sub.add_parser("sample", help="draw samples from a run (EMA generator when there is one)")
    s.add_argument("run_dir")
    s.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument("--seed", type=int, default=0, help="noise seed; same seed and weights -> same output")
    s.add_argument("--out", default=None, help="FILE.png (grid / scatter) or FILE.npy (raw samples)")
    s.add_argument("--device", default="cpu")

    e = sub.add_parser("eval", help="score a run; writes RUN_DIR/eval.json")
    e.add_argument("run_dir")
    e.add_argument("--n", type=int, default=None, help="number of generated samples (default: config's)")
    e.add_argument("--seed", type=int, default=None)
    e.add_argument("--device", default="cpu")
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
    if a.resume:
        if a.config:
            from .errors import GankitError

            raise GankitError("use either a config or --resume RUN_DIR, not both")
        run = train(None, *overrides, resume=a.resume)
    else:
        run = train(a.config, *overrides, overwrite=a.overwrite)
    print(f"run directory: {run.dir}")
    if (run.dir / "eval.json").is_file():
        print(_table(json.loads((run.dir / "eval.json").read_text())))


def _table(result: dict) -> str:
    rows = [(k, v) for k, v in result.items() if isinstance(v, (int, float, str)) and k != "protocol"]
    return "\n".join(f"  {k:<20} {v:.4g}" if isinstance(v, float) else f"  {k:<20} {v}" for k, v in rows)


def cmd_sample(a) -> None:
    from pathlib import Path

    from .errors import GankitError
    from .train.run import load_run

    if a.n < 1:
        raise GankitError(f"--n must be ≥ 1, got {a.n}")
    run = load_run(a.run_dir, device=a.device)
    out = Path(a.out) if a.out else run.dir / f"samples-seed{a.seed}.png"
    if out.exists():
        raise GankitError(f"'{out}' already exists; choose another --out (gankit never overwrites your files)")
    run.save_samples(out, n=a.n, seed=a.seed)
    print(f"wrote {a.n} samples to {out}")


def cmd_eval(a) -> None:
    from .train.run import load_run

    run = load_run(a.run_dir, device=a.device)
    result = run.evaluate(n=a.n, seed=a.seed)
    print(f"{run.config.gan} at step {run.step} ({run.dir}):")
    print(_table(result))
    print(f"wrote {run.dir / 'eval.json'}")


def main(argv: Optional[List[str]] = None) -> int:
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
    from .errors import GankitError

    try:
        {"list": lambda: cmd_list(), "train": lambda: cmd_train(args),
         "sample": lambda: cmd_sample(args), "eval": lambda: cmd_eval(args)}[args.command]()
    except GankitError as e:
        print(f"gankit: error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("gankit: interrupted; `gankit train --resume RUN_DIR` continues from the last checkpoint",
              file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
