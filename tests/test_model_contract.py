"""The contract every registered model keeps, run over the whole registry: its task's inputs and
outputs, the mirror symmetry the registry promises, a save/load round trip through safetensors,
and shipped weights that rebuild the model that names them."""

import json

import pytest
import torch
from photonormals.errors import UserError
from photonormals.inference.portrait import predict_maps, unflip_outputs
from photonormals.models import (
    HELPER_TASKS,
    TASKS,
    create_model,
    list_models,
    model_config,
    model_spec,
)
from photonormals.models.weights import DEFAULT_DIR, INDEX, load_model, read_metadata, save_weights

NAMES = list_models()


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {name: create_model(name).eval() for name in NAMES}


def inputs(task, images: int, height: int = 37, width: int = 45, batch: int = 2) -> tuple:
    """What the task's models take: one image, or a set of ``images`` and its mask."""
    if task.images == (1, 1):
        return (torch.rand(batch, 3, height, width),)
    mask = (torch.rand(batch, 1, height, width) > 0.2).float()
    return torch.rand(batch, images, 3, height, width), mask


def set_sizes(task) -> list[int]:
    """The smallest set the task takes and a larger one, where it allows one."""
    low, high = task.images
    return sorted({low, low + 3 if high is None else min(high, low + 3)})


def test_every_model_has_a_task_a_builder_and_a_unique_weights_file():
    files = [model_spec(name).weights for name in NAMES if model_spec(name).weights]
    assert len(files) == len(set(files))
    assert {model_spec(name).task for name in NAMES} <= set(TASKS + HELPER_TASKS)
    every = TASKS + HELPER_TASKS
    assert len({task.mode for task in every}) == len(every)
    with pytest.raises(UserError, match="available"):
        create_model("nope")


@pytest.mark.parametrize("name", NAMES)
def test_outputs_follow_the_task_contract(models, name):
    task = model_spec(name).task
    for images in set_sizes(task):
        with torch.inference_mode():
            out = models[name](*inputs(task, images))
        assert set(task.outputs) <= set(out)
        assert all(out[key].shape[0] == 2 for key in task.outputs if torch.is_tensor(out[key]))
        if "normal" not in task.outputs:  # a helper (the light side): no maps
            continue
        assert out["normal"].shape == (2, 3, 37, 45)  # any size, odd ones too
        assert torch.allclose(out["normal"].norm(dim=1), torch.ones(2, 37, 45), atol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip_and_unknown_options(models, name):
    config = json.loads(json.dumps(models[name].config))
    assert config["name"] == name and config == model_config(name)
    assert create_model(config).config == config
    with pytest.raises(UserError, match="no option"):
        create_model(name, no_such_option=1)


@pytest.mark.parametrize("name", NAMES)
def test_weights_round_trip_through_safetensors(models, name, tmp_path):
    path = tmp_path / f"{name}.safetensors"
    save_weights(path, models[name], steps=7)
    rebuilt = load_model(path)
    assert rebuilt.config == models[name].config and read_metadata(path)["steps"] == 7
    x = inputs(model_spec(name).task, set_sizes(model_spec(name).task)[-1], 24, 28, batch=1)
    with torch.inference_mode():
        a, b = models[name](*x), rebuilt(*x)
    for key in model_spec(name).task.outputs:
        if torch.is_tensor(a[key]):
            assert torch.allclose(a[key], b[key], atol=1e-6), key


@pytest.mark.parametrize("name", [name for name in NAMES if model_spec(name).flip_tta])
def test_flip_tta_makes_the_maps_mirror_equivariant(models, name):
    assert model_spec(name).task.images == (1, 1)  # mirroring a set would mirror its lights too
    x = torch.rand(1, 3, 32, 40, dtype=torch.float64)
    model = models[name].double()
    try:
        with torch.inference_mode():
            maps = predict_maps(model, x, flip_tta=True)
            mirrored = unflip_outputs(predict_maps(model, x.flip(-1), flip_tta=True))
    finally:
        model.float()
    for key in ("normal", "log_shading", "mask_logits"):
        assert torch.allclose(maps[key], mirrored[key], atol=1e-9), key


@pytest.mark.parametrize("name", [name for name in NAMES if model_spec(name).weights])
def test_shipped_weights_rebuild_the_model_that_names_them(name):
    path = DEFAULT_DIR / model_spec(name).weights
    assert path.is_file(), f"{path.name} is registered but not shipped"
    assert read_metadata(path)["config"]["name"] == name


def test_the_index_serves_each_mode_with_a_model_of_its_task():
    index = json.loads((DEFAULT_DIR / INDEX).read_text())
    for task in TASKS + HELPER_TASKS:
        served = read_metadata(DEFAULT_DIR / index[task.mode])["config"]["name"]
        assert model_spec(served).task == task
