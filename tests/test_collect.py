import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from cosmos_env.behaviour import BehaviourConfig
from cosmos_env.collect import collect
from cosmos_env.data import DatasetError, EpisodeDataset

FIELDS = ("rgb", "depth", "segmentation", "obs", "qpos", "action", "reward", "terminated")


def assert_same_data(a, b):
    a, b = EpisodeDataset(a), EpisodeDataset(b)
    assert len(a) == len(b) and a.num_steps == b.num_steps
    for i in range(len(a)):
        ea, eb = a.episode(i, FIELDS), b.episode(i, FIELDS)
        for f in FIELDS:
            np.testing.assert_array_equal(ea[f], eb[f], err_msg=f"episode {i} field {f}")


def test_killed_collection_resumes_to_the_same_dataset(tmp_path):
    args = ["task=hopper", "steps=600", "shard_steps=100", "workers=1", "progress=false"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cosmos_env", "collect", *args, f"out={killed}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while not (killed / "shards" / "shard-000001.safetensors").exists():
        assert proc.poll() is None and time.time() < deadline, "collection ended before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "index.json").exists()
    visible = [p.name for p in (killed / "shards").glob("shard-*.safetensors")]
    assert 2 <= len(visible) < 6
    with pytest.raises(DatasetError, match="incomplete"):
        EpisodeDataset(killed)

    summary = collect("hopper", 600, killed, shard_steps=100, workers=1, progress=False)
    assert summary.collected_steps < summary.steps  # the shards on disk were kept
    fresh = tmp_path / "fresh"
    collect("hopper", 600, fresh, shard_steps=100, workers=1, progress=False)
    assert_same_data(killed, fresh)


def test_a_damaged_shard_is_refused_and_collected_again(tmp_path):
    collect("hopper", 200, tmp_path, shard_steps=100, workers=1, progress=False)
    shard = tmp_path / "shards" / "shard-000001.safetensors"
    data = bytearray(shard.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 65536] = bytes(255 - b for b in data[middle : middle + 65536])
    shard.write_bytes(bytes(data))
    episodes = EpisodeDataset(tmp_path)
    with pytest.raises(DatasetError, match="shard-000001.safetensors: SHA-256 .* re-collect it"):
        episodes.episode(len(episodes) - 1)
    summary = collect("hopper", 200, tmp_path, shard_steps=100, workers=1, progress=False)
    assert summary.recollected == 1 and "re-collected 1 damaged shard" in str(summary)
    assert len(EpisodeDataset(tmp_path).episode(len(episodes) - 1)["rgb"]) > 1  # whole again


def test_parallel_collection_matches_serial(tmp_path):
    collect("hopper", 200, tmp_path / "serial", shard_steps=100, workers=1, progress=False)
    collect("hopper", 200, tmp_path / "parallel", shard_steps=100, workers=2, progress=False)
    assert_same_data(tmp_path / "serial", tmp_path / "parallel")


def test_extend_a_finished_dataset(tmp_path):
    first = collect("inverted_pendulum", 100, tmp_path / "d", shard_steps=50, workers=1, progress=False)
    more = collect("inverted_pendulum", 200, tmp_path / "d", shard_steps=50, workers=1, progress=False)
    assert more.steps > first.steps and 0 < more.collected_steps < more.steps
    assert len(EpisodeDataset(tmp_path / "d").shard_files) == 4


def test_resume_with_other_settings_is_refused(tmp_path):
    collect("inverted_pendulum", 50, tmp_path / "d", workers=1, progress=False)
    with pytest.raises(DatasetError, match="another seed"):
        collect("inverted_pendulum", 50, tmp_path / "d", workers=1, progress=False, seed=1)
    with pytest.raises(DatasetError, match="another task"):
        collect("hopper", 50, tmp_path / "d", workers=1, progress=False)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="not a cosmos-env dataset"):
        collect("hopper", 50, tmp_path / "junk", workers=1, progress=False)


def constant_policy(obs):
    return np.full(3, 0.5, np.float32)


@pytest.mark.parametrize("behaviour", [BehaviourConfig("random"), BehaviourConfig("repeat", repeat=5), constant_policy])
def test_behaviour_policies(tmp_path, behaviour):
    collect("hopper", 60, tmp_path / "d", behaviour=behaviour, workers=1, progress=False)
    ds = EpisodeDataset(tmp_path / "d")
    actions = ds.episode(0)["action"][:-1]
    assert np.all(np.abs(actions) <= 1)
    if behaviour is constant_policy:
        assert np.all(actions == 0.5) and ds.meta["behaviour"].startswith("callable:")
    elif behaviour.name == "repeat":
        assert np.all(actions[:5] == actions[0]) and not np.all(actions[5] == actions[0])


def test_non_finite_behaviour_action_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="non-finite action"):
        collect("hopper", 10, tmp_path / "d", behaviour=lambda obs: np.full(3, np.nan), workers=1, progress=False)


def test_steps_after_termination_continue_the_episode(tmp_path):
    collect("hopper", 200, tmp_path / "d", workers=1, progress=False, steps_after_termination=30)
    ds = EpisodeDataset(tmp_path / "d")
    for i in range(len(ds)):
        ep = ds.episode(i, ("terminated", "truncated"))
        term = ep["terminated"][:-1]
        if term.any():
            first = int(np.argmax(term))
            assert term[first:].all() and len(term) - first == 31  # the terminal step + 30 more
    assert ds.meta["steps_after_termination"] == 30


def test_workers_die_with_a_killed_parent(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    def children(pid):
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = open(f"/proc/{entry}/stat").read()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
        return found

    def alive(pid):
        try:
            return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    argv = [
        "collect",
        "task=hopper",
        "steps=20000",
        "shard_steps=500",
        "workers=2",
        f"out={tmp_path}",
        "progress=false",
    ]
    parent = subprocess.Popen([sys.executable, "-m", "cosmos_env", *argv])
    deadline, workers = time.time() + 120, []
    while len(workers) < 2 and time.time() < deadline:  # the pool's workers (beyond the resource tracker)
        workers = [p for p in children(parent.pid) if "spawn_main" in open(f"/proc/{p}/cmdline").read()]
        time.sleep(0.2)
    assert workers, "no worker processes started"
    time.sleep(0.5)  # some may still be starting: they must find out too
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 10
    while any(alive(p) for p in workers) and time.time() < deadline:
        time.sleep(0.2)
    assert not any(alive(p) for p in workers), "workers outlived their killed parent"


def test_mixed_behaviour_records_its_ladder(tmp_path):
    import torch

    from policies.actor import ActorConfig, MLPActor

    for i in range(2):
        torch.manual_seed(i)
        MLPActor(ActorConfig(11, 3, (8,), (-1.0,) * 3, (1.0,) * 3)).save(tmp_path / "ladder" / f"step-{i}")
    mix = BehaviourConfig("mix", ladder=str(tmp_path / "ladder"), switch_probability=1.0)
    collect("hopper", 120, tmp_path / "d", behaviour=mix, workers=1, progress=False)
    meta = EpisodeDataset(tmp_path / "d").meta["behaviour"]
    assert meta["name"] == "mix" and meta["noise_levels"] == [0.0, 0.1, 0.3]
    assert sorted(meta["ladder_sha256"]) == ["step-0", "step-1"]
    plain = collect("hopper", 20, tmp_path / "plain", workers=1, progress=False)
    assert "ladder" not in EpisodeDataset(plain.root).meta["behaviour"]  # older datasets still resume
    with pytest.raises(ValueError, match="no actor directories"):
        collect("hopper", 20, tmp_path / "e", behaviour=BehaviourConfig("mix", ladder=str(tmp_path)), workers=1)
