import json

import pytest
import torch

from worldmodels.checkpoint import CheckpointError, from_pretrained, save_pretrained
from worldmodels.predict import PREDICT_SIZES, PredictConfig, PredictModel
from worldmodels.tokenizer import Tokenizer, TokenizerConfig


def test_round_trip_keeps_weights_buffers_and_config(tmp_path):
    model = PredictModel(PredictConfig(obs_dim=5, action_dim=2, **PREDICT_SIZES["tiny"]))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_()
        model.obs_std.fill_(3.0)
    save_pretrained(model, tmp_path / "m", extra={"task": "hopper"})
    loaded = from_pretrained(tmp_path / "m", expected_class="PredictModel")
    assert loaded.config == model.config
    for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)
    assert json.loads((tmp_path / "m" / "config.json").read_text())["extra"] == {"task": "hopper"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temp directories left


def test_tuple_fields_survive_json(tmp_path):
    save_pretrained(
        Tokenizer(TokenizerConfig(channels=(8, 16, 16), latent_channels=3, fsq_levels=(5, 5, 4))), tmp_path / "t"
    )
    config = from_pretrained(tmp_path / "t").config
    assert config.channels == (8, 16, 16) and config.fsq_levels == (5, 5, 4)


def test_overwrite_replaces_the_directory(tmp_path):
    save_pretrained(Tokenizer(TokenizerConfig(channels=(8, 16, 16))), tmp_path / "t")
    save_pretrained(Tokenizer(TokenizerConfig(channels=(8, 8, 8))), tmp_path / "t")
    assert from_pretrained(tmp_path / "t").config.channels == (8, 8, 8)


@pytest.fixture
def saved(tmp_path):
    return save_pretrained(Tokenizer(TokenizerConfig(channels=(8, 16, 16), latent_channels=4)), tmp_path / "t")


def edit_config(path, fn):
    config = json.loads((path / "config.json").read_text())
    fn(config)
    (path / "config.json").write_text(json.dumps(config))


def test_unknown_and_missing_fields_are_named(saved):
    edit_config(saved, lambda c: c["config"].update(widht=3))
    with pytest.raises(CheckpointError, match=r"unknown TokenizerConfig field\(s\) \['widht'\]"):
        from_pretrained(saved)


def test_malformed_json_and_mistyped_fields_are_named(saved):
    edit_config(saved, lambda c: c["config"].update(latent_channels="4"))
    with pytest.raises(CheckpointError, match=r"config.json: field 'latent_channels' of TokenizerConfig must be int"):
        from_pretrained(saved)
    edit_config(saved, lambda c: c["config"].update(latent_channels=True))
    with pytest.raises(CheckpointError, match="'latent_channels'"):
        from_pretrained(saved)
    (saved / "config.json").write_text('{"format": ')
    with pytest.raises(CheckpointError, match=r"t/config.json: not valid JSON"):
        from_pretrained(saved)


def test_shape_mismatch_is_named(saved):
    edit_config(saved, lambda c: c["config"].update(latent_channels=6))
    with pytest.raises(
        CheckpointError, match=r"tensor '[\w.]+' has shape \(16, 4, 3, 3\), the model expects \(16, 6, 3, 3\)"
    ):
        from_pretrained(saved)


def test_wrong_class_version_and_missing_files(saved, tmp_path):
    with pytest.raises(CheckpointError, match="holds a Tokenizer, expected a PredictModel"):
        from_pretrained(saved, expected_class="PredictModel")
    edit_config(saved, lambda c: c.update(version=99))
    with pytest.raises(CheckpointError, match="format version 99"):
        from_pretrained(saved)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no config.json"):
        from_pretrained(tmp_path / "empty")
    with pytest.raises(CheckpointError, match="no model directory here"):
        from_pretrained(tmp_path / "nowhere")


def test_version_1_predict_models_still_load(tmp_path):
    model = PredictModel(PredictConfig(obs_dim=5, action_dim=2, **PREDICT_SIZES["tiny"]))
    path = save_pretrained(model, tmp_path / "m")
    edit_config(path, lambda c: c.update(version=1, config={**c["config"], "obs_first": True}))  # a retired field
    assert from_pretrained(path).config == model.config


def test_hub_id_offline_gives_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError, match="nvidia/Cosmos-Predict2-2B.*(could not be fetched|not installed)"):
        from_pretrained("nvidia/Cosmos-Predict2-2B")


def flip_bytes(path, count=4096):
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + count] = bytes(255 - b for b in data[middle : middle + count])
    path.write_bytes(bytes(data))


def test_flipped_bytes_are_refused_and_old_files_warn(saved):
    config = json.loads((saved / "config.json").read_text())
    assert len(config["sha256"]["model.safetensors"]) == 64
    flip_bytes(saved / "model.safetensors", 64)
    with pytest.raises(CheckpointError, match=r"t/model.safetensors: SHA-256 .* damaged; re-download or re-export"):
        from_pretrained(saved)
    edit_config(saved, lambda c: c.pop("sha256"))  # as saved before checksums: loads, with a warning
    with pytest.warns(UserWarning, match="no SHA-256 recorded"):
        from_pretrained(saved)
