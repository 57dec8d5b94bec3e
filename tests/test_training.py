import dataclasses
import shutil

import gymnasium as gym
import numpy as np
import pytest
import torch

import cosmos_env  # noqa: F401  (registers the env ids)
from cosmos_env.cache import latents_cache
from cosmos_env.cli import main
from cosmos_env.collect import collect
from cosmos_env.data import EpisodeDataset
from cosmos_env.training import DecoderStage, PredictStage, ReasonStage, TokenizerStage, encode_episodes, split_episodes
from worldmodels.checkpoint import from_pretrained, read_config, save_pretrained
from worldmodels.stages import (
    DecoderStageConfig,
    PredictStageConfig,
    ReasonStageConfig,
    ReconstructionWeights,
    TokenizerStageConfig,
)
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


def batch_of(stage, n):
    return torch.utils.data.default_collate([stage.train_data[i] for i in range(n)])


def tiny_predict(dataset, tmp_path, tokenizer):
    """A tiny untrained Predict over ``tokenizer``'s latents, saved as ``tmp_path/pred/model``."""
    stage = PredictStage(PredictStageConfig(tokenizer=tokenizer, size="tiny", context=3), dataset, tmp_path / "pred")
    save_pretrained(stage.model, tmp_path / "pred" / "model", extra={"context": 3})
    return tmp_path / "pred" / "model"


@pytest.fixture
def tokenizer(tmp_path):
    torch.manual_seed(0)
    save_pretrained(Tokenizer(TOKENIZER_SIZES["tiny"]), tmp_path / "tok")
    return tmp_path / "tok"


def test_tokenizer_stage_windows_and_loss(dataset):
    stage = TokenizerStage(TokenizerStageConfig(size="tiny", frames=3), dataset, "unused")
    assert stage.train_data[0]["rgb"].shape == (3, 64, 64, 3)
    loss, metrics = stage.loss(stage.model, batch_of(stage, 2))
    assert loss.isfinite() and "psnr" in metrics


def test_tokenizer_loss_weights_come_from_the_stage(dataset):
    plain = TokenizerStage(TokenizerStageConfig(size="tiny"), dataset, "unused")
    batch = batch_of(plain, 2)
    no_edges = TokenizerStage(
        TokenizerStageConfig(size="tiny", loss=ReconstructionWeights(gradient=0.0)), dataset, "unused"
    )
    no_edges.model.load_state_dict(plain.model.state_dict())
    full, metrics = plain.loss(plain.model, batch)
    without, _ = no_edges.loss(no_edges.model, batch)
    torch.testing.assert_close(full - without, torch.tensor(metrics["gradient"]))


def test_predict_stage_windows_and_loss(dataset, tmp_path, tokenizer):
    stage = PredictStage(PredictStageConfig(tokenizer=tokenizer, size="tiny", context=3), dataset, tmp_path / "run")
    sample = stage.train_data[0]
    assert sample["latents"].shape == (4, 4, 8, 8) and sample["obs"].shape == (4, 11)
    assert sample["valid"].tolist() == [False, False, True, True]  # padded episode start
    assert stage.model.config.max_frames >= 4 and stage.model.obs_std.min() > 0
    loss, metrics = stage.loss(stage.model, batch_of(stage, 3))
    assert loss.isfinite() and {"latent_mse", "obs_mse"} <= set(metrics)
    assert stage.extra["context_noise"] == PredictStageConfig.context_noise  # recorded as trained


def test_predict_stage_v2_bands_its_model_to_the_context(dataset, tmp_path, tokenizer):
    settings = PredictStageConfig(tokenizer=tokenizer, size="tiny-v2", context=3, horizon=3)
    stage = PredictStage(settings, dataset, tmp_path / "run")
    assert stage.train_data[0]["latents"].shape == (6, 4, 8, 8)  # context + horizon frames
    assert stage.model.config.band == 3 and stage.model.config.cacheable
    loss, metrics = stage.loss(stage.model, batch_of(stage, 4))
    assert loss.isfinite() and "latent_mse_shortcut" in metrics


def test_latents_are_cached_beside_the_dataset_per_tokenizer_weights(dataset, tmp_path, tokenizer):
    settings = PredictStageConfig(tokenizer=tokenizer, size="tiny", context=3)
    PredictStage(settings, dataset, tmp_path / "run")
    cache = latents_cache(dataset, tokenizer, tmp_path / "run")
    assert cache.parent == dataset / "latents" and cache.is_file()
    made = cache.stat().st_mtime_ns
    shutil.copytree(tokenizer, tmp_path / "tok_copy")  # another run directory, a copy of the weights: reused
    PredictStage(PredictStageConfig(tokenizer=tmp_path / "tok_copy", size="tiny"), dataset, tmp_path / "run2")
    assert cache.stat().st_mtime_ns == made
    torch.manual_seed(1)
    save_pretrained(Tokenizer(TOKENIZER_SIZES["tiny"]), tokenizer)  # other weights: remade elsewhere
    PredictStage(settings, dataset, tmp_path / "run")
    assert latents_cache(dataset, tokenizer, tmp_path / "run") != cache


def test_an_extended_dataset_encodes_only_its_new_episodes(tmp_path, tokenizer, monkeypatch):
    import cosmos_env.training as training

    root = tmp_path / "grown"
    collect("hopper", steps=60, out=root, workers=1, progress=False, shard_steps=30)
    tok = from_pretrained(tokenizer, expected_class="Tokenizer")
    cache = tmp_path / "latents.safetensors"
    first = training.cached_latents(tokenizer, EpisodeDataset(root), cache)
    collect("hopper", steps=120, out=root, workers=1, progress=False, shard_steps=30)  # extended: more episodes
    grown = EpisodeDataset(root)
    encoded = []
    real = training.encode_episodes
    monkeypatch.setattr(training, "encode_episodes", lambda *a, only, **k: encoded.append(only) or real(*a, only=only))
    latents = training.cached_latents(tokenizer, grown, cache)
    assert encoded == [list(range(len(first), len(grown)))] and len(first) < len(grown) == len(latents)
    for i, z in enumerate(latents):  # the kept and the new latents are what encoding everything gives
        np.testing.assert_allclose(z, encode_episodes(tok, grown, only=[i])[i], atol=1e-5)


def test_reason_stage_imagines_negatives_once(dataset, tmp_path, tokenizer):
    predict = tiny_predict(dataset, tmp_path, tokenizer)
    settings = ReasonStageConfig(tokenizer=tokenizer, predict=predict, size="tiny", clip=3, imagined_clips=40)
    stage = ReasonStage(settings, dataset, tmp_path / "run")
    z, o, a, reward, terminated, valid = stage.imagined_clips
    assert z.shape == (40, 3, 4, 8, 8) and o.shape == (40, 3, 11) and a.shape == (40, 2, 3)
    assert reward.shape == terminated.shape == (40, 2) and valid.shape == (40, 3) and terminated.dtype == torch.bool
    first = stage.train_data[0]  # the bank's first clip was imagined from the first window, under its labels
    torch.testing.assert_close(reward[0], first["reward"].to(reward.dtype))
    assert torch.equal(a[0], first["action"].float()) and torch.equal(valid[0], first["valid"].bool())
    assert stage.model.reward_std > 0 and stage.model.config.clip == 3
    loss, metrics = stage.loss(stage.model, batch_of(stage, 4))
    assert loss.isfinite() and "plausibility_accuracy_imagined" in metrics
    cache = tmp_path / "run" / "imagined.safetensors"
    made = cache.stat().st_mtime_ns
    again = ReasonStage(settings, dataset, tmp_path / "run")
    assert cache.stat().st_mtime_ns == made and torch.equal(again.imagined_clips[0], z)


def test_reason_stage_without_predict_uses_corrupted_clips_only(dataset, tmp_path, tokenizer):
    stage = ReasonStage(
        ReasonStageConfig(tokenizer=tokenizer, predict=None, size="tiny", clip=3), dataset, tmp_path / "run"
    )
    _, metrics = stage.loss(stage.model, batch_of(stage, 4))
    assert stage.imagined_clips is None and "plausibility_accuracy_imagined" not in metrics


def test_decoder_stage_trains_the_decoder_on_imagined_latents_only(dataset, tmp_path, tokenizer):
    predict = tiny_predict(dataset, tmp_path, tokenizer)
    stage = DecoderStage(DecoderStageConfig(tokenizer=tokenizer, predict=predict, horizon=2), dataset, tmp_path)
    sample = stage.train_data[0]
    assert sample["rgb"].shape == (5, 64, 64, 3) and sample["action"].shape == (4, 3)
    loss, metrics = stage.loss(stage.model, batch_of(stage, 2))
    loss.backward()
    assert loss.isfinite() and {"psnr_encoded", "psnr_imagined", "psnr_imagined_next"} <= set(metrics)
    trained = {n for n, p in stage.model.named_parameters() if p.grad is not None}
    assert trained and all(not n.startswith(("encoder", "to_latent")) for n in trained)
    assert {n for n, p in stage.model.named_parameters() if p.requires_grad} == trained


def test_decoder_stage_trains_a_new_narrow_decoder_on_real_latents(dataset, tmp_path, tokenizer):
    aged = tmp_path / "aged_tokenizer"
    save_pretrained(from_pretrained(tokenizer).with_age_buckets(4), aged)
    config = DecoderStageConfig(tokenizer=aged, predict=None, frames=3, decoder_channels=(4, 8, 8))
    stage = DecoderStage(config, dataset, tmp_path)
    assert stage.model.config.age_buckets == 0 and stage.model.age_film is None  # never trained on real latents
    assert stage.predict is None and stage.train_data[0]["rgb"].shape == (3, 64, 64, 3)
    assert stage.model.config.decoder_channels == (4, 8, 8) and stage.extra["decoder_trained_on"] == "real latents"
    loss, metrics = stage.loss(stage.model, batch_of(stage, 2))
    loss.backward()
    assert loss.isfinite() and "psnr_encoded" in metrics and "psnr_imagined" not in metrics
    assert all(p.grad is None for n, p in stage.model.named_parameters() if n.startswith(("encoder", "to_latent")))
    with pytest.raises(ValueError, match="needs a predict model"):
        DecoderStageConfig(tokenizer=tokenizer, predict=None, age_buckets=4)


def test_decoder_stage_with_a_discriminator(dataset, tmp_path, tokenizer):
    config = DecoderStageConfig(tokenizer=tokenizer, predict=None, frames=2, adversarial=0.1, discriminator="tiny")
    stage = DecoderStage(config, dataset, tmp_path)
    loss, metrics = stage.loss(stage.model, batch_of(stage, 2))
    loss.backward()
    assert {"adversarial_generator", "discriminator_accuracy"} <= set(metrics) and stage.extra["adversarial"] == 0.1
    assert all(p.grad is not None for p in stage.adversary.parameters())
    assert DecoderStage(dataclasses.replace(config, adversarial=0.0), dataset, tmp_path).adversary is None
    with pytest.raises(ValueError, match="unknown discriminator size 'huge'"):
        DecoderStage(dataclasses.replace(config, discriminator="huge"), dataset, tmp_path)
    with pytest.raises(ValueError, match="adversarial must be >= 0"):
        DecoderStageConfig(tokenizer=tokenizer, predict=None, adversarial=-1)


def test_decoder_stage_age_conditioning(dataset, tmp_path, tokenizer):
    predict = tiny_predict(dataset, tmp_path, tokenizer)
    settings = DecoderStageConfig(tokenizer=tokenizer, predict=predict, horizon=2, age_buckets=4)
    aged = DecoderStage(settings, dataset, tmp_path)
    loss, _ = aged.loss(aged.model, batch_of(aged, 2))
    loss.backward()
    grads = torch.stack([film.weight.grad.abs().sum(1) for film in aged.model.age_film])  # (stages, buckets)
    assert aged.model.config.age_buckets == 4 and (grads[:, 1:3] > 0).all()
    assert not grads[:, 0].any() and not grads[:, 3].any()  # age 0 is never modulated; no age 4+ in these clips
    only = DecoderStage(dataclasses.replace(settings, age_only=True), dataset, tmp_path)
    assert {n.split(".")[0] for n, p in only.model.named_parameters() if p.requires_grad} == {"age_film"}


@pytest.mark.parametrize(
    "settings, match",
    [
        (lambda: DecoderStageConfig(tokenizer="t", predict="p", horizon=0), "horizon"),
        (lambda: PredictStageConfig(tokenizer="t", context_noise=1.0), "context_noise"),
        (lambda: PredictStageConfig(tokenizer="t", pure_noise_fraction=1.5), "pure_noise_fraction"),
        (lambda: ReasonStageConfig(tokenizer="t", predict=None, clip=1), "clip"),
        (lambda: TokenizerStageConfig(loss=ReconstructionWeights(ssim=-1)), "loss.ssim"),
    ],
)
def test_stage_settings_name_the_bad_field(settings, match):
    with pytest.raises(ValueError, match=match):
        settings()


COMMON = [
    "task=hopper",
    "stage.size=tiny",
    "train.steps=2",
    "train.batch_size=2",
    "train.val_every=2",
    "train.ckpt_every=2",
    "train.progress=false",
]


@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory):
    """Tokenizer, Predict and Reason trained 2 steps each through the CLI."""
    root = tmp_path_factory.mktemp("runs")
    common = [f"data={dataset}", *COMMON]
    assert main(["train", "stage=tokenizer", f"out={root}/tok", *common]) == 0
    assert main(["train", "stage=predict", f"out={root}/pred", f"stage.tokenizer={root}/tok/model", *common]) == 0
    args = [f"stage.tokenizer={root}/tok/model", f"stage.predict={root}/pred/model", "stage.imagined_clips=8"]
    assert main(["train", "stage=reason", f"out={root}/reason", *args, *common]) == 0
    return root


def test_train_command_trains_predict_and_reason(trained):
    model = from_pretrained(trained / "pred" / "model", expected_class="PredictModel")
    assert model.config.obs_dim == 11 and model.config.action_dim == 3
    critic = from_pretrained(trained / "reason" / "model", expected_class="ReasonModel")
    assert critic.config.clip == 4 and critic.config.obs_dim == 11


def test_train_command_stage_overrides(dataset, trained, tmp_path):
    args = [f"data={dataset}", *COMMON, f"stage.tokenizer={trained}/tok/model", "stage.context=2"]
    assert main(["train", "stage=predict", f"out={tmp_path}/pred", *args]) == 0
    assert read_config(tmp_path / "pred" / "model")["extra"]["context"] == 2
    assert main(["train", "stage=predict", f"out={tmp_path}/p2", *args, "stage.contxt=3"]) == 2  # a typo
    assert main(["train", "stage=predict", f"out={tmp_path}/p3", *args, "stage.context_noise=1.5"]) == 2


def test_train_command_decoder_keeps_the_encoder(dataset, trained, tmp_path):
    parts = [f"stage.tokenizer={trained}/tok/model", f"stage.predict={trained}/pred/model"]
    args = ["train", "stage=decoder", f"out={tmp_path}/dec", *parts, "stage.horizon=2", "stage.age_buckets=3"]
    assert main([*args, f"data={dataset}", *COMMON[:1], *COMMON[2:]]) == 0
    assert from_pretrained(tmp_path / "dec" / "model").config.age_buckets == 3
    before, after = (from_pretrained(p).state_dict() for p in (trained / "tok" / "model", tmp_path / "dec" / "model"))
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith(("encoder", "to_latent")))
    assert not all(torch.equal(before[k], after[k]) for k in before if k.startswith("decoder."))
    assert "age_film.0.weight" in after and "age_film.0.weight" not in before
    record = read_config(tmp_path / "dec" / "model")["extra"]
    assert record["stage"] == "decoder" and record["tokenizer_record"]["stage"] == "tokenizer"  # both runs on file


def test_train_command_trains_a_new_narrow_decoder(dataset, trained, tmp_path):
    parts = [f"stage.tokenizer={trained}/tok/model", f"stage.predict={trained}/pred/model", "stage.horizon=1"]
    args = ["train", "stage=decoder", f"out={tmp_path}/dec", *parts, "stage.decoder_channels=[4,8,8]"]
    assert main([*args, f"data={dataset}", *COMMON[:1], *COMMON[2:]]) == 0
    narrow = from_pretrained(tmp_path / "dec" / "model")
    assert narrow.config.decoder_channels == (4, 8, 8) and narrow.rgb_head.in_channels == 4
    before = from_pretrained(trained / "tok" / "model").state_dict()
    assert all(torch.equal(before[k], narrow.state_dict()[k]) for k in before if k.startswith(("encoder", "to_latent")))


def test_train_command_trains_a_pose_probe(dataset, tmp_path):
    common = [f"data={dataset}", f"out={tmp_path}/probe", *(c for c in COMMON if not c.startswith("stage."))]
    assert main(["train", "stage=probe", *common]) == 0
    probe = from_pretrained(tmp_path / "probe" / "model", expected_class="PoseProbe")
    episode = EpisodeDataset(dataset).episode(0, ("rgb", "obs"))
    read = probe.read(torch.from_numpy(np.asarray(episode["rgb"][:5])))
    assert read.shape == (5, 11) and torch.isfinite(read).all()
    assert probe.obs_std.min() > 0


def test_train_command_trains_transfer_on_styled_frames(dataset, tmp_path):
    styled = tmp_path / "styled"
    collect("hopper", steps=40, out=styled, workers=1, progress=False, styles="random")
    common = [*(c for c in COMMON if not c.startswith("stage.")), "stage.size=tiny"]
    assert main(["train", "stage=transfer", f"data={styled}", f"out={tmp_path}/transfer", *common]) == 0
    model = from_pretrained(tmp_path / "transfer" / "model", expected_class="TransferModel")
    assert model.style_std.min() > 0
    assert main(["train", "stage=transfer", f"data={dataset}", f"out={tmp_path}/t2", *common]) == 2  # no styles


def test_train_command_refuses_what_cannot_run(dataset, trained, tmp_path):
    common = [f"data={dataset}", *COMMON]
    decoder = ["train", "stage=decoder", f"out={tmp_path}/dec", f"stage.tokenizer={trained}/tok/model"]
    ages = [*decoder, "stage.predict=null", "stage.age_buckets=4"]
    assert main([*ages, *common[:2], *common[3:]]) == 2  # age conditioning needs imagined latents
    assert main(["train", "stage=transfer", f"out={tmp_path}/t", *common]) == 2  # not a stage (yet)
    missing = ["train", "stage=predict", f"out={tmp_path}/p", f"stage.tokenizer={tmp_path}/missing"]
    assert main([*missing, *common]) == 2


def test_train_command_warm_start_from_weights(dataset, trained, tmp_path):
    args = [f"stage.tokenizer={trained}/tok/model", "stage.predict=null", f"init={trained}/reason/model"]
    assert main(["train", "stage=reason", f"out={tmp_path}/r", *args, f"data={dataset}", *COMMON]) == 0


def test_export_makes_one_world_model_directory(trained, tmp_path):
    parts = [f"tokenizer={trained}/tok/model", f"predict={trained}/pred/model", f"reason={trained}/reason/model"]
    assert main(["export", "task=hopper", *parts, f"out={tmp_path}/wm"]) == 0
    env = gym.make("cosmos_env/WorldModel-v0", weights=tmp_path / "wm")
    obs, _ = env.reset(seed=3)
    assert obs.shape == (11,) and np.isfinite(env.step(env.action_space.sample())[0]).all()
    assert sorted(p.name for p in (tmp_path / "wm" / "predict").iterdir()) == ["config.json", "model.safetensors"]


def test_export_writes_sampling_choices_into_predicts_config(trained, tmp_path):
    parts = [f"tokenizer={trained}/tok/model", f"predict={trained}/pred/model", f"reason={trained}/reason/model"]
    assert main(["export", "task=hopper", *parts, f"out={tmp_path}/wm", "rollout_context_noise=0.2"]) == 0
    assert from_pretrained(tmp_path / "wm" / "predict").config.rollout_context_noise == 0.2
    assert from_pretrained(trained / "pred" / "model").config.rollout_context_noise == 0.0
    assert main(["export", "task=hopper", *parts, f"out={tmp_path}/plain", "decoder_age=false"]) == 0
    assert read_config(tmp_path / "plain" / "tokenizer")["extra"]["decoder_age"] is False
    assert from_pretrained(tmp_path / "plain" / "tokenizer").config.age_buckets == 0


def test_export_ships_a_transfer_model_for_styled_frames(trained, tmp_path):
    from cosmos_env.testing import tiny_world_model

    tiny_world_model("hopper", transfer=True).save_pretrained(tmp_path / "tiny")
    parts = [f"tokenizer={trained}/tok/model", f"predict={trained}/pred/model", f"reason={trained}/reason/model"]
    assert main(["export", "task=hopper", *parts, f"out={tmp_path}/wm", f"transfer={tmp_path}/tiny/transfer"]) == 0
    env = gym.make("cosmos_env/WorldModel-v0", weights=tmp_path / "wm", obs_mode="pixels", style="dusk")
    obs, info = env.reset(seed=3)
    assert obs.shape == (64, 64, 3) and info["style"].shape == (12,)
    assert main(["export", "task=hopper", *parts, f"out={tmp_path}/no", f"transfer={tmp_path}/none"]) == 2


def test_export_refuses_a_missing_part(trained, tmp_path):
    parts = [f"tokenizer={trained}/tok/model", f"predict={trained}/pred/model", f"reason={tmp_path}/none"]
    assert main(["export", "task=hopper", *parts, f"out={tmp_path}/wm2"]) == 2
    assert not (tmp_path / "wm2").exists()


def test_a_fresh_run_is_reproducible(dataset, tmp_path):
    """The initial weights come from train.seed, not from whatever the process drew before."""
    args = ["train", "stage=tokenizer", f"data={dataset}", *COMMON[:1], *COMMON[2:], "stage.size=tiny"]
    assert main([*args, f"out={tmp_path}/a", "train.steps=1"]) == 0
    torch.rand(7)  # another draw in between
    assert main([*args, f"out={tmp_path}/b", "train.steps=1"]) == 0
    a, b = (from_pretrained(tmp_path / d / "model").state_dict() for d in ("a", "b"))
    assert all(torch.equal(a[k], b[k]) for k in a)
