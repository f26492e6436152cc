"""The torch engine's own Adam and AdamW (torch_engine/adam.py) make torch.optim's updates,
keep its state layout, and spare a run the import of torch._dynamo."""

from __future__ import annotations

import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from saurus.training.backends.torch.adam import ForeachAdam  # noqa: E402


def model_and_batches(seed: int = 0) -> tuple[torch.nn.Module, list[tuple[torch.Tensor, torch.Tensor]]]:
    torch.manual_seed(seed)
    module = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3))
    batches = [(torch.randn(8, 5), torch.randint(0, 3, (8,))) for _ in range(12)]
    return module, batches


def train(module: torch.nn.Module, optimizer: object, batches: list, lrs: list[float]) -> None:
    for (x, y), lr in zip(batches, lrs, strict=True):
        optimizer.zero_grad(set_to_none=True)  # type: ignore[attr-defined]
        torch.nn.functional.cross_entropy(module(x), y).backward()
        for group in optimizer.param_groups:  # type: ignore[attr-defined]
            group["lr"] = lr
        optimizer.step()  # type: ignore[attr-defined]


@pytest.mark.parametrize("decay", [0.0, 0.01])
def test_the_updates_are_torch_optims(decay: float) -> None:
    lrs = [0.01 * (1 + k % 3) for k in range(12)]  # a schedule that changes every step
    ours, batches = model_and_batches()
    theirs, _ = model_and_batches()
    reference = (
        torch.optim.AdamW(theirs.parameters(), lr=0.0, weight_decay=decay)
        if decay
        else torch.optim.Adam(theirs.parameters(), lr=0.0)
    )
    train(ours, ForeachAdam(ours.parameters(), decay), batches, lrs)
    train(theirs, reference, batches, lrs)
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_a_state_saved_halfway_continues_to_the_same_weights() -> None:
    lrs = [0.02] * 12
    straight, batches = model_and_batches()
    train(straight, ForeachAdam(straight.parameters(), 0.01), batches, lrs)
    first, _ = model_and_batches()
    optimizer = ForeachAdam(first.parameters(), 0.01)
    train(first, optimizer, batches[:5], lrs[:5])
    saved = {k: {n: t.clone() for n, t in s.items()} for k, s in optimizer.state_dict()["state"].items()}
    second, _ = model_and_batches(seed=1)  # other weights: the state and weights come back
    second.load_state_dict(first.state_dict())
    resumed = ForeachAdam(second.parameters(), 0.01)
    resumed.load_state_dict({"state": saved, "param_groups": []})
    train(second, resumed, batches[5:], lrs[5:])
    for a, b in zip(second.parameters(), straight.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_torch_optims_state_loads_into_it() -> None:
    lrs = [0.01] * 6
    module, batches = model_and_batches()
    reference = torch.optim.Adam(module.parameters(), lr=0.0)
    train(module, reference, batches[:6], lrs)
    ours = ForeachAdam(module.parameters())
    ours.load_state_dict(reference.state_dict())
    assert ours.step_count == 6
    torch.testing.assert_close(ours.exp_avg[0], reference.state_dict()["state"][0]["exp_avg"])


def test_a_learning_rate_that_overflows_float32_is_refused() -> None:
    module, batches = model_and_batches()
    optimizer = ForeachAdam(module.parameters())
    with pytest.raises(RuntimeError, match="overflow"):
        train(module, optimizer, batches[:1], [1e308])


def test_a_step_does_not_import_torch_dynamo() -> None:
    code = (
        "import sys, torch\n"
        "from saurus.training.backends.torch.adam import ForeachAdam\n"
        "m = torch.nn.Linear(3, 2); o = ForeachAdam(m.parameters(), 0.01)\n"
        "m(torch.ones(1, 3)).sum().backward(); o.param_groups[0]['lr'] = 0.1; o.step(); o.zero_grad()\n"
        "o.load_state_dict(o.state_dict())\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
