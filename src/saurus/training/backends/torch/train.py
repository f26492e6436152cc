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

from saurus.data.batches import Batch, Cursor, LineBatches, StreamBatches
from saurus.data.corpus import Corpus, LinesCorpus
from saurus.data.vocab import Vocab
from saurus.errors import OptionError, TrainingError
from saurus.generation.scoring import LossReport
from saurus.training.backends.torch import distributed
from saurus.training.backends.torch.adam import ForeachAdam
from saurus.training.backends.torch.convert import recurrent_from_numpy, to_numpy, transformer_from_numpy
from saurus.training.backends.torch.evaluate import estimate_torch_seconds, torch_loss
from saurus.training.backends.torch.modules import RecurrentLM, TransformerLM
from saurus.training.config import TrainConfig
from saurus.training.interrupts import StepSignals
from saurus.training.world import World, world_from_env

OPTIMIZERS = {
    "sgd": lambda params, wd: torch.optim.SGD(params, lr=0.0, momentum=0.9, weight_decay=wd),
    "adagrad": lambda params, wd: torch.optim.Adagrad(params, lr=0.0, weight_decay=wd),
    # torch.optim's updates without its 1.4 s import of torch._dynamo (adam.py)
    "adam": lambda params, wd: ForeachAdam(params),
    "adamw": lambda params, wd: ForeachAdam(params, weight_decay=wd),
}


def gpu_visible() -> bool:
    """Whether torch sees a GPU."""
    return bool(torch.cuda.is_available())


def pick_device(name: str | None, world: World) -> torch.device:
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
    world: World = field(default_factory=World)
    interrupts: StepSignals = field(default_factory=StepSignals)
    average: dict[str, torch.Tensor] | None = None  # --ema: the moving average, by parameter name
    categories: tuple[str, ...] = ()  # a labelled model's (saurus.generation.categories)
    category_counts: np.ndarray | None = None  # the training names of each category

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
        """The validation loss by torch itself (saurus.training.backends.torch.evaluate), equal to the
        NumPy evaluation of as_numpy()."""
        with weights_swapped(self.module, self.average):
            return torch_loss(self.module, self, corpus)

    def estimate_eval_seconds(self, corpus: Corpus) -> float:
        with weights_swapped(self.module, self.average):
            return estimate_torch_seconds(self.module, self, corpus)

    def as_numpy(self) -> Any:
        with weights_swapped(self.module, self.average):
            model = to_numpy(
                self.module,
                self.vocab,
                self.mode,
                lowercase=self.lowercase,
                dtype=self.dtype,
                categories=self.categories,
                category_counts=self.category_counts,
            )
        model.seen = self.seen
        return model

    def copy_weights(self) -> dict[str, torch.Tensor]:
        return {k: w.clone() for k, w in self.params.items()}

    def set_weights(self, weights: dict[str, torch.Tensor]) -> None:
        params = self.params
        with torch.no_grad():
            for k, w in weights.items():
                params[k].copy_(w)

    def weights_as_arrays(self, weights: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
        return {k: np.array(w.detach().cpu().numpy(), copy=True) for k, w in weights.items()}

    def weights_from_arrays(self, arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        return {
            k: torch.from_numpy(np.ascontiguousarray(arrays[k])).to(device=w.device, dtype=w.dtype)
            for k, w in self.params.items()
        }


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


def build_module(
    cfg: TrainConfig, vocab: Vocab, longest: int, start: Any | None, categories: tuple[str, ...] = ()
) -> torch.nn.Module:
    """A new module for `cfg`, or one holding the weights of the NumPy model `start`."""
    assert cfg.hidden and cfg.layers is not None
    if start is not None:
        if start.vocab != vocab:
            raise OptionError("--init-from: the model's characters differ from the data's")
        if tuple(getattr(start, "categories", ())) != tuple(categories):
            raise OptionError("--init-from: the model's categories differ from the data's labels")
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
            len(categories),
        )
    return RecurrentLM(
        vocab.size, cfg.model, cfg.hidden, cfg.layers, cfg.dropout or 0.0, categories=len(categories)
    )


def build_torch(
    cfg: TrainConfig, corpus: Corpus, train: Corpus, seen: np.ndarray, start: Any | None = None
) -> tuple[TorchTrainee, LineBatches | StreamBatches]:
    vocab = corpus.vocab()
    encoded = train.encode(vocab)
    world = world_from_env()
    threads = os.environ.get("SAURUS_THREADS", "")
    if threads.isdigit() and int(threads) > 0:
        # --threads, also when the engine was not named on the command line (--resume)
        torch.set_num_threads(int(threads))
    elif world.active:
        # torchrun sets OMP_NUM_THREADS=1; share the machine's cores between its processes
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world.local_size))
    device = pick_device(cfg.device, world)
    distributed.start(world, device)
    assert cfg.batch_size
    rows = cfg.batch_size * world.size  # every rank builds the whole batch and takes its rows
    if isinstance(train, LinesCorpus):
        longest = max(len(n) for n in encoded) + 1
        batches: LineBatches | StreamBatches = LineBatches(encoded, vocab.eos_id, rows, train.labels)
    else:
        longest = 0
        window = cfg.context if cfg.family == "transformer" else cfg.seq_len
        assert window
        batches = StreamBatches(encoded[0], rows, window, cfg.batching or "consecutive")
    labelled = isinstance(corpus, LinesCorpus) and corpus.labelled
    categories = corpus.categories if labelled else ()  # type: ignore[union-attr]
    module = build_module(cfg, vocab, longest, start, categories).to(device)
    trainee = TorchTrainee(module, vocab, cfg.mode, cfg.lowercase, cfg.dtype or "float32", seen, world)
    if labelled:
        assert isinstance(train, LinesCorpus)
        trainee.categories, trainee.category_counts = categories, train.category_counts()
    return trainee, batches


def detach(state: Any) -> Any:
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


class TorchTrainer:
    """torch's steps and what they carry from one to the next: the optimizer, the position in
    the data, the state carried between consecutive stream batches, torch's random generator
    (dropout) and the moving average; `snapshot` and `restore` save and put them back
    exactly (see saurus.training.resume)."""

    def __init__(
        self,
        trainee: TorchTrainee,
        batches: LineBatches | StreamBatches,
        cfg: TrainConfig,
        rng: np.random.Generator,
    ) -> None:
        self.trainee, self.cfg = trainee, cfg
        world = trainee.world
        self.device = next(trainee.module.parameters()).device
        module: torch.nn.Module = trainee.module
        if world.active:
            ids = [self.device.index] if self.device.type == "cuda" else None
            module = torch.nn.parallel.DistributedDataParallel(trainee.module, device_ids=ids)
        self.optimizer = OPTIMIZERS[cfg.optimizer or "adam"](module.parameters(), cfg.weight_decay)
        if cfg.compile:  # the compiled module shares its parameters with trainee.module
            module = torch.compile(module)  # type: ignore[assignment]
        self.module = module
        self.autocast = torch.autocast("cuda", dtype=torch.bfloat16) if self.device.type == "cuda" else None
        module.train()
        if cfg.ema is not None:
            trainee.start_average()
        self.cursor = Cursor(batches, rng)
        self.carry: Any = None
        self.done = 0  # steps taken (the moving average's warm-up counts them)

    def steps(self, lr_box: list[float]) -> Iterator[tuple[float, int]]:
        """Endless epochs of (forward, backward, clip, update); yields (nats summed, chars).
        Under torchrun each rank trains on its rows of every batch (see distributed.py) and
        steps only while rank 0 says so; rank 0 raises a pending interrupt only here, between
        steps, where every rank waits for its (go, lr)."""
        world, interrupts = self.trainee.world, self.trainee.interrupts
        mine = slice(world.rank, None, world.size)  # this rank's rows of the whole batch
        for batch in self.cursor:
            lr = lr_box[0]
            if world.active:
                interrupts.deliver()
                go, lr = distributed.signal_step(world, True, lr)
                if not go:
                    return
            yield self.step(batch, mine, lr)

    def step(self, batch: Batch, mine: slice, lr: float) -> tuple[float, int]:
        device, cfg, world = self.device, self.cfg, self.trainee.world
        x = torch.from_numpy(np.ascontiguousarray(batch.inputs.T[mine])).to(device)
        y = torch.from_numpy(np.ascontiguousarray(batch.targets.T[mine])).to(device)
        if batch.fresh:
            self.carry = None
        extra = {}
        if batch.cats is not None:
            extra["cats"] = torch.from_numpy(np.ascontiguousarray(batch.cats[mine])).to(device)
        if self.autocast is None:
            logits, self.carry = self.module(x, detach(self.carry), **extra)
        else:
            with self.autocast:
                logits, self.carry = self.module(x, detach(self.carry), **extra)
        nll = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="none")
        if batch.mask is not None:
            nll = nll * torch.from_numpy(np.ascontiguousarray(batch.mask.T[mine])).to(device).reshape(-1)
        count = batch.chars  # characters in the whole batch, all ranks together
        total = nll.sum()
        loss = total * (world.size / count)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.clip:
            torch.nn.utils.clip_grad_norm_(self.module.parameters(), cfg.clip)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        try:
            self.optimizer.step()
        except RuntimeError as err:
            if "overflow" not in str(err):
                raise
            raise TrainingError(
                f"training diverged: the learning rate {lr:g} overflows torch's float32; lower --lr"
            ) from None
        if cfg.ema is not None:
            self.trainee.update_average(cfg.ema, self.done)
        self.done += 1
        self.carry = detach(self.carry)
        # the monitor's train loss: rank 0's share, scaled to the whole batch
        return float(total.detach()) * world.size, count

    def snapshot(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The state between two steps: JSON and named arrays."""
        arrays = {f"current-{k}": numpy_of(p) for k, p in self.trainee.module.named_parameters()}
        for k, a in (self.trainee.average or {}).items():
            arrays[f"avg-{k}"] = numpy_of(a)
        keys: dict[str, list[str]] = {}
        for index, slots in self.optimizer.state_dict()["state"].items():
            keys[str(index)] = sorted(slots)
            arrays.update({f"opt-{index}-{key}": numpy_of(v) for key, v in slots.items()})
        carried = self.carry if isinstance(self.carry, tuple) else (self.carry,)
        if self.carry is not None:
            arrays.update({f"carry-{j}": numpy_of(c) for j, c in enumerate(carried)})
        arrays["torch_rng"] = torch.get_rng_state().numpy().copy()
        if self.device.type == "cuda":
            arrays.update(
                {f"cuda_rng-{i}": s.numpy().copy() for i, s in enumerate(torch.cuda.get_rng_state_all())}
            )
        meta = {
            "position": self.cursor.position(),
            "done": self.done,
            "optimizer": keys,
            "carry": None
            if self.carry is None
            else ("tuple" if isinstance(self.carry, tuple) else "one", len(carried)),
        }
        return meta, arrays

    def restore(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Continue from a `snapshot()`."""
        with torch.no_grad():
            for name, p in self.trainee.module.named_parameters():
                p.copy_(tensor_of(arrays[f"current-{name}"], p))
            for name, a in (self.trainee.average or {}).items():
                a.copy_(tensor_of(arrays[f"avg-{name}"], a))
        state = self.optimizer.state_dict()
        state["state"] = {
            int(index): {key: torch.from_numpy(arrays[f"opt-{index}-{key}"].copy()) for key in keys}
            for index, keys in meta["optimizer"].items()
        }
        self.optimizer.load_state_dict(state)
        self.cursor.restore(meta["position"])
        self.done = int(meta["done"])
        self.carry = None
        if meta["carry"] is not None:
            kind, count = meta["carry"]
            parts = tuple(torch.from_numpy(arrays[f"carry-{j}"].copy()).to(self.device) for j in range(count))
            self.carry = parts if kind == "tuple" else parts[0]
        torch.set_rng_state(torch.from_numpy(arrays["torch_rng"].copy()))
        if self.device.type == "cuda" and "cuda_rng-0" in arrays:  # (a run moved from the CPU has none)
            cuda = [
                torch.from_numpy(arrays[f"cuda_rng-{i}"].copy()) for i in range(torch.cuda.device_count())
            ]
            torch.cuda.set_rng_state_all(cuda)


def numpy_of(t: torch.Tensor) -> np.ndarray:
    """A CPU NumPy copy of a tensor (a 0-d one too)."""
    return np.array(t.detach().cpu().numpy(), copy=True)


def tensor_of(array: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """`array` as a tensor beside `like`, of its shape (a mismatch is a ValueError)."""
    if tuple(array.shape) != tuple(like.shape):
        raise ValueError("a saved weight has another shape")
    return torch.from_numpy(np.ascontiguousarray(array)).to(like.device, like.dtype)
