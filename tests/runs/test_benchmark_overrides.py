"""The benchmarks' ``--overrides`` text: commas split overrides, except inside a list value."""
from benchmarks.common import split_overrides
from selfadaptive import load_config


def test_a_list_value_keeps_its_commas_and_loads():
    text = "data.subset=2000,optim.milestones=[15,80],optim.epochs=100,model.dropout=0"
    overrides = split_overrides(text)
    assert overrides == ["data.subset=2000", "optim.milestones=[15,80]", "optim.epochs=100", "model.dropout=0"]
    config = load_config(None, ["optim.schedule=step"] + overrides[1:3])
    assert config.optim.milestones == (15, 80) and config.optim.epochs == 100


def test_empty_and_plain_texts():
    assert split_overrides("") == []
    assert split_overrides("seed=1,,loss.name=ce") == ["seed=1", "loss.name=ce"]
