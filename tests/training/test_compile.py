"""compile=true: torch.compile'd training steps give the eager answer, and checkpoints stay eager-loadable."""
import torch

from selfadaptive.config import load_config
from selfadaptive.training.loop import train


def test_compiled_training_matches_eager(tmp_path, tiny_overrides):
    over = tiny_overrides + ["optim.epochs=1", "loss.start_epoch=0"]
    train(load_config(None, over), tmp_path / "eager", quiet=True)
    train(load_config(None, over + ["compile=true"]), tmp_path / "compiled", quiet=True)
    a = torch.load(tmp_path / "eager" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "compiled" / "checkpoint.pt", weights_only=True)
    assert a["model"].keys() == b["model"].keys()          # no "_orig_mod." prefixes
    for k in a["model"]:
        assert torch.allclose(a["model"][k], b["model"][k], atol=1e-5), k
    assert torch.allclose(a["loss"]["soft_targets"], b["loss"]["soft_targets"], atol=1e-5)
