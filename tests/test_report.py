import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

import cosmos_env.report as report_module
from cosmos_env.cli import main
from cosmos_env.report import resolve_policies, run_evaluation
from policies.actor import ActorConfig, MLPActor


@pytest.fixture(scope="module")
def actors(tmp_path_factory):
    """A folder of two tiny random hopper actors."""
    root = tmp_path_factory.mktemp("actors")
    for i in range(2):
        torch.manual_seed(i)
        MLPActor(ActorConfig(11, 3, (8,), (-1.0,) * 3, (1.0,) * 3)).save(root / f"step-{i}")
    return root


def test_report_round_trip_and_resume(weights, actors, tmp_path, monkeypatch):
    settings = dict(weights=weights / "hopper", seeds=[0, 1], horizon=8, open_loop_horizon=4, frame_stride=4)
    report = run_evaluation(["random", str(actors)], tmp_path, progress=False, **settings)
    assert json.loads((tmp_path / "report.json").read_text()) == report
    assert list(report["results"]) == ["random", "step-0", "step-1"]
    assert set(report["ranking"]) == {"critic/critic", "critic/rules", "rules/critic", "rules/rules"}
    assert report["world_model"]["sha256"]["predict/model.safetensors"]
    assert report["versions"]["torch"] == torch.__version__
    text = (tmp_path / "report.md").read_text()
    assert "| rules/rules (default) |" in text and "![scatter.png](scatter.png)" in text
    assert "## What ended the episodes" in text and len(report["results"]["random"]["mujoco"]["ended"]) == 2
    for name in ("scatter.png", "errors.png", "returns.png", "videos/step-0.mp4"):
        assert (tmp_path / name).stat().st_size > 1000, name

    def refuse(*args, **kwargs):
        raise AssertionError("a finished policy was run again")

    monkeypatch.setattr(report_module, "paired_rollout", refuse)
    assert run_evaluation(["random", str(actors)], tmp_path, progress=False, **settings)["results"] == report["results"]
    with pytest.raises(AssertionError, match="run again"):  # other settings: not the same results
        run_evaluation(["random"], tmp_path, progress=False, **{**settings, "horizon": 9})


def test_policies_resolve_by_name_path_and_folder(actors):
    assert resolve_policies(["random", str(actors / "step-1"), str(actors)], "hopper") == {
        "random": "random",
        "step-1": str(actors / "step-1"),
        "step-0": str(actors / "step-0"),
        "step-1-2": str(actors / "step-1"),
    }
    with pytest.raises(FileNotFoundError, match="no policy here"):
        resolve_policies([str(actors / "nothing")], "hopper")


def test_cli_evaluates_two_tiny_policies(weights, actors, tmp_path, capsys):
    argv = ["evaluate", f"weights={weights}/hopper", f"policies={actors}", f"out={tmp_path}", "seeds=2"]
    assert main([*argv, "horizon=6", "open_loop_horizon=3", "frame_stride=3", "progress=false"]) == 0
    assert "2 policies" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "policies").iterdir()) == ["step-0.json", "step-1.json"]
    assert main([*argv, "horizon=0"]) == 2
    assert "horizon must be >= 1" in capsys.readouterr().err


def test_a_killed_evaluation_resumes_where_it_stopped(weights, actors, tmp_path, monkeypatch):
    out = tmp_path / "eval"
    argv = [f"weights={weights}/hopper", f"policies=[random,{actors}]", f"out={out}", "seeds=2", "horizon=40"]
    argv += ["open_loop_horizon=10", "progress=false", "video=false"]
    process = subprocess.Popen([sys.executable, "-m", "cosmos_env", "evaluate", *argv], env={**os.environ})
    first = out / "policies" / "random.json"
    deadline = time.time() + 240
    while not first.is_file() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert first.is_file(), "the evaluation died before finishing its first policy"
    done = {p.name for p in (out / "policies").glob("*.json")}
    assert len(done) < 3, "the evaluation finished before it could be killed"
    before = first.read_bytes()

    calls = []
    original = report_module.paired_rollout
    monkeypatch.setattr(report_module, "paired_rollout", lambda *a, **k: calls.append(1) or original(*a, **k))
    assert main(["evaluate", *argv]) == 0
    assert len(calls) == 3 - len(done)  # only the unfinished policies ran
    assert first.read_bytes() == before
    assert len(json.loads((out / "report.json").read_text())["results"]) == 3


def test_a_second_world_model_is_compared_to_a_baseline_report(weights, actors, tmp_path):
    from cosmos_env.testing import tiny_world_model

    other = tiny_world_model("hopper", seed=1).save_pretrained(tmp_path / "other", extra={"task": {"name": "hopper"}})
    settings = dict(seeds=[0, 1], horizon=8, open_loop_horizon=0, frame_stride=4, video=False, progress=False)
    run_evaluation(["random", str(actors)], tmp_path / "base", weights=weights / "hopper", **settings)
    report = run_evaluation(
        ["random", str(actors)], tmp_path / "new", weights=other, baseline=tmp_path / "base", **settings
    )
    gains = report["versus_baseline"]["gains"]
    assert set(gains) == set(report["ranking"]) and report["versus_baseline"]["weights"] == str(weights / "hopper")
    base = json.loads((tmp_path / "base" / "report.json").read_text())["ranking"]
    for variant, g in gains.items():  # each gain is the difference of the two reports' figures
        expected = report["ranking"][variant]["spearman"]["value"] - base[variant]["spearman"]["value"]
        assert g["spearman"]["value"] == pytest.approx(expected, nan_ok=True)
    assert "Against the baseline world model" in (tmp_path / "new" / "report.md").read_text()
    assert (
        report["versus_baseline"]["sha256"]
        == json.loads((tmp_path / "base" / "report.json").read_text())["world_model"]["sha256"]
    )
    with pytest.raises(ValueError, match="seeds"):
        run_evaluation(
            ["random", str(actors)],
            tmp_path / "x",
            weights=other,
            baseline=tmp_path / "base",
            **{**settings, "seeds": [0, 2]},
        )
    with pytest.raises(FileNotFoundError, match="no report.json"):
        run_evaluation(["random"], tmp_path / "y", weights=other, baseline=tmp_path / "nothing", **settings)


def test_a_rewritten_report_names_the_id_its_world_model_ships_as(weights, tmp_path, monkeypatch):
    import shutil

    from cosmos_env import shipped

    settings = dict(seeds=[0], horizon=4, open_loop_horizon=0, frame_stride=4, video=False, progress=False)
    run_evaluation(["random"], tmp_path / "report", weights=weights / "hopper", **settings)
    before = (tmp_path / "report" / "report.md").read_text()
    assert f"world model: {weights / 'hopper'}." in before
    shipped_root = tmp_path / "shipped"
    shutil.copytree(weights / "hopper", shipped_root / "hopper-v7")  # the judged folder, packaged as an id
    monkeypatch.setattr(shipped, "WEIGHTS", shipped_root)
    assert report_module.rewrite_markdown(tmp_path / "report") == tmp_path / "report" / "report.md"
    after = (tmp_path / "report" / "report.md").read_text()
    assert f"world model: {weights / 'hopper'} (the files shipped as `cosmos_env/Hopper-v7`)." in after
    assert after.replace(" (the files shipped as `cosmos_env/Hopper-v7`)", "") == before
    with pytest.raises(FileNotFoundError, match="no report.json"):
        report_module.rewrite_markdown(tmp_path / "nothing")
