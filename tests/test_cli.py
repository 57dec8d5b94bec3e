import json
import subprocess
import sys

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


def test_demo_writes_video_png_and_summary(tmp_path, weights):
    # the tiny model never terminates; MuJoCo's hopper falls within 20 random steps or not
    assert main(["demo", f"out={tmp_path}", f"weights={weights}/hopper", "steps=20", "progress=false"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["steps"] == 20 and summary["terminated_at_imagined"] is None
    assert summary["imagined_steps_per_second"] > 0 and 0 <= summary["mean_plausibility"] <= 1
    assert (tmp_path / "demo.mp4").stat().st_size > 1000
    assert (tmp_path / "demo.png").stat().st_size > 1000
