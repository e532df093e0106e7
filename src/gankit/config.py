"""One typed, strict configuration shared by the CLI and the Python API (DESIGN principle 6).

Layers, later wins:

1. the dataclass defaults below (the one source of defaults);
2. the named GAN's preset ``configs/<name>.yaml`` (shipped inside the package): its paper settings,
   then its ``by_data`` sections for the data the run uses (see :func:`data_sections`) and its
   ``by_objective`` section for the objective it uses (see :func:`objective_sections`);
3. a user YAML file (which names its GAN with ``gan:`` and is applied on top of that preset; it may
   have ``by_data`` and ``by_objective`` sections too);
4. ``KEY=VALUE`` overrides from the command line or keyword arguments of :func:`gankit.train`.

Validation is strict: an unknown key, a wrong type or an out-of-range value raises
:class:`~gankit.errors.ConfigError` with one line naming the key and the nearest valid choice,
before any work starts. ``model`` is validated against the chosen GAN's own ``Params``
dataclass, ``optim`` against the GAN's optimiser groups.

Whatever the input, the result is a valid :class:`Config` or exactly one ConfigError whose message
is one line of at most 300 characters (values are shown as short excerpts): a layer that gives a
single value where another has a section (or the reverse) is a conflict, not a silent override;
float settings are finite; YAML is read by one loader with limits (aliases, size, nesting).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import numbers
import re
import reprlib
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Dict, Literal, Optional, Tuple

import yaml

from .errors import ConfigError, clip as _clip, printable as _one_line
from .registry import nearest


_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _rng(lo=None, hi=None, lo_open=False, hi_open=False) -> dict:
    return {"range": (lo, hi, lo_open, hi_open)}


# --------------------------------------------------------------------- messages
# Every ConfigError is one line of at most MAX_MESSAGE characters, whatever the user gave: values are
# shown by _show (a short excerpt), keys by _key, paths by _path, and _error is the last guard.
MAX_MESSAGE = 300
_SHOW_LIMIT = 60


class _ShortRepr(reprlib.Repr):
    """``repr`` that does bounded work on any value (huge, nested, self-referencing containers)."""

    def __init__(self):
        super().__init__()
        self.maxlevel, self.maxstring, self.maxother, self.maxlong = 3, _SHOW_LIMIT, _SHOW_LIMIT, _SHOW_LIMIT
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = self.maxfrozenset = 6

    def repr_int(self, x, level):
        if x.bit_length() > 128:  # repr() of a huge int is slow or refused (sys.int_max_str_digits)
            return f"<{'-' if x < 0 else ''}{int(x.bit_length() * 0.30103) + 1}-digit integer>"
        return repr(x)

    def repr_instance(self, x, level):
        try:
            return _clip(repr(x), self.maxother)
        except Exception:
            return f"<{type(x).__name__}>"


_short_repr = _ShortRepr()


def _show(value, limit: int = _SHOW_LIMIT) -> str:
    """A user's value in a message: its repr, on one line, cut at ``limit`` characters with '…'."""
    try:
        s = _short_repr.repr(value)
    except Exception:
        s = f"<{type(value).__name__}>"
    return _clip(_one_line(s), limit)


def _key(key, limit: int = _SHOW_LIMIT) -> str:
    """A (dotted) key, possibly typed by the user, in a message: one line, cut at ``limit`` characters."""
    return _clip(_one_line(str(key)), limit)


def _name(k) -> str:
    """A mapping key as a string (``str`` of a non-string key, but bounded: no 5000-digit integers)."""
    return k if isinstance(k, str) else _show(k)


def _path(p, limit: int = 100) -> str:
    """A file path in a message: one line; a long one keeps its end (the file's name)."""
    s = _one_line(str(p))
    return s if len(s) <= limit else "…" + s[len(s) - limit + 1:]


def _near(word, choices, prefix: str = "") -> str:
    """:func:`nearest` for a word typed by the user (only strings; bounded work)."""
    return nearest(word[:100], choices, prefix) if isinstance(word, str) else ""


def _with_choices(head: str, choices, tail: str = ")") -> str:
    """``head`` + as many of ``choices`` (comma-separated) as fit in one message, then ``tail``."""
    room = MAX_MESSAGE - len(head) - len(tail)
    names = [str(c) for c in choices]
    text = ", ".join(names)
    if len(text) > room:
        kept = []
        for n in names:
            if len(", ".join(kept + [n])) + 3 > room:
                break
            kept.append(n)
        text = ", ".join(kept + ["…"])
    return head + text + tail


def _error(msg: str) -> ConfigError:
    """The ConfigError for ``msg``, forced to one line of at most MAX_MESSAGE characters."""
    return ConfigError(_clip(_one_line(msg), MAX_MESSAGE))


SEED_MAX = 2**32 - 1  # numpy's generators take seeds below 2**32


def check_seed(value, what: str = "seed") -> int:
    """``value`` if it is a usable seed (an integer from 0 to 2**32 - 1), else a ConfigError naming ``what``
    (e.g. ``--seed`` of ``gankit sample``)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= SEED_MAX:
        raise _error(f"{what} must be an integer from 0 to {SEED_MAX} (2**32 - 1), got {_show(value)}")
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
    # semi-supervised training (GANs that take it, e.g. semisupervised-gan): keep only this many labelled
    # training images, the same number of each class, chosen with the run's seed; the rest of the training
    # set is used unlabelled (see gankit.data.fewlabels). None: every image keeps its label
    labels: Optional[int] = field(default=None, metadata=_rng(1))
    # the same as a share of the training set (e.g. 0.1: 10 % of the images keep their labels), rounded to a
    # multiple of the number of classes; give data.labels or data.label_fraction, not both
    label_fraction: Optional[float] = field(default=None, metadata=_rng(0.0, 1.0, lo_open=True))

    @property
    def few_labels(self) -> bool:
        """True when only some training images keep their labels (``labels`` or ``label_fraction``)."""
        return self.labels is not None or self.label_fraction is not None


@dataclass
class OptimConfig:
    """One optimiser group (e.g. ``g`` or ``d``); learning rates per group give TTUR."""

    name: Literal["adam", "rmsprop", "sgd"] = "adam"
    lr: float = field(default=2e-4, metadata=_rng(0.0, lo_open=True))
    betas: Tuple[float, float] = field(default=(0.5, 0.999), metadata=_rng(0.0, 1.0, hi_open=True))
    momentum: float = field(default=0.0, metadata=_rng(0.0, 1.0))
    alpha: float = field(default=0.99, metadata=_rng(0.0, 1.0))
    eps: float = field(default=1e-8, metadata=_rng(0.0, lo_open=True))
    weight_decay: float = field(default=0.0, metadata=_rng(0.0))
    schedule: Literal["constant", "linear"] = "constant"


@dataclass
class TrainConfig:
    """The generic loop's settings; none of them knows about a particular GAN."""

    n_critic: int = field(default=1, metadata=_rng(1, 1000))
    ema: Optional[float] = field(default=None, metadata=_rng(0.0, 1.0, True, True))
    ema_start: int = field(default=0, metadata=_rng(0))
    amp: bool = False  # bf16 autocast on the training device (CUDA or CPU)
    # torch.compile of G's and D's forward (D stays eager under a gradient penalty: no compiled double backward)
    compile: bool = False
    channels_last: bool = False  # nets and image batches in channels-last memory format (faster convs on GPUs)
    # several processes (torchrun): batch norm over the global batch, as one process with the same batch_size has
    # (gankit.train.distributed.SyncedBatchNorm); false: each process's own slice. No effect in one process
    sync_bn: bool = True
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
    # 2-D data: frames of the training picture (samples over D's score) for samples/training.gif; 0: none
    gif_frames: int = field(default=40, metadata=_rng(0, 1000))
    progress: bool = True
    # stop cleanly (checkpoint, samples, eval) after this many minutes of training wall time, counted
    # across resumes; periodic evaluations are not counted. None: no time limit
    max_minutes: Optional[float] = field(default=None, metadata=_rng(0.0, lo_open=True))


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

    def identity(self) -> dict:
        """What is trained: every setting except where/how long/on which device and logging cadence."""
        d = self.to_dict()
        for k in ("out", "device", "steps"):
            d.pop(k)
        d["train"] = {k: v for k, v in d["train"].items() if k in _TRAIN_KEYS_IN_HASH}
        return d

    @property
    def hash(self) -> str:
        """The identity of what is trained (:meth:`identity`), hashed."""
        blob = json.dumps(_plain(self.identity()), sort_keys=True)
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
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:  # Tuple[int, ...]: any length
            return "a list of " + {int: "integers", float: "numbers"}.get(args[0], "values")
        return "a list of " + str(len(args)) + " numbers"
    if origin in (dict, Dict):
        return "a mapping"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _coerce(value, tp, key: str, meta: Optional[dict] = None):
    """Check ``value`` against the annotation ``tp``; return it normalised or raise ConfigError."""
    origin = typing.get_origin(tp)

    def bad():
        return _error(f"config: {_key(key)} must be {_type_name(tp)}, got {_show(value)}")

    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _error(f"config: {_key(key)} must be a mapping of settings, got {_show(value)}")
        return build_dataclass(tp, value, key + ".")
    if origin is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], key, meta)
    if origin is Literal:
        choices = typing.get_args(tp)
        if not any(type(value) is type(c) and value == c for c in choices):  # 1.0 and True are not 1
            raise _error(
                f"config: {_key(key)} must be one of {', '.join(map(str, choices))}, got {_show(value)}"
                f"{_near(value, choices)}"
            )
        return value
    if origin in (tuple, Tuple):
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis and isinstance(value, (list, tuple)):
            args = (args[0],) * len(value)
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise bad()
        return tuple(_coerce(v, a, f"{key}[{i}]", meta) for i, (v, a) in enumerate(zip(value, args)))
    if origin in (dict, Dict):
        _, vt = typing.get_args(tp)
        if not isinstance(value, dict):
            raise bad()
        return {_name(k): _coerce(v, vt, f"{key}.{_name(k)}") for k, v in value.items()}
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise bad()
        return value
    if tp in (int, float) and not isinstance(value, (bool, int, float, str)) and type(value).__name__ != "bool_":
        if isinstance(value, numbers.Integral):  # numpy / torch integer scalars from the Python API
            value = int(value)
        elif tp is float and isinstance(value, numbers.Real):
            value = float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad()
    elif tp is float:
        given = value
        if isinstance(value, str) and _FLOAT.match(value.strip()):
            value = float(value)  # YAML 1.1 reads 1e-3 (no dot) as a string; float('1e400') is inf
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad()
        try:
            value = float(value)
        except OverflowError:  # an integer beyond the float range
            value = math.inf
        if not math.isfinite(value):  # every float setting: no NaN, no infinity
            raise _error(f"config: {_key(key)} must be a finite number, got {_show(given)}")
    elif tp is str:
        if not isinstance(value, str):
            raise bad()
    _check_range(value, key, meta)
    return value


def _check_range(value, key, meta):
    if not meta or "range" not in meta or value is None:
        return
    if isinstance(value, tuple):  # the range of a tuple field holds for each element
        for i, v in enumerate(value):
            _check_range(v, f"{key}[{i}]", meta)
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
        raise _error(f"config: {_key(key)} must be {' and '.join(s for s in (lo_s, hi_s) if s)}, got {_show(value)}")


def build_dataclass(cls, values: dict, prefix: str = ""):
    """Strictly build dataclass ``cls`` from a (partial) mapping; missing fields take defaults."""
    if not isinstance(values, dict):
        raise _error(f"config: {_key(prefix.rstrip('.')) or 'the config'} must be a mapping of settings, "
                     f"got {_show(values)}")
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for k, v in values.items():
        if k not in fields:
            raise _error(_with_choices(
                f"config: unknown key '{_key(prefix + _name(k))}'{_near(k, fields, prefix)}"
                f" (valid under '{prefix.rstrip('.') or 'top level'}': ", fields))
        kwargs[k] = _coerce(v, hints[k], prefix + k, dict(fields[k].metadata))
    obj = cls(**kwargs)
    for name, f in fields.items():  # defaults must satisfy ranges too (sanity)
        if name not in kwargs:
            _check_range(getattr(obj, name), prefix + name, dict(f.metadata))
    return obj


# --------------------------------------------------------------------- merging
def deep_merge(base: dict, update: dict, _at: str = "") -> dict:
    """``update`` laid over (a copy of) ``base``, mappings merged key by key.

    A key that is a mapping on one side and a single value (null included) on the other is a
    ConfigError naming it: one layer must not silently drop the other's settings (``train=5`` after
    ``train.ema=0.9``, or before it).
    """
    out = _copy(base)
    for k, v in update.items():
        key = _at + _name(k)
        if k in out and isinstance(out[k], dict) != isinstance(v, dict):
            raise _conflict(key, out[k], v)
        out[k] = deep_merge(out.get(k, {}), v, key + ".") if isinstance(v, dict) else _copy(v)
    return out


def _copy(x):
    """A copy of the containers of ``x`` (dicts, lists); other values are shared (they are only read)."""
    if isinstance(x, dict):
        return {k: _copy(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_copy(v) for v in x]
    return x


def _conflict(key: str, old, new) -> ConfigError:
    scalar, mapping = (new, old) if isinstance(old, dict) else (old, new)
    kind = _schema_kind(key)
    k = _key(key)
    if kind == "section":
        return _error(f"config: '{k}' is a section of settings ({k}.KEY=VALUE); it cannot be set to {_show(scalar)}")
    if kind == "setting":
        return _error(f"config: '{k}' is a single setting, not a section; it cannot be set to {_show(mapping)}")
    return _error(f"config: '{k}' is set both to {_show(scalar)} and to settings under it {_show(mapping)}; "
                  "it can only be one of them")


def _schema_kind(key: str) -> Optional[str]:
    """What the dotted ``key`` is in the schema: 'section' (a mapping of settings), 'setting' (one value),
    or None when the schema does not say (an unknown key, or ``model.*``, which the GAN's Params define)."""
    tp: Any = Config
    for part in key.split("."):
        tp = _unwrap_optional(tp)
        if dataclasses.is_dataclass(tp):
            hints = _hints(tp)
            if part not in hints:
                return None
            tp = hints[part]
        elif typing.get_origin(tp) in (dict, Dict):
            tp = typing.get_args(tp)[1]
        else:
            return None
    tp = _unwrap_optional(tp)
    if tp is Any:  # model.NAME: the GANs' Params are flat, so a name one of them knows is a setting
        from .gans import GANS

        known = key.startswith("model.") and any(
            key[6:] in {f.name for f in dataclasses.fields(gan.Params)} for _, gan in GANS.items())
        return "setting" if known else None
    return "section" if dataclasses.is_dataclass(tp) or typing.get_origin(tp) in (dict, Dict) else "setting"


@functools.lru_cache(maxsize=None)
def _hints(cls) -> dict:
    """``typing.get_type_hints(cls)``, once per class (it evaluates every annotation)."""
    return typing.get_type_hints(cls)


def _unwrap_optional(tp):
    if typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _defaults(gan_cls) -> dict:
    """The bottom layer: every setting's default (``model`` from the GAN's Params, ``optim`` with its
    groups), so that a single value given for a section, or settings under a single value, conflict
    whatever the preset holds."""
    d = Config().to_dict()
    d["model"] = dataclasses.asdict(gan_cls.Params())
    d["optim"] = {g: dataclasses.asdict(OptimConfig()) for g in gan_cls.optim_group_names}
    return d


# ----------------------------------------------------------------------- YAML
MAX_FILE_BYTES = 1 << 20  # a config file (or one KEY=VALUE) larger than this is refused before parsing
MAX_ALIASES = 100         # YAML aliases (*name) per document
MAX_VALUES = 10_000       # values in a loaded document, counted with every alias expanded
MAX_DEPTH = 32            # levels of nesting


class _Limit(yaml.YAMLError):
    """A YAML text over one of the limits above; ``what`` completes 'config: <where> ...'."""

    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


_BOMB = "expands to too large a structure (YAML aliases); "


try:  # libyaml's scanner and parser when PyYAML has them (a 1 MB text in 0.02 s, not 10 s); nodes and values
    from yaml._yaml import CParser  # are still made in Python, by _Loader below, within its limits

    class _SafeBase(yaml.composer.Composer, CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
        def __init__(self, stream):
            CParser.__init__(self, stream)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
except ImportError:  # pragma: no cover - PyYAML without libyaml
    _SafeBase = yaml.SafeLoader


class _Loader(_SafeBase):
    """``yaml.SafeLoader`` within limits, for every YAML text config.py reads (files and overrides).

    An alias bomb ("billion laughs") is refused while it is composed: at most MAX_ALIASES aliases, none
    inside its own anchor (a structure containing itself), at most MAX_VALUES nodes and MAX_DEPTH levels;
    what is left (fewer aliases that still multiply) is counted by :func:`_check_tree` on the loaded
    value. A value the constructors refuse (a 5000-digit integer, the date 2020-13-45) is a YAML error
    at its line.
    """

    def __init__(self, stream):
        super().__init__(stream)
        self._aliases = 0
        self._nodes = 0
        self._depth = 0
        self._open: set = set()  # anchors of the nodes being composed

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _Limit(_BOMB + f"more than {MAX_ALIASES} aliases")
            if event.anchor in self._open:
                raise _Limit(_BOMB + f"*{_key(event.anchor, 30)} is inside its own anchor, so it contains itself")
            return super().compose_node(parent, index)
        anchor = getattr(event, "anchor", None)
        self._nodes += 1
        if self._nodes > MAX_VALUES:  # stops reading a huge text early
            raise _Limit(f"holds more than {MAX_VALUES} values")
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Limit(f"is nested too deeply (more than {MAX_DEPTH} levels)")
        if anchor is not None:
            self._open.add(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
            self._open.discard(anchor)

    def construct_mapping(self, node, deep=False):
        """A key given twice in one mapping is an error (YAML would silently keep the last one)."""
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                    continue
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key {_show(key_node.value)} is given twice", key_node.start_mark)
                seen.add(key_node.value)
        return super().construct_mapping(node, deep)

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError, TypeError):
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read the value {_show(node.value)}", node.start_mark) from None


def _check_tree(value, where: str, from_yaml: bool = False) -> None:
    """Refuse a value holding more than MAX_VALUES values (counting every repeat of a shared part, as
    YAML aliases give), nested deeper than MAX_DEPTH, or containing itself; stops as soon as it knows."""
    why = _BOMB if from_yaml else "expands to too large a structure; "
    budget = MAX_VALUES
    on_path: set = set()  # ids of the containers enclosing the one being looked at
    leave = object()  # (leave, id) on the stack: the walk is done with that container
    stack = [(value, 1)]
    while stack:
        x, depth = stack.pop()
        if x is leave:
            on_path.discard(depth)
            continue
        budget -= 1
        if not isinstance(x, (dict, list, tuple, set, frozenset)):
            continue
        if id(x) in on_path:
            raise _error(f"config: {where} {why}it contains itself")
        if depth > MAX_DEPTH:
            raise _error(f"config: {where} is nested too deeply (more than {MAX_DEPTH} levels)")
        n = len(x) * (2 if isinstance(x, dict) else 1)
        if n > budget:
            raise _error(f"config: {where} {why}more than {MAX_VALUES} values")
        on_path.add(id(x))
        stack.append((leave, id(x)))
        stack.extend((c, depth + 1) for c in ([*x.keys(), *x.values()] if isinstance(x, dict) else x))
    if budget < 0:
        raise _error(f"config: {where} {why}more than {MAX_VALUES} values")


def _load_yaml(text: str, where: str):
    """``text`` parsed by :class:`_Loader` and checked by :func:`_check_tree`. Over a limit: ConfigError
    naming ``where``; not YAML: ``yaml.YAMLError`` (the caller words it)."""
    try:
        value = yaml.load(text, Loader=_Loader)
    except _Limit as e:
        raise _error(f"config: {where} {e.what}") from None
    except (ValueError, OverflowError, TypeError) as e:  # a constructor outside construct_object
        raise yaml.YAMLError(str(e)) from None
    _check_tree(value, where, from_yaml=True)
    return value


def parse_override(item: str) -> dict:
    """``a.b=VALUE`` -> ``{'a': {'b': VALUE}}``; VALUE is parsed as YAML (numbers, lists, null)."""
    if not isinstance(item, str):
        raise _error(f"config: an override must be a string KEY=VALUE, got {_show(item)}")
    if "=" not in item:
        raise _error(f"config: override {_show(item)} must look like KEY=VALUE (e.g. steps=3000)")
    if len(item) > MAX_FILE_BYTES:
        raise _error(f"config: override {_show(item)} is longer than {MAX_FILE_BYTES} characters")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key:
        raise _error(f"config: override {_show(item)} has an empty key")
    if "" in key.split("."):
        raise _error(f"config: override key '{_key(key)}' has an empty part (use KEY.SUBKEY=VALUE)")
    try:
        value = _load_yaml(raw, _key(key)) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    if not isinstance(value, dict):  # data=mnist is data.name=mnist; data={...} is the section
        key = SHORTHANDS.get(key, key)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and key in ("out", "data.root", "data.name", "gan"):
        value = raw  # paths and names stay strings even if they look like numbers
    return _nest(key, value)


def read_yaml(path) -> dict:
    """The mapping in the YAML file ``path`` (``data: NAME`` is short for ``data: {name: NAME}``)."""
    p = Path(path)
    try:
        with open(p, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise _error(f"config: file '{_path(p)}' does not exist") from None
    except IsADirectoryError:
        raise _error(f"config: '{_path(p)}' is a directory, not a YAML file") from None
    except OSError as e:
        raise _error(f"config: cannot read '{_path(p)}': {e.strerror}") from None
    except ValueError:  # a NUL character in the path
        raise _error(f"config: cannot read '{_path(p)}': a path cannot hold a NUL character") from None
    if len(raw) > MAX_FILE_BYTES:
        raise _error(f"config: '{_path(p)}' is larger than {MAX_FILE_BYTES // 2**20} MB; a config file is small")
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark is allowed
    except UnicodeDecodeError as e:
        raise _error(f"config: '{_path(p)}' is not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}); "
                     "save it as UTF-8") from None
    try:
        data = _load_yaml(text, f"'{_path(p)}'")
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) if mark else (str(e).splitlines() or [""])[0]
        why = f": {_clip(_one_line(problem), 80)}" if isinstance(problem, str) and problem else ""
        raise _error(f"config: '{_path(p)}' is not valid YAML{where}{why}") from None
    if data is None:  # an empty file
        data = {}
    if not isinstance(data, dict):
        raise _error(f"config: '{_path(p)}' must hold a mapping of settings, not {type(data).__name__}")
    if "data" in data and isinstance(data["data"], str):
        data["data"] = {"name": data["data"]}
    return data


# ------------------------------------------------------------------ data-aware settings
POINT_DATASETS = ("ring8", "grid25")  # the 2-D mixtures; every other dataset is images
DATA_SECTION = "by_data"


def data_kind(name) -> str:
    """``"points"`` for the 2-D mixtures, ``"images"`` for every other dataset."""
    return "points" if name in POINT_DATASETS else "images"


def _pop_sections(layer: dict, name: str, valid: tuple, what: str, where: str):
    """``(layer without its `name` block, the block's sections)``, each section checked to be a mapping
    under a key in ``valid`` ({} when the layer has no such block)."""
    layer = _copy(layer)
    sections = layer.pop(name, None)
    if sections is None:
        return layer, {}
    if not isinstance(sections, dict):
        raise _error(f"config: {where}: '{name}' must map {what} to settings, got {_show(sections)}")
    for key, sec in sections.items():
        if key not in valid:
            raise _error(_with_choices(f"config: {where}: unknown '{name}.{_key(_name(key))}'{_near(key, valid)} "
                                       "(valid: ", valid))
        if not isinstance(sec, dict):
            raise _error(f"config: {where}: '{name}.{key}' must be a section of settings, got {_show(sec)}")
    return layer, sections


def data_sections(layer: dict, data_name, where: str) -> dict:
    """``layer`` (a preset or a user file) with its ``by_data`` sections for ``data_name`` laid over it.

    One mechanism chooses settings by the data for every GAN: a layer may hold ``by_data:`` with
    sections keyed by the kind of data (``points``: ring8, grid25; ``images``: everything else) or by a
    dataset's name (``mnist``, ``grid25`` ...). The kind's section applies first, then the dataset's,
    both above the layer's own settings and below every later layer (a user's file, overrides), so an
    explicit setting always wins. A section cannot choose the data itself (``data.name``)."""
    from .data import DATASETS

    valid = ("points", "images") + tuple(DATASETS.names())
    layer, sections = _pop_sections(layer, DATA_SECTION, valid, f"data kinds or dataset names ({', '.join(valid)})",
                                    where)
    for key, sec in sections.items():
        if isinstance(sec.get("data"), dict) and "name" in sec["data"] or isinstance(sec.get("data"), str):
            raise _error(f"config: {where}: '{DATA_SECTION}.{key}' cannot set data.name (it is chosen by it)")
    for key in (data_kind(data_name), data_name):
        if isinstance(key, str) and key in sections:
            layer = deep_merge(layer, sections[key])
    return layer


OBJECTIVE_SECTION = "by_objective"


def objective_sections(layer: dict, objective, data_name, where: str) -> dict:
    """``layer`` with its ``by_objective`` section for ``objective`` laid over it.

    The same mechanism as :func:`data_sections`, keyed by the objective the run uses (e.g. f-GAN's
    ``fgan-reverse-kl`` needs a Lipschitz D that the ``fgan-js`` default does not): a layer may hold
    ``by_objective:`` with sections keyed by objective names. The section for the run's objective applies
    above the layer's own settings and its ``by_data`` sections, and may hold ``by_data`` sections of its
    own. A section cannot choose the objective itself."""
    from .objectives import OBJECTIVES

    layer, sections = _pop_sections(layer, OBJECTIVE_SECTION, tuple(OBJECTIVES.names()), "objective names", where)
    for key, sec in sections.items():
        if "objective" in sec or OBJECTIVE_SECTION in sec:
            raise _error(f"config: {where}: '{OBJECTIVE_SECTION}.{key}' cannot set the objective (it is chosen by it)")
    if isinstance(objective, str) and objective in sections:
        layer = deep_merge(layer, data_sections(sections[objective], data_name, f"{where}: '{OBJECTIVE_SECTION}.{objective}'"))
    return layer


def _last(key: str, *layers) -> Any:
    """The value of top-level ``key`` in the last layer (of those given, in order) that sets it; else None."""
    value = None
    for layer in layers:
        if isinstance(layer, dict) and key in layer:
            value = layer[key]
    return value


def _data_name(*layers) -> Any:
    """The dataset a run will use: the last layer (of those given, in order) that names it."""
    name = DataConfig.name
    for layer in layers:
        d = layer.get("data") if isinstance(layer, dict) else None
        if isinstance(d, dict) and "name" in d:
            name = d["name"]
    return name


def preset_names() -> list:
    return list(_preset_names())


@functools.lru_cache(maxsize=None)
def _preset_names() -> tuple:
    return tuple(sorted(p.name[:-5] for p in resources.files("gankit.configs").iterdir() if p.name.endswith(".yaml")))


def preset(name: str) -> dict:
    """The settings of the shipped preset ``name`` ({} when there is none of that name)."""
    return _copy(_preset(name)) if name in preset_names() else {}  # a name, never a path to somewhere else


@functools.lru_cache(maxsize=None)
def _preset(name: str) -> dict:  # the shipped files do not change while gankit runs
    return read_yaml(Path(str(resources.files("gankit.configs").joinpath(f"{name}.yaml"))))


def resolve(source: Any = None, overrides=(), **kw) -> Config:
    """Build a validated :class:`Config`.

    ``source`` is a GAN or preset name, a path to a YAML file, a mapping, a :class:`Config`, or None
    (the default toy GAN). ``overrides`` are ``KEY=VALUE`` strings; keyword arguments are
    overrides too (``steps=100``, ``data='mnist'``; use ``train={'ema': 0.999}`` for sections).
    """
    if isinstance(source, Config):
        user = source.to_dict()
    elif isinstance(source, dict):
        _check_tree(source, "the given mapping")
        user = _copy(source)
    elif source is None:
        user = {}
    else:
        s = str(source)
        if s.endswith((".yaml", ".yml")) or _is_file(s):
            user = read_yaml(s)
            if "gan" not in user:
                raise _error(f"config: '{_path(s)}' does not name its GAN; add a line `gan: NAME` (see `gankit list`)")
        else:
            user = preset(s)
            if not user:
                from .gans import GANS

                _lookup(GANS, s, "gan")  # raises 'unknown GAN ... did you mean'
            user.setdefault("gan", s)
    if isinstance(user.get("data"), str):
        user["data"] = {"name": user["data"]}
    if overrides is None or isinstance(overrides, str):  # no overrides; one override
        overrides = () if overrides is None else (overrides,)
    try:
        overrides = list(overrides)
    except TypeError:
        raise _error(f"config: overrides must be a list of KEY=VALUE strings, got {_show(overrides)}") from None
    given: dict = {}  # the overrides and keywords: the top layer
    for item in overrides:
        given = deep_merge(given, parse_override(item))
    for k, v in kw.items():
        _check_tree(v, _key(k))
        if not isinstance(v, dict):  # data='mnist' is data.name; data={...} is the section
            k = SHORTHANDS.get(k, k)
        given = deep_merge(given, _nest(k, v))
    gan_name = given.get("gan", user.get("gan", Config.gan))
    if not isinstance(gan_name, str):
        raise _error(f"config: gan must be a string, got {_show(gan_name)}")
    from .gans import GANS

    gan_cls = _lookup(GANS, gan_name, "gan")
    groups = gan_cls.optim_group_names
    # the layers, later wins: the defaults, the GAN's preset, the user's file, overrides and keywords;
    # the preset's and the file's by_data sections follow the data the run will use, then their by_objective
    # sections follow the objective it will use (which a by_data section may have chosen)
    for section in (DATA_SECTION, OBJECTIVE_SECTION):
        if section in given:
            raise _error(f"config: '{section}' sections belong in a preset or config file, not in overrides")
    base = preset(gan_name)
    data_name = _data_name(base, user, given)
    base = data_sections(base, data_name, f"preset '{gan_name}'")
    user = data_sections(user, data_name, "the given settings")
    objective = _last("objective", base, user, given) or gan_cls.default_objective
    layers = (objective_sections(base, objective, data_name, f"preset '{gan_name}'"),
              objective_sections(user, objective, data_name, "the given settings"), given)
    merged = _defaults(gan_cls)
    for layer in layers:
        merged = deep_merge(merged, layer)
    model = merged.pop("model")  # mappings now: a single value there was a conflict in deep_merge
    optim = merged.pop("optim")
    cfg = build_dataclass(Config, merged)
    cfg.model = dataclasses.asdict(build_dataclass(gan_cls.Params, model, "model."))
    for g in optim:
        if g not in groups:
            raise _error(f"config: unknown optimiser group 'optim.{_key(_name(g))}'{_near(g, groups)} "
                         f"(valid: {', '.join(groups)})")
    cfg.optim = {g: build_dataclass(OptimConfig, optim[g], f"optim.{g}.") for g in groups}
    _check_names(cfg)
    try:
        gan_cls.validate(cfg)  # the GAN's own cross-field checks
    except ConfigError as e:  # their messages keep the one-line contract too
        msg = str(e)
        if len(msg) > MAX_MESSAGE or _one_line(msg) != msg:
            raise _error(msg) from None
        raise
    return cfg


def _lookup(registry, name, key: str):
    """``registry.get(name)`` for a name the user gave as ``key``; an unknown name is a one-line ConfigError."""
    if isinstance(name, str) and name in registry:
        return registry.get(name)
    names = registry.names()
    head = f"config: {_key(key)}: unknown {registry.kind} {_show(name)}{_near(name, names)} (valid: "
    raise _error(_with_choices(head, names))


def _check_names(cfg: Config) -> None:
    """The objective and penalties are registered names (checked here, before a GAN looks them up)."""
    from .objectives import OBJECTIVES
    from .penalties import PENALTIES

    if cfg.objective is not None:
        _lookup(OBJECTIVES, cfg.objective, "objective")
    for name, weight in cfg.penalties.items():
        _lookup(PENALTIES, name, "penalties")
        if weight < 0:
            raise _error(f"config: penalties.{_key(name)} must be ≥ 0 (0 turns it off), got {_show(weight)}")


def _is_file(s: str) -> bool:
    try:
        return Path(s).is_file()
    except (OSError, ValueError):  # a name too long for a path, a NUL character
        return False


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
    if not _is_file(p):
        raise _error(f"'{_path(run_dir)}' is not a gankit run directory (no config.yaml)")
    return resolve(read_yaml(p))


def recorded_hash(run_dir) -> Optional[str]:
    """The hash written in the header of a run's config.yaml when it was trained. Checkpoints are
    checked against it (not a hash recomputed by a newer gankit, whose new settings with defaults
    would change it)."""
    p = Path(run_dir) / "config.yaml"
    try:
        with open(p, "rb") as f:  # only the first line, whatever the rest holds (not even UTF-8)
            first = f.readline(1000).decode("utf-8", "replace").splitlines()[0]
    except (OSError, ValueError, IndexError):  # ValueError: a NUL character in the path
        return None
    m = re.search(r"hash ([0-9a-f]{16})", first)
    return m.group(1) if m else None
