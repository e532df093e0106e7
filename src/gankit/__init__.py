"""gankit: the family of generative adversarial networks as one coherent PyTorch library.

Python API (mirrors the ``gankit`` command line)::

    import gankit
    run = gankit.train("gan", steps=2000)              # gankit train gan steps=2000
    run = gankit.train("dcgan", "steps=3000", data="mnist", out="runs/d")
    run = gankit.train(resume="runs/d", steps=5000)    # gankit train --resume runs/d steps=5000
    run = gankit.load_run("runs/d")
    x = run.sample(64, seed=0)                         # gankit sample runs/d --n 64 --seed 0
    scores = run.evaluate()                            # gankit eval runs/d
"""
__version__ = "0.1.0"

from .config import Config, resolve as load_config  # noqa: E402,F401
from .errors import GankitError  # noqa: E402,F401
from .train.run import Run, load_run, train  # noqa: E402,F401
