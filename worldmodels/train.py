"""One training loop for every stage (tokenizer, predict, and later transfer, reason).

A :class:`Stage` brings a model, its datasets and its loss; :func:`train` brings AdamW
with warm-up, gradient clipping, EMA weights, bf16 autocast on CUDA, periodic validation,
tensorboard scalars and ``metrics.jsonl``, a progress bar, checkpoints every
``ckpt_every`` steps, and DistributedDataParallel under ``torchrun``.

Resuming is exact: batch ``s`` is a pure function of (seed, s) (a seeded permutation per
epoch, sliced by step and rank) and so is the step's noise (the RNG is seeded by (seed,
step, rank)), so a run killed after checkpoint s and restarted reaches the same weights
as one that never stopped.

Run directory::

    checkpoints/step-000400/   model (EMA) + config, raw.safetensors (online weights),
                               optimizer.safetensors, state.json
                               [adversary.safetensors: a stage's discriminator]
    latest.json                the newest complete checkpoint, written last
    model/                     the final EMA model (from_pretrained loads it)
    metrics.jsonl, tb/
"""

from __future__ import annotations

import copy
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import safetensors.torch
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm.auto import tqdm

from worldmodels.checkpoint import (
    CheckpointError,
    config_from_dict,
    config_to_dict,
    load_state,
    read_config,
    save_pretrained,
    verify_model,
    write_directory,
)
from worldmodels.io import atomic_write_bytes, atomic_write_json, file_sha256, integrity_problem


@dataclass(frozen=True)
class TrainConfig:
    out: str
    """Run directory: checkpoints, logs, the final model."""
    steps: int = 2000
    batch_size: int = 32
    """Per process; the global batch is batch_size x world size."""
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup: int = 100
    cooldown: int = 0
    """The last ``cooldown`` steps decay the learning rate linearly towards 0
    (warmup-stable-decay): a run extended with more ``steps`` still ends annealed."""
    ema: float = 0.999
    grad_clip: float = 1.0
    val_every: int = 250
    val_batches: int = 4
    ckpt_every: int = 250
    keep_checkpoints: int = 2
    log_every: int = 10
    seed: int = 0
    num_workers: int = 0
    progress: bool = True
    compile: bool = False
    """``torch.compile`` the training forward (figures: docs/design-notes.md); the first
    steps then wait for the compilation."""


class Stage(Protocol):
    name: str
    model: nn.Module
    train_data: Dataset
    val_data: Dataset
    extra: dict[str, Any]
    """Saved in the model's config.json (what it was trained on, normalisers, ...)."""
    # A stage may also have ``adversary`` (an nn.Module or None), e.g. a discriminator: its
    # loss trains it beside the model (own parameter group, Adam betas (0.5, 0.9)); kept in
    # checkpoints to resume, never in the model.

    def loss(self, net: Callable, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """``net`` is the model's forward (DDP-wrapped under torchrun)."""
        ...


class StepBatchSampler(Sampler[list[int]]):
    """Yields the batches of steps ``start, start + 1, ...``: batch s of rank r is
    positions [s*G + r*B, s*G + (r+1)*B) of an endless sequence of seeded permutations
    (G = B x world size), so the data position is a function of the step alone."""

    def __init__(self, n: int, batch_size: int, seed: int, start_step: int, rank: int = 0, world: int = 1) -> None:
        if n == 0:
            raise ValueError("the training dataset is empty")
        self.n, self.batch, self.seed, self.start = n, batch_size, seed, start_step
        self.rank, self.world = rank, world
        self._epoch, self._perm = -1, None

    def _at(self, position: int) -> int:
        epoch, offset = divmod(position, self.n)
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
            self._epoch, self._perm = epoch, torch.randperm(self.n, generator=gen)
        return int(self._perm[offset])

    def batch_at(self, step: int) -> list[int]:
        first = step * self.batch * self.world + self.rank * self.batch
        return [self._at(p) for p in range(first, first + self.batch)]

    def __iter__(self) -> Iterator[list[int]]:
        step = self.start
        while True:
            yield self.batch_at(step)
            step += 1

    def __len__(self) -> int:
        return 2**62  # endless; the loop counts steps


def _save_optimizer(optimizer: torch.optim.Optimizer, path: Path) -> None:
    state = optimizer.state_dict()
    tensors = {
        f"{pid}.{key}": value.detach().cpu().contiguous() if torch.is_tensor(value) else torch.tensor(value)
        for pid, entry in state["state"].items()
        for key, value in entry.items()
    }
    meta = {"param_groups": json.dumps(state["param_groups"])}
    atomic_write_bytes(path, safetensors.torch.save(tensors, metadata=meta))


def _load_optimizer(optimizer: torch.optim.Optimizer, path: Path) -> None:
    with safetensors.safe_open(str(path), framework="pt") as f:
        groups = json.loads(f.metadata()["param_groups"])
        state: dict[int, dict[str, torch.Tensor]] = {}
        for key in f.keys():
            pid, name = key.split(".", 1)
            state.setdefault(int(pid), {})[name] = f.get_tensor(key)
    optimizer.load_state_dict({"state": state, "param_groups": groups})


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p.detach(), 1 - decay)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)


class _Distributed:
    def __init__(self) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        cuda = torch.cuda.is_available()
        self.device = torch.device(f"cuda:{local}" if cuda else "cpu")
        if self.world > 1 and not dist.is_initialized():
            if cuda:
                torch.cuda.set_device(self.device)
            dist.init_process_group("nccl" if cuda else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def mean(self, value: float) -> float:
        if self.world == 1:
            return value
        t = torch.tensor([value], device=self.device)
        dist.all_reduce(t)
        return t.item() / self.world


def _checkpoint(
    out: Path,
    step: int,
    model: nn.Module,
    ema: nn.Module,
    optimizer: torch.optim.Optimizer,
    adversary: nn.Module | None,
    stage: Stage,
    cfg: TrainConfig,
    world: int,
    seconds: float,
) -> None:
    name = f"checkpoints/step-{step:08d}"

    def write(tmp: Path) -> None:
        save_pretrained(
            ema,
            tmp,
            extra={
                **stage.extra,
                "stage": stage.name,
                "step": step,
                "train_seconds": round(seconds, 3),
                "device": _device_name(),
            },
        )
        atomic_write_bytes(tmp / "raw.safetensors", safetensors.torch.save(_tensors(model)))
        _save_optimizer(optimizer, tmp / "optimizer.safetensors")
        files = RESUME_FILES
        if adversary is not None:
            atomic_write_bytes(tmp / ADVERSARY_FILE, safetensors.torch.save(_tensors(adversary)))
            files += (ADVERSARY_FILE,)
        atomic_write_json(
            tmp / "state.json",
            {
                "sha256": {f: file_sha256(tmp / f) for f in files},
                "step": step,
                "world_size": world,
                "train_seconds": seconds,
                "device": _device_name(),
                "train": asdict(cfg),
            },
        )

    write_directory(out / name, write)
    atomic_write_json(out / "latest.json", {"step": step, "dir": name})
    kept = sorted((out / "checkpoints").glob("step-*"))
    for old in kept[: -cfg.keep_checkpoints]:
        shutil.rmtree(old, ignore_errors=True)


def _tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def _device_name() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return f"CPU, {torch.get_num_threads()} threads"


def _resume(
    out: Path, model: nn.Module, ema: nn.Module, optimizer: torch.optim.Optimizer, adversary: nn.Module | None
) -> tuple[int, float]:
    """Load the latest checkpoint; returns (step, training seconds so far)."""
    latest = out / "latest.json"
    if not latest.is_file():
        return 0, 0.0
    ckpt = out / json.loads(latest.read_text())["dir"]
    # through the dataclass: a field added since the run started takes its default
    saved = config_to_dict(config_from_dict(type(model.config), read_config(ckpt)["config"], source=str(ckpt)))
    ours = config_to_dict(model.config)
    changed = sorted(k for k in set(saved) | set(ours) if saved.get(k) != ours.get(k))
    if changed:
        diff = ", ".join(f"{k}: {saved.get(k)!r} -> {ours.get(k)!r}" for k in changed)
        raise CheckpointError(
            f"{ckpt}: the run was started with another model config ({diff}); use a new out directory"
        )
    state = json.loads((ckpt / "state.json").read_text())
    had_adversary = ADVERSARY_FILE in state.get("sha256", {})
    if had_adversary != (adversary is not None):
        raise CheckpointError(
            f"{ckpt}: the run was started {'with' if had_adversary else 'without'} an adversary (a discriminator), "
            f"this stage has {'one' if adversary is not None else 'none'}; use a new out directory"
        )
    verify_checkpoint(ckpt)
    load_state(model, ckpt / "raw.safetensors", safetensors.torch.load_file(ckpt / "raw.safetensors"))
    load_state(ema, ckpt / "model.safetensors")
    _load_optimizer(optimizer, ckpt / "optimizer.safetensors")
    if adversary is not None:
        load_state(adversary, ckpt / ADVERSARY_FILE, safetensors.torch.load_file(ckpt / ADVERSARY_FILE))
    return state["step"], state.get("train_seconds", 0.0)


RESUME_FILES = ("raw.safetensors", "optimizer.safetensors")
"""A checkpoint's files beside its model (whose SHA-256 is in its config.json)."""
ADVERSARY_FILE = "adversary.safetensors"
"""A stage's adversary's weights, in checkpoints of stages that have one."""


def verify_checkpoint(ckpt: Path) -> None:
    """Raise CheckpointError when a training checkpoint's files differ from their SHA-256."""
    verify_model(ckpt)
    recorded = json.loads((ckpt / "state.json").read_text()).get("sha256", {})
    for name in RESUME_FILES + ((ADVERSARY_FILE,) if ADVERSARY_FILE in recorded else ()):
        fix = "delete this checkpoint to resume from an older one"
        problem = integrity_problem(ckpt / name, recorded.get(name), fix)
        if problem:
            raise CheckpointError(problem)


def _drop_log_after(path: Path, step: int) -> None:
    if path.is_file():
        lines = [x for x in path.read_text().splitlines() if json.loads(x)["step"] <= step]
        atomic_write_bytes(path, "".join(x + "\n" for x in lines).encode())


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Multiplier of ``cfg.lr`` for the update made at 0-based ``step``."""
    warm = (step + 1) / max(cfg.warmup, 1)
    cool = (cfg.steps - step) / cfg.cooldown if cfg.cooldown > 0 else 1.0
    return min(1.0, warm, cool)


def train(stage: Stage, cfg: TrainConfig) -> Path:
    """Train ``stage.model`` to ``cfg.steps`` (resuming from ``cfg.out`` if it has a
    checkpoint); returns the directory of the final EMA model."""
    ddp = _Distributed()
    out = Path(cfg.out)
    model = stage.model.to(ddp.device)
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    decay_params = [p for n, p in model.named_parameters() if p.ndim >= 2]
    other_params = [p for n, p in model.named_parameters() if p.ndim < 2]
    groups = [{"params": decay_params, "weight_decay": cfg.weight_decay}, {"params": other_params, "weight_decay": 0.0}]
    adversary = getattr(stage, "adversary", None)
    if adversary is not None:
        adversary.to(ddp.device).train()
        groups.append({"params": list(adversary.parameters()), "weight_decay": 0.0, "betas": (0.5, 0.9)})
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.99))
    start, seconds_before = _resume(out, model, ema, optimizer, adversary)
    run_start = time.perf_counter()
    net = nn.parallel.DistributedDataParallel(model) if ddp.world > 1 else model
    if cfg.compile:
        net = torch.compile(net)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=ddp.device.type == "cuda")

    sampler = StepBatchSampler(len(stage.train_data), cfg.batch_size, cfg.seed, start, ddp.rank, ddp.world)
    loader = DataLoader(
        stage.train_data, batch_sampler=sampler, num_workers=cfg.num_workers, persistent_workers=cfg.num_workers > 0
    )
    writer = None
    if ddp.main:
        from torch.utils.tensorboard import SummaryWriter

        out.mkdir(parents=True, exist_ok=True)
        writer = SummaryWriter(str(out / "tb"), purge_step=start)
        _drop_log_after(out / "metrics.jsonl", start)  # written after the checkpoint by a killed run
    log = open(out / "metrics.jsonl", "a") if ddp.main else None
    bar = tqdm(
        total=cfg.steps, initial=start, desc=f"train {stage.name}", unit="step", disable=not (cfg.progress and ddp.main)
    )

    def record(step: int, metrics: dict[str, float], prefix: str) -> None:
        if writer is not None:
            for k, v in metrics.items():
                writer.add_scalar(f"{prefix}/{k}", v, step)
            log.write(json.dumps({"step": step, "split": prefix, **metrics}) + "\n")
            log.flush()

    step, tic = start, time.perf_counter()
    batches = iter(loader)
    while step < cfg.steps:
        batch = {k: v.to(ddp.device, non_blocking=True) for k, v in next(batches).items()}
        for group in optimizer.param_groups:
            group["lr"] = cfg.lr * lr_factor(step, cfg)
        torch.manual_seed(cfg.seed * 1_000_003 + step * 101 + ddp.rank)
        model.train()
        with autocast:
            loss, metrics = stage.loss(net, batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"step {step}: loss is {loss.item()}; lower lr or check the data")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        if adversary is not None:
            if ddp.world > 1:  # not DDP-wrapped: average its gradients by hand
                for p in adversary.parameters():
                    if p.grad is not None:
                        dist.all_reduce(p.grad)
                        p.grad /= ddp.world
            nn.utils.clip_grad_norm_(adversary.parameters(), cfg.grad_clip)
        optimizer.step()
        update_ema(ema, model, min(cfg.ema, (1 + step) / (10 + step)))  # EMA warm-up: early weights fade fast
        step += 1
        bar.update(1)
        if step % cfg.log_every == 0 or step == cfg.steps:
            metrics = {k: ddp.mean(v) for k, v in {**metrics, "loss": loss.item()}.items()}
            metrics.update(
                grad_norm=float(grad_norm),
                lr=optimizer.param_groups[0]["lr"],
                steps_per_s=cfg.log_every / (time.perf_counter() - tic),
            )
            tic = time.perf_counter()
            bar.set_postfix(loss=f"{metrics['loss']:.4f}")
            record(step, metrics, "train")
        if step % cfg.val_every == 0 or step == cfg.steps:
            record(step, validate(stage, ema, cfg, ddp.device), "val")
        if ddp.main and (step % cfg.ckpt_every == 0 or step == cfg.steps):
            seconds = seconds_before + time.perf_counter() - run_start
            _checkpoint(out, step, model, ema, optimizer, adversary, stage, cfg, ddp.world, seconds)
    bar.close()
    final = out / "model"
    if ddp.main:
        seconds = seconds_before + time.perf_counter() - run_start
        save_pretrained(
            ema,
            final,
            extra={
                **stage.extra,
                "stage": stage.name,
                "step": step,
                "train_seconds": round(seconds, 3),
                "device": _device_name(),
            },
        )
        writer.close()
        log.close()
    if ddp.world > 1:
        dist.barrier()
    return final


@torch.no_grad()
def validate(stage: Stage, model: nn.Module, cfg: TrainConfig, device: torch.device) -> dict[str, float]:
    """Mean loss metrics of the EMA model over ``val_batches`` batches of validation samples
    spread evenly over the split, with fixed noise so values are comparable across steps."""
    model.eval()
    n = min(len(stage.val_data), cfg.val_batches * cfg.batch_size)
    if n == 0:
        return {}
    rng_state = torch.get_rng_state()
    torch.manual_seed(cfg.seed)
    totals: dict[str, float] = {}
    count = 0
    spread = torch.linspace(0, len(stage.val_data) - 1, n).round().long().unique().tolist()
    loader = DataLoader(torch.utils.data.Subset(stage.val_data, spread), batch_size=cfg.batch_size)
    for batch in loader:
        batch = {k: v.to(device) for k, v in batch.items()}
        loss, metrics = stage.loss(model, batch)
        for k, v in {**metrics, "loss": loss.item()}.items():
            totals[k] = totals.get(k, 0.0) + v * len(next(iter(batch.values())))
        count += len(next(iter(batch.values())))
    torch.set_rng_state(rng_state)
    return {k: v / count for k, v in totals.items() if math.isfinite(v)}
