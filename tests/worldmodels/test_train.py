import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import safetensors.torch
import torch
from toy_stage import AdversarialToyStage, ToyStage

from worldmodels.checkpoint import CheckpointError, from_pretrained
from worldmodels.train import StepBatchSampler, TrainConfig, lr_factor, train

HERE = Path(__file__).parent


def config(out, steps, **kw):
    return TrainConfig(
        out=str(out), steps=steps, batch_size=4, warmup=2, val_every=3, ckpt_every=3, log_every=1, progress=False, **kw
    )


def weights(run):
    latest = json.loads((run / "latest.json").read_text())["dir"]
    return safetensors.torch.load_file(run / latest / "raw.safetensors"), safetensors.torch.load_file(
        run / "model" / "model.safetensors"
    )


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    train(ToyStage(), config(tmp_path / "straight", 6))
    train(ToyStage(), config(tmp_path / "resumed", 3))  # stops after the checkpoint at step 3, like a kill
    assert json.loads((tmp_path / "resumed" / "latest.json").read_text())["step"] == 3
    with open(tmp_path / "resumed" / "metrics.jsonl", "a") as log:  # logged by a run killed after step 3
        log.write(json.dumps({"step": 4, "split": "train", "loss": 9.0}) + "\n")
    train(ToyStage(), config(tmp_path / "resumed", 6))
    for a, b in zip(weights(tmp_path / "straight"), weights(tmp_path / "resumed")):
        assert a.keys() == b.keys()
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    lines = [json.loads(x) for x in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines if x["split"] == "train"] == [1, 2, 3, 4, 5, 6]
    assert {"loss", "psnr", "grad_norm", "lr"} <= set(lines[-1]) | set(lines[-2])


def test_outputs_a_loadable_ema_model(tmp_path):
    final = train(ToyStage(), config(tmp_path / "run", 3))
    model = from_pretrained(final, expected_class="Tokenizer")
    assert model.config.resolution == 16
    extra = json.loads((final / "config.json").read_text())["extra"]
    assert extra["toy"] and extra["stage"] == "toy" and extra["step"] == 3 and extra["train_seconds"] > 0
    assert (tmp_path / "run" / "tb").is_dir()


def test_resume_with_another_model_is_refused(tmp_path):
    train(ToyStage(), config(tmp_path / "run", 3))
    other = ToyStage()
    other.model = type(other.model)(
        type(other.model.config)(resolution=16, channels=(4, 4), latent_channels=2, num_segments=2)
    )
    with pytest.raises(CheckpointError, match="another model config .*channels"):
        train(other, config(tmp_path / "run", 6))


def test_resume_from_a_damaged_checkpoint_is_refused(tmp_path):
    train(ToyStage(), config(tmp_path / "run", 3))
    ckpt = tmp_path / "run" / json.loads((tmp_path / "run" / "latest.json").read_text())["dir"]
    data = bytearray((ckpt / "optimizer.safetensors").read_bytes())
    data[-64:] = bytes(64)
    (ckpt / "optimizer.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="optimizer.safetensors: SHA-256 .* delete this checkpoint"):
        train(ToyStage(), config(tmp_path / "run", 6))


def test_resume_after_a_config_field_was_added(tmp_path):
    train(ToyStage(), config(tmp_path / "run", 3))
    ckpt = tmp_path / "run" / json.loads((tmp_path / "run" / "latest.json").read_text())["dir"]
    record = json.loads((ckpt / "config.json").read_text())
    del record["config"]["fsq_levels"]  # as saved before the field existed; it defaults to None
    (ckpt / "config.json").write_text(json.dumps(record))
    train(ToyStage(), config(tmp_path / "run", 6))
    assert json.loads((tmp_path / "run" / "latest.json").read_text())["step"] == 6


def test_an_adversary_trains_resumes_exactly_and_stays_out_of_the_model(tmp_path):
    train(AdversarialToyStage(), config(tmp_path / "straight", 6))
    train(AdversarialToyStage(), config(tmp_path / "resumed", 3))
    resumed = AdversarialToyStage()
    before = {k: v.clone() for k, v in resumed.adversary.state_dict().items()}
    train(resumed, config(tmp_path / "resumed", 6))
    straight, again = (tmp_path / run / "checkpoints" / "step-00000006" for run in ("straight", "resumed"))
    for name in ("raw.safetensors", "adversary.safetensors"):
        a, b = safetensors.torch.load_file(straight / name), safetensors.torch.load_file(again / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    assert any(not torch.equal(before[k], v) for k, v in resumed.adversary.state_dict().items())  # it learned
    assert "adversary.safetensors" in json.loads((again / "state.json").read_text())["sha256"]
    shipped = safetensors.torch.load_file(tmp_path / "resumed" / "model" / "model.safetensors")
    assert shipped.keys() == ToyStage().model.state_dict().keys()  # the discriminator is not in the model
    lines = [json.loads(x) for x in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
    assert {"adversarial_generator", "adversarial_discriminator", "discriminator_accuracy", "sharpness"} <= set(
        lines[-2]
    )
    with pytest.raises(CheckpointError, match="started with an adversary"):
        train(ToyStage(), config(tmp_path / "resumed", 9))
    train(ToyStage(), config(tmp_path / "plain", 3))
    with pytest.raises(CheckpointError, match="started without an adversary"):
        train(AdversarialToyStage(), config(tmp_path / "plain", 6))


def test_cooldown_decays_the_learning_rate_to_the_last_step(tmp_path):
    cfg = config(tmp_path / "run", 8, cooldown=4)
    assert [lr_factor(s, cfg) for s in range(8)] == [0.5, 1.0, 1.0, 1.0, 1.0, 0.75, 0.5, 0.25]
    train(ToyStage(), cfg)
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    logged = [x["lr"] for x in lines if x["split"] == "train"]
    assert logged[-1] == pytest.approx(0.25 * cfg.lr) and logged[2] == pytest.approx(cfg.lr)


def test_step_batches_depend_only_on_the_step():
    a = StepBatchSampler(10, 4, seed=1, start_step=0)
    b = StepBatchSampler(10, 4, seed=1, start_step=5)
    assert [a.batch_at(s) for s in range(8)] == [a.batch_at(s) for s in range(8)]
    assert next(iter(b)) == a.batch_at(5)
    # every epoch is a permutation
    positions = [i for s in range(5) for i in a.batch_at(s)]  # 20 positions = 2 epochs
    assert sorted(positions[:10]) == list(range(10)) and sorted(positions[10:]) == list(range(10))
    r0, r1 = StepBatchSampler(10, 2, 1, 0, rank=0, world=2), StepBatchSampler(10, 2, 1, 0, rank=1, world=2)
    assert r0.batch_at(0) + r1.batch_at(0) == a.batch_at(0)


def test_ddp_two_processes_gloo(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(HERE), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            "--master_port=29533",
            str(HERE / "ddp_train.py"),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["world"] == ranks[1]["world"] == 2
    assert not set(ranks[0]["first_batch"]) & set(ranks[1]["first_batch"])  # each rank its own data
    assert ranks[0]["param_sum"] == pytest.approx(ranks[1]["param_sum"], rel=1e-6)  # gradients all-reduced
    state = json.loads(next((tmp_path / "checkpoints").glob("step-*/state.json")).read_text())
    assert state["world_size"] == 2
    assert from_pretrained(tmp_path / "model").config.resolution == 16


@pytest.mark.skipif(
    not any(shutil.which(c) for c in ("g++", "c++", "clang++")), reason="torch.compile on CPU needs a C++ compiler"
)
def test_compiled_training_matches_eager(tmp_path):
    """train.compile=true computes the same loss on the same batch from the same weights."""
    losses = {}
    for name, compiled in (("eager", False), ("compiled", True)):
        train(ToyStage(), config(tmp_path / name, 1, compile=compiled))
        rows = [json.loads(x) for x in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        losses[name] = next(r["loss"] for r in rows if r["split"] == "train")
        assert (tmp_path / name / "model" / "model.safetensors").is_file()
    assert losses["compiled"] == pytest.approx(losses["eager"], rel=1e-5)
