"""``train.compile=true`` on every named GAN: two steps at tiny widths on the CPU (one torch thread), compiled and
eager from the same seed; records what was compiled (D stays eager under a double-backward penalty, with spectral
norm, or when the GAN says so) and the largest relative difference of the logged losses. Dropout inside a compiled
net draws other masks than eager (inductor's own random numbers), so GANs with dropout differ by more.

    python bench/compile_every_gan.py [NAME ...]     # -> bench/results/compile-every-gan-cpu.json and .md
"""
import json
import sys
import time
import traceback
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from conftest import data_root  # noqa: E402
from test_distributed import sweep_overrides  # noqa: E402  (the tiny settings of the 2-process sweep)

from gankit.config import resolve  # noqa: E402
from gankit.gans import GANS  # noqa: E402
from gankit.train.loop import Trainer, prepare_run_dir  # noqa: E402


def one(name, root, tmp):
    res = {}
    for label, extra in (("eager", []), ("compiled", ["train.compile=true"])):
        cfg = resolve(name, sweep_overrides(name, root) + [f"out={tmp / f'{name}-{label}'}"] + extra)
        tr = Trainer(cfg, prepare_run_dir(cfg, True))
        tr.train_step()
        tr.train_step()
        res[label] = tr.meter.pop_means()
        res[label + "_nets"] = getattr(tr, "compiled", {})
    diff = max(abs(res["compiled"][k] - res["eager"][k]) / max(1.0, abs(res["eager"][k])) for k in res["eager"])
    return {"ok": True, "max_rel_loss_diff": diff, "compiled": res["compiled_nets"]}


def main(names):
    import tempfile

    torch.set_num_threads(1)
    root = data_root()
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in names or GANS.names():
            t0 = time.time()
            try:
                out[n] = one(n, root, Path(tmp))
            except Exception:
                out[n] = {"ok": False, "error": traceback.format_exc()[-1500:]}
            out[n]["seconds"] = round(time.time() - t0, 1)
            print(n, out[n], flush=True)
    (HERE / "results" / "compile-every-gan-cpu.json").write_text(json.dumps(out, indent=1) + "\n")
    rows = ["| GAN | compiled | max relative loss difference |", "|---|---|---:|"]
    for n, r in out.items():
        nets = ", ".join(k for k, v in r.get("compiled", {}).items() if v) or "-"
        rows.append(f"| {n} | {nets} | {r['max_rel_loss_diff']:.1e} |" if r["ok"] else f"| {n} | FAILED | |")
    (HERE / "results" / "compile-every-gan-cpu.md").write_text("\n".join(rows) + "\n")
    return 0 if all(r["ok"] for r in out.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
