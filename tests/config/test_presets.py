"""Every shipped preset loads and says what it claims; tests/packaging/test_installed_presets.py trains each
one step from a fresh install."""

import pytest

from selfadaptive import load_config
from selfadaptive.config.presets import preset_paths

PRESETS = preset_paths()
PAPER = sorted(n for n in PRESETS if n.startswith("paper-"))
PAPER_SELECTIVE = [n for n in PAPER if n.startswith("paper-selective-")]


def test_paper_rows_are_all_there():
    for data in ("cifar10", "cifar100"):
        for model in ("resnet34", "wrn28-10"):
            for rate in (20, 40, 60, 80):
                for loss in ("sat", "ce"):
                    assert f"paper-{data}-{model}-u{rate}-{loss}" in PRESETS


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_loads(name):
    cfg = load_config(PRESETS[name])
    if cfg.task == "selective":
        assert cfg.loss.name in ("sat_selective", "gambler", "selectivenet", "ce") and "selective" in name
        if name in PAPER_SELECTIVE:       # docs/method.md §4
            assert (cfg.model.name, cfg.optim.epochs, cfg.optim.lr, cfg.data.batch_size) == ("vgg16_bn", 300, 0.1, 128)
            assert cfg.optim.milestones == tuple(range(25, 300, 25)) and cfg.optim.gamma == 0.5
            pretrain = 150 if "cifar10" in name else 0
            if cfg.loss.name != "ce":
                assert cfg.loss.start_epoch == pretrain
            if cfg.loss.name == "gambler":
                assert cfg.loss.reward == 2.2
        return
    if cfg.task == "robust":
        assert cfg.loss.name in ("ce", "sat") and name.endswith("-trades-sat") == (cfg.loss.name == "sat")
        assert cfg.data.val_fraction > 0 and cfg.adversarial.method == "trades"
        a = cfg.adversarial
        if name.startswith("paper-robust-cifar10"):     # docs/method.md §5
            assert (cfg.model.name, cfg.optim.epochs, cfg.optim.milestones, cfg.optim.lr, cfg.optim.weight_decay,
                    cfg.data.batch_size) == ("wrn34_10", 100, (75, 90), 0.1, 2e-4, 128)
            assert (a.eps, a.step_size, a.steps, a.beta, a.test_steps, a.test_step_size) == (0.031, 0.007, 10, 6.0, 20, 0.003)
            assert cfg.data.mean == (0.0, 0.0, 0.0) and cfg.data.std == (1.0, 1.0, 1.0)    # no normalisation
            if cfg.loss.name == "sat":
                assert (cfg.loss.start_epoch, cfg.loss.momentum) == (70, 0.9)
        if name.startswith("mnist-") or name.startswith("paper-robust-mnist"):
            assert a.eps == 0.3
        if name.startswith("fmnist-"):
            assert a.eps == 0.1
        return
    if cfg.task == "ssl":
        assert cfg.loss.name == {"sat": "sat_ssl", "byol": "byol", "simsiam": "simsiam"}[name.rsplit("-", 1)[1]]
        assert cfg.noise.kind == "none"
        return
    assert cfg.loss.name in ("sat", "ce", "gce", "sce", "bootstrap", "elr")
    if name.startswith("paper-dd-"):        # docs/method.md §7, the authors' double-descent scripts
        assert (cfg.model.name, cfg.optim.name, cfg.optim.lr, cfg.optim.weight_decay, cfg.data.batch_size,
                cfg.optim.epochs, cfg.optim.schedule) == ("resnet18", "adam", 1e-4, 0.0, 128, 4000, "constant")
        assert (cfg.noise.kind, cfg.noise.rate) == ("uniform", 0.1667)
        if cfg.loss.name == "sat":
            assert (cfg.loss.start_epoch, cfg.loss.momentum) == (40, 0.9)
        return
    if name.startswith("mnist-dd-"):
        assert cfg.model.name == "mlp" and cfg.model.depth == 1 and cfg.optim.weight_decay == 0.0
        return
    if name.startswith("paper-"):
        assert cfg.optim.epochs == 200 and cfg.optim.lr == 0.1 and cfg.data.batch_size == 256
        if cfg.loss.name == "sat":
            assert (cfg.loss.start_epoch, cfg.loss.momentum) == (60, 0.9)
        return
    if cfg.loss.name == "sat":
        # issue 17: the CPU label-noise presets choose E_s during training, as `sat train` does on
        # a user's data; only the paper presets (and the double-descent figure's) fix it
        assert cfg.loss.start_epoch == "auto", name


def test_presets_name_data_sets_never_paths():
    """A preset that names a path works only on the machine that wrote it: every shipped preset
    names its data set and leaves data.root empty (the data home, $SAT_DATA_ROOT or ./data)."""
    from selfadaptive.data.home import PREPARED
    for name, path in PRESETS.items():
        cfg = load_config(path)
        assert cfg.data.root == "", f"{name}: data.root={cfg.data.root!r}"
        assert cfg.data.name in PREPARED + ("digits", "dogs_vs_cats"), name
        assert "shared" not in path.read_text(), name
        # every named set either downloads or (Kaggle, which needs a login) says what to fetch
        assert cfg.data.download or cfg.data.name in ("digits", "dogs_vs_cats"), name


@pytest.mark.parametrize("data, model, millions", [("cifar10", "resnet34", 21.28), ("cifar100", "wrn28-10", 36.54)])
def test_paper_presets_build_the_published_network_size(data, model, millions):
    import torch

    from selfadaptive.models import build_model
    cfg = load_config(PRESETS[f"paper-{data}-{model}-u40-sat"])
    k = 10 if data == "cifar10" else 100
    net = build_model(cfg.model, k, (3, 32, 32), torch.zeros(3), torch.ones(3))
    assert sum(p.numel() for p in net.parameters()) / 1e6 == pytest.approx(millions, abs=0.05)


def test_each_paper_sat_row_is_its_ce_row_plus_one_line():
    """The 32 rows of the label-noise table: a SAT row says only its loss, on top of its CE row, and
    each CE row says only its data set, rate and model on top of the shared base."""
    import dataclasses

    import yaml
    for name in PAPER:
        if not (name.startswith("paper-cifar10-") or name.startswith("paper-cifar100-")):
            continue
        tree = yaml.safe_load(PRESETS[name].read_text())
        tree.pop("description")
        if name.endswith("-sat"):
            assert tree == {"base": name[:-4] + "-ce",
                            "loss": {"name": "sat", "momentum": 0.9, "start_epoch": 60, "variant": "ce"}}
            ce, sat = load_config(PRESETS[name[:-4] + "-ce"]), load_config(PRESETS[name])
            assert ce.loss.name == "ce" and dataclasses.replace(ce, loss=sat.loss) == sat
        else:
            assert tree["base"] == "base/paper-noise" and set(tree) == {"base", "data", "noise", "model", "loss"}


def test_paper_presets_keep_the_papers_ce_form_and_the_cpu_noise_presets_take_the_default():
    """SCE is the default form for noisy labels (docs/benchmarks.md §12g); the paper-* rows, the double
    descent and the robust presets reproduce results measured with the CE form, so they name it."""
    for name, path in PRESETS.items():
        cfg = load_config(path)
        if cfg.loss.name != "sat":
            continue
        if name.startswith("paper-") or "-dd-" in name or cfg.task == "robust":
            assert cfg.loss.variant == "ce", name
        else:
            assert cfg.loss.variant is None, name       # the default: sce


def test_a_sat_preset_with_another_loss_is_the_same_recipe():
    """`--config digits-flip40-sat loss.name=ce` is the CE baseline (how every table compares):
    a loss without a start epoch ignores start_epoch=auto, as it ignores a number; a loss with
    its own (numeric) start epoch is told."""
    from selfadaptive.errors import UserError
    for loss in ("ce", "gce", "elr"):
        cfg = load_config(PRESETS["digits-flip40-sat"], [f"loss.name={loss}"])
        assert cfg.loss.name == loss and cfg.loss.start_epoch == "auto"
    with pytest.raises(UserError, match="loss.name=gambler needs a number of epochs"):
        load_config(PRESETS["fmnist-selective-cnn-gambler"], ["loss.start_epoch=auto"])
