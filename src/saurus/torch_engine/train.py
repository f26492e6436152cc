"""Training with torch: the same batches, loss, schedule and monitor as the NumPy engine.

One step: logits = model(inputs); loss = masked mean cross-entropy (nats per character);
backward; clip to global norm; the optimizer's update at the schedule's learning rate.
On a GPU the forward pass runs under bf16 autocast. The monitor sees a TorchTrainee: its
`params` are the torch tensors (the best ones are copied aside), and `as_numpy()` exports
the weights to the NumPy model that is evaluated and saved, so the numbers and the file
are the NumPy engine's.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (the usual name)

from saurus.data.batches import LineBatches, StreamBatches
from saurus.data.corpus import Corpus, LinesCorpus
from saurus.data.vocab import Vocab
from saurus.errors import OptionError
from saurus.generation.evaluation import LossReport
from saurus.torch_engine import distributed
from saurus.torch_engine.convert import recurrent_from_numpy, to_numpy, transformer_from_numpy
from saurus.torch_engine.evaluate import estimate_torch_seconds, torch_loss
from saurus.torch_engine.modules import RecurrentLM, TransformerLM
from saurus.training.config import TrainConfig

OPTIMIZERS = {
    "sgd": lambda params, wd: torch.optim.SGD(params, lr=0.0, momentum=0.9, weight_decay=wd),
    "adagrad": lambda params, wd: torch.optim.Adagrad(params, lr=0.0, weight_decay=wd),
    "adam": lambda params, wd: torch.optim.Adam(params, lr=0.0),
    "adamw": lambda params, wd: torch.optim.AdamW(params, lr=0.0, weight_decay=wd),
}


def pick_device(name: str | None, world: distributed.World) -> torch.device:
    """cpu or cuda (auto: cuda where visible); under torchrun, this rank's GPU."""
    if name in (None, "auto"):
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and torch.cuda.is_available():
        return torch.device("cuda", world.local_rank % torch.cuda.device_count())
    if name == "cuda" and not torch.cuda.is_available():
        raise OptionError("--device cuda: no GPU is visible to PyTorch here; use --device cpu")
    return torch.device(name)


@dataclass
class TorchTrainee:
    """What the monitor needs of a model in training, for a torch module."""

    module: torch.nn.Module
    vocab: Vocab
    mode: str
    lowercase: bool
    dtype: str
    seen: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))
    world: distributed.World = field(default_factory=distributed.World)
    interrupts: distributed.Interrupts = field(default_factory=distributed.Interrupts)
    average: dict[str, torch.Tensor] | None = None  # --ema: the moving average, by parameter name

    @property
    def params(self) -> dict[str, torch.Tensor]:
        """The weights evaluated, kept and saved: the moving average under --ema."""
        if self.average is not None:
            return self.average
        return {name: p.data for name, p in self.module.named_parameters()}

    def start_average(self) -> None:
        self.average = {name: p.detach().clone() for name, p in self.module.named_parameters()}

    def update_average(self, decay: float, step: int) -> None:
        """avg <- d avg + (1 - d) w, with d = min(decay, (1 + t) / (10 + t)) so that the
        first steps do not leave the initial weights in the average for long."""
        assert self.average is not None
        d = min(decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for name, p in self.module.named_parameters():
                self.average[name].lerp_(p.detach(), 1.0 - d)

    def is_finite(self) -> bool:
        return all(bool(torch.isfinite(p).all()) for p in self.module.parameters())

    def evaluate(self, corpus: Corpus) -> LossReport:
        """The validation loss by torch itself (saurus.torch_engine.evaluate), equal to the
        NumPy evaluation of as_numpy()."""
        with weights_swapped(self.module, self.average):
            return torch_loss(self.module, self, corpus)

    def estimate_eval_seconds(self, corpus: Corpus) -> float:
        with weights_swapped(self.module, self.average):
            return estimate_torch_seconds(self.module, self, corpus)

    def as_numpy(self) -> Any:
        with weights_swapped(self.module, self.average):
            model = to_numpy(self.module, self.vocab, self.mode, lowercase=self.lowercase, dtype=self.dtype)
        model.seen = self.seen
        return model


@contextlib.contextmanager
def weights_swapped(module: torch.nn.Module, weights: dict[str, torch.Tensor] | None) -> Iterator[None]:
    """Within the block the module's parameters hold `weights` (no copy); None: unchanged."""
    if weights is None:
        yield
        return
    own = {name: p.data for name, p in module.named_parameters()}
    try:
        for name, p in module.named_parameters():
            p.data = weights[name]
        yield
    finally:
        for name, p in module.named_parameters():
            p.data = own[name]


def build_module(cfg: TrainConfig, vocab: Vocab, longest: int, start: Any | None) -> torch.nn.Module:
    """A new module for `cfg`, or one holding the weights of the NumPy model `start`."""
    assert cfg.hidden and cfg.layers is not None
    if start is not None:
        if start.vocab != vocab:
            raise OptionError("--init-from: the model's characters differ from the data's")
        if cfg.family == "transformer":
            return transformer_from_numpy(start)
        return recurrent_from_numpy(start)
    torch.manual_seed(cfg.seed)
    if cfg.family == "transformer":
        context = cfg.context or max(longest, 16)
        if context < longest:
            raise OptionError(
                f"--context {context} is shorter than the longest name plus its end ({longest})"
            )
        return TransformerLM(
            vocab.size,
            cfg.hidden,
            cfg.layers,
            cfg.heads or 4,
            context,
            cfg.dropout or 0.0,
            cfg.tied,
            cfg.positions or "learned",
        )
    return RecurrentLM(vocab.size, cfg.model, cfg.hidden, cfg.layers, cfg.dropout or 0.0)


def build_torch(
    cfg: TrainConfig, corpus: Corpus, train: Corpus, seen: np.ndarray, start: Any | None = None
) -> tuple[TorchTrainee, LineBatches | StreamBatches]:
    vocab = corpus.vocab()
    encoded = train.encode(vocab)
    world = distributed.world_from_env()
    if world.active and "SAURUS_THREADS" not in os.environ:
        # torchrun sets OMP_NUM_THREADS=1; share the machine's cores between its processes
        local = int(os.environ.get("LOCAL_WORLD_SIZE", world.size))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))
    device = pick_device(cfg.device, world)
    distributed.start(world, device)
    assert cfg.batch_size
    rows = cfg.batch_size * world.size  # every rank builds the whole batch and takes its rows
    if isinstance(train, LinesCorpus):
        longest = max(len(n) for n in encoded) + 1
        batches: LineBatches | StreamBatches = LineBatches(encoded, vocab.eos_id, rows)
    else:
        longest = 0
        window = cfg.context if cfg.family == "transformer" else cfg.seq_len
        assert window
        batches = StreamBatches(encoded[0], rows, window, cfg.batching or "consecutive")
    module = build_module(cfg, vocab, longest, start).to(device)
    trainee = TorchTrainee(module, vocab, cfg.mode, cfg.lowercase, cfg.dtype or "float32", seen, world)
    return trainee, batches


def detach(state: Any) -> Any:
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def torch_steps(
    trainee: TorchTrainee,
    batches: LineBatches | StreamBatches,
    cfg: TrainConfig,
    rng: np.random.Generator,
    lr_box: list[float],
) -> Iterator[tuple[float, int]]:
    """Endless epochs of (forward, backward, clip, update); yields (nats summed, chars).
    Under torchrun each rank trains on its rows of every batch (see distributed.py) and
    steps only while rank 0 says so."""
    world = trainee.world
    device = next(trainee.module.parameters()).device
    module: torch.nn.Module = trainee.module
    if world.active:
        ids = [device.index] if device.type == "cuda" else None
        module = torch.nn.parallel.DistributedDataParallel(trainee.module, device_ids=ids)
    optimizer = OPTIMIZERS[cfg.optimizer or "adam"](module.parameters(), cfg.weight_decay)
    if cfg.compile:  # the compiled module shares its parameters with trainee.module
        module = torch.compile(module)  # type: ignore[assignment]
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else None
    module.train()
    if cfg.ema is not None:
        trainee.start_average()
    yield from steps_of(module, optimizer, autocast, batches, cfg, rng, lr_box, trainee)


def steps_of(
    module: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    autocast: Any,
    batches: LineBatches | StreamBatches,
    cfg: TrainConfig,
    rng: np.random.Generator,
    lr_box: list[float],
    trainee: TorchTrainee,
) -> Iterator[tuple[float, int]]:
    """torch_steps' loop; under torchrun rank 0 raises a pending interrupt only here, between
    steps, where every rank waits for its (go, lr)."""
    world, interrupts = trainee.world, trainee.interrupts
    device = next(module.parameters()).device
    state = None
    step = 0
    mine = slice(world.rank, None, world.size)  # this rank's rows of the whole batch
    while True:
        for batch in batches.epoch(rng):
            lr = lr_box[0]
            if world.active:
                interrupts.raise_pending()
                go, lr = distributed.signal_step(world, True, lr)
                if not go:
                    return
            x = torch.from_numpy(np.ascontiguousarray(batch.inputs.T[mine])).to(device)
            y = torch.from_numpy(np.ascontiguousarray(batch.targets.T[mine])).to(device)
            if batch.fresh:
                state = None
            if autocast is None:
                logits, state = module(x, detach(state))
            else:
                with autocast:
                    logits, state = module(x, detach(state))
            nll = F.cross_entropy(
                logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="none"
            )
            if batch.mask is not None:
                nll = nll * torch.from_numpy(np.ascontiguousarray(batch.mask.T[mine])).to(device).reshape(-1)
            count = batch.chars  # characters in the whole batch, all ranks together
            total = nll.sum()
            loss = total * (world.size / count)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.clip:
                torch.nn.utils.clip_grad_norm_(module.parameters(), cfg.clip)
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.step()
            if cfg.ema is not None:
                trainee.update_average(cfg.ema, step)
            step += 1
            # the monitor's train loss: rank 0's share, scaled to the whole batch
            yield float(total.detach()) * world.size, count
