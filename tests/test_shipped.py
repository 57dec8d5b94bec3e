import pytest

from cosmos_env import shipped


def test_versions_are_folders_and_the_newest_is_the_default(tmp_path, monkeypatch):
    for name in ("hopper", "hopper-v1", "halfcheetah", "walker2d-v2"):
        for part in shipped.PARTS:
            (tmp_path / name / part).mkdir(parents=True)
    (tmp_path / "reacher").mkdir()  # incomplete: no parts
    (tmp_path / "policies").mkdir()
    monkeypatch.setattr(shipped, "WEIGHTS", tmp_path)
    assert shipped.shipped_models() == {
        "halfcheetah": ("halfcheetah", 0),
        "hopper": ("hopper", 0),
        "hopper-v1": ("hopper", 1),
        "walker2d-v2": ("walker2d", 2),
    }
    assert shipped.shipped_tasks() == ["halfcheetah", "hopper", "walker2d"]
    assert shipped.weights_dir("hopper") == tmp_path / "hopper-v1"
    assert shipped.weights_dir("hopper", 0) == tmp_path / "hopper"
    assert shipped.env_id("hopper", 1) == "cosmos_env/Hopper-v1"
    assert shipped.newest_env_id("hopper") == "cosmos_env/Hopper-v1"
    with pytest.raises(FileNotFoundError, match="no shipped world model for task 'walker2d' v1"):
        shipped.weights_dir("walker2d", 1)


def test_a_world_model_is_matched_to_the_id_that_ships_its_files(tmp_path, monkeypatch):
    from worldmodels.io import file_sha256

    for name, config in (("hopper-v1", "a"), ("hopper-v2", "b")):  # v2: v1's weights, another predict config
        for part in shipped.PARTS:
            (tmp_path / name / part).mkdir(parents=True)
            (tmp_path / name / part / "model.safetensors").write_bytes(part.encode())
            (tmp_path / name / part / "config.json").write_text(config if part == "predict" else "{}")
    monkeypatch.setattr(shipped, "WEIGHTS", tmp_path)
    files = [f"{p}/{f}" for p in shipped.PARTS for f in ("model.safetensors", "config.json")]
    digests = {f: file_sha256(tmp_path / "hopper-v2" / f) for f in files}
    assert shipped.shipped_match(digests) == ("cosmos_env/Hopper-v2", [])
    assert shipped.shipped_match({**digests, "predict/config.json": "0" * 64}) == (
        "cosmos_env/Hopper-v1",  # both differ in one config: the lower version
        ["predict/config.json"],
    )
    assert shipped.shipped_match({**digests, "reason/model.safetensors": "0" * 64}) is None
    assert shipped.shipped_match({"predict/model.safetensors": digests["predict/model.safetensors"]}) is None
