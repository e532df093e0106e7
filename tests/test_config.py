import pytest

from gankit.config import Config, parse_override, resolve
from gankit.errors import ConfigError


def test_defaults_and_presets():
    cfg = resolve("gan")
    assert cfg.gan == "gan" and cfg.data.name == "ring8"
    assert set(cfg.optim) == {"g", "d"}
    d = resolve("dcgan")
    assert d.data.name == "mnist" and d.model["z_dim"] == 100
    assert d.optim["g"].betas == (0.5, 0.999) and d.optim["d"].lr == 5e-4  # the CPU default (configs/dcgan.yaml says why)


def test_overrides_shorthand_dotted_and_types():
    cfg = resolve("dcgan", ["data=fashion-mnist", "steps=10", "batch_size=8", "optim.d.lr=1e-3",
                            "train.ema=0.999", "model.g_width=8", "optim.g.betas=[0.0, 0.9]", "seed=3"])
    assert cfg.data.name == "fashion-mnist" and cfg.steps == 10 and cfg.batch_size == 8
    assert cfg.optim["d"].lr == 1e-3 and isinstance(cfg.optim["d"].lr, float)
    assert cfg.train.ema == 0.999 and cfg.model["g_width"] == 8 and cfg.optim["g"].betas == (0.0, 0.9)
    assert cfg.seed == 3


def test_keyword_api_matches_cli_overrides():
    a = resolve("gan", ["steps=7", "data=grid25"])
    b = resolve("gan", steps=7, data="grid25")
    assert a.to_dict() == b.to_dict()


def test_yaml_file_inherits_its_gans_preset(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("gan: dcgan\nsteps: 5\nmodel: {g_width: 16}\n")
    cfg = resolve(str(f))
    assert cfg.gan == "dcgan" and cfg.steps == 5 and cfg.model["g_width"] == 16
    assert cfg.model["z_dim"] == 100 and cfg.data.name == "mnist"  # from the preset


@pytest.mark.parametrize("override, words", [
    ("stepz=3", ["stepz", "steps"]),
    ("train.n_critc=2", ["train.n_critc", "n_critic"]),
    ("model.hiden=3", ["model.hiden", "hidden"]),
    ("optim.q.lr=1", ["optim.q", "valid"]),
    ("steps=-5", ["steps", "≥ 1"]),
    ("steps=abc", ["steps", "integer"]),
    ("steps=2.5", ["steps", "integer"]),
    ("train.ema=1.5", ["train.ema", "< 1"]),
    ("optim.g.name=adamw", ["optim.g.name", "adam"]),
    ("optim.g.betas=[0.5]", ["optim.g.betas", "2 numbers"]),
    ("train.amp=yes please", ["train.amp", "true or false"]),
    ("objective=nonsaturatin", ["nonsaturatin", "nonsaturating"]),
    ("penalties={r3: 1.0}", ["r3", "penalty"]),
    ("data.channels=2", ["data.channels", "1, 3"]),
])
def test_bad_values_fail_with_one_line_naming_key(override, words):
    with pytest.raises(ConfigError) as e:
        resolve("gan", [override])
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)


def test_unknown_gan_suggests_nearest():
    with pytest.raises(ConfigError, match="dcgan"):
        resolve("dcgna")


def test_dcgan_refuses_point_data():
    with pytest.raises(ConfigError, match="image data"):
        resolve("dcgan", ["data=ring8"])


def test_override_syntax_error():
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_override("steps")


def test_hash_ignores_out_steps_device_and_logging_but_not_training():
    a = resolve("gan")
    assert resolve("gan", ["out=x", "steps=99", "device=cpu", "train.log_every=7"]).hash == a.hash
    assert resolve("gan", ["optim.g.lr=0.1"]).hash != a.hash
    assert resolve("gan", ["seed=1"]).hash != a.hash


def test_round_trip_through_yaml():
    cfg = resolve("dcgan", ["steps=11"])
    again = resolve(__import__("yaml").safe_load(cfg.to_yaml()))
    assert again.to_dict() == cfg.to_dict() and isinstance(again, Config)


def test_penalties_merge_with_the_preset_and_zero_turns_off():
    cfg = resolve("wgan-gp", ["penalties.r1=1.0"])
    assert cfg.penalties == {"gp": 10.0, "r1": 1.0}
    assert resolve("wgan-gp", ["penalties.gp=0"]).penalties == {"gp": 0.0}


# ----------------------------------------------------------------------------- hardening
def _one_line_error(fn, *args, **kw) -> str:
    """Run ``fn``; it must raise exactly a ConfigError whose message is one bounded line."""
    with pytest.raises(ConfigError) as e:
        fn(*args, **kw)
    msg = str(e.value)
    assert "\n" not in msg and "\r" not in msg and len(msg.splitlines()) == 1, msg[:500]
    assert len(msg) <= 300, (len(msg), msg[:500])
    return msg


@pytest.mark.parametrize("override", ["seed=4294967296", "seed=-1", f"seed={2**70}"])
def test_seed_must_fit_numpy(override):
    assert "seed" in _one_line_error(resolve, "gan", [override])
    assert resolve("gan", ["seed=4294967295"]).seed == 2**32 - 1


def test_check_seed_for_the_cli():
    from gankit.config import check_seed

    assert check_seed(0, "--seed") == 0 and check_seed(2**32 - 1, "--seed") == 2**32 - 1
    for bad in (-1, 2**32, 1.0, True, "3", None):
        assert "--seed" in _one_line_error(check_seed, bad, "--seed")


@pytest.mark.parametrize("override, key", [
    ("train.grid_size=1025", "train.grid_size"),
    ("train.eval_samples=1000001", "train.eval_samples"),
    ("data.resolution=4097", "data.resolution"),
    ("batch_size=1000001", "batch_size"),
    (f"steps={10**12 + 1}", "steps"),
])
def test_upper_bounds_fail_fast(override, key):
    msg = _one_line_error(resolve, "gan", [override])
    assert key in msg and "≤" in msg
    ok = override.split("=")[0] + "=" + str(int(override.split("=")[1]) - 1)
    resolve("gan", [ok])


@pytest.mark.parametrize("override, key", [
    ("steps=" + "x" * 100_000, "steps"),                        # a long string value
    ("steps=[" + ",".join(["1"] * 50_000) + "]", "steps"),      # a long list value
    ("train.amp='a\\nb\\rc'", "train.amp"),                    # line breaks inside the value
    ("optim.g.name=" + "adam" * 1000, "optim.g.name"),
    ("train.n_critc\nx=2", "train.n_critc"),                    # a line break inside the key
    ("model." + "k" * 10_000 + "=1", "model.kkk"),              # a long key
    ("penalties={" + "r" * 1000 + ": 1.0}", "penalties: unknown penalty"),  # a long name looked up in a registry
    ("objective=" + "o" * 1000, "objective"),
])
def test_messages_show_a_short_excerpt_on_one_line(override, key):
    msg = _one_line_error(resolve, "gan", [override])
    assert key in msg, msg


def test_a_bad_override_is_echoed_short():
    msg = _one_line_error(parse_override, "steps" * 10_000)
    assert "KEY=VALUE" in msg


def test_huge_integers_are_shown_by_their_size():
    msg = _one_line_error(resolve, {"gan": "gan", "steps": 10**5000})  # repr() of it is refused
    assert "steps" in msg and "5001-digit integer" in msg, msg
    msg = _one_line_error(resolve, {"gan": "gan", "train": {"amp": [10**5000]}})
    assert "train.amp" in msg and "digit integer" in msg, msg


def _laughs(levels: int = 9) -> str:
    """The 'billion laughs' YAML: level i is a list of 9 aliases of level i-1 (9**levels strings)."""
    names = "abcdefghijklmnop"
    lines = [f"{names[0]}: &{names[0]} [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"{names[i]}: &{names[i]} [" + ", ".join(f"*{names[i - 1]}" for _ in range(9)) + "]")
    return "\n".join(lines) + "\n"


def test_yaml_alias_bomb_in_a_file_is_refused_quickly(tmp_path):
    """Refused without expanding it: with 16 levels (9**16 strings) anything that expanded the
    bomb would never return, so returning at all is the check (no clock needed)."""
    from gankit.config import read_yaml

    f = tmp_path / "bomb.yaml"
    f.write_text("gan: gan\nmodel:\n  " + _laughs(16).replace("\n", "\n  "))
    for fn in (read_yaml, resolve):
        msg = _one_line_error(fn, str(f))
        assert "bomb.yaml" in msg and "too large a structure (YAML aliases)" in msg, msg


@pytest.mark.parametrize("value", [
    "{" + _laughs().strip().replace("\n", ", ") + "}",           # 72 aliases, 9**9 strings once expanded
    "[" + ", ".join(["&a [x]"] + ["*a"] * 150) + "]",            # too many aliases
    "&a [x, *a]",                                                # a list containing itself
    "&a {k: *a}",
    "&a {<<: *a}",                                               # a merge key of itself
])
def test_yaml_alias_bomb_in_an_override_is_refused(value):
    for fn in (lambda: parse_override("model.x=" + value), lambda: resolve("gan", ["model.x=" + value])):
        msg = _one_line_error(fn)
        assert "model.x" in msg and "too large a structure (YAML aliases)" in msg, msg


def test_yaml_limits_leave_ordinary_aliases_and_nesting_alone(tmp_path):
    f = tmp_path / "shared.yaml"
    f.write_text("gan: gan\noptim:\n  g: &o {lr: 1.0e-3, betas: [0.5, 0.9]}\n  d: *o\n")
    cfg = resolve(str(f))
    assert cfg.optim["g"] == cfg.optim["d"] and cfg.optim["d"].lr == 1e-3


@pytest.mark.parametrize("text, words", [
    ("steps: " + "[" * 200 + "]" * 200, ["nested too deeply"]),  # was RecursionError
    ("steps: " + "1" * 5000, ["not valid YAML at line 1"]),      # was ValueError (int_max_str_digits)
    ("steps: 2020-13-45", ["not valid YAML at line 1"]),         # was ValueError (month 13)
    ("x: !!python/object:os.system ls", ["not valid YAML at line 1"]),
    ("steps: 1\nout: \x01", ["not valid YAML", "control characters"]),
])
def test_yaml_that_python_cannot_build_is_one_config_error(tmp_path, text, words):
    f = tmp_path / "odd.yaml"
    f.write_text(text)
    msg = _one_line_error(resolve, str(f))
    for w in ["odd.yaml"] + words:
        assert w in msg, msg
    # the same values as overrides are strings (YAML failed) or refused by the same limits
    _one_line_error(resolve, "gan", [text.replace(": ", "=", 1)])


def test_config_file_size_is_capped(tmp_path):
    f = tmp_path / "big.yaml"
    f.write_text("gan: gan\n" + "#" * (2 << 20) + "\n")
    msg = _one_line_error(resolve, str(f))
    assert "big.yaml" in msg and "MB" in msg


def test_python_values_are_bounded_too():
    shared = ["x"] * 10
    for _ in range(6):
        shared = [shared] * 10  # 10**7 leaves, few objects
    msg = _one_line_error(resolve, "gan", model={"x": shared})
    assert "model" in msg and "too large a structure" in msg
    loop: list = []
    loop.append(loop)
    assert "contains itself" in _one_line_error(resolve, {"gan": "gan", "train": {"amp": loop}})
    deep: dict = {}
    node = deep
    for _ in range(5000):
        node = node.setdefault("k", {})
    assert "nested too deeply" in _one_line_error(resolve, {"gan": "gan", "model": deep})


def test_a_config_file_that_is_not_utf8_is_one_config_error(tmp_path):
    f = tmp_path / "latin.yaml"
    f.write_bytes(b"\xff\xfe\x00gan: gan")
    msg = _one_line_error(resolve, str(f))
    assert "latin.yaml" in msg and "not UTF-8" in msg, msg
    g = tmp_path / "bom.yaml"
    g.write_bytes("\ufeffgan: gan\nsteps: 3\n".encode("utf-8"))  # a byte-order mark is fine
    assert resolve(str(g)).steps == 3


def test_a_config_path_that_is_a_directory_is_one_config_error(tmp_path):
    d = tmp_path / "my\nconfigs.yaml"  # a line break in the name, too
    d.mkdir()
    msg = _one_line_error(resolve, str(d))
    assert "my\\nconfigs.yaml" in msg and "is a directory, not a YAML file" in msg, msg


def test_run_config_that_is_not_utf8(tmp_path):
    from gankit.config import load_run_config, recorded_hash

    (tmp_path / "config.yaml").write_bytes(b"# gankit 1 hash 0123456789abcdef\n\xff\xfe junk\n")
    assert recorded_hash(tmp_path) == "0123456789abcdef"
    assert "not UTF-8" in _one_line_error(load_run_config, tmp_path)


@pytest.mark.parametrize("override, key", [
    ("optim.g.lr=.inf", "optim.g.lr"),
    ("optim.g.lr=-.inf", "optim.g.lr"),
    ("optim.g.lr=1e400", "optim.g.lr"),            # YAML 1.1: a string; float('1e400') is inf
    ("optim.d.weight_decay=.nan", "optim.d.weight_decay"),
    ("penalties.gp=.nan", "penalties.gp"),           # Dict[str, float]
    ("penalties.gp=.inf", "penalties.gp"),
    ("train.ema=.nan", "train.ema"),                 # Optional[float]
    ("optim.g.betas=[.nan, 0.9]", "optim.g.betas[0]"),  # Tuple[float, float]
    ("model.d_clip=.inf", "model.d_clip"),           # a float in a GAN's Params
    (f"model.d_clip={10**400}", "model.d_clip"),     # an int too large for a float
])
def test_float_settings_must_be_finite(override, key):
    msg = _one_line_error(resolve, "wgan-gp", [override])
    assert key in msg and "finite" in msg, msg


@pytest.mark.parametrize("betas, key, words", [
    ("[1.5, 0.9]", "optim.g.betas[0]", "< 1"),
    ("[0.5, -0.1]", "optim.g.betas[1]", "≥ 0"),
    ("[0.5, 1.0]", "optim.g.betas[1]", "< 1"),
    ("[.nan, 0.9]", "optim.g.betas[0]", "finite"),
])
def test_adam_betas_are_in_0_1(betas, key, words):
    msg = _one_line_error(resolve, "gan", [f"optim.g.betas={betas}"])
    assert key in msg and words in msg, msg
    assert resolve("gan", ["optim.g.betas=[0, 0.999]"]).optim["g"].betas == (0.0, 0.999)


def test_float_params_of_every_gan_are_finite():
    msg = _one_line_error(resolve, "began", ["model.gamma=.nan"])
    assert "model.gamma" in msg and "finite" in msg
    msg = _one_line_error(resolve, "sngan", ["model.d_slope=-.inf"])
    assert "model.d_slope" in msg


@pytest.mark.parametrize("overrides, key", [
    (["train=5", "train.log_every=3"], "train"),       # was: train.* before train=5 silently dropped
    (["train.log_every=3", "train=5"], "train"),
    (["train.ema=0.9", "train=5"], "train"),
    (["train=5", "train.ema=0.9"], "train"),
    (["train.ema=0.9", "train=null"], "train"),
    (["model=null"], "model"),                         # was: silently the preset's model
    (["optim=0"], "optim"),                            # was: silently the preset's optimisers
    (["optim.g=[]"], "optim.g"),
    (["penalties=0"], "penalties"),
])
def test_a_section_set_to_a_single_value_conflicts_in_any_order(overrides, key):
    msg = _one_line_error(resolve, "gan", overrides)
    assert f"'{key}' is a section of settings ({key}.KEY=VALUE); it cannot be set to" in msg, msg


@pytest.mark.parametrize("overrides, key", [
    (["steps=5", "steps.x=3"], "steps"),
    (["steps.x=3"], "steps"),
    (["train.ema.x=1"], "train.ema"),                  # null in the defaults, a mapping now
])
def test_a_single_setting_given_settings_under_it_conflicts(overrides, key):
    msg = _one_line_error(resolve, "gan", overrides)
    assert f"'{key}' is a single setting, not a section" in msg, msg


def test_merge_conflict_between_layers(tmp_path):
    f = tmp_path / "five.yaml"
    f.write_text("gan: gan\ntrain: 5\n")
    assert "'train' is a section of settings" in _one_line_error(resolve, str(f))
    g = tmp_path / "ok.yaml"
    g.write_text("gan: gan\ntrain: {ema: 0.9}\n")
    assert "'train' is a section" in _one_line_error(resolve, str(g), ["train=5"])
    assert "'train' is a section" in _one_line_error(resolve, str(g), train=5)
    assert "'train' is a section" in _one_line_error(resolve, {"gan": "gan", "train": 5})
    assert "'data' is a section" in _one_line_error(resolve, {"gan": "gan", "data": 5}, ["data.resolution=32"])
    assert "'model.hidden'" in _one_line_error(resolve, "gan", ["model.hidden=8", "model.hidden.x=1"])


def test_what_still_merges(tmp_path):
    assert resolve("dcgan", ["data=mnist", "data.resolution=32"]).data.name == "mnist"
    assert resolve("gan", ["data.resolution=32", "data=grid25"]).data.resolution == 32
    assert resolve("wgan-gp", ["penalties.gp=10"]).penalties == {"gp": 10.0}
    assert resolve("wgan", ["model.d_clip=null"]).model["d_clip"] is None
    cfg = resolve("gan", ["train.ema=0.9", "train.log_every=3"], train={"n_critic": 2}, data={"name": "grid25"})
    assert (cfg.train.ema, cfg.train.log_every, cfg.train.n_critic, cfg.data.name) == (0.9, 3, 2, "grid25")
    f = tmp_path / "short.yaml"
    f.write_text("gan: dcgan\ndata: fashion-mnist\n")  # data: NAME is short for data: {name: NAME}
    cfg = resolve(str(f), ["data.resolution=32"])
    assert cfg.data.name == "fashion-mnist" and cfg.data.resolution == 32
    assert resolve({"gan": "gan", "data": "grid25"}).data.name == "grid25"
    assert resolve(resolve("dcgan", ["steps=3"])).steps == 3


def test_odd_arguments_are_config_errors_too():
    from gankit.config import load_run_config, read_yaml, recorded_hash

    assert "NUL" in _one_line_error(resolve, "a\x00.yaml")
    assert "NUL" in _one_line_error(read_yaml, "a\x00")
    assert recorded_hash("a\x00") is None and recorded_hash("x" * 5000) is None
    assert "not a gankit run directory" in _one_line_error(load_run_config, "x" * 5000)  # was OSError
    assert "overrides" in _one_line_error(resolve, "gan", 5)                             # was TypeError
    assert resolve("gan", None).steps == resolve("gan").steps and resolve("gan", "steps=3").steps == 3
    assert "data.channels" in _one_line_error(resolve, "dcgan", ["data.channels=1.0"])
    assert "data.channels" in _one_line_error(resolve, "dcgan", ["data.channels=true"])


def test_a_config_file_names_its_gan_and_gives_each_key_once(tmp_path):
    from gankit.config import resolve

    cases = {"nogan.yaml": "steps: 3\n", "empty.yaml": "", "dup.yaml": "gan: gan\nsteps: 3\nsteps: 4\n"}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError, match="does not name its GAN"):
        resolve(str(tmp_path / "nogan.yaml"))
    with pytest.raises(ConfigError, match="does not name its GAN"):
        resolve(str(tmp_path / "empty.yaml"))
    with pytest.raises(ConfigError, match="'steps' is given twice"):
        resolve(str(tmp_path / "dup.yaml"))


def test_penalty_weights_are_not_negative():
    from gankit.config import resolve

    with pytest.raises(ConfigError, match="penalties.gp must be ≥ 0"):
        resolve("gan", ["penalties.gp=-1"])
    assert resolve("wgan-gp", ["penalties.gp=0"]).penalties["gp"] == 0


def test_numpy_scalars_from_the_api_are_accepted():
    import numpy as np

    from gankit.config import resolve

    cfg = resolve("gan", steps=np.int64(7), optim={"g": {"lr": np.float32(0.5)}})
    assert cfg.steps == 7 and type(cfg.steps) is int and cfg.optim["g"].lr == 0.5
    with pytest.raises(ConfigError):
        resolve("gan", steps=np.float64(7.5))
