import json

import numpy as np
import pytest

from cosmos_env.cli import main
from cosmos_env.collect import collect
from cosmos_env.curate import CurationSettings, curate, kept_rows
from cosmos_env.data import EpisodeDataset, WindowDataset


def episodes_of_three_kinds(rows=32):
    rng = np.random.default_rng(0)
    moving = rng.normal(size=(rows, 4, 8, 8)).cumsum(0).astype(np.float32)
    still = np.repeat(moving[:1], rows, 0) + 1e-4 * rng.normal(size=(rows, 4, 8, 8)).astype(np.float32)
    other = rng.normal(size=(rows, 4, 8, 8)).cumsum(0).astype(np.float32)
    obs = [rng.normal(size=(rows, 3)).astype(np.float32) for _ in range(2)]
    latents = [moving, still, other, moving.copy()]  # the last one repeats the first exactly
    return latents, [obs[0], obs[0][:1].repeat(rows, 0), obs[1], obs[0].copy()]


def test_static_clips_and_duplicates_are_dropped_and_counted():
    latents, obs = episodes_of_three_kinds()
    record = curate(latents, obs, "abc", CurationSettings(clip=8))
    # an episode's first clip always stays (episodes start alike by design)
    assert record["clips"] == 16 and record["dropped"] == {"static": 3, "duplicate": 3}
    assert record["kept"] == {"0": [0, 8, 16, 24], "1": [0], "2": [0, 8, 16, 24], "3": [0]}
    assert record["kept_clips"] == 10 and record["examples"]["duplicate"][0] == [3, 8]
    json.dumps(record)  # plain JSON


def test_settings_are_checked():
    with pytest.raises(ValueError, match="clip must be >= 2"):
        CurationSettings(clip=1)
    with pytest.raises(ValueError, match="static_fraction must be in"):
        CurationSettings(static_fraction=1.5)
    with pytest.raises(ValueError, match="no episode of this dataset has 64 rows"):
        curate(*episodes_of_three_kinds(rows=10), "abc", CurationSettings(clip=64))


def test_curate_command_and_training_windows(tmp_path):
    data = tmp_path / "hopper"
    collect("hopper", steps=120, out=data, workers=1, progress=False, steps_after_termination=30)
    from cosmos_env.testing import tiny_world_model

    tiny_world_model("hopper").save_pretrained(tmp_path / "wm")
    out = tmp_path / "curation.json"
    args = ["curate", f"data={data}", f"tokenizer={tmp_path}/wm/tokenizer", f"out={out}", "clip=4"]
    assert main([*args, "static_fraction=0.9"]) == 0  # about the slower half of the clips
    record = json.loads(out.read_text())
    assert record["dropped"]["static"] > 0
    assert record["kept_clips"] + record["dropped"]["static"] + record["dropped"]["duplicate"] == record["clips"]
    assert (tmp_path / "curation.png").is_file()
    episodes = EpisodeDataset(data)
    keep = kept_rows(out, episodes)
    every = WindowDataset(episodes, context=2, horizon=1)
    kept = WindowDataset(episodes, context=2, horizon=1, keep=keep)
    assert 0 < len(kept) < len(every)
    assert all(keep[e][s] for e, s in kept.windows)
    other = dict(record, dataset_id="elsewhere")
    (tmp_path / "other.json").write_text(json.dumps(other))
    with pytest.raises(ValueError, match="made for dataset elsewhere"):
        kept_rows(tmp_path / "other.json", episodes)
