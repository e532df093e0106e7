"""One typed, strict configuration shared by the CLI and the Python API (DESIGN principle 6).

Layers, later wins:

1. the dataclass defaults below (the one source of defaults);
2. the named GAN's preset ``configs/<name>.yaml`` (shipped inside the package);
3. a user YAML file (which names its GAN with ``gan:`` and is applied on top of that preset);
4. ``KEY=VALUE`` overrides from the command line or keyword arguments of :func:`gankit.train`.

Validation is strict: an unknown key, a wrong type or an out-of-range value raises
:class:`~gankit.errors.ConfigError` with one line naming the key and the nearest valid choice,
before any work starts. ``model`` is validated against the chosen GAN's own ``Params``
dataclass, ``optim`` against the GAN's optimiser groups.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import re
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Dict, Literal, Optional, Tuple

import yaml

from .errors import ConfigError
from .registry import nearest


_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _rng(lo=None, hi=None, lo_open=False, hi_open=False) -> dict:
    return {"range": (lo, hi, lo_open, hi_open)}


SEED_MAX = 2**32 - 1  # numpy's generators take seeds below 2**32


def check_seed(value, what: str = "seed") -> int:
    """``value`` if it is a usable seed (an integer from 0 to 2**32 - 1), else a ConfigError naming ``what``
    (e.g. ``--seed`` of ``gankit sample``)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= SEED_MAX:
        raise ConfigError(f"{what} must be an integer from 0 to {SEED_MAX} (2**32 - 1), got {value!r}")
    return value


@dataclass
class DataConfig:
    """Where the training data comes from (see :mod:`gankit.data`)."""

    name: str = "ring8"
    root: Optional[str] = None
    resolution: int = field(default=28, metadata=_rng(8, 4096))
    channels: Optional[Literal[1, 3]] = None
    download: bool = False
    size: Optional[int] = field(default=None, metadata=_rng(1))


@dataclass
class OptimConfig:
    """One optimiser group (e.g. ``g`` or ``d``); learning rates per group give TTUR."""

    name: Literal["adam", "rmsprop", "sgd"] = "adam"
    lr: float = field(default=2e-4, metadata=_rng(0.0, lo_open=True))
    betas: Tuple[float, float] = (0.5, 0.999)
    momentum: float = field(default=0.0, metadata=_rng(0.0, 1.0))
    alpha: float = field(default=0.99, metadata=_rng(0.0, 1.0))
    eps: float = field(default=1e-8, metadata=_rng(0.0, lo_open=True))
    weight_decay: float = field(default=0.0, metadata=_rng(0.0))
    schedule: Literal["constant", "linear"] = "constant"


@dataclass
class TrainConfig:
    """The generic loop's settings; none of them knows about a particular GAN."""

    n_critic: int = field(default=1, metadata=_rng(1))
    ema: Optional[float] = field(default=None, metadata=_rng(0.0, 1.0, True, True))
    ema_start: int = field(default=0, metadata=_rng(0))
    amp: bool = False
    deterministic: bool = False
    log_every: int = field(default=100, metadata=_rng(1))
    sample_every: int = field(default=500, metadata=_rng(0))
    checkpoint_every: int = field(default=1000, metadata=_rng(0))
    keep_last: int = field(default=3, metadata=_rng(1))
    eval_every: int = field(default=0, metadata=_rng(0))
    eval_samples: int = field(default=2500, metadata=_rng(1, 1_000_000))
    eval_features: Literal["auto", "classifier", "inception"] = "auto"
    inception_weights: Optional[str] = None
    grid_size: int = field(default=64, metadata=_rng(1, 1024))
    progress: bool = True


@dataclass
class Config:
    """A whole run. ``data=mnist`` on the command line is short for ``data.name=mnist``."""

    gan: str = "gan"
    seed: int = field(default=0, metadata=_rng(0, SEED_MAX))
    steps: int = field(default=5000, metadata=_rng(1, 10**12))
    batch_size: int = field(default=64, metadata=_rng(1, 1_000_000))
    out: Optional[str] = None
    device: str = "auto"
    objective: Optional[str] = None
    penalties: Dict[str, float] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    model: Dict[str, Any] = field(default_factory=dict)
    optim: Dict[str, OptimConfig] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)

    # ------------------------------------------------------------------ views
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(_plain(self.to_dict()), sort_keys=False)

    @property
    def hash(self) -> str:
        """Identity of what is trained: everything except where/how long/on which device."""
        d = self.to_dict()
        for k in ("out", "device", "steps"):
            d.pop(k)
        d["train"] = {k: v for k, v in d["train"].items() if k in _TRAIN_KEYS_IN_HASH}
        blob = json.dumps(_plain(d), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


# Only settings that change the trained weights identify a run; logging cadence does not.
_TRAIN_KEYS_IN_HASH = {"n_critic", "ema", "ema_start", "amp", "deterministic"}
SHORTHANDS = {"data": "data.name"}


def _plain(x):
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


# --------------------------------------------------------------------- typing
def _type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(map(repr, typing.get_args(tp)))
    if origin is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _type_name(args[0]) + " or null"
    if origin in (tuple, Tuple):
        return "a list of " + str(len(typing.get_args(tp))) + " numbers"
    if origin in (dict, Dict):
        return "a mapping"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _coerce(value, tp, key: str, meta: Optional[dict] = None):
    """Check ``value`` against the annotation ``tp``; return it normalised or raise ConfigError."""
    origin = typing.get_origin(tp)
    bad = ConfigError(f"config: {key} must be {_type_name(tp)}, got {value!r}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"config: {key} must be a mapping of settings, got {value!r}")
        return build_dataclass(tp, value, key + ".")
    if origin is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], key, meta)
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices or isinstance(value, bool) != any(isinstance(c, bool) for c in choices):
            raise ConfigError(
                f"config: {key} must be one of {', '.join(map(str, choices))}, got {value!r}"
                f"{nearest(value, choices)}"
            )
        return value
    if origin in (tuple, Tuple):
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise bad
        return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin in (dict, Dict):
        _, vt = typing.get_args(tp)
        if not isinstance(value, dict):
            raise bad
        return {str(k): _coerce(v, vt, f"{key}.{k}") for k, v in value.items()}
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
    elif tp is float:
        if isinstance(value, str) and _FLOAT.match(value.strip()):
            value = float(value)  # YAML 1.1 reads 1e-3 (no dot) as a string
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        value = float(value)
    elif tp is str:
        if not isinstance(value, str):
            raise bad
    _check_range(value, key, meta)
    return value


def _check_range(value, key, meta):
    if not meta or "range" not in meta or value is None:
        return
    lo, hi, lo_open, hi_open = meta["range"]
    ok = True
    if lo is not None:
        ok &= value > lo if lo_open else value >= lo
    if hi is not None:
        ok &= value < hi if hi_open else value <= hi
    if not ok:
        lo_s = "" if lo is None else f"{'>' if lo_open else '≥'} {lo}"
        hi_s = "" if hi is None else f"{'<' if hi_open else '≤'} {hi}"
        raise ConfigError(f"config: {key} must be {' and '.join(s for s in (lo_s, hi_s) if s)}, got {value!r}")


def build_dataclass(cls, values: dict, prefix: str = ""):
    """Strictly build dataclass ``cls`` from a (partial) mapping; missing fields take defaults."""
    if not isinstance(values, dict):
        raise ConfigError(f"config: {prefix.rstrip('.') or 'the config'} must be a mapping of settings, got {values!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for k, v in values.items():
        if k not in fields:
            raise ConfigError(
                f"config: unknown key '{prefix}{k}'{nearest(k, fields, prefix)}"
                f" (valid under '{prefix.rstrip('.') or 'top level'}': {', '.join(fields)})"
            )
        kwargs[k] = _coerce(v, hints[k], prefix + k, dict(fields[k].metadata))
    obj = cls(**kwargs)
    for name, f in fields.items():  # defaults must satisfy ranges too (sanity)
        if name not in kwargs:
            _check_range(getattr(obj, name), prefix + name, dict(f.metadata))
    return obj


# --------------------------------------------------------------------- merging
def deep_merge(base: dict, update: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def parse_override(item: str) -> dict:
    """``a.b=VALUE`` -> ``{'a': {'b': VALUE}}``; VALUE is parsed as YAML (numbers, lists, null)."""
    if "=" not in item:
        raise ConfigError(f"config: override '{item}' must look like KEY=VALUE (e.g. steps=3000)")
    key, raw = item.split("=", 1)
    key = SHORTHANDS.get(key.strip(), key.strip())
    if not key:
        raise ConfigError(f"config: override '{item}' has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    if isinstance(value, (int, float)) and not isinstance(value, bool) and key in ("out", "data.root", "data.name", "gan"):
        value = raw  # paths and names stay strings even if they look like numbers
    return _nest(key, value)


def read_yaml(path) -> dict:
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise ConfigError(f"config: file '{p}' does not exist") from None
    except OSError as e:
        raise ConfigError(f"config: cannot read '{p}': {e.strerror}") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config: '{p}' is not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config: '{p}' must hold a mapping of settings, not {type(data).__name__}")
    if "data" in data and isinstance(data["data"], str):
        data["data"] = {"name": data["data"]}
    return data


def preset_names() -> list:
    return sorted(p.name[:-5] for p in resources.files("gankit.configs").iterdir() if p.name.endswith(".yaml"))


def preset(name: str) -> dict:
    f = resources.files("gankit.configs").joinpath(f"{name}.yaml")
    if not f.is_file():
        return {}
    return read_yaml(Path(str(f)))


def resolve(source: Any = None, overrides=(), **kw) -> Config:
    """Build a validated :class:`Config`.

    ``source`` is a GAN or preset name, a path to a YAML file, a mapping, a :class:`Config`, or None
    (the default toy GAN). ``overrides`` are ``KEY=VALUE`` strings; keyword arguments are
    overrides too (``steps=100``, ``data='mnist'``; use ``train={'ema': 0.999}`` for sections).
    """
    if isinstance(source, Config):
        user = source.to_dict()
    elif isinstance(source, dict):
        user = copy.deepcopy(source)
    elif source is None:
        user = {}
    else:
        s = str(source)
        if s.endswith((".yaml", ".yml")) or Path(s).is_file():
            user = read_yaml(s)
        else:
            user = preset(s)
            if not user:
                from .gans import GANS

                GANS.get(s)  # raises 'unknown GAN ... did you mean'
            user.setdefault("gan", s)
    if isinstance(user.get("data"), str):
        user["data"] = {"name": user["data"]}
    for item in overrides:
        user = deep_merge(user, parse_override(item))
    for k, v in kw.items():
        k = SHORTHANDS.get(k, k)
        user = deep_merge(user, _nest(k, v))
    gan_name = user.get("gan", Config.gan)
    if not isinstance(gan_name, str):
        raise ConfigError(f"config: gan must be a string, got {gan_name!r}")
    from .gans import GANS

    gan_cls = GANS.get(gan_name)
    merged = deep_merge(preset(gan_name), user)
    model = merged.pop("model", {}) or {}
    optim = merged.pop("optim", {}) or {}
    cfg = build_dataclass(Config, merged)
    cfg.model = dataclasses.asdict(build_dataclass(gan_cls.Params, model, "model."))
    groups = gan_cls.optim_group_names
    if not isinstance(optim, dict):
        raise ConfigError(f"config: optim must be a mapping of optimiser groups ({', '.join(groups)}), got {optim!r}")
    for g in optim:
        if g not in groups:
            raise ConfigError(f"config: unknown optimiser group 'optim.{g}'{nearest(g, groups)} (valid: {', '.join(groups)})")
    cfg.optim = {g: build_dataclass(OptimConfig, optim.get(g, {}) or {}, f"optim.{g}.") for g in groups}
    gan_cls.validate(cfg)
    return cfg


def _nest(key: str, value) -> dict:
    """``'a.b', v`` -> ``{'a': {'b': v}}``."""
    out: dict = {}
    node = out
    parts = key.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    return out


def load_run_config(run_dir) -> Config:
    """The resolved config stored in a run directory."""
    p = Path(run_dir) / "config.yaml"
    if not p.is_file():
        raise ConfigError(f"'{run_dir}' is not a gankit run directory (no config.yaml)")
    return resolve(read_yaml(p))


def recorded_hash(run_dir) -> Optional[str]:
    """The hash written in the header of a run's config.yaml when it was trained. Checkpoints are
    checked against it (not a hash recomputed by a newer gankit, whose new settings with defaults
    would change it)."""
    p = Path(run_dir) / "config.yaml"
    try:
        first = p.read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    m = re.search(r"hash ([0-9a-f]{16})", first)
    return m.group(1) if m else None
