import pytest

from selfadaptive.config import Config, load_config, save_config, to_dict
from selfadaptive.errors import UserError


def test_the_default_preset_is_the_digits_sat_recipe():
    from selfadaptive.config import DEFAULT_PRESET
    from selfadaptive.config.presets import resolve_config
    cfg = load_config(resolve_config(DEFAULT_PRESET))
    assert (cfg.data.name, cfg.noise.kind, cfg.noise.rate, cfg.loss.name) == ("digits", "flip", 0.4, "sat")
    assert cfg.loss.start_epoch == 10 and cfg.model.base_width == 512


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
    assert cfg.loss.variant == "ce"        # untouched defaults survive a partial section


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
