"""The examples run end to end as subprocesses with tiny budgets, on tiny random world
models (what they print is meaningless here; the path is real)."""

import json

import pytest

from cosmos_env.shipped import TRANSFER_HEADING
from tests.scripts import run_script
from worldmodels.checkpoint import CheckpointError


def run(script, *args, timeout=300):
    return run_script(f"examples/{script}", *args, timeout=timeout)


def load_example(script):
    """An example script imported as a module (its functions tested in-process)."""
    import importlib.util

    from tests.scripts import ROOT

    spec = importlib.util.spec_from_file_location(script[:-3], ROOT / "examples" / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gym_make(weights):
    stdout = run("gym_make.py", "--weights", str(weights / "hopper"), "--steps", "3", "--num-envs", "4")
    assert "same start: True" in stdout and "render(): (64, 64, 3) uint8" in stdout
    assert "make_vec: 4 envs x 20 steps" in stdout


@pytest.mark.parametrize("script", ["sb3_ppo_imagined.py", "torchrl_ppo_imagined.py"])
def test_ppo_in_imagination(script, weights):
    budget = (
        ["--timesteps", "128", "--n-steps", "16"]
        if script.startswith("sb3")
        else ["--frames", "128", "--steps-per-batch", "16"]
    )
    stdout = run(
        script,
        "--weights",
        str(weights / "hopper"),
        "--num-envs",
        "4",
        *budget,
        "--eval-episodes",
        "1",
        "--max-episode-steps",
        "10",
    )
    assert "PPO: 128 imagined steps" in stdout
    assert "return over 1 episodes: imagined" in stdout and "MuJoCo" in stdout


def test_own_task_from_data_to_gym_make(tmp_path):
    stdout = run("own_task.py", "--tiny", "--root", str(tmp_path))
    for command in (
        "collect task=walker2d",
        "stage=tokenizer",
        "stage=predict",
        "stage=reason",
        "export task=walker2d",
    ):
        assert command in stdout
    assert "cosmos_env/WorldModel-v0 on Walker2d-v5: starts where MuJoCo does: True" in stdout
    assert (tmp_path / "world_model" / "reason" / "model.safetensors").is_file()


def test_policy_ladder_trains_resumes_and_ships(tmp_path):
    args = ["--task", "hopper", "--out", str(tmp_path / "run"), "--stages", "0", "300", "--chunk", "150"]
    args += ["--learning-starts", "100"]
    stdout = run("train_policy_ladder.py", *args, "--train-steps", "150")
    assert "hopper seed 0: 150 steps" in stdout and not (tmp_path / "run" / "step-00000300").exists()
    stdout = run("train_policy_ladder.py", *args, "--ship", "seed-x", "--ship-root", str(tmp_path / "ship"))
    assert "hopper seed 0: 300 steps" in stdout and "150 steps" not in stdout  # resumed, not restarted
    ladder = json.loads((tmp_path / "ship" / "seed-x" / "ladder.json").read_text())
    assert [s["policy"] for s in ladder["stages"]] == ["step-00000000", "step-00000300"]
    assert ladder["best"] in ("step-00000000", "step-00000300")
    assert (tmp_path / "ship" / "seed-x" / "step-00000300" / "actor.safetensors").is_file()


def test_package_weights_describes_a_new_decoder_and_the_runs_after_it():
    package = load_example("package_weights.py")
    new = {"step": 4000, "horizon": 0, "decoder_trained_on": "real latents", "new_decoder": True}
    new |= {"decoder_channels": [8, 16, 32], "train_seconds": 600.0, "device": "CPU"}
    continued = {"step": 800, "horizon": 32, "decoder_trained_on": "runs/p/model", "age_buckets": 0}
    assert package.decoder_row(new).startswith("| new decoder (widths [8, 16, 32]), on real latents | 4000 | 10 min")
    assert package.decoder_row(continued).startswith("| decoder, on imagined latents (horizon 32) | 800 |")
    note = package.decoder_note([new, continued])
    assert (
        "narrower one (stage widths [8, 16, 32])" in note
        and "continued on Predict's imagined latents, 800 steps" in note
    )
    adversarial = {"step": 1600, "horizon": 0, "decoder_trained_on": "real latents", "adversarial": 2.0}
    adversarial |= {"train_seconds": 60.0, "device": "CPU"}
    assert package.decoder_row(adversarial).startswith(
        "| decoder, on real latents, patch discriminator (weight 2.0) | 1600 |"
    )
    note = package.decoder_note([new, adversarial])
    assert "narrower one" in note and "continued for 1600 steps on real latents against a patch discriminator" in note
    assert "imagined latents" not in note and note.count("are unchanged") == 1
    assert package.decoder_note([]) == ""


def test_package_weights_finds_the_card_that_measured_the_same_file(tmp_path):
    package = load_example("package_weights.py")
    shipped = package.ROOT / "cosmos_env" / "weights"
    card = package.card_with_same_file(shipped / "hopper-v5", "reason", "## Reason")
    assert card is not None and card.parent.name == "hopper-v3"  # Hopper-v3's critic, shipped again in v4 and v5
    (tmp_path / "reason").mkdir()
    (tmp_path / "reason" / "model.safetensors").write_bytes(b"no shipped folder has these bytes")
    assert package.card_with_same_file(tmp_path, "reason", "## Reason") is None


def test_add_transfer_ships_transfer_and_writes_its_card_section(weights, tmp_path):
    import shutil

    from cosmos_env.testing import tiny_world_model

    shutil.copytree(weights / "hopper", tmp_path / "wm")
    (tmp_path / "wm" / "MODEL_CARD.md").write_text("# card\n\n## Known limits\n- none measured\n")
    tiny_world_model("hopper", transfer=True).save_pretrained(tmp_path / "tiny")
    args = ["--weights", str(tmp_path / "wm"), "--transfer", str(tmp_path / "tiny" / "transfer"), "--quick"]
    notes = tmp_path / "notes.md"
    notes.write_text("- Looked at the strip: random weights draw noise.\n")
    run("add_transfer.py", *args, "--notes", str(notes))
    card = (tmp_path / "wm" / "MODEL_CARD.md").read_text()
    assert card.index("## Known limits") < card.index(TRANSFER_HEADING)
    assert "| transfer |" in card and "random weights draw noise" in card
    add_transfer = load_example("add_transfer.py")
    add_transfer.write_section(tmp_path / "wm" / "MODEL_CARD.md", f"{TRANSFER_HEADING}\nagain\n")
    card = (tmp_path / "wm" / "MODEL_CARD.md").read_text()  # a second section replaces the first
    assert card.count(TRANSFER_HEADING) == 1 and card.endswith("again\n")
    assert "## Known limits\n- none measured" in card
    # package_weights' unmeasured section is the one add_transfer replaces once measured
    unmeasured = load_example("package_weights.py").transfer_text(tmp_path / "wm")
    assert "transfer_bench.py" in unmeasured
    (tmp_path / "wm" / "MODEL_CARD.md").write_text("# card\n" + unmeasured + "\n## Known limits\n- none\n")
    add_transfer.write_section(tmp_path / "wm" / "MODEL_CARD.md", f"{TRANSFER_HEADING}\nmeasured\n")
    card = (tmp_path / "wm" / "MODEL_CARD.md").read_text()
    assert card.count(TRANSFER_HEADING) == 1 and "transfer_bench.py" not in card and card.endswith("measured\n")
    for name in ("transfer.json", "transfer_grid.png", "transfer_strip.png", "transfer/model.safetensors"):
        assert (tmp_path / "wm" / name).is_file()
    with pytest.raises(AssertionError, match="no trained Transfer model"):
        run("add_transfer.py", "--weights", str(tmp_path / "wm"), "--transfer", str(tmp_path / "none"))
    shipped = (tmp_path / "wm" / "transfer" / "model.safetensors").read_bytes()
    with pytest.raises(
        CheckpointError, match="expected a TransferModel"
    ):  # not a Transfer model: the shipped one stays
        add_transfer.install(tmp_path / "tiny" / "predict", tmp_path / "wm")
    assert (tmp_path / "wm" / "transfer" / "model.safetensors").read_bytes() == shipped
    assert not (tmp_path / "wm" / "transfer.tmp").exists()


def test_actors_across_worlds_prints_a_row_per_actor(weights, tmp_path):
    ladder = "cosmos_env/weights/policies/hopper/seed-a"
    out = tmp_path / "cross.json"
    stdout = run(
        "actors_across_worlds.py",
        "--actor", f"first={ladder}/step-00000000",
        "--actor", f"last={ladder}/step-00100000",
        "--world", f"tiny={weights / 'hopper'}",
        "--seeds", "2", "--steps", "4", "--json", str(out),
    )  # fmt: skip
    assert "| actor | MuJoCo | tiny |" in stdout and "| first |" in stdout and "| last |" in stdout
    rows = json.loads(out.read_text())["rows"]
    assert set(rows) == {"first", "last"} and len(rows["last"]["tiny"]["per_seed"]) == 2
    with pytest.raises(AssertionError, match="NAME=PATH"):
        run("actors_across_worlds.py", "--actor", "nodir", "--world", f"tiny={weights / 'hopper'}")


def test_why_episodes_end(weights, tmp_path):
    stdout = run(
        "why_episodes_end.py",
        "--weights",
        str(weights / "hopper"),
        "--policy",
        "random",
        "--seeds",
        "2",
        "--steps",
        "15",
        "--out",
        str(tmp_path),
    )
    assert "seed 1: MuJoCo" in stdout and "imagined ended first on" in stdout
    record = json.loads((tmp_path / "ended.json").read_text())
    assert [row["seed"] for row in record["seeds"]] == [0, 1] and record["judged_by"] == "rules/rules"
    for row in record["seeds"]:  # the tiny model never falls; MuJoCo's hopper may within 15 random steps
        assert row["ended_imagined"] == "ran all 15 steps"
        assert row["ended_mujoco"] == "ran all 15 steps" or " not in (" in row["ended_mujoco"]
    assert (tmp_path / "ended.png").stat().st_size > 1000
    common = ["--weights", str(weights / "hopper"), "--policy", "random", "--seeds", "2", "--out", str(tmp_path)]
    stdout = run("why_episodes_end.py", *common, "--after", "5", "--steps", "10")  # from MuJoCo's step 5, in motion
    assert "median length, from MuJoCo's step 5" in stdout
    assert json.loads((tmp_path / "ended.json").read_text())["after"] == 5
    with pytest.raises(AssertionError, match="must add up to at most the time limit, 1000"):
        run("why_episodes_end.py", *common, "--after", "990", "--steps", "20")
