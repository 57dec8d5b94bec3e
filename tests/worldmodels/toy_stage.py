"""A tiny tokenizer stage on synthetic frames, for training-loop tests (also run by torchrun)."""

import torch

from worldmodels.losses import tokenizer_loss
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
