"""The loss table: one file and one registration make a new loss trainable everywhere."""
import json
import subprocess
import sys
import textwrap

import pytest
import torch
from helpers import ROBUST_OVERRIDES

from selfadaptive.config import LossConfig, load_config
from selfadaptive.errors import UserError
from selfadaptive.losses import build_loss, loss_names, loss_spec
from selfadaptive.models import HEAD_OUTPUTS

TOY_LOSS = textwrap.dedent('''
    """A toy loss outside the package: label-smoothed cross-entropy, registered as "toy_smooth"."""
    import torch.nn.functional as F

    from selfadaptive.losses import IndexedLoss, register_loss


    @register_loss("toy_smooth", tasks=("classify",), defaults={"alpha": 0.1})
    class ToySmoothLoss(IndexedLoss):
        def __init__(self, smoothing, reduce=None):
            super().__init__(reduce)
            self.smoothing = smoothing

        def forward(self, logits, targets, index, epoch):
            return self.reduce(F.cross_entropy(logits.float(), targets, reduction="none",
                                               label_smoothing=self.smoothing))

        @classmethod
        def from_config(cls, options, ctx):
            return cls(options["alpha"], reduce=ctx.reduce)
''')


def test_every_builtin_loss_is_in_the_table_with_a_known_head():
    names = loss_names()
    assert {"ce", "gce", "sce", "bootstrap", "elr", "sat", "sat_selective", "gambler", "selectivenet", "sat_ssl",
            "byol", "simsiam"} <= set(names)
    for name in names:
        assert loss_spec(name).head in (*HEAD_OUTPUTS, "embedding")
    assert set(loss_names("selective")) == {"ce", "sat_selective", "gambler", "selectivenet"}
    assert set(loss_names("ssl")) == {"sat_ssl", "byol", "simsiam"}


def test_defaults_fill_only_unset_fields():
    spec = loss_spec("sat")
    assert spec.options(LossConfig(name="sat")) == {"momentum": 0.9, "start_epoch": "auto", "variant": "sce",
                                                    "auto_rule": "changes_slowdown", "auto_window": None,
                                                    "auto_min_class_ratio": 0.3, "auto_min_fit": 0.0,
                                                    "auto_max_changes": 0.4, "auto_min_concentration": 1.3}
    assert spec.options(LossConfig(name="sat", momentum=0.5))["momentum"] == 0.5
    loss = build_loss(LossConfig(name="elr"), torch.tensor([0, 1, 1]), 2)
    assert loss.momentum == 0.7 and loss.bank().shape == (3, 2)


def test_sat_takes_the_sce_form_by_default_and_the_papers_ce_form_under_robust():
    from selfadaptive.training.session import loss_config_for_task
    labels = torch.tensor([0, 1, 1, 0])
    robust = ROBUST_OVERRIDES
    assert build_loss(loss_config_for_task(load_config(None, [])), labels, 2).variant == "sce"
    assert build_loss(loss_config_for_task(load_config(None, ["loss.variant=ce"])), labels, 2).variant == "ce"
    assert loss_config_for_task(load_config(None, robust)).variant == "ce"
    assert loss_config_for_task(load_config(None, robust + ["loss.variant=sce"])).variant == "sce"
    with pytest.raises(UserError, match="loss.variant"):
        load_config(None, ["loss.variant=mse"])


def test_unknown_loss_is_a_config_error():
    with pytest.raises(UserError, match="loss.name' must be one of"):
        load_config(None, ["loss.name=toy_smooth_not_there"])


@pytest.mark.slow
def test_a_loss_in_one_file_trains_through_sat_train(tmp_path):
    (tmp_path / "toy_loss.py").write_text(TOY_LOSS)
    env = {**__import__("os").environ, "PYTHONPATH": f"{tmp_path}{__import__('os').pathsep}"
           + __import__("os").environ.get("PYTHONPATH", ""), "SAT_PLUGINS": "toy_loss"}
    out = tmp_path / "run"
    res = subprocess.run([sys.executable, "-m", "selfadaptive", "train", "--out", str(out), "loss.name=toy_smooth",
                          "loss.alpha=0.2", "optim.epochs=3", "optim.lr=0.1", "noise.kind=none", "model.base_width=32",
                          "log.progress=false"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["loss"] == "toy_smooth" and summary["epochs"] == 3 and summary["test_acc_last"] > 0.5
    # without the plugin the name is unknown: one line, exit code 2
    env.pop("SAT_PLUGINS")
    res = subprocess.run([sys.executable, "-m", "selfadaptive", "train", "--out", str(tmp_path / "other"),
                          "loss.name=toy_smooth"], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 2 and "loss.name' must be one of" in res.stderr
