import os

import pytest
import torch

# Tests compare bit-exact results between processes; keep the thread count fixed.
torch.set_num_threads(int(os.environ.get("SAT_TEST_THREADS", "2")))


@pytest.fixture
def tiny_overrides():
    """A run of a few seconds on digits: small MLP, few epochs, SAT starting at epoch 1."""
    return ["model.base_width=64", "optim.epochs=4", "loss.start_epoch=1", "log.progress=false",
            "optim.lr=0.05", "data.batch_size=32"]
