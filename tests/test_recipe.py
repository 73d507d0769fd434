"""The shipped default recipe does what the README promises, on seed 0 (3 seeds: benchmarks/)."""
from selfadaptive import load_config, train
from selfadaptive.presets import resolve_config

DEFAULT = resolve_config("digits-flip40-sat")


def test_default_sat_beats_ce_memorisation_on_digits(tmp_path):
    ce = train(load_config(DEFAULT, ["loss.name=ce", "log.progress=false"]), tmp_path / "ce", quiet=True)
    sat = train(load_config(DEFAULT, ["log.progress=false"]), tmp_path / "sat", quiet=True)
    # CE memorises the flipped labels: its best epoch comes early and its last is far below it
    assert ce["best_epoch"] < 50 and ce["test_acc_best"] - ce["test_acc_last"] > 0.10
    # SAT's last epoch is within 1 point of CE's best-on-test epoch, and 10+ points over CE's last
    assert sat["test_acc_last"] >= ce["test_acc_best"] - 0.01
    assert sat["test_acc_last"] >= ce["test_acc_last"] + 0.10
    # its targets recover most of the wrong labels
    assert sat["target_recovery"] > 0.85
