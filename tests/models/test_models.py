import pytest
import torch

from selfadaptive.config import ModelConfig
from selfadaptive.errors import UserError
from selfadaptive.models import build_model, model_names


def test_registry_has_the_core_models():
    assert {"mlp", "cnn"} <= set(model_names())


@pytest.mark.parametrize("name, shape", [("mlp", (1, 8, 8)), ("mlp", (5,)), ("cnn", (3, 32, 32)), ("cnn", (1, 8, 8))])
def test_output_shapes(name, shape):
    m = build_model(ModelConfig(name=name), 7, shape, torch.zeros(shape[0]), torch.ones(shape[0]))
    assert m(torch.rand(4, *shape)).shape == (4, 7)


def test_normalisation_is_the_first_layer_and_in_state_dict():
    mean, std = torch.tensor([0.5, 0.2, 0.1]), torch.tensor([0.25, 0.5, 1.0])
    m = build_model(ModelConfig(name="cnn"), 3, (3, 8, 8), mean, std)
    x = torch.rand(2, 3, 8, 8)
    assert torch.allclose(m.normalize(x), (x - mean[:, None, None]) / std[:, None, None])
    assert "normalize.mean" in m.state_dict()


def test_unknown_model_and_bad_input_shape():
    with pytest.raises(UserError, match="unknown model.name"):
        build_model(ModelConfig(name="resnet1000"), 2, (3,), torch.zeros(3), torch.ones(3))
    with pytest.raises(UserError, match="cnn needs images"):
        build_model(ModelConfig(name="cnn"), 2, (3,), torch.zeros(3), torch.ones(3))
