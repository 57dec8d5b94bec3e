"""The benchmarks run end to end on a tiny random world model (figures meaningless, the
path real): each as a subprocess with --quick and --json."""

import json
import math

import imageio.v3 as iio
import numpy as np
import pytest

from cosmos_env.collect import collect
from cosmos_env.testing import tiny_world_model
from tests.scripts import run_script


@pytest.fixture(scope="module")
def tiny_hopper(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    tiny_world_model("hopper").save_pretrained(root / "wm", extra={"task": {"name": "hopper"}})
    collect("hopper", steps=150, out=root / "data", workers=1, progress=False, steps_after_termination=20)
    return root


def run(script, *args):
    return run_script(f"benchmarks/{script}", *args)


def test_reason_benchmark(tiny_hopper):
    stdout = run(
        "reason.py",
        "--task",
        "hopper",
        "--weights",
        str(tiny_hopper / "wm"),
        "--data",
        str(tiny_hopper / "data"),
        "--val-fraction",
        "0.3",
        "--quick",
        "--json",
        str(tiny_hopper / "r.json"),
    )
    results = json.loads((tiny_hopper / "r.json").read_text())
    assert results["reward"]["pearson_baseline"] > 0.95  # the rule baseline is near exact on real data
    assert {"imagined_1_real", "shuffle", "freeze", "teleport"} <= set(results["plausibility"])
    assert stdout.strip().splitlines()[-1].startswith("plausibility AUROC")


def test_reason_benchmark_collects_its_own_episodes_without_a_dataset(tiny_hopper, tmp_path):
    """On a fresh clone (no --data, no data/<task>) it collects held-out episodes into a temporary directory."""
    work, tmp = tmp_path / "work", tmp_path / "tmp"
    work.mkdir()
    tmp.mkdir()
    stdout = run_script(
        "benchmarks/reason.py",
        "--weights",
        str(tiny_hopper / "wm"),
        "--quick",
        "--json",
        str(tmp_path / "r.json"),
        cwd=work,
        env={"TMPDIR": str(tmp)},
    )
    results = json.loads((tmp_path / "r.json").read_text())
    assert results["task"] == "hopper" and results["data"].startswith("collected")
    assert results["held_out_episodes"] >= 1 and results["clips"] > 0
    assert results["termination"]["positives"] > 0  # episodes run on after a fall (steps_after_termination)
    assert {"imagined_1_real", "shuffle", "freeze", "teleport"} <= set(results["plausibility"])
    figures = {
        **{f"reward.{k}": v for k, v in results["reward"].items()},
        **{f"termination.{k}": v for k, v in results["termination"].items()},
        **{f"termination_baseline.{k}": v for k, v in results["termination_baseline"].items()},
        **{f"{name}.{k}": v for name, r in results["plausibility"].items() for k, v in r.items()},
    }
    assert all(math.isfinite(v) for v in figures.values()), figures
    assert results["reward"]["pearson_baseline"] > 0.95  # the rule baseline is near exact on real data
    assert not (work / "data").exists() and not any(tmp.iterdir())  # collected into a temporary directory, removed
    assert stdout.strip().splitlines()[-1].startswith("plausibility AUROC")


def test_env_speed_benchmark(tiny_hopper):
    stdout = run(
        "env_speed.py",
        "--task",
        "hopper",
        "--weights",
        str(tiny_hopper / "wm"),
        "--quick",
        "--num-envs",
        "2",
        "--json",
        str(tiny_hopper / "e.json"),
    )
    rows = json.loads((tiny_hopper / "e.json").read_text())["rows"]
    assert [(r["num_envs"], r["obs_mode"]) for r in rows] == [(2, "state"), (2, "pixels")]
    assert all(r["imagined_steps_per_s"] > 0 and r["mujoco_steps_per_s"] > 0 for r in rows)
    assert all(0 <= r["episodes_ended"] <= 2 * 5 for r in rows)
    assert stdout.strip().splitlines()[-1].split()[:2] == ["2", "pixels"]


def test_env_speed_benchmark_versus_without_autoreset(tiny_hopper):
    """--versus times a second model in interleaved rounds; --no-autoreset times no resets."""
    weights = str(tiny_hopper / "wm")
    args = ("--task", "hopper", "--weights", weights, "--versus", weights, "--quick", "--num-envs", "2")
    run("env_speed.py", *args, "--no-autoreset", "--rounds", "2", "--json", str(tiny_hopper / "e.json"))
    results = json.loads((tiny_hopper / "e.json").read_text())
    assert results["autoreset"] is False and results["rounds"] == 2
    for row in results["rows"]:
        assert row["episodes_ended"] == row["versus_episodes_ended"]  # one model, the same seeds and actions
        assert 0 < row["speedup_ci95_low"] <= row["speedup"] <= row["speedup_ci95_high"]


def test_speedup_interval_is_paired_by_round():
    """A drift that slows both models alike in one round leaves the paired ratio, and its interval, tight."""
    from benchmarks.env_speed import speedup_interval

    base = np.array([100.0, 50.0, 100.0])  # round 2: the machine halved its speed
    mean, low, high = speedup_interval(base, 2 * base)
    assert mean == pytest.approx(2.0) and low == pytest.approx(2.0) and high == pytest.approx(2.0)
    mean, low, high = speedup_interval(base, np.array([200.0, 110.0, 190.0]))
    assert low < mean < high and low > 1.5


def test_fidelity_benchmark(tiny_hopper):
    import imageio.v3 as iio

    stdout = run(
        "fidelity.py",
        "--task",
        "hopper",
        "--weights",
        str(tiny_hopper / "wm"),
        "--quick",
        "--best-of",
        "2",
        "--json",
        str(tiny_hopper / "f.json"),
        "--strip",
        str(tiny_hopper / "strip.png"),
    )
    results = json.loads((tiny_hopper / "f.json").read_text())
    assert list(results["horizons"]) == ["1", "16", "64"]
    first = results["horizons"]["1"]
    assert first["psnr_persistence"] > first["psnr_persistence_tokenized"]  # a random tokenizer loses detail
    assert all(r["action_sensitivity_proprio"] >= 0 and "psnr_best_of" in r for r in results["horizons"].values())
    assert all(
        r["psnr_gain"] == pytest.approx(r["psnr"] - r["psnr_persistence"], abs=1e-4) and r["psnr_gain_ci95"] > 0
        for r in results["horizons"].values()
    )  # the mean of differences is the difference of means
    assert all(
        r["proprio_best_of_gain"] == pytest.approx(r["proprio_rmse"] - r["proprio_rmse_best_of"], abs=1e-4)
        and r["sharpness_tokenizer_ceiling"] > 0
        for r in results["horizons"].values()
    )  # best-of-K's gain over K = 1 is paired the same way
    strip = iio.imread(tiny_hopper / "strip.png")
    assert (
        strip.shape[0] > 4 * 64 and strip.shape[1] > 5 * 64
    )  # 4 rows (MuJoCo / imagined x 2 action sequences), 5 steps
    assert stdout.strip().splitlines()[-1].split()[0] == "64"


def test_fidelity_on_policy_against_a_second_model_with_a_pose_probe(tiny_hopper):
    from cosmos_env.report import ladder_dir
    from worldmodels.checkpoint import save_pretrained
    from worldmodels.probe import PoseProbe, PoseProbeConfig

    tiny_world_model("hopper", predict_size="tiny-v2").save_pretrained(
        tiny_hopper / "v2", extra={"task": {"name": "hopper"}}
    )
    save_pretrained(PoseProbe(PoseProbeConfig(obs_dim=11)), tiny_hopper / "probe")
    policy = sorted(p for p in ladder_dir("hopper").iterdir() if p.is_dir())[3]
    args = ["--weights", str(tiny_hopper / "wm"), "--versus", str(tiny_hopper / "v2"), "--policy", str(policy)]
    stdout = run(
        "fidelity.py",
        "--task",
        "hopper",
        *args,
        "--probe",
        str(tiny_hopper / "probe"),
        "--quick",
        "--sampler-steps",
        "2",
        "--json",
        str(tiny_hopper / "v.json"),
    )
    results = json.loads((tiny_hopper / "v.json").read_text())
    assert results["actions"].startswith("policy ") and results["probe"] == str(tiny_hopper / "probe")
    for table in (results["horizons"], results["versus"]["horizons"]):
        row = table["64"]
        assert row["pose_rmse"] > 0 and row["pose_rmse_real"] > 0 and row["sharpness"] > 0
        assert row["diversity_frames"] >= 0 and row["diversity_proprio"] >= 0
    gain = results["versus"]["gain"]["16"]
    assert {"psnr", "proprio", "pose"} <= set(gain)
    assert stdout.strip().splitlines()[-1].split()[0] == "64"


def test_fidelity_from_starts_in_motion(tiny_hopper):
    common = ("fidelity.py", "--task", "hopper", "--weights", str(tiny_hopper / "wm"), "--quick")
    run(*common, "--json", str(tiny_hopper / "rest.json"))
    run(*common, "--warmup", "6", "--json", str(tiny_hopper / "moving.json"))
    rest, moving = (json.loads((tiny_hopper / f).read_text()) for f in ("rest.json", "moving.json"))
    assert rest["warmup"] == 0 and moving["warmup"] == 6
    # after six random steps the hopper moves: one step changes its frame more than at rest
    assert moving["horizons"]["1"]["psnr_persistence"] < rest["horizons"]["1"]["psnr_persistence"]


def test_transfer_benchmark(tiny_hopper):
    tiny_world_model("hopper", transfer=True).save_pretrained(
        tiny_hopper / "styled", extra={"task": {"name": "hopper"}}
    )
    args = ("--task", "hopper", "--weights", str(tiny_hopper / "styled"), "--quick")
    stdout = run(
        "transfer_bench.py",
        *args,
        "--json",
        str(tiny_hopper / "t.json"),
        "--grid",
        str(tiny_hopper / "t.png"),
        "--strip",
        str(tiny_hopper / "strip.png"),
    )
    rows = json.loads((tiny_hopper / "t.json").read_text())["rows"]
    assert set(rows) == {"transfer", "canonical", "mujoco_styled"}
    assert rows["canonical"]["edge_f1"] == 1.0 and rows["canonical"]["diversity"] == 0.0  # the unstyled baseline
    assert rows["mujoco_styled"]["diversity"] > 0.05  # ground truth: styles differ
    assert (tiny_hopper / "t.png").is_file() and stdout.strip().splitlines()[-1].split()[0] == "mujoco_styled"
    strip = iio.imread(tiny_hopper / "strip.png")  # per style an imagined and a MuJoCo row; 4 times
    styles = json.loads((tiny_hopper / "t.json").read_text())["styles"]
    assert strip.shape[:2] == (2 * (2 * styles * (64 + 2) + 2), 2 * (4 * (64 + 2) + 2))


def test_predict_speed_benchmark(tiny_hopper):
    stdout = run(
        "predict_speed.py",
        "--task",
        "hopper",
        "--weights",
        str(tiny_hopper / "wm"),
        "--quick",
        "--json",
        str(tiny_hopper / "p.json"),
    )
    rows = json.loads((tiny_hopper / "p.json").read_text())["imagined"]
    assert {(r["batch"], r["sampler_steps"]) for r in rows} == {(1, 1), (1, 4), (64, 1), (64, 4)}
    assert all(r["steps_per_s"] > 0 and r["ratio_to_mujoco"] > 0 for r in rows)
    assert stdout.strip().splitlines()[-1].split()[:2] == ["64", "4"]


def test_collect_benchmark(tmp_path):
    stdout = run("collect.py", "--quick", "--tasks", "hopper", "--processes", "2", "--json", str(tmp_path / "c.json"))
    row = json.loads((tmp_path / "c.json").read_text())["tasks"]["hopper"]
    assert row["physics_only_steps_per_s"] > row["step_render_steps_per_s_1_process"] > 0
    assert stdout.strip().splitlines()[-1].split()[0] == "hopper"


def test_policy_benchmark_trains_each_arm_and_a_rerun_resumes(tiny_hopper, tmp_path):
    argv = ["--weights", str(tiny_hopper / "wm"), "--out", str(tmp_path / "runs"), "--quick"]
    stdout = run("policy_bench.py", *argv, "--json", str(tmp_path / "a.json"))
    first = json.loads((tmp_path / "a.json").read_text())
    arms = {a["arm"]: a for a in first["arms"]}
    assert list(arms) == ["random", "model_free", "dyna"]
    assert arms["model_free"]["real_steps"] == 100 and arms["model_free"]["imagined_steps"] == 0
    assert arms["dyna"]["real_steps"] >= 100 and arms["dyna"]["imagined_steps"] == 32
    assert all(len(a["returns"]) == 3 and math.isfinite(a["return_mean"]) for a in arms.values())
    assert set(arms["dyna"]["gain_vs_model_free"]) == {"mean", "ci95_half_width"}
    assert stdout.strip().splitlines()[-1].startswith("| dyna |")
    assert iio.imread(tmp_path / "runs" / "quick" / "hopper" / "curves.png").ndim == 3
    # everything is trained: the same command judges the same actors again, training nothing
    logs = [tmp_path / "runs" / "quick" / "hopper" / p / "eval.jsonl" for p in ("model_free", "dyna/policy")]
    before = [log.read_text() for log in logs]
    run("policy_bench.py", *argv, "--json", str(tmp_path / "b.json"))
    again = {a["arm"]: a for a in json.loads((tmp_path / "b.json").read_text())["arms"]}
    assert [log.read_text() for log in logs] == before
    for name in ("model_free", "dyna"):
        assert again[name]["returns"] == arms[name]["returns"] and again[name]["actor"] == arms[name]["actor"]


def test_policy_benchmark_reuses_a_model_free_arm_whatever_the_world_model():
    import importlib.util

    from tests.scripts import ROOT

    spec = importlib.util.spec_from_file_location("policy_bench", ROOT / "benchmarks" / "policy_bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    config = {"algo": "sac", "weights": None, "horizon": 15, "real_steps": 100_000, "eval_every": 20_000}
    key = {"task": "hopper", "seed": 0, "real_steps": 100_000, "imagined_steps": 400_000, "config": config}
    other_world = key | {"imagined_steps": 200_000, "config": config | {"weights": "w", "horizon": 50}}
    assert bench.arm_key("model_free", key) == bench.arm_key("model_free", other_world)
    assert bench.arm_key("dyna", key) != bench.arm_key("dyna", other_world)
    assert bench.arm_key("model_free", key) != bench.arm_key("model_free", key | {"seed": 1})
    longer = key | {"config": config | {"real_steps": 200_000}}
    assert bench.arm_key("model_free", key) != bench.arm_key("model_free", longer)
    assert bench.arm_key("model_free_utd2", key) == bench.arm_key("model_free_utd2", other_world)


def test_policy_benchmark_arms_set_their_fields():
    import argparse
    import importlib.util

    from tests.scripts import ROOT

    spec = importlib.util.spec_from_file_location("policy_bench", ROOT / "benchmarks" / "policy_bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    args = argparse.Namespace(
        weights=None, num_envs=16, horizon=15, eval_every=20_000, train_eval_episodes=3, eval_horizon=None,
        algo_kwargs={"batch_size": 64}, real_steps=100_000, round_steps=10_000, finetune_steps=500, rounds=10,
    )  # fmt: skip
    base = bench.arm_config("dyna", args)
    recipe = bench.arm_config("dyna_real", args)
    assert recipe == base | {"real_transitions": True}
    # each ablation is the working recipe with one thing changed
    assert bench.arm_config("horizon_5", args) == recipe | {"horizon": 5}
    assert bench.arm_config("no_real_starts", args) == recipe | {"real_starts": False}
    assert bench.arm_config("one_shot", args) == recipe | {"round_real_steps": 100_000, "finetune_steps": 5000}
    assert bench.arm_config("model_free_utd4", args)["algo_kwargs"] == {"batch_size": 64, "gradient_steps": 4}
    assert bench.is_model_free("model_free_utd4") and not bench.is_model_free("dyna_real")
    with pytest.raises(ValueError, match="model_free_utd<N>"):
        bench.arm_config("model_free_utdx", args)


def test_policy_benchmark_wall_clock_survives_a_kill_and_adds_up(tmp_path):
    import importlib.util
    import time

    from tests.scripts import ROOT

    spec = importlib.util.spec_from_file_location("policy_bench", ROOT / "benchmarks" / "policy_bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    path = tmp_path / "wall.json"
    with bench.WallClock(path, every=0.02):
        time.sleep(0.15)
        saved = json.loads(path.read_text())["wall_s"]  # written while running: what a kill would leave
        assert 0 < saved <= 0.15
    first = json.loads(path.read_text())["wall_s"]
    assert first >= 0.1
    with bench.WallClock(path, every=10.0) as clock:  # a resumed invocation adds its own seconds
        time.sleep(0.05)
    assert clock.total() >= first + 0.05
    assert json.loads(path.read_text())["wall_s"] == round(clock.total(), 1)


def test_style_robustness_benchmark_judges_both_policies_under_each_look(tmp_path):
    stdout = run("style_robustness.py", "--quick", "--out", str(tmp_path / "runs"), "--json", str(tmp_path / "s.json"))
    report = json.loads((tmp_path / "s.json").read_text())
    assert [row["look"] for row in report["looks"]] == ["canonical", "train", "held_out"]
    for row in report["looks"]:
        assert all(len(row[p]["returns"]) == 2 and math.isfinite(row[p]["mean"]) for p in ("canonical", "transfer"))
        assert set(row["gain_transfer_vs_canonical"]) == {"mean", "ci95_half_width"}
    runs = tmp_path / "runs" / "quick" / "hopper"
    assert (runs / "bc_canonical" / "model" / "config.json").is_file()
    from cosmos_env.vector import resolve_weights
    from worldmodels.checkpoint import read_config

    shipped = resolve_weights(None, "hopper") / "transfer"  # Hopper ships a Transfer: the benchmark's default
    assert read_config(runs / "bc_transfer" / "model")["extra"]["transfer"] == str(shipped)
    assert stdout.strip().splitlines()[-1].startswith("| held_out |")


def test_style_robustness_falls_back_to_a_random_transfer_only_when_quick(tmp_path, monkeypatch):
    import argparse
    import importlib.util

    import cosmos_env.vector
    from cosmos_env.tasks import load_task
    from tests.scripts import ROOT

    spec = importlib.util.spec_from_file_location("style_robustness", ROOT / "benchmarks" / "style_robustness.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(cosmos_env.vector, "resolve_weights", lambda weights, task: tmp_path / "no_transfer")
    task = load_task("hopper")
    quick = argparse.Namespace(transfer=None, quick=True)
    assert bench.transfer_dir(quick, task, tmp_path / "out") == tmp_path / "out" / "random_transfer"
    assert (tmp_path / "out" / "random_transfer" / "config.json").is_file()
    with pytest.raises(SystemExit, match="no Transfer model shipped for hopper"):
        bench.transfer_dir(argparse.Namespace(transfer=None, quick=False), task, tmp_path / "out")
