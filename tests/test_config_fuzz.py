"""Property-based fuzzing of the config loader (:func:`gankit.config.resolve`) and the override parser.

Whatever the input (override strings ``KEY=VALUE``, a mapping, keyword arguments, a YAML file, random
bytes in a file), ``resolve`` either returns a valid :class:`Config` or raises :class:`ConfigError` whose
message is one line of at most 300 characters; never any other exception, whatever the keys (dots,
empty parts, unicode, very long), the values (huge or negative integers, NaN, infinities, strings,
nested lists and mappings, null, booleans) or the YAML (anchors, aliases, tags such as !!python/object).

Deterministic (``derandomize=True``, no example database) and fast: every test is bounded by
``max_examples``; the whole file runs in well under 30 s on 2 CPU cores.
"""
from __future__ import annotations

import dataclasses
import math
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gankit.config import Config, OptimConfig, parse_override, read_yaml, resolve
from gankit.errors import ConfigError
from gankit.gans import GANS
from gankit.objectives import OBJECTIVES
from gankit.penalties import PENALTIES

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when there: the test's own YAML is fast
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _load(text: str):
    return yaml.load(text, Loader=_LOADER)


def _dump(value) -> str:
    return yaml.dump(value, Dumper=_DUMPER, default_flow_style=True, allow_unicode=True).strip()


FUZZ = settings(
    max_examples=200,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)

# ----------------------------------------------------------------------------- the property
def check(fn, *args, **kw):
    """Run ``fn``: a valid Config, or a ConfigError with one short line. Any other exception fails."""
    try:
        out = fn(*args, **kw)
    except ConfigError as e:
        msg = str(e)
        assert msg, "empty ConfigError message"
        assert len(msg.splitlines()) == 1 and "\n" not in msg and "\r" not in msg, repr(msg[:400])
        assert len(msg) <= 300, (len(msg), msg)
        return None
    if fn is resolve:
        assert isinstance(out, Config)
        check_valid(out)
    return out


def check_valid(cfg: Config) -> None:
    """An accepted Config holds only finite floats and survives its own YAML round trip."""
    def walk(x):
        if isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, (list, tuple)):
            for v in x:
                walk(v)
        elif isinstance(x, float):
            assert math.isfinite(x), cfg
    walk(cfg.to_dict())
    assert 0 <= cfg.seed < 2**32
    assert set(cfg.optim) == set(GANS.get(cfg.gan).optim_group_names)
    for o in cfg.optim.values():
        assert isinstance(o, OptimConfig) and all(0 <= b < 1 for b in o.betas)
    again = resolve(_load(cfg.to_yaml()))
    assert again.to_dict() == cfg.to_dict()


# ----------------------------------------------------------------------------- strategies
_SCHEMA_WORDS = sorted(
    {f.name for f in dataclasses.fields(Config)}
    | {f.name for sub in ("data", "train") for f in dataclasses.fields(type(getattr(Config(), sub)))}
    | {f.name for f in dataclasses.fields(OptimConfig)}
    | {f.name for n in GANS.names() for f in dataclasses.fields(GANS.get(n).Params)}
    | {"g", "d"} | set(PENALTIES.names())
)
gan_names = st.sampled_from(GANS.names())
words = st.one_of(
    st.sampled_from(_SCHEMA_WORDS),
    st.text(max_size=12),                                  # any unicode, dots and '=' included
    st.text(alphabet="abcdefg_.-", max_size=8),
    st.integers(1, 3000).map(lambda n: "k" * n),           # very long
    st.just(""),
)
keys = st.one_of(
    st.sampled_from(["steps", "seed", "batch_size", "gan", "objective", "data", "data.name", "data.resolution",
                     "train", "train.ema", "train.grid_size", "model", "model.z_dim", "model.d_clip", "optim",
                     "optim.g", "optim.g.lr", "optim.d.betas", "penalties", "penalties.gp", "out", "device"]),
    st.lists(words, min_size=1, max_size=4).map(".".join),
)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from([0, 1, -1, 2**32, 2**32 - 1, 10**12 + 1, 10**400, -(10**400)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 0.5, 0.999, 1.0, 1e-3, -0.1, 1e400, math.nan, math.inf, -math.inf]),
    st.text(max_size=20),
    st.sampled_from(GANS.names() + OBJECTIVES.names() + PENALTIES.names()
                    + ["mnist", "ring8", "grid25", "adam", "sgd", "auto", "cpu", "1e400", ".nan", "1e-3"]),
)
values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(words, inner, max_size=4),
    max_leaves=12,
)

# YAML texts: dumped values, hand-made tricky pieces, and random text over YAML's punctuation
_TRICKY = [
    "&a [*a]", "&a {k: *a}", "&a {<<: *a}", "{a: &a [x, x], b: [*a, *a]}", "*undefined", "&a 1",
    "!!python/object:os.system ls", "!!python/object/apply:os.system [ls]", "!!python/name:os.system",
    "!!binary aGVsbG8=", "!!set {a, b}", "!!omap [a: 1]", "!!timestamp 2020-13-45", "2020-13-45",
    "!!int abc", "!!float x", "!!str 3", "!!map [1]", "!custom x", "? [a]\n: 1", "{[a]: 1}",
    "1" * 5000, "0x" + "f" * 500, "1:30:00", "0o17", "0b101", "+.inf", "-.inf", ".nan", ".NaN", "1e400",
    "[" * 100 + "]" * 100, "{a: 1, a: 2}", "a: 1\n---\nb: 2", "%YAML 1.1\n---\na: 1", "|\n  x\n  y", "\t",
    "'unterminated", '"\\x00"', "\x00", "\ufeffa: 1", "~", "null", "yes", "on", "y", "<<: {a: 1}",
]


def _laughs(levels: int) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines)


yaml_pieces = st.one_of(
    st.sampled_from(_TRICKY),
    st.integers(2, 10).map(_laughs),
    values.map(_dump),
    st.text(alphabet="ab01 .-_:,[]{}&*!|>'\"#%@`?~\n\t=", max_size=40),
    st.text(max_size=30),
)


# overrides a valid config may hold, so that the examples also reach the later checks (ranges, names,
# the GANs' own validate) and return Configs
good_overrides = st.one_of(
    st.integers(1, 10**6).map("steps={}".format),
    st.integers(0, 2**32 - 1).map("seed={}".format),
    st.integers(1, 4096).map("batch_size={}".format),
    st.floats(1e-6, 1.0).map("optim.g.lr={!r}".format),
    st.tuples(st.floats(0, 0.99), st.floats(0, 0.99)).map(lambda b: f"optim.d.betas=[{b[0]!r}, {b[1]!r}]"),
    st.sampled_from(OBJECTIVES.names()).map("objective={}".format),
    st.tuples(st.sampled_from(PENALTIES.names()), st.floats(0, 100)).map(lambda p: f"penalties.{p[0]}={p[1]!r}"),
    st.sampled_from(["ring8", "grid25", "mnist", "cifar10"]).map("data={}".format),
    st.floats(0.01, 0.999).map("train.ema={!r}".format),
    st.sampled_from(["mlp", "auto", "dcgan", "cnn"]).map("model.arch={}".format),
    st.integers(1, 512).map("model.hidden={}".format),
    st.sampled_from(["model.d_clip=null", "model.d_clip=0.01", "train.amp=true", "train.progress=false", "device=cpu",
                     "out=runs/x", "optim.d.name=sgd", "optim.g.schedule=linear", "data.channels=3",
                     "train.grid_size=1024", "data.resolution=64", "train.eval_samples=1000000"]),
)
good_pairs = good_overrides.map(lambda item: tuple(item.split("=", 1)))  # (dotted key, YAML text)


from gankit.config import _nest  # noqa: E402  ('a.b', v) -> {'a': {'b': v}}


@st.composite
def yaml_documents(draw):
    """A YAML document that is often nearly valid: a mapping of (dotted) settings with tricky pieces."""
    lines = [f"gan: {draw(gan_names)}"] if draw(st.booleans()) else []
    for _ in range(draw(st.integers(0, 5))):
        key, text = draw(st.one_of(good_pairs, good_pairs, st.tuples(keys, yaml_pieces)))
        if draw(st.booleans()):  # a nested block
            parts = key.split(".")
            lines += [("  " * i) + f"{p}:" for i, p in enumerate(parts[:-1])]
            lines.append("  " * (len(parts) - 1) + f"{parts[-1]}: {text}".replace("\n", "\n" + "  " * len(parts)))
        else:
            lines.append(f"{key}: {text}")
    if draw(st.integers(0, 4)) == 0:
        lines.append(draw(yaml_pieces))
    return "\n".join(lines) + "\n"


overrides = st.one_of(
    good_overrides, good_overrides, good_overrides,
    st.tuples(keys, yaml_pieces).map(lambda kv: f"{kv[0]}={kv[1]}"),
    st.tuples(keys, values).map(lambda kv: f"{kv[0]}={_dump(kv[1])}"),
    st.text(max_size=30),                                   # with or without '='
    st.sampled_from(["steps=3", "data=grid25", "train.ema=0.9", "train=5", "model.x=null", "optim.g.betas=[0.5, 0.9]",
                     "=1", "steps", "a..b=1", ".=.", "data={name: mnist}", "penalties.gp=10", "seed=4294967296"]),
)


# ----------------------------------------------------------------------------- the tests
@pytest.fixture(scope="module")
def scratch():
    with tempfile.TemporaryDirectory(prefix="gankit-config-fuzz-") as d:
        yield Path(d)


@FUZZ
@given(gan=st.one_of(gan_names, gan_names, st.none(), st.text(max_size=10)), items=st.lists(overrides, max_size=5))
def test_fuzz_override_strings(gan, items):
    for item in items:
        try:
            parse_override(item)
        except ConfigError as e:
            assert len(str(e).splitlines()) == 1 and len(str(e)) <= 300
    check(resolve, gan, items)


@FUZZ
@given(gan=st.one_of(gan_names, gan_names, st.none(), values), body=st.dictionaries(keys, values, max_size=6),
       good=st.lists(good_pairs, max_size=6), nested=st.dictionaries(words, values, max_size=4),
       items=st.lists(overrides, max_size=2))
def test_fuzz_mapping_source(gan, body, good, nested, items):
    source: dict = {}
    for key, text in good:  # nested mappings of valid settings ...
        source = _merge(source, _nest(key, _load(text)))
    check(resolve, {**source, "gan": gan} if gan is not None else source, items)
    source.update(body)      # ... with arbitrary (often dotted) keys and values
    if gan is not None:
        source["gan"] = gan
    check(resolve, source, items)
    check(resolve, {**source, **nested})


def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


@FUZZ
@given(gan=gan_names, kw=st.dictionaries(keys.filter(lambda k: k not in ("source", "overrides")), values, max_size=4),
       good=st.lists(good_pairs, max_size=4))
def test_fuzz_keyword_arguments(gan, kw, good):
    good_kw = {key: _load(text) for key, text in good}  # steps=3, **{"train.ema": 0.9}, data="mnist"
    check(resolve, gan, **good_kw)
    check(resolve, gan, **{**good_kw, **kw})


@FUZZ
@given(text=yaml_documents(), items=st.lists(overrides, max_size=2))
def test_fuzz_yaml_file(scratch, text, items):
    f = scratch / "fuzz.yaml"
    f.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        read_yaml(f)
    except ConfigError as e:
        assert len(str(e).splitlines()) == 1 and len(str(e)) <= 300
    check(resolve, str(f), items)


@settings(FUZZ, max_examples=100)
@given(data=st.one_of(st.binary(max_size=200),
                      st.text(max_size=60).map(lambda s: s.encode("utf-16")),
                      yaml_documents().map(lambda s: s.encode("utf-8", "surrogatepass"))))
def test_fuzz_bytes_file(scratch, data):
    f = scratch / "bytes.yaml"
    f.write_bytes(data)
    check(resolve, str(f))


@FUZZ
@given(key=keys, text=st.one_of(yaml_pieces, yaml_documents()))
def test_fuzz_yaml_as_an_override_value(key, text):
    check(resolve, "gan", [f"{key}={text}"])
    check(resolve, "gan", [f"model.hidden={text}", f"{key}=1"])
