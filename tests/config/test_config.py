import pytest

from selfadaptive.config import Config, load_config, save_config, to_dict
from selfadaptive.errors import UserError


def test_the_default_preset_is_the_digits_sat_recipe():
    from selfadaptive.config import DEFAULT_PRESET
    from selfadaptive.config.presets import resolve_config
    cfg = load_config(resolve_config(DEFAULT_PRESET))
    assert (cfg.data.name, cfg.noise.kind, cfg.noise.rate, cfg.loss.name) == ("digits", "flip", 0.4, "sat")
    assert cfg.loss.start_epoch == "auto" and cfg.model.base_width == 512   # issue 17: auto outside paper presets


def test_dataclass_defaults_leave_model_and_method_defaults_alone():
    # a preset that names only a model must get that model's own width, and SAT the paper's E_s
    cfg = load_config()
    assert cfg.model.base_width == 0 and cfg.loss.start_epoch is None


def test_yaml_then_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("optim: {lr: 0.5, epochs: 3}\nseed: 4\n")
    cfg = load_config(f, ["optim.lr=0.05", "loss.name=ce", "optim.milestones=[2, 5]", "noise.seed=null"])
    assert cfg.optim.lr == 0.05 and cfg.optim.epochs == 3 and cfg.seed == 4
    assert cfg.loss.name == "ce" and cfg.optim.milestones == (2, 5) and cfg.noise.seed is None
    assert cfg.loss.variant is None and cfg.loss.auto_min_class_ratio == 0.3    # untouched defaults survive


def test_int_is_accepted_for_float_but_not_the_reverse():
    assert load_config(None, ["optim.lr=1"]).optim.lr == 1.0
    assert load_config(None, ["optim.lr=1e-3"]).optim.lr == 1e-3     # YAML 1.1 reads this as a string
    with pytest.raises(UserError, match="optim.epochs"):
        load_config(None, ["optim.epochs=2.5"])


@pytest.mark.parametrize("override, needle", [
    ("optim.lrr=0.1", "unknown config key 'optim.lrr'"),
    ("bogus=1", "unknown config key 'bogus'"),
    ("seed=abc", "'seed' expects int"),
    ("log.progress=maybe", "'log.progress' expects bool"),
    ("noise.rate=1.5", "noise.rate must be in [0, 1]"),
    ("noise.rate=-0.1", "noise.rate must be in [0, 1]"),
    ("loss.name=mse", "loss.name' must be one of"),
    ("optim", "must look like key=value"),
    ("data=3", "section 'data' must be a mapping"),
    ("loss.reference_width=64", "needs an explicit model.base_width"),
    ("loss.name=ce loss.reference_width=64", "rescales SAT's schedule"),
    # the automatic start's checks hold when auto is the loss's default, not only when it is set
    ("loss.reference_width=32 model.base_width=64", "loss.start_epoch=auto (sat's default) and loss.reference_width"),
    ("loss.auto_rule=noisy_val_plateau", "reads a validation split; set data.val_fraction"),
    ("task=ssl loss.name=sat_ssl noise.kind=none loss.auto_rule=prediction_changes",
     "sat_ssl's automatic start takes lr_drop"),
])
def test_bad_values_are_user_errors(override, needle):
    with pytest.raises(UserError) as e:
        load_config(None, override.split())
    assert needle in str(e.value)
    assert "\n" not in str(e.value)


def test_unknown_key_in_yaml(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("model: {name: mlp, widht: 3}\n")
    with pytest.raises(UserError, match="model.widht"):
        load_config(f)


def test_round_trip_through_saved_yaml(tmp_path):
    cfg = load_config(None, ["optim.milestones=[3]", "loss.momentum=0.8", "seed=7"])
    save_config(cfg, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == cfg
    assert to_dict(cfg)["optim"]["milestones"] == [3]


def test_config_is_frozen():
    with pytest.raises(Exception):
        Config().seed = 3


def test_sat_config_prints_every_key_with_its_help_and_default():
    import dataclasses

    from test_cli import assert_one_line_error, sat

    from selfadaptive.config.loading import to_dict
    from selfadaptive.config.schema import Config
    r = sat("config", "data.name=csv", "data.root=t.csv", "optim.lr=0.05")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    for f in dataclasses.fields(Config):
        value = to_dict(Config())[f.name]
        keys = [f"  {k}:" for k in value] if isinstance(value, dict) else [f"{f.name}:"]
        assert all(any(line.startswith(k) for line in lines) for k in keys), f.name
    assert any(line.startswith("  lr: 0.05") and "(default: 0.01)" in line for line in lines)
    # your own data starts from the library defaults: no injected noise, said with the help text
    assert any(line.startswith("  kind: none") and "never corrupted" in line for line in lines)
    assert_one_line_error(sat("config", "optim.lrr=1"), "unknown config key 'optim.lrr'")


def test_a_config_inherits_from_its_base_file_or_preset(tmp_path):
    (tmp_path / "common.yaml").write_text("description: shared\noptim: {lr: 0.2, epochs: 7}\nnoise: {kind: uniform, rate: 0.3}\n")
    (tmp_path / "mid.yaml").write_text("base: common\noptim: {epochs: 9}\n")
    (tmp_path / "run.yaml").write_text("base: mid.yaml\nnoise: {rate: 0.5}\n")
    cfg = load_config(tmp_path / "run.yaml", ["optim.epochs=11"])
    # the child wins key by key, mappings merge, overrides win last
    assert (cfg.optim.lr, cfg.optim.epochs, cfg.noise.kind, cfg.noise.rate) == (0.2, 11, "uniform", 0.5)
    assert load_config(tmp_path / "mid.yaml").optim.epochs == 9
    # a shipped preset's name works as a base from anywhere
    (tmp_path / "paper.yaml").write_text("base: paper-cifar10-resnet34-u40-sat\noptim: {epochs: 3}\n")
    cfg = load_config(tmp_path / "paper.yaml")
    assert (cfg.loss.name, cfg.loss.start_epoch, cfg.noise.rate, cfg.optim.epochs, cfg.model.name) == \
        ("sat", 60, 0.4, 3, "resnet34")
    # what a run saves is resolved: no base left, and it loads alone
    save_config(cfg, tmp_path / "saved.yaml")
    assert "\nbase:" not in "\n" + (tmp_path / "saved.yaml").read_text() and load_config(tmp_path / "saved.yaml") == cfg


@pytest.mark.parametrize("files, needle", [
    ({"a.yaml": "base: b\n", "b.yaml": "base: a.yaml\n"}, "inherit in a cycle: a.yaml -> b.yaml -> a.yaml"),
    ({"a.yaml": "base: a\n"}, "inherit in a cycle"),
    ({"a.yaml": "base: nowhere\n"}, "its base 'nowhere' is neither a file beside it nor a preset"),
    ({"a.yaml": "base: [1, 2]\n"}, "base must name a config file or preset"),
    ({"a.yaml": "base: b\n", "b.yaml": "optim: {nosuch: 1}\n"}, "nosuch"),
])
def test_a_bad_base_is_one_clear_error(tmp_path, files, needle):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(UserError, match=needle.replace("(", r"\(").replace("[", r"\[")):
        load_config(tmp_path / "a.yaml")
