"""Good out of the box: presets chosen by the kind of data, the time budget (train.max_minutes, with a
fake clock), the 2-D training picture and GIF, per-sample penalties and batch norm, amp on the CPU."""
import json
from pathlib import Path

import pytest
import torch

import gankit
from gankit.config import POINT_DATASETS, data_kind, preset, preset_names, resolve
from gankit.errors import ConfigError, GankitError
from gankit.gans import GANS
from gankit.train.loop import Trainer, prepare_run_dir

QUIET = ["train.progress=false", "train.sample_every=0", "train.checkpoint_every=0"]


def _flat(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _resolved(cfg) -> dict:
    return _flat(cfg.to_dict())


def _expected(section: dict) -> dict:
    """A preset section as the resolved config shows it (YAML lists are tuples there)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in _flat(section).items()}


# ---------------------------------------------------------------- presets by data
DIV_FAMILY = ["gan", "lsgan", "wgan", "wgan-gp", "dragan", "fgan", "rgan", "ragan", "hinge-gan", "sngan", "ebgan",
              "began"]


def test_every_div_family_gan_has_2d_settings_and_image_settings():
    for name in DIV_FAMILY:
        sections = preset(name).get("by_data", {})
        assert "points" in sections, f"{name}: no tuned settings for the 2-D mixtures"
        assert "steps" in sections["points"] and "batch_size" in sections["points"], name


@pytest.mark.parametrize("name", DIV_FAMILY)
@pytest.mark.parametrize("data", ["ring8", "grid25", "mnist", "fashion-mnist"])
def test_the_data_alone_picks_the_preset(name, data):
    """`gankit train NAME data=D` gets the preset's section for D's kind and then for D itself, on top of
    the paper settings, with no other override."""
    raw = preset(name)
    sections = raw.pop("by_data", {})
    raw.pop("by_objective", None)  # for the preset's own objective: tested below
    cfg = _resolved(resolve(name, [f"data={data}"]))
    want = _expected({k: v for k, v in raw.items() if k != "data"})
    for key in (data_kind(data), data):
        want.update(_expected(sections.get(key, {})))
    for k, v in want.items():
        assert cfg[k] == v, f"{name} on {data}: {k} = {cfg[k]!r}, preset says {v!r}"
    assert cfg["data.name"] == data


def test_2d_and_image_settings_differ_where_the_preset_says():
    pts, img = resolve("wgan-gp", ["data=ring8"]), resolve("wgan-gp", ["data=mnist"])
    section = preset("wgan-gp")["by_data"]["points"]
    assert pts.steps == section["steps"] and img.steps == preset("wgan-gp")["steps"]
    assert pts.batch_size != img.batch_size


def test_explicit_settings_win_over_the_data_sections():
    cfg = resolve("wgan-gp", ["data=grid25", "batch_size=7", "optim.d.lr=0.123", "steps=11"])
    assert (cfg.batch_size, cfg.optim["d"].lr, cfg.steps) == (7, 0.123, 11)
    cfg = gankit.load_config("wgan-gp", data="ring8", batch_size=9)
    assert cfg.batch_size == 9


def test_the_preset_default_data_selects_too():
    """With no data= given, the data the preset names decides (gan: ring8, the others: mnist)."""
    assert resolve("gan").data.name == "ring8"
    assert resolve("gan").steps == preset("gan")["by_data"]["points"]["steps"]
    assert resolve("lsgan").data.name == "mnist"
    assert resolve("lsgan").steps == preset("lsgan")["steps"]


def test_a_user_file_can_have_data_sections(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("gan: gan\nsteps: 5\nby_data:\n  points: {batch_size: 33}\n  grid25: {batch_size: 44}\n"
                 "  images: {batch_size: 55}\n")
    assert resolve(str(f), ["data=ring8"]).batch_size == 33
    assert resolve(str(f), ["data=grid25"]).batch_size == 44
    assert resolve(str(f), ["data=mnist"]).batch_size == 55
    assert resolve(str(f), ["data=grid25", "batch_size=3"]).batch_size == 3  # overrides still win


@pytest.mark.parametrize("text, match", [
    ("gan: gan\nby_data: 3\n", "must map data kinds"),
    ("gan: gan\nby_data: {pointz: {steps: 3}}\n", "unknown 'by_data.pointz'.*points"),
    ("gan: gan\nby_data: {points: 3}\n", "must be a section"),
    ("gan: gan\nby_data: {points: {data: {name: mnist}}}\n", "cannot set data.name"),
    ("gan: gan\nby_data: {points: {stepz: 3}}\n", "unknown.*stepz"),
    ("gan: gan\nby_objective: 3\n", "must map objective names"),
    ("gan: gan\nby_objective: {fgan-kll: {steps: 3}}\n", "unknown 'by_objective.fgan-kll'.*fgan-kl"),
    ("gan: gan\nby_objective: {minimax: 3}\n", "must be a section"),
    ("gan: gan\nby_objective: {minimax: {objective: nonsaturating}}\n", "cannot set the objective"),
    ("gan: gan\nobjective: minimax\nby_objective: {minimax: {by_data: {pointz: {steps: 3}}}}\n",
     "by_objective.minimax.*unknown 'by_data.pointz'"),
])
def test_bad_data_and_objective_sections_are_one_line_errors(tmp_path, text, match):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=match) as e:
        resolve(str(f))
    assert "\n" not in str(e.value)


def test_data_sections_are_not_overrides():
    with pytest.raises(ConfigError, match="belong in a preset"):
        resolve("gan", ["by_data={points: {steps: 3}}"])


def test_a_user_file_can_have_objective_sections(tmp_path):
    """by_objective: the section of the objective the run uses applies (with its own by_data sections),
    above the file's by_data sections and below every override."""
    f = tmp_path / "mine.yaml"
    f.write_text("gan: fgan\nobjective: fgan-js\nsteps: 5\nby_data:\n  points: {batch_size: 33}\n"
                 "by_objective:\n  fgan-kl: {batch_size: 44, by_data: {grid25: {batch_size: 55}}}\n"
                 "  fgan-tv: {model: {d_sn: true}}\n")
    assert resolve(str(f), ["data=ring8"]).batch_size == 33  # fgan-js: no section
    assert resolve(str(f), ["data=ring8", "objective=fgan-kl"]).batch_size == 44
    assert resolve(str(f), ["data=grid25", "objective=fgan-kl"]).batch_size == 55
    assert resolve(str(f), ["data=grid25", "objective=fgan-kl", "batch_size=3"]).batch_size == 3
    assert resolve(str(f), ["objective=fgan-tv"]).model["d_sn"] is True
    assert resolve(str(f), ["objective=fgan-tv", "model.d_sn=false"]).model["d_sn"] is False
    assert resolve(str(f)).model["d_sn"] is False


def test_a_preset_objective_section_applies_when_a_user_file_picks_the_objective(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("gan: gan\nobjective: minimax\nby_objective: {minimax: {steps: 77}}\n")
    assert resolve(str(f)).steps == 77
    assert resolve(str(f), ["objective=nonsaturating"]).steps != 77


def test_objective_sections_are_not_overrides():
    with pytest.raises(ConfigError, match="belong in a preset"):
        resolve("fgan", ["by_objective={fgan-kl: {steps: 3}}"])


def test_fgan_divergences_get_their_own_2d_settings():
    """objective=fgan-<div> alone picks the divergence's section (a gradient penalty for the divergences
    whose terms grow without bound in D's output); images and fgan-js keep the shared settings."""
    sections = preset("fgan")["by_objective"]
    for objective, sec in sections.items():
        want = sec["by_data"]["points"]["penalties"]
        for data in POINT_DATASETS:
            assert resolve("fgan", [f"data={data}", f"objective={objective}"]).penalties == want
        assert resolve("fgan", ["data=mnist", f"objective={objective}"]).penalties == {}
    assert {"fgan-reverse-kl", "fgan-neyman"} <= set(sections)
    assert resolve("fgan", ["data=ring8"]).penalties == {}
    assert resolve("fgan", ["data=ring8", "objective=fgan-reverse-kl", "penalties.gp=0"]).penalties == {"gp": 0.0}


@pytest.mark.parametrize("data", POINT_DATASETS)
def test_every_fgan_divergence_trains_a_little_at_its_2d_defaults(data, tmp_path):
    """A few steps of every divergence at its 2-D defaults give finite losses (the full runs: docs/defaults.md)."""
    from gankit.objectives.fgan import F_DIVERGENCES

    for div in F_DIVERGENCES:
        run = gankit.train("fgan", f"data={data}", f"objective=fgan-{div}", "steps=20", "batch_size=64",
                           "train.log_every=10", "train.eval_every=0", "train.gif_frames=0", *QUIET,
                           out=str(tmp_path / div))
        rows = [json.loads(line) for line in (tmp_path / div / "metrics.jsonl").read_text().splitlines()]
        losses = [r[k] for r in rows for k in ("d_loss", "g_loss") if k in r]
        assert losses and all(isinstance(v, float) and v == v and abs(v) < 1e30 for v in losses), (div, losses)
        assert run.gan.G is not None


def test_shipped_presets_only_use_known_sections():
    from gankit.data import DATASETS

    for name in preset_names():
        for key in preset(name).get("by_data", {}):
            # a dataset's own section (e.g. cyclegan's mnist2coloured) with that dataset; a kind with one of its sets
            data = key if key in DATASETS.names() else ("ring8" if key in ("points", *POINT_DATASETS) else "mnist")
            resolve(name, [f"data={data}"])
        for objective in preset(name).get("by_objective", {}):
            for data in ("ring8", "grid25", "mnist"):
                resolve(name, [f"data={data}", f"objective={objective}"])


def test_cli_prints_the_2d_preset(tmp_path):
    """The command line takes the same path (resolve) and records the chosen settings in the run."""
    from cli_harness import run_cli

    out = tmp_path / "r"
    r = run_cli(["train", "wgan-gp", "data=ring8", "steps=2", f"out={out}", "--quiet", "train.gif_frames=0"],
                cwd=tmp_path / "cwd", real="module")
    assert r.rc == 0, r.describe()
    text = (out / "config.yaml").read_text()
    pts = preset("wgan-gp")["by_data"]["points"]
    assert f"batch_size: {pts['batch_size']}" in text


# ---------------------------------------------------------------- train.max_minutes
class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _timed(monkeypatch, seconds_per_step: float) -> FakeClock:
    clock = FakeClock()
    monkeypatch.setattr(Trainer, "clock", staticmethod(clock))
    step = Trainer.train_step

    def slow_step(self):
        step(self)
        clock.now += seconds_per_step

    monkeypatch.setattr(Trainer, "train_step", slow_step)
    return clock


TINY_TOY = ["data=ring8", "model.hidden=8", "model.z_dim=2", "batch_size=16", "train.eval_samples=200",
            "train.gif_frames=0", "train.progress=false", "optim.g.schedule=constant", "optim.d.schedule=constant"]


def test_max_minutes_stops_cleanly_with_checkpoint_samples_and_eval(tmp_path, monkeypatch):
    _timed(monkeypatch, 6.0)  # 10 steps per minute
    out = tmp_path / "r"
    run = gankit.train("gan", *TINY_TOY, "steps=1000", "train.max_minutes=1", "train.checkpoint_every=0", out=str(out))
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "finished" and meta["stopped_by"] == "max_minutes"
    assert meta["step"] == 10 and meta["train_seconds"] == pytest.approx(60.0)
    assert [p.name for p in (out / "checkpoints").glob("step-*.pt")] == ["step-00000010.pt"]
    assert (out / "samples" / "final.png").is_file()
    assert json.loads((out / "eval.json").read_text())["step"] == 10
    assert run.sample(3).shape == (3, 2)


def test_max_minutes_resume_keeps_counting_and_matches_an_uninterrupted_run(tmp_path, monkeypatch):
    _timed(monkeypatch, 6.0)
    a, b = tmp_path / "a", tmp_path / "b"
    gankit.train("gan", *TINY_TOY, "steps=1000", "train.max_minutes=1", "train.checkpoint_every=0", out=str(a))
    with pytest.raises(GankitError, match="already used its time budget"):
        gankit.train(resume=str(a))
    gankit.train(resume=str(a), train={"max_minutes": 2.5})
    meta = json.loads((a / "run.json").read_text())
    assert meta["step"] == 25 and meta["train_seconds"] == pytest.approx(150.0)
    # the same 25 steps in one go (same schedule: constant) give the same weights
    gankit.train("gan", *TINY_TOY, "steps=1000", "train.max_minutes=2.5", "train.checkpoint_every=0", out=str(b))
    from gankit.train import checkpoint as ckpt

    sa = ckpt.load(ckpt.list_checkpoints(a / "checkpoints")[-1])
    sb = ckpt.load(ckpt.list_checkpoints(b / "checkpoints")[-1])
    assert sa["step"] == sb["step"] == 25
    for k in sa["gan"]:
        assert torch.equal(sa["gan"][k], sb["gan"][k]), k


def test_evaluation_time_is_not_training_time(tmp_path, monkeypatch):
    clock = _timed(monkeypatch, 6.0)
    evaluate = Trainer.evaluate

    def slow_eval(self, final=False):
        clock.now += 1000.0
        return evaluate(self, final)

    monkeypatch.setattr(Trainer, "evaluate", slow_eval)
    out = tmp_path / "r"
    gankit.train("gan", *TINY_TOY, "steps=1000", "train.max_minutes=1", "train.eval_every=2",
                 "train.checkpoint_every=0", out=str(out))
    assert json.loads((out / "run.json").read_text())["step"] == 10


def test_max_minutes_is_not_part_of_what_is_trained():
    assert resolve("gan").hash == resolve("gan", ["train.max_minutes=3"]).hash
    with pytest.raises(ConfigError, match="max_minutes"):
        resolve("gan", ["train.max_minutes=0"])


# ---------------------------------------------------------------- 2-D picture and GIF
def test_2d_runs_write_the_background_picture_and_a_gif(tmp_path):
    from PIL import Image

    out = tmp_path / "r"
    gankit.train("gan", *[o for o in TINY_TOY if "gif_frames" not in o], "steps=12", "train.gif_frames=4",
                 "train.sample_every=0", out=str(out))
    frames = sorted(p.name for p in (out / "frames").glob("step-*.png"))
    assert frames == ["step-00000003.png", "step-00000006.png", "step-00000009.png", "step-00000012.png"]
    with Image.open(out / "samples" / "training.gif") as gif:
        assert gif.format == "GIF" and gif.n_frames == 4
    with Image.open(out / "samples" / "final.png") as im:
        w, h = im.size
        assert w > 1.1 * h  # the colour bar of D's score beside the square plot
        # the background is shaded: many distinct colours, not a white canvas with dots
        assert len(im.convert("RGB").resize((60, 50)).getcolors(10000)) > 200


def test_the_background_is_ds_score(tmp_path):
    cfg = resolve("gan", TINY_TOY + ["steps=1", f"out={tmp_path / 'r'}"])
    tr = Trainer(cfg, prepare_run_dir(cfg, False))
    xs, ys, v = tr.gan.d_field(1.5, n=7)
    assert xs.shape == (7,) and v.shape == (7, 7)
    pt = torch.tensor([[xs[2].item(), ys[5].item()]])
    assert v[5, 2].item() == pytest.approx(tr.gan.D(pt).item(), abs=1e-5)


def test_energy_gans_shade_minus_the_energy(tmp_path):
    cfg = resolve("ebgan", ["data=ring8", "model.hidden=8", "model.code_dim=2", "steps=1",
                            f"out={tmp_path / 'r'}", "train.progress=false"])
    tr = Trainer(cfg, prepare_run_dir(cfg, False))
    x = torch.randn(5, 2)
    assert torch.allclose(tr.gan.d_score(x), -tr.gan.D(x).reshape(5, -1).mean(1))


def test_image_runs_have_no_frames(tmp_path, mnist_root):
    out = tmp_path / "r"
    gankit.train("dcgan", "steps=2", "batch_size=4", "data.size=16", f"data.root={mnist_root}", "model.g_width=4",
                 "model.d_width=4", "model.z_dim=4", "train.progress=false", out=str(out))
    assert not (out / "frames").exists() and not (out / "samples" / "training.gif").exists()


# ---------------------------------------------------------------- wiring defects
def test_per_sample_penalties_refuse_batch_norm_in_d(tmp_path, mnist_root):
    base = ["data=mnist", f"data.root={mnist_root}", "data.size=16", "model.g_width=4", "model.d_width=4",
            "model.z_dim=4", "batch_size=4", f"out={tmp_path / 'r'}", "train.progress=false"]
    for pen in ("gp", "dragan", "r1", "r2"):
        cfg = resolve("dcgan", base + [f"penalties.{pen}=1", "model.d_norm=batch"])
        with pytest.raises(ConfigError, match="batch norm"):
            GANS.get("dcgan")(cfg, _mnist_info())
    # auto picks layer norm for D when such a penalty is on (the dragan preset), batch norm otherwise
    for name, norm in (("dragan", torch.nn.GroupNorm), ("dcgan", torch.nn.BatchNorm2d)):
        gan = GANS.get(name)(resolve(name, base), _mnist_info())
        kinds = {type(m) for m in gan.D.modules()}
        assert not any(issubclass(k, torch.nn.modules.batchnorm._BatchNorm) for k in kinds) or name == "dcgan"
        assert any(issubclass(k, (norm, torch.nn.LayerNorm)) for k in kinds), (name, kinds)


def _mnist_info():
    from gankit.data import DataInfo

    return DataInfo("mnist", "images", (1, 28, 28), 10)


def test_the_dragan_penalty_is_per_sample_in_its_preset(tmp_path):
    """The gradient of D at sample i does not depend on the other samples of the batch."""
    gan = GANS.get("dragan")(resolve("dragan", ["model.d_width=4"]), _mnist_info())
    x = torch.randn(4, 1, 28, 28, requires_grad=True)
    (g_all,) = torch.autograd.grad(gan.D(x).sum(), x)
    x0 = x[:1].detach().requires_grad_(True)
    (g_one,) = torch.autograd.grad(gan.D(x0).sum(), x0)
    assert torch.allclose(g_all[:1], g_one, atol=1e-5)


def test_amp_on_the_cpu_changes_the_arithmetic(tmp_path):
    losses = {}
    for amp in (False, True):
        cfg = resolve("gan", TINY_TOY + ["steps=1", f"train.amp={str(amp).lower()}", "penalties.r1=1",
                                         f"out={tmp_path / str(amp)}", "train.deterministic=true"])
        tr = Trainer(cfg, prepare_run_dir(cfg, False))
        tr.train_step()
        losses[amp] = tr.meter.pop_means()
    assert all(torch.isfinite(torch.tensor(v)).item() for v in losses[True].values())
    assert losses[True]["d_loss"] != losses[False]["d_loss"]  # bf16: not the float32 number
    assert losses[True]["d_loss"] == pytest.approx(losses[False]["d_loss"], rel=0.05)
