"""A tiny tokenizer stage on synthetic frames, for training-loop tests (also run by torchrun)."""

import torch

from worldmodels.discriminator import DISCRIMINATOR_SIZES, PatchDiscriminator
from worldmodels.losses import adversarial_loss, reconstruction_loss, tokenizer_loss
from worldmodels.stages import ReconstructionWeights
from worldmodels.tokenizer import Tokenizer, TokenizerConfig


class Frames(torch.utils.data.Dataset):
    def __init__(self, n: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.rgb = (torch.rand(n, 2, 16, 16, 3, generator=g) * 255).to(torch.uint8)

    def __len__(self) -> int:
        return len(self.rgb)

    def __getitem__(self, i):
        return {
            "rgb": self.rgb[i],
            "depth": torch.full((2, 16, 16), 2.0),
            "segmentation": torch.zeros(2, 16, 16, dtype=torch.long),
            "index": torch.tensor(i),
        }


class ToyStage:
    name = "toy"

    def __init__(self) -> None:
        torch.manual_seed(0)
        self.model = Tokenizer(TokenizerConfig(resolution=16, channels=(4, 8), latent_channels=2, num_segments=2))
        self.train_data, self.val_data = Frames(24, 0), Frames(4, 1)
        self.extra = {"toy": True}

    def loss(self, net, batch):
        return tokenizer_loss(net, 2, batch["rgb"], batch["depth"], batch["segmentation"], ReconstructionWeights())


class AdversarialToyStage(ToyStage):
    """The toy stage with a patch discriminator trained beside its decoder."""

    def __init__(self) -> None:
        super().__init__()
        self.adversary = PatchDiscriminator(DISCRIMINATOR_SIZES["tiny"])

    def loss(self, net, batch):
        frames = batch["rgb"].permute(0, 1, 4, 2, 3).float() / 255
        _, out = net(frames)
        loss, metrics = reconstruction_loss(
            out, 2, frames, batch["depth"], batch["segmentation"], ReconstructionWeights()
        )
        rgb_head = self.model.rgb_head.weight
        gan, gan_metrics = adversarial_loss(
            self.adversary, out["rgb"].flatten(0, 1), frames.flatten(0, 1), loss, rgb_head, 0.5
        )
        return loss + gan, {**metrics, **gan_metrics}
