"""torchrun --nproc_per_node=2 ddp_train.py OUT: the toy stage under DistributedDataParallel."""

import json
import os
import sys

import torch.distributed as dist

sys.path.insert(0, os.path.dirname(__file__))
from toy_stage import ToyStage  # noqa: E402

from worldmodels.train import StepBatchSampler, TrainConfig, train  # noqa: E402

out = sys.argv[1]
stage = ToyStage()
train(
    stage, TrainConfig(out=out, steps=4, batch_size=3, warmup=1, val_every=2, ckpt_every=2, log_every=1, progress=False)
)
rank = dist.get_rank()
batch = StepBatchSampler(len(stage.train_data), 3, 0, 0, rank, dist.get_world_size()).batch_at(0)
with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
    json.dump(
        {
            "world": dist.get_world_size(),
            "first_batch": batch,
            "param_sum": float(sum(p.sum() for p in stage.model.parameters())),
        },
        f,
    )
dist.destroy_process_group()
