import numpy as np
import pytest
import torch

from cosmos_env.cli import main
from cosmos_env.collect import collect
from cosmos_env.data import EpisodeDataset
from cosmos_env.report import ladder_dir
from policies.actor import MLPActor
from policies.bc import BCPolicy
from policies.protocol import as_policy

COMMON = ["task=hopper", "train.batch_size=16", "train.progress=false", "train.val_every=100", "train.ckpt_every=100"]


class ActorBehaviour:
    """A ladder actor as a collect behaviour (deterministic: BC can fit it)."""

    def __init__(self, path):
        self.actor = MLPActor.load(path)

    def __call__(self, obs):
        return self.actor.act(obs[None])[0]


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    root = tmp_path_factory.mktemp("demos") / "hopper"
    actor = sorted(p for p in ladder_dir("hopper").iterdir() if p.is_dir())[5]
    collect("hopper", steps=300, out=root, behaviour=ActorBehaviour(actor), workers=1, progress=False)
    return root, actor


def test_state_bc_imitates_a_ladder_actor(demos, tmp_path):
    data, actor = demos
    steps = ["train.steps=300", "train.ema=0.9"]  # a short run: the saved EMA must not lag behind
    assert main(["train", "stage=bc", f"data={data}", f"out={tmp_path}/bc", *steps, *COMMON]) == 0
    policy = as_policy(tmp_path / "bc" / "model")
    assert isinstance(policy, BCPolicy)
    obs = np.asarray(EpisodeDataset(data).episode(0, ("obs",))["obs"][:50])
    expert = MLPActor.load(actor).act(obs)
    untrained = np.abs(expert).mean()  # what predicting 0 costs
    assert np.abs(policy.act(obs) - expert).mean() < 0.85 * untrained  # 300 steps: on its way


def test_pixel_bc_keeps_a_frame_stack_per_env_and_trains_with_transfer(demos, tmp_path):
    from cosmos_env.testing import tiny_world_model
    from worldmodels.checkpoint import save_pretrained

    data, _ = demos
    save_pretrained(tiny_world_model("hopper", transfer=True).transfer, tmp_path / "transfer")
    args = ["stage.obs=pixels", "stage.size=tiny", f"stage.transfer={tmp_path}/transfer", "train.steps=3", *COMMON]
    assert main(["train", "stage=bc", f"data={data}", f"out={tmp_path}/pix", *args]) == 0
    policy = as_policy(tmp_path / "pix" / "model")
    frames = np.random.default_rng(0).integers(0, 255, (2, 64, 64, 3), dtype=np.uint8)
    first = policy.act(frames)
    assert first.shape == (2, 3) and policy.stack.shape == (2, 3, 64, 64, 3)
    assert (policy.stack[:, 0] == policy.stack[:, 2]).all()  # an episode's first frame fills the stack
    policy.act(frames[::-1].copy())
    assert not torch.equal(policy.stack[:, 0], policy.stack[:, 2])
    policy.reset()
    np.testing.assert_allclose(policy.act(frames), first, rtol=1e-6)
    with pytest.raises(ValueError, match="acts on pixels"):
        policy.act({"state": np.zeros((2, 11))})
    assert main(["train", "stage=bc", f"data={data}", f"out={tmp_path}/x", "stage.transfer=t", *COMMON]) == 2


def test_inverse_dynamics_labels_the_actions_between_rows(demos, tmp_path):
    from policies.idm import label_clip
    from worldmodels.checkpoint import from_pretrained

    data, _ = demos
    args = ["stage.obs=state", "train.steps=300", "train.ema=0.9", *COMMON]
    assert main(["train", "stage=idm", f"data={data}", f"out={tmp_path}/idm", *args]) == 0
    idm = from_pretrained(tmp_path / "idm" / "model", expected_class="IDMModel")
    episode = EpisodeDataset(data).episode(0, ("obs", "action"))
    obs, actions = torch.from_numpy(np.asarray(episode["obs"][:40]))[None], np.asarray(episode["action"][:39])
    labels = label_clip(idm, obs, None)[0].numpy()
    assert labels.shape == (39, 3)
    assert np.abs(labels - actions).mean() < 0.85 * np.abs(actions).mean()  # 300 steps: on its way
    pixels = ["stage.obs=both", "stage.size=tiny", "train.steps=2", *COMMON]
    assert main(["train", "stage=idm", f"data={data}", f"out={tmp_path}/idm_px", *pixels]) == 0
