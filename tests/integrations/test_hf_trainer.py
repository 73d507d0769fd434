"""The Hugging Face recipe (`examples/hf_trainer.py`): with `remove_unused_columns=False` the index
reaches the SAT loss, and the same training as `sat train` ranks exactly as `sat issues`."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

if not os.environ.get("SAT_REQUIRE_TRANSFORMERS"):
    pytest.importorskip("transformers", reason="the Hugging Face recipe needs transformers and accelerate")
    pytest.importorskip("accelerate", reason="the Hugging Face recipe needs transformers and accelerate")
import torch  # noqa: E402
from helpers import SatTrainRun  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
spec = importlib.util.spec_from_file_location("hf_trainer", EXAMPLES / "hf_trainer.py")
example = importlib.util.module_from_spec(spec)
spec.loader.exec_module(example)


class Flat(torch.nn.Module):
    """The `sat train` model behind the keyword the Trainer passes (``x``)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)


@pytest.mark.parametrize("start", [2, 50])
def test_the_hugging_face_recipe_ranks_exactly_as_sat_issues(tmp_path, start):
    run = SatTrainRun(tmp_path / "sat", start)
    cfg = run.cfg
    rows = example.Rows(run.data.train.x, run.labels)
    trainer = example.build_trainer(Flat(run.initial_model), rows, run.labels, tmp_path / "hf", epochs=cfg.optim.epochs,
                                    lr=cfg.optim.lr, batch_size=cfg.data.batch_size, momentum=cfg.optim.momentum,
                                    weight_decay=cfg.optim.weight_decay, start_epoch=start, sat_momentum=0.9)
    # the trainer's batch order instead of the Trainer's own shuffle, so that both runs see the same batches
    sampler = run.batch_sampler()
    trainer.get_train_dataloader = lambda: torch.utils.data.DataLoader(
        rows, batch_sampler=sampler, collate_fn=trainer.data_collator)
    trainer.train()
    run.assert_same_ranking(trainer.issues)
    written = np.genfromtxt(tmp_path / "hf" / "label_issues.csv", delimiter=",", names=True)
    assert np.array_equal(written["index"].astype(int), run.expected.index)


def test_without_remove_unused_columns_false_the_index_never_arrives(tmp_path):
    x, labels = torch.rand(40, 64), torch.randint(0, 10, (40,))
    trainer = example.build_trainer(example.DigitsMLP(8), example.Rows(x, labels), labels, tmp_path, epochs=1)
    trainer.args.remove_unused_columns = True           # the Trainer's default
    with pytest.raises(ValueError, match="remove_unused_columns=False"):
        trainer.train()


def test_the_example_finds_the_flipped_digits(tmp_path):
    found = example.main(["--out", str(tmp_path / "demo"), "--epochs", "12"])
    assert found["auroc"] > 0.9                 # 40% flips on digits; measured 0.997 at 20 epochs
    assert (tmp_path / "demo" / "label_issues.csv").stat().st_size > 1000


def test_gradient_accumulation_keeps_the_epoch_schedule_and_each_sample_once_per_epoch(tmp_path):
    """With gradient_accumulation_steps=2 an epoch has half the optimiser steps (and, with 7
    batches, a last partial accumulation); the rate must still follow the epoch, and SAT must see
    every sample once per epoch."""
    import math

    from selfadaptive.engine.schedules import learning_rate
    x, labels = torch.rand(7 * 8, 64), torch.randint(0, 10, (7 * 8,))
    trainer = example.build_trainer(example.DigitsMLP(8), example.Rows(x, labels), labels, tmp_path, epochs=3,
                                    lr=0.1, batch_size=8, start_epoch=1, gradient_accumulation_steps=2)
    seen, rates = [], []
    loss_fn = trainer.sat_loss.forward

    def counting(logits, targets, index, epoch):
        seen.append((epoch, index.clone()))
        return loss_fn(logits, targets, index, epoch)

    class Rates(example.TrainerCallback):
        def on_pre_optimizer_step(self, args, state, control, optimizer=None, **kwargs):
            rates.append((math.floor(state.epoch or 0.0), optimizer.param_groups[0]["lr"]))

    trainer.sat_loss.forward = counting
    trainer.add_callback(Rates())
    trainer.train()
    assert sorted({e for e, _ in rates}) == [0, 1, 2] and len(rates) >= 9
    for epoch, rate in rates:
        assert rate == pytest.approx(learning_rate(epoch, 0.1, 3, "cosine"))
    for epoch in range(3):
        index = torch.cat([i for e, i in seen if e == epoch])
        assert torch.equal(index.sort().values, torch.arange(len(labels)))
