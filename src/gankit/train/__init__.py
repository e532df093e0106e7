"""Training: the generic loop, optimisers and schedules, EMA, checkpoints, runs."""
from .loop import Trainer  # noqa: F401
from .run import Run, load_run, train  # noqa: F401
