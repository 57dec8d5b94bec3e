import dataclasses
import json
import subprocess
import sys
from pathlib import Path

from cosmos_env.cli import main
from cosmos_env.data import EpisodeDataset


def test_collect_command(tmp_path, capsys):
    out = tmp_path / "reacher"
    assert main(["collect", "task=reacher", "steps=50", f"out={out}", "workers=1", "behaviour.name=random"]) == 0
    assert "50 steps" in capsys.readouterr().out
    ds = EpisodeDataset(out)
    assert ds.meta["behaviour"]["name"] == "random" and ds.num_steps == 50


def test_unknown_task_lists_known_tasks():
    result = subprocess.run(
        [sys.executable, "-m", "cosmos_env", "collect", "task=hoper", "out=/tmp/x"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "unknown task 'hoper'; known tasks: halfcheetah, hopper" in result.stderr


def test_unknown_command_and_help(capsys):
    assert main(["colect"]) == 2
    assert "unknown command 'colect'" in capsys.readouterr().err
    assert main(["--help"]) == 0
    assert "collect" in capsys.readouterr().out


def test_command_help_lists_settings_with_overrides_and_docs(tmp_path, capsys):
    assert main(["dreams", "candidates=8", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("cosmos-env dreams: Demos -> fine-tuned Predict")
    line = next(x for x in out.splitlines() if x.strip().startswith("candidates:"))
    assert line.split()[1] == "8" and "# Dreams per start; the best by Reason is kept" in line
    assert "out: runs/hopper/dreams" in out  # interpolations resolved
    assert not (tmp_path / "runs").exists()  # help runs nothing
    # a train stage's own fields, documented from its dataclass
    assert main(["train", "stage=bc", "-h"]) == 0
    out = capsys.readouterr().out
    assert "nested settings take dots: stage." in out
    assert any(x.strip().startswith("obs: state") and "#" in x for x in out.splitlines())
    assert any(
        x.strip().startswith("data:") and "# A dataset from ``cosmos-env collect``." in x for x in out.splitlines()
    )


def test_demo_writes_video_png_and_summary(tmp_path, weights):
    # the tiny model never terminates; MuJoCo's hopper falls within 20 random steps or not
    argv = ["demo", f"out={tmp_path}", f"weights={weights}/hopper", "steps=20", "progress=false"]
    assert main([*argv, "policy=random"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["length_imagined"] == 20 and summary["judged_by"] == "rules/rules"
    assert summary["imagined_steps_per_second"] > 0 and summary["policy"] == "random"
    assert summary["ended_imagined"] == "ran all 20 steps"
    assert summary["ended_mujoco"] == "ran all 20 steps" or " not in (" in summary["ended_mujoco"]
    assert Path(summary["weights"]) == Path(weights) / "hopper"  # the world model folder it ran
    assert (tmp_path / "demo.mp4").stat().st_size > 1000
    assert (tmp_path / "demo.png").stat().st_size > 1000
    assert main([*argv, "steps=5"]) == 0  # the best shipped ladder policy
    assert "weights/policies/hopper" in json.loads((tmp_path / "summary.json").read_text())["policy"]


def test_stage_yaml_sets_only_what_its_dataclass_cannot():
    """One source of defaults: a stage's YAML fills in task-dependent paths (the fields with
    no default), never a value its dataclass already gives."""
    from pathlib import Path

    import yaml

    from worldmodels.stages import STAGE_CONFIGS

    conf = Path(__import__("cosmos_env").__file__).parent / "conf" / "stage"
    assert sorted(p.stem for p in conf.glob("*.yaml")) == sorted(STAGE_CONFIGS)
    for name, schema in STAGE_CONFIGS.items():
        keys = set(yaml.safe_load((conf / f"{name}.yaml").read_text())) - {"defaults"}
        fields = {f.name: f for f in dataclasses.fields(schema)}
        assert keys <= set(fields), f"{name}.yaml sets {keys - set(fields)}"
        with_defaults = {k for k, f in fields.items() if f.default is not dataclasses.MISSING}
        assert not keys & with_defaults, f"{name}.yaml repeats the defaults of {keys & with_defaults}"


def test_usage_errors_are_one_line_unless_traceback_is_asked_for(capsys):
    import pytest

    from cosmos_env.cli import CommandError

    assert main(["evaluate", "seeds=abc"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("cosmos-env evaluate: Error merging override seeds=abc") and len(err) == 2
    assert "--traceback" in err[1]
    with pytest.raises(CommandError):
        main(["evaluate", "seeds=abc", "--traceback"])


def test_verify_reports_damaged_files(tmp_path, capsys):
    from cosmos_env.testing import tiny_world_model

    tiny_world_model("hopper").save_pretrained(tmp_path / "model")
    assert main(["verify", f"path={tmp_path}"]) == 0
    assert "3 ok, 0 damaged" in capsys.readouterr().out
    weights = tmp_path / "model" / "predict" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert main(["verify", f"path={tmp_path}"]) == 2
    captured = capsys.readouterr()
    assert f"damaged   {weights}" in captured.out and "1 damaged and 0 missing" in captured.err
