"""The examples run end to end as subprocesses with tiny budgets, on tiny random world
models (what they print is meaningless here; the path is real)."""

import json

import pytest

from tests.scripts import run_script


def run(script, *args, timeout=300):
    return run_script(f"examples/{script}", *args, timeout=timeout)


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
    import importlib.util

    from tests.scripts import ROOT

    spec = importlib.util.spec_from_file_location("package_weights", ROOT / "examples" / "package_weights.py")
    package = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(package)
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
    assert "imagined latents" not in note
    assert package.decoder_note([]) == ""
