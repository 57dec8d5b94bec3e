import json

import numpy as np

from cosmos_env.cli import main
from cosmos_env.data import EpisodeDataset
from worldmodels.io import memmap_safetensors

TINY = [
    "task=hopper", "task.max_episode_steps=40", "demo_episodes=1", "idm_data_steps=60", "idm_steps=3",
    "finetune_steps=2", "bc_steps=3", "starts=3", "candidates=2", "dream_steps=6", "eval_episodes=2",
    "batch_size=8", "progress=false",
]  # fmt: skip


def test_dreams_pipeline_runs_end_to_end_and_resumes(weights, tmp_path, capsys):
    out = tmp_path / "dreams"
    assert main(["dreams", f"out={out}", f"weights={weights / 'hopper'}", *TINY]) == 0
    report = json.loads((out / "report.json").read_text())
    names = ["demo actor", "bc demos", "bc demos + dreams (with reason)", "bc demos + dreams (without reason)"]
    assert sorted(report["returns"]) == sorted(names) and all(len(r) == 2 for r in report["returns"].values())
    assert set(report["gain_vs_bc_demos"]) == set(names[2:])
    dreams = {k: np.asarray(v) for k, v in memmap_safetensors(out / "dreams" / "dreams.safetensors")[0].items()}
    assert dreams["obs"].shape[:2] == (6, 7) and dreams["actions"].shape == (6, 6, 3)
    kept = dreams["kept"].reshape(3, 2)
    assert (kept.sum(1) == 1).all()  # one dream per start, the best scored
    assert (dreams["score"].reshape(3, 2)[kept] == dreams["score"].reshape(3, 2).max(1)).all()
    demos = EpisodeDataset(out / "demos")
    for name in ("with_reason", "without_reason"):  # demos + one dream per start, labelled by the IDM
        data = EpisodeDataset(out / name)
        chosen = dreams["kept"] if name == "with_reason" else np.arange(6) % 2 == 0
        assert len(data) == len(demos) + 3 and data.num_steps == demos.num_steps + dreams["steps"][chosen].sum()
        dream = data.episode(len(demos), ("obs", "action"))
        np.testing.assert_array_equal(
            dream["action"][:-1], dreams["actions"][np.flatnonzero(chosen)[0]][: len(dream["obs"]) - 1]
        )
    printed = capsys.readouterr().out
    assert "bc demos + dreams (with reason)" in printed and "vs bc demos" in printed
    before = (out / "report.json").read_text()
    assert main(["dreams", f"out={out}", f"weights={weights / 'hopper'}", *TINY]) == 0  # resumes: all phases done
    assert json.loads((out / "report.json").read_text())["returns"] == json.loads(before)["returns"]
