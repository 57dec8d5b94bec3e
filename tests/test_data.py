import json
import shutil

import numpy as np
import pytest

from cosmos_env.collect import collect
from cosmos_env.data import DatasetError, EpisodeDataset, WindowDataset
from cosmos_env.reference import MujocoReference


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "hopper"
    collect("hopper", steps=240, out=root, shard_steps=80, workers=1, progress=False)
    return root


def test_round_trip_replays_in_mujoco(dataset):
    ds = EpisodeDataset(dataset)
    assert ds.num_steps >= 240 and len(ds.shard_files) == 3
    seeds = np.concatenate([np.array(ds.shard(i)["episode_seeds"]) for i in range(3)])
    for i in (0, len(ds) - 1):
        ep = ds.episode(i)
        with MujocoReference(ds.meta["task"]["name"]) as ref:
            obs, _ = ref.reset(seed=int(seeds[i]))
            np.testing.assert_array_equal(ep["obs"][0], obs.astype(np.float32))
            np.testing.assert_array_equal(ep["rgb"][0], ref.render().rgb)
            for t, action in enumerate(ep["action"][:-1]):
                obs, reward, terminated, truncated, _ = ref.step(action)
                frame = ref.render()
                np.testing.assert_array_equal(ep["obs"][t + 1], obs.astype(np.float32))
                np.testing.assert_array_equal(ep["rgb"][t + 1], frame.rgb)
                np.testing.assert_array_equal(ep["segmentation"][t + 1], frame.segmentation)
                np.testing.assert_allclose(ep["depth"][t + 1], frame.depth, rtol=1e-3)
                assert ep["reward"][t] == np.float32(reward)
                assert (ep["terminated"][t], ep["truncated"][t]) == (terminated, truncated)
        assert ep["terminated"][-2] or ep["truncated"][-2]
        assert not (ep["terminated"][:-2].any() or ep["truncated"][:-2].any())
        assert not ep["action"][-1].any() and ep["reward"][-1] == 0


def test_meta_records_what_made_the_data(dataset):
    meta = EpisodeDataset(dataset).meta
    assert meta["task"]["gym_id"] == "Hopper-v5" and meta["task"]["width"] == 64
    assert meta["behaviour"]["name"] == "smooth"
    assert {"mujoco", "gymnasium", "torch"} <= set(meta["versions"])


def test_windows_never_cross_episodes(dataset):
    ds = EpisodeDataset(dataset)
    windows = WindowDataset(ds, context=3, horizon=2, fields=("obs", "action", "terminated", "truncated"))
    assert len(windows) == sum(max(0, e.rows - 5 + 1) for e in ds.episodes)
    for i in range(len(windows)):
        w = windows[i]
        episode, start = windows.windows[i]
        assert w["obs"].shape == (5, 11) and w["action"].shape == (4, 3)
        np.testing.assert_array_equal(w["obs"].numpy(), ds.episode(episode)["obs"][start : start + 5])
        # an episode may end only on the window's last transition
        done = (w["terminated"] | w["truncated"]).numpy()
        assert not done[:-1].any()
        assert w["valid"].all()


def test_padded_windows_start_from_one_frame(dataset):
    windows = WindowDataset(dataset, context=4, horizon=1, fields=("rgb", "obs", "action"), pad_start=True)
    first = windows[0]  # starts 3 rows before episode 0
    assert first["valid"].tolist() == [False, False, False, True, True]
    assert (first["rgb"][:3] == first["rgb"][3]).all()
    assert (first["action"][:3] == 0).all() and first["action"][3].abs().sum() > 0
    unpadded = WindowDataset(dataset, context=4, horizon=1, fields=("obs",))
    assert len(windows) - len(unpadded) == 3 * len(EpisodeDataset(dataset))


def test_window_arguments_are_checked(dataset):
    with pytest.raises(ValueError, match="unknown fields"):
        WindowDataset(dataset, context=2, fields=("pixels",))
    with pytest.raises(ValueError, match="context"):
        WindowDataset(dataset, context=0)


def without_checksums(copy):
    """A dataset as collected before shards had checksums (its structure is still checked)."""
    index = json.loads((copy / "index.json").read_text())
    for shard in index["shards"]:
        shard.pop("sha256")
    (copy / "index.json").write_text(json.dumps(index))
    return copy


def test_corrupt_shard_error_names_the_file(dataset, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    without_checksums(copy)
    shard = copy / "shards" / "shard-000001.safetensors"
    shard.write_bytes(shard.read_bytes()[:5000])
    ds = EpisodeDataset(copy)
    ds.episode(0)  # shard 0 is fine
    with pytest.raises(DatasetError, match="corrupt shard .*shard-000001.safetensors"):
        ds.episode(next(i for i, e in enumerate(ds.episodes) if e.shard == 1))


def test_foreign_shard_error_names_the_file(dataset, tmp_path):
    other = tmp_path / "other"
    collect("hopper", steps=80, out=other, shard_steps=80, workers=1, progress=False, seed=5)
    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    shutil.copy(other / "shards" / "shard-000000.safetensors", copy / "shards" / "shard-000000.safetensors")
    with pytest.raises(DatasetError, match="shard-000000.safetensors: SHA-256"):
        EpisodeDataset(copy).episode(0)
    with pytest.warns(UserWarning, match="no SHA-256"), pytest.raises(DatasetError, match="belongs to another dataset"):
        EpisodeDataset(without_checksums(copy)).episode(0)


def test_missing_or_unfinished_dataset(tmp_path, dataset):
    with pytest.raises(DatasetError, match="not a cosmos-env dataset"):
        EpisodeDataset(tmp_path)
    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    (copy / "index.json").unlink()
    with pytest.raises(DatasetError, match="incomplete .*run the same collect command"):
        EpisodeDataset(copy)
