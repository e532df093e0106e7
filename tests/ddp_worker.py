"""Run under torchrun by tests/test_distributed.py (not a test module itself):

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/ddp_worker.py JOBS.json

JOBS.json: a list of ``{"name": GAN or preset, "overrides": [...], "out": DIR, "resume": bool}``. Each job is trained
through gankit's own start/resume and ``Trainer.fit`` on every rank (gloo, CPU); then every rank saves its networks'
state as ``DIR/rank-R.pt``, so the test can check that the ranks hold the same weights (gradients all-reduced) and
compare them with a one-process run. A job that fails writes ``DIR/rank-R.error`` and the others go on.
"""
import datetime
import json
import os
import sys
import traceback
from pathlib import Path

import torch
import torch.distributed as dist


def main(jobs_file: str) -> None:
    torch.set_num_threads(1)
    # ours: gankit joins it and leaves it alone; a job stuck in a collective fails after 2 minutes
    dist.init_process_group("gloo", timeout=datetime.timedelta(minutes=2))
    from gankit.config import resolve
    from gankit.train.loop import resume, start

    rank = dist.get_rank()
    for job in json.loads(Path(jobs_file).read_text()):
        out = Path(job["out"])
        try:
            if job.get("resume"):
                trainer = resume(out, job["overrides"])
            else:
                trainer = start(resolve(job["name"], job["overrides"] + [f"out={out}"]), overwrite=True)
            trainer.fit()
            if rank == 0:
                names = [k for k, _ in trainer.gan.named_parameters()]
                (out / "weights.json").write_text(json.dumps(names))
            state = {k: v.detach().cpu().clone() for k, v in trainer.gan.state_dict().items()}
            torch.save(state, out / f"rank-{rank}.pt")
        except Exception:
            out.mkdir(parents=True, exist_ok=True)
            (out / f"rank-{rank}.error").write_text(traceback.format_exc())
        dist.barrier()  # a failed job on one rank must not leave the other waiting in the next job's collectives
    dist.destroy_process_group()


if __name__ == "__main__":
    os.environ.setdefault("GANKIT_DEBUG", "1")
    main(sys.argv[1])
