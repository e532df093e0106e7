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

# The public names are imported on first use, so that `gankit` (the command) starts without
# importing torch before its Ctrl-C and error handling is in place. ``gankit.train`` is the
# function even after the ``gankit.train`` sub-package is imported (the import system sets the
# sub-package as an attribute of this module; the property below keeps the function visible).
import sys as _sys
import types as _types

_LAZY = {"Config": ("config", "Config"), "load_config": ("config", "resolve"),
         "GankitError": ("errors", "GankitError"), "Run": ("train.run", "Run"),
         "load_run": ("train.run", "load_run")}
__all__ = ["Config", "GankitError", "Run", "load_config", "load_run", "train", "__version__"]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gankit' has no attribute '{name}'")


def __dir__():
    return sorted(set(globals()) | set(__all__))


class _Gankit(_types.ModuleType):
    @property
    def train(self):
        """:func:`gankit.train.run.train` (see the module docstring)."""
        from .train.run import train

        return train

    @train.setter
    def train(self, value):  # the import system binding the sub-package: keep the function
        pass


_sys.modules[__name__].__class__ = _Gankit
