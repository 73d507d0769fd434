"""Every numeric field of every config dataclass has a range, and a negative, NaN, infinite or huge
value of any of them is one line and exit code 2 from `sat train`, before any work."""
import dataclasses
import typing

import pytest

from selfadaptive.cli import main
from selfadaptive.config import Config
from selfadaptive.config.ranges import RANGES


def numeric_fields(cls=Config, prefix=""):
    """(dotted key, is_float) of every int/float field, Optional and tuple ones included."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            yield from numeric_fields(tp, prefix + f.name + ".")
            continue
        args = typing.get_args(tp) or (tp,)
        inner = [a for a in args if a is not type(None) and a is not Ellipsis]
        if any(a in (int, float) for a in inner):
            yield prefix + f.name, float in inner


FIELDS = list(numeric_fields())
BAD = {"negative": "-1", "nan": ".nan", "inf": ".inf", "huge": "1e30"}


def test_the_walk_finds_the_fields_and_every_one_has_a_range():
    keys = [k for k, _ in FIELDS]
    assert len(keys) > 50 and {"seed", "optim.lr", "loss.q", "data.mean", "optim.milestones"} <= set(keys)
    assert sorted(set(keys) - set(RANGES)) == []
    assert sorted(set(RANGES) - set(keys)) == []          # no stale entries either


#: keys checked together with another, which is given a valid value so that only the range can object
COMPANION = {"data.mean": ["data.std=[1.0]"], "data.std": ["data.mean=[0.0]"]}


@pytest.mark.parametrize("key", [k for k, _ in FIELDS])
def test_every_bad_value_is_one_line_and_exit_2(key, capsys, tmp_path):
    tried = 0
    for name, raw in BAD.items():
        if name == "negative" and RANGES[key].low < 0:
            continue                                        # negative values are allowed here (data.mean)
        if name == "huge" and RANGES[key].high == float("inf"):
            continue                                        # any finite value is allowed here (optim.lr)
        value = f"[{raw}]" if key in ("data.mean", "data.std", "optim.milestones") else raw
        code = main(["train", "--out", str(tmp_path / "never"), f"{key}={value}", *COMPANION.get(key, [])])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2, (key, name)
        assert len(err) == 1 and err[0].startswith("sat: error:") and key in err[0], (key, name, err)
        assert not (tmp_path / "never").exists()             # refused before any work
        tried += 1
    assert tried >= 3
