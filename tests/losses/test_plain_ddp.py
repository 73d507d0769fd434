"""SelfAdaptiveLoss in a plain torch.distributed loop: two processes equal one, with no collectives
passed to the loss (it finds the default process group by itself)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from selfadaptive.losses.collectives import auto_mean, auto_rows, data_parallel, local_mean

SCRIPT = Path(__file__).with_name("plain_ddp_loop.py")
ENV = dict(os.environ, OMP_NUM_THREADS="1")


@pytest.mark.slow
def test_two_processes_equal_one_in_a_users_own_ddp_loop(tmp_path):
    one = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "one.pt")], env=ENV, capture_output=True,
                         text=True, timeout=300)
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          str(SCRIPT), str(tmp_path / "two.pt")], env=ENV, capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = (torch.load(tmp_path / f"{n}.pt", weights_only=True) for n in ("one", "two"))
    assert (a["bank"] != a["bank"].max(1, keepdim=True).values).any()        # the bank moved off one-hot rows
    assert torch.allclose(a["bank"], b["bank"], atol=1e-5, rtol=0)
    for k in a["params"]:
        assert torch.allclose(a["params"][k], b["params"][k], atol=1e-5, rtol=0), k


def test_without_a_process_group_the_defaults_are_this_process():
    assert not data_parallel()
    v, w = torch.tensor([1.0, 3.0]), torch.tensor([1.0, 3.0])
    assert auto_mean(v, w) == local_mean(v, w) == 2.5
    idx, rows = torch.tensor([4, 2]), torch.ones(2, 3)
    got_idx, got_rows, own = auto_rows(idx, rows)
    assert got_idx is idx and got_rows is rows and own == slice(None)
