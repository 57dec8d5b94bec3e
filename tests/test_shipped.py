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
    with pytest.raises(FileNotFoundError, match="no shipped world model for task 'walker2d' v1"):
        shipped.weights_dir("walker2d", 1)
