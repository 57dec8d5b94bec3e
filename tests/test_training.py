import shutil

import gymnasium as gym
import numpy as np
import pytest
import torch

import cosmos_env  # noqa: F401  (registers the env ids)
from cosmos_env.cli import main
from cosmos_env.collect import collect
from cosmos_env.data import EpisodeDataset
from cosmos_env.training import (
    DecoderStage,
    PredictStage,
    ReasonStage,
    TokenizerStage,
    encode_episodes,
    latents_cache,
    split_episodes,
)
from worldmodels.checkpoint import from_pretrained, read_config, save_pretrained
from worldmodels.tokenizer import TOKENIZER_SIZES, Tokenizer


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "hopper"
    collect("hopper", steps=120, out=root, workers=1, progress=False, steps_after_termination=10)
    return root


def test_split_holds_out_the_last_episodes(dataset):
    episodes = EpisodeDataset(dataset)
    train, val = split_episodes(episodes, 0.25)
    assert train + val == list(range(len(episodes))) and len(val) == round(len(episodes) * 0.25)


def test_chunked_encoding_equals_whole_episode_encoding(dataset):
    torch.manual_seed(0)
    tokenizer = Tokenizer(TOKENIZER_SIZES["tiny"]).eval()
    for p in tokenizer.parameters():
        torch.nn.init.normal_(p, std=0.1)
    episodes = EpisodeDataset(dataset)
    chunked = encode_episodes(tokenizer, episodes, chunk=7, progress=False)
    whole = encode_episodes(tokenizer, episodes, chunk=10_000, progress=False)
    for a, b in zip(chunked, whole):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_stages_build_windows_and_losses(dataset, tmp_path):
    tok_stage = TokenizerStage(dataset, size="tiny")
    batch = torch.utils.data.default_collate([tok_stage.train_data[i] for i in range(2)])
    loss, metrics = tok_stage.loss(tok_stage.model, batch)
    assert loss.isfinite() and "psnr" in metrics
    save_pretrained(tok_stage.model, tmp_path / "tok")
    stage = PredictStage(dataset, tmp_path / "tok", tmp_path / "run", size="tiny", context=3)
    sample = stage.train_data[0]
    assert sample["latents"].shape == (4, 4, 8, 8) and sample["obs"].shape == (4, 11)
    assert sample["valid"].tolist() == [False, False, True, True]  # padded episode start
    assert stage.model.config.max_frames >= 4 and stage.model.obs_std.min() > 0
    loss, metrics = stage.loss(stage.model, torch.utils.data.default_collate([stage.train_data[i] for i in range(3)]))
    assert loss.isfinite() and {"latent_mse", "obs_mse"} <= set(metrics)
    # the latents are cached beside the dataset, per tokenizer weights: reused by another
    # stage (another run directory, a copy of the tokenizer), remade for other weights
    cache = latents_cache(dataset, tmp_path / "tok", tmp_path / "run")
    assert cache.parent == dataset / "latents" and cache.is_file()
    made = cache.stat().st_mtime_ns
    shutil.copytree(tmp_path / "tok", tmp_path / "tok_copy")
    PredictStage(dataset, tmp_path / "tok_copy", tmp_path / "run2", size="tiny", context=3)
    assert cache.stat().st_mtime_ns == made
    torch.manual_seed(1)
    save_pretrained(Tokenizer(TOKENIZER_SIZES["tiny"]), tmp_path / "tok")
    PredictStage(dataset, tmp_path / "tok", tmp_path / "run", size="tiny", context=3)
    assert latents_cache(dataset, tmp_path / "tok", tmp_path / "run") != cache


def test_reason_stage_imagines_negatives_once(dataset, tmp_path):
    save_pretrained(Tokenizer(TOKENIZER_SIZES["tiny"]), tmp_path / "tok")
    predict_stage = PredictStage(dataset, tmp_path / "tok", tmp_path / "pred", size="tiny", context=3)
    save_pretrained(predict_stage.model, tmp_path / "pred" / "model", extra={"context": 3})
    stage = ReasonStage(
        dataset,
        tmp_path / "tok",
        tmp_path / "run",
        predict=tmp_path / "pred" / "model",
        size="tiny",
        clip=3,
        imagined=40,
    )
    z, o, a = stage.imagined
    assert z.shape == (40, 3, 4, 8, 8) and o.shape == (40, 3, 11) and a.shape == (40, 2, 3)
    assert stage.model.reward_std > 0 and stage.model.config.clip == 3
    batch = torch.utils.data.default_collate([stage.train_data[i] for i in range(4)])
    loss, metrics = stage.loss(stage.model, batch)
    assert loss.isfinite() and "plausibility_accuracy_imagined" in metrics
    cache = tmp_path / "run" / "imagined.safetensors"
    made = cache.stat().st_mtime_ns
    again = ReasonStage(
        dataset,
        tmp_path / "tok",
        tmp_path / "run",
        predict=tmp_path / "pred" / "model",
        size="tiny",
        clip=3,
        imagined=40,
    )
    assert cache.stat().st_mtime_ns == made and torch.equal(again.imagined[0], z)


def test_decoder_stage_trains_the_decoder_on_imagined_latents_only(dataset, tmp_path):
    torch.manual_seed(0)
    save_pretrained(Tokenizer(TOKENIZER_SIZES["tiny"]), tmp_path / "tok")
    predict_stage = PredictStage(dataset, tmp_path / "tok", tmp_path / "pred", size="tiny", context=3)
    save_pretrained(predict_stage.model, tmp_path / "pred" / "model", extra={"context": 3})
    stage = DecoderStage(dataset, tmp_path / "tok", tmp_path / "pred" / "model", horizon=2)
    sample = stage.train_data[0]
    assert sample["rgb"].shape == (5, 64, 64, 3) and sample["action"].shape == (4, 3)
    batch = torch.utils.data.default_collate([stage.train_data[i] for i in range(2)])
    loss, metrics = stage.loss(stage.model, batch)
    loss.backward()
    assert loss.isfinite() and {"psnr_encoded", "psnr_imagined", "psnr_imagined_next"} <= set(metrics)
    trained = {n for n, p in stage.model.named_parameters() if p.grad is not None}
    assert trained and all(not n.startswith(("encoder", "to_latent")) for n in trained)
    assert {n for n, p in stage.model.named_parameters() if p.requires_grad} == trained
    with pytest.raises(ValueError, match="horizon"):
        DecoderStage(dataset, tmp_path / "tok", tmp_path / "pred" / "model", horizon=0)
    aged = DecoderStage(dataset, tmp_path / "tok", tmp_path / "pred" / "model", horizon=2, age_buckets=4)
    loss, _ = aged.loss(aged.model, batch)
    loss.backward()
    grads = torch.stack([film.weight.grad.abs().sum(1) for film in aged.model.age_film])  # (stages, buckets)
    assert aged.model.config.age_buckets == 4 and (grads[:, 1:3] > 0).all()
    assert not grads[:, 0].any() and not grads[:, 3].any()  # age 0 is never modulated; no age 4+ in these clips
    only = DecoderStage(dataset, tmp_path / "tok", tmp_path / "pred" / "model", horizon=2, age_buckets=4, age_only=True)
    assert {n.split(".")[0] for n, p in only.model.named_parameters() if p.requires_grad} == {"age_film"}


def test_train_command_runs_every_stage(dataset, tmp_path):
    common = [
        "task=hopper",
        f"data={dataset}",
        "size=tiny",
        "train.steps=2",
        "train.batch_size=2",
        "train.val_every=2",
        "train.ckpt_every=2",
        "train.progress=false",
    ]
    assert main(["train", "stage=tokenizer", f"out={tmp_path}/tok", *common]) == 0
    assert main(["train", "stage=predict", f"out={tmp_path}/pred", f"tokenizer={tmp_path}/tok/model", *common]) == 0
    model = from_pretrained(tmp_path / "pred" / "model", expected_class="PredictModel")
    assert model.config.obs_dim == 11 and model.config.action_dim == 3
    assert (
        main(
            [
                "train",
                "stage=reason",
                f"out={tmp_path}/reason",
                f"tokenizer={tmp_path}/tok/model",
                f"predict={tmp_path}/pred/model",
                "imagined=8",
                *common,
            ]
        )
        == 0
    )
    critic = from_pretrained(tmp_path / "reason" / "model", expected_class="ReasonModel")
    assert critic.config.clip == 4 and critic.config.obs_dim == 11
    # the decoder continued on imagined latents: the encoder (so every latent) is unchanged
    assert (
        main(
            [
                "train",
                "stage=decoder",
                f"out={tmp_path}/dec",
                f"tokenizer={tmp_path}/tok/model",
                f"predict={tmp_path}/pred/model",
                "horizon=2",
                "age_buckets=3",
                *common,
            ]
        )
        == 0
    )
    assert from_pretrained(tmp_path / "dec" / "model").config.age_buckets == 3
    before, after = (from_pretrained(tmp_path / d / "model").state_dict() for d in ("tok", "dec"))
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith(("encoder", "to_latent")))
    assert not all(torch.equal(before[k], after[k]) for k in before if k.startswith("decoder."))
    assert "age_film.0.weight" in after and "age_film.0.weight" not in before
    record = read_config(tmp_path / "dec" / "model")["extra"]
    assert record["stage"] == "decoder" and record["tokenizer_record"]["stage"] == "tokenizer"  # both runs on file
    assert (
        main(
            [
                "train",
                "stage=decoder",
                f"out={tmp_path}/dec2",
                f"tokenizer={tmp_path}/tok/model",
                "predict=null",
                *common,
            ]
        )
        == 2
    )
    assert main(["train", "stage=transfer", f"out={tmp_path}/t", *common]) == 2  # not a stage (yet)
    # the three stages become one world model directory that the generic env id takes
    parts = [f"tokenizer={tmp_path}/dec/model", f"predict={tmp_path}/pred/model", f"reason={tmp_path}/reason/model"]
    assert main(["export", "task=hopper", *parts, f"out={tmp_path}/wm"]) == 0
    env = gym.make("cosmos_env/WorldModel-v0", weights=tmp_path / "wm")
    obs, _ = env.reset(seed=3)
    assert obs.shape == (11,) and np.isfinite(env.step(env.action_space.sample())[0]).all()
    assert sorted(p.name for p in (tmp_path / "wm" / "predict").iterdir()) == ["config.json", "model.safetensors"]
    assert main(["export", "task=hopper", *parts, f"out={tmp_path}/wm", "rollout_context_noise=0.2"]) == 0
    sampled = from_pretrained(tmp_path / "wm" / "predict").config
    assert sampled.rollout_context_noise == 0.2 and model.config.rollout_context_noise == 0.0
    assert main(["export", "task=hopper", *parts[:2], f"reason={tmp_path}/none", f"out={tmp_path}/wm2"]) == 2
    assert not (tmp_path / "wm2").exists()
    # a warm start from trained weights (not a resume: a new run directory)
    assert (
        main(
            [
                "train",
                "stage=reason",
                f"out={tmp_path}/reason2",
                f"tokenizer={tmp_path}/tok/model",
                "predict=null",
                f"init={tmp_path}/reason/model",
                "train.steps=1",
                *common[:3],
                *common[4:],
            ]
        )
        == 0
    )
    assert main(["train", "stage=predict", f"out={tmp_path}/p2", f"tokenizer={tmp_path}/missing", *common]) == 2
