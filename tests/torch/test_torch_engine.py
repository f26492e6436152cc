"""The torch engine: the same logits as the NumPy engine on the same weights, models that
NumPy alone samples, continuing a NumPy model, and training over two processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import NAMES, assert_one_line_error, saurus

torch = pytest.importorskip("torch")

from saurus.data.corpus import LinesCorpus, StreamCorpus  # noqa: E402
from saurus.files import models  # noqa: E402
from saurus.models.recurrent import CharModel  # noqa: E402
from saurus.training.backends.torch.convert import recurrent_from_numpy, to_numpy  # noqa: E402
from saurus.training.backends.torch.modules import RecurrentLM  # noqa: E402

TEXT = "the cat sat on the mat.\nthe dog sat on the log.\n" * 3
FAST = ("--engine", "torch", "--hidden", "16", "--iterations", "20", "-q", "--threads", "1")


def vocab_of(mode: str):  # type: ignore[no-untyped-def]
    return LinesCorpus.from_text(NAMES).vocab() if mode == "lines" else StreamCorpus(TEXT).vocab()


def recurrent_cells() -> list[str]:
    """GRU joins once the NumPy engine has torch's GRU convention."""
    import dataclasses

    cells = ["lstm", "rnn"]
    if "convention" in {f.name for f in dataclasses.fields(CharModel)}:
        cells.append("gru")
    return cells


@pytest.mark.parametrize("mode", ["lines", "stream"])
@pytest.mark.parametrize("cell", recurrent_cells())
def test_the_same_weights_give_the_same_logits_in_both_engines(cell: str, mode: str) -> None:
    torch.manual_seed(0)
    vocab = vocab_of(mode)
    module = RecurrentLM(vocab.size, cell, 24, 2, 0.0).eval()
    ids = torch.randint(0, vocab.size, (3, 9))
    with torch.no_grad():
        expected, _ = module(ids)
    model = to_numpy(module, vocab, mode, lowercase=False)
    assert model.dtype == np.float32
    logits, _, _ = model.forward(ids.numpy().T, model.zero_state(3))
    np.testing.assert_allclose(logits.transpose(1, 0, 2), expected.numpy(), atol=1e-5)
    # and step by step, as sampling and scoring run it
    state = model.start(3)
    for t in range(ids.shape[1]):
        step_logits, state = model.step(state, ids[:, t].numpy())
        np.testing.assert_allclose(step_logits, expected[:, t].numpy(), atol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "rnn"])
def test_a_numpy_model_continues_in_torch_unchanged(cell: str) -> None:
    vocab = vocab_of("lines")
    model = CharModel.create(vocab, "lines", cell=cell, hidden=12, layers=2, seed=3)
    module = recurrent_from_numpy(model).eval()
    ids = np.random.default_rng(0).integers(0, vocab.size, (7, 4))
    expected, _, _ = model.forward(ids, model.zero_state(4))
    with torch.no_grad():
        logits, _ = module(torch.from_numpy(ids.T.copy()))
    np.testing.assert_allclose(logits.numpy(), expected.transpose(1, 0, 2), atol=1e-5)


def test_the_numpy_engines_gru_cannot_continue_in_torch(tmp_path: Path) -> None:
    data = tmp_path / "names.txt"
    data.write_text(NAMES * 4)
    start = tmp_path / "gru.saurus"
    assert (
        saurus(
            "train",
            data,
            "-o",
            start,
            "--model",
            "gru",
            "--hidden",
            "8",
            "--iterations",
            "5",
            "--engine",
            "numpy",
        ).returncode
        == 0
    )
    fast = [a for a in FAST if a not in ("--hidden", "16")]
    result = saurus("train", data, "-o", tmp_path / "t.saurus", *fast, "--model", "gru", "--init-from", start)
    assert_one_line_error(result, "torch's GRU cannot continue it")


def test_train_with_torch_and_sample_without_it(tmp_path: Path) -> None:
    data = tmp_path / "names.txt"
    data.write_text(NAMES * 4)
    out = tmp_path / "t.saurus"
    trained = saurus("train", data, "-o", out, *FAST)
    assert trained.returncode == 0, trained.stderr
    assert models.load(out).kind == "engine"
    # a Python where importing torch fails, as on a machine without it
    blocker = (
        "import sys\n"
        "class NoTorch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'): raise ImportError('no torch here')\n"
        "sys.meta_path.insert(0, NoTorch())\n"
        "from saurus.cli.main import main\n"
        f"sys.exit(main(['sample', {str(out)!r}, '-n', '5', '--seed', '0']))\n"
    )
    sampled = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True, timeout=120)
    assert sampled.returncode == 0, sampled.stderr
    names = sampled.stdout.split()
    assert len(names) == 5 and all(names)


def test_a_numpy_model_continues_training_in_torch(tmp_path: Path) -> None:
    data = tmp_path / "names.txt"
    data.write_text(NAMES * 4)
    start = tmp_path / "np.saurus"
    assert saurus("train", data, "-o", start, "--hidden", "16", "--iterations", "40", "-q").returncode == 0
    out = tmp_path / "t.saurus"
    result = saurus("train", data, "-o", out, *FAST, "--init-from", start, "--lr", "1e-9")
    assert result.returncode == 0, result.stderr
    before, after = models.load(start), models.load(out)
    # a learning rate of ~0 leaves the weights as they were (to float32 rounding)
    for name, w in before.params.items():
        np.testing.assert_allclose(after.params[name], w, atol=1e-5)


def test_torch_options_need_their_engine(tmp_path: Path) -> None:
    data = tmp_path / "names.txt"
    data.write_text(NAMES * 4)
    result = saurus("train", data, "-o", tmp_path / "m.saurus", "--device", "cpu", "--engine", "numpy")
    assert_one_line_error(result, "--device applies to --engine torch")
    result = saurus("train", data, "-o", tmp_path / "m.saurus", "--model", "classic", "--engine", "torch")
    assert_one_line_error(result, "drop --engine torch")


@pytest.mark.parametrize("mode", ["lines", "stream"])
@pytest.mark.parametrize(("tied", "positions"), [(False, "learned"), (True, "learned"), (True, "rotary")])
def test_a_transformer_gives_the_same_logits_in_both_engines(mode: str, tied: bool, positions: str) -> None:
    from saurus.training.backends.torch.convert import transformer_from_numpy
    from saurus.training.backends.torch.modules import TransformerLM

    torch.manual_seed(1)
    vocab = vocab_of(mode)
    module = TransformerLM(vocab.size, 32, 2, 4, 16, 0.0, tied, positions).eval()
    with torch.no_grad():  # larger weights than the init, so differences would show
        for p in module.parameters():
            p.normal_(0.0, 0.3)
    ids = torch.randint(0, vocab.size, (3, 11))
    with torch.no_grad():
        expected, _ = module(ids)
    model = to_numpy(module, vocab, mode, lowercase=False)
    np.testing.assert_allclose(model.forward(ids.numpy().T).transpose(1, 0, 2), expected.numpy(), atol=1e-5)
    back = transformer_from_numpy(model).eval()
    with torch.no_grad():
        np.testing.assert_allclose(back(ids)[0].numpy(), expected.numpy(), atol=1e-5)


def test_a_transformer_trains_with_torch_and_samples_with_numpy(tmp_path: Path) -> None:
    data = tmp_path / "names.txt"
    data.write_text(NAMES * 4)
    out = tmp_path / "tf.saurus"
    args = ("--model", "transformer", "--hidden", "32", "--layers", "2", "--heads", "2")
    trained = saurus("train", data, "-o", out, *FAST, *args)
    assert trained.returncode == 0, trained.stderr
    model = models.load(out)
    assert model.kind == "transformer" and model.context >= max(map(len, NAMES.split())) + 1
    sampled = saurus("sample", out, "-n", "5", "--seed", "0")
    assert sampled.returncode == 0 and len(sampled.stdout.split()) == 5


def test_a_rotary_transformer_trains_and_samples_and_torch_only_options_are_refused(tmp_path: Path) -> None:
    data = tmp_path / "names.txt"
    data.write_text(NAMES * 4)
    out = tmp_path / "rope.saurus"
    args = (
        "--model",
        "transformer",
        "--hidden",
        "32",
        "--layers",
        "1",
        "--heads",
        "2",
        "--positions",
        "rotary",
    )
    trained = saurus("train", data, "-o", out, *FAST, *args)
    assert trained.returncode == 0, trained.stderr
    model = models.load(out)
    assert model.positions == "rotary" and "pos_emb" not in model.params
    assert saurus("sample", out, "-n", "3", "--seed", "0").returncode == 0
    refused = saurus("train", data, "-o", tmp_path / "x.saurus", "--positions", "rotary")
    assert_one_line_error(refused, "--positions applies to --model transformer")
    refused = saurus("train", data, "-o", tmp_path / "x.saurus", "--compile", "--engine", "numpy")
    assert_one_line_error(refused, "--compile applies to --engine torch")
    odd = saurus(
        "train",
        data,
        "-o",
        tmp_path / "x.saurus",
        *args[:-4],
        "--heads",
        "4",
        "--hidden",
        "12",
        "--positions",
        "rotary",
        "--engine",
        "torch",
    )
    assert_one_line_error(odd, "needs an even width per head")


def test_a_transformer_needs_torch_and_its_own_options(tmp_path: Path) -> None:
    data = tmp_path / "names.txt"
    data.write_text(NAMES * 4)
    result = saurus("train", data, "-o", tmp_path / "m.saurus", "--model", "transformer", "--engine", "numpy")
    assert_one_line_error(result, "--model transformer trains with --engine torch")
    result = saurus("train", data, "-o", tmp_path / "m.saurus", "--heads", "4")
    assert_one_line_error(result, "--heads applies to --model transformer")


def test_init_from_brings_its_sizes_and_refuses_others(tmp_path: Path) -> None:
    data = tmp_path / "names.txt"
    data.write_text(NAMES * 4)
    start = tmp_path / "start.saurus"
    assert (
        saurus("train", data, "-o", start, "--hidden", "12", "--layers", "2", "--iterations", "5").returncode
        == 0
    )
    clash = saurus("train", data, "-o", tmp_path / "a.saurus", *FAST, "--init-from", start)
    assert_one_line_error(clash, "--hidden 16 (the model has 12)")
    fast = [a for a in FAST if a not in ("--hidden", "16")]
    taken = saurus("train", data, "-o", tmp_path / "b.saurus", *fast, "--init-from", start)
    assert taken.returncode == 0, taken.stderr
    model = models.load(tmp_path / "b.saurus")
    assert (model.hidden, model.layers) == (12, 2)


def test_compile_trains_the_same_model_as_eager(tmp_path: Path) -> None:
    """--compile (torch.compile, inductor on the CPU) makes the same updates as eager mode,
    up to float32 kernel differences."""
    data = tmp_path / "names.txt"
    data.write_text(NAMES * 4)
    args = ("--model", "transformer", "--hidden", "16", "--layers", "1", "--heads", "2", "--dropout", "0")
    quick = ("--engine", "torch", "-q", "--threads", "1", "--iterations", "5")
    eager = saurus("train", data, "-o", tmp_path / "eager.saurus", *quick, *args)
    assert eager.returncode == 0, eager.stderr
    compiled = saurus("train", data, "-o", tmp_path / "compiled.saurus", *quick, *args, "--compile")
    assert compiled.returncode == 0, compiled.stderr
    a, b = models.load(tmp_path / "eager.saurus"), models.load(tmp_path / "compiled.saurus")
    for name, w in a.params.items():
        np.testing.assert_allclose(b.params[name], w, atol=1e-4)


def test_the_moving_average_follows_its_formula_and_is_what_gets_saved(tmp_path: Path) -> None:
    from saurus.training.backends.torch.train import TorchTrainee

    module = RecurrentLM(5, "lstm", 4, 1, 0.0)
    trainee = TorchTrainee(module, vocab_of("lines"), "lines", False, "float32")
    trainee.start_average()
    before = {k: v.clone() for k, v in trainee.params.items()}
    with torch.no_grad():
        for p in module.parameters():
            p.add_(1.0)
    trainee.update_average(0.5, step=100)  # d = min(0.5, 101 / 110) = 0.5
    for name, p in module.named_parameters():
        torch.testing.assert_close(trainee.params[name], 0.5 * before[name] + 0.5 * p.detach())
    trainee.update_average(0.99, step=0)  # warm-up: d = min(0.99, 1 / 10) = 0.1
    exported = trainee.as_numpy()
    raw = to_numpy(module, trainee.vocab, "lines", lowercase=False)
    assert not np.allclose(exported.params["head.b"], raw.params["head.b"])
    for name, p in module.named_parameters():  # the module keeps its own weights
        torch.testing.assert_close(p.detach(), before[name] + 1.0)

    data = tmp_path / "names.txt"
    data.write_text(NAMES * 4)
    plain = saurus("train", data, "-o", tmp_path / "plain.saurus", *FAST)
    averaged = saurus("train", data, "-o", tmp_path / "ema.saurus", *FAST, "--ema", "0.9")
    assert plain.returncode == 0 and averaged.returncode == 0, averaged.stderr
    a, b = models.load(tmp_path / "plain.saurus"), models.load(tmp_path / "ema.saurus")
    assert not np.allclose(a.params["head.b"], b.params["head.b"])
    refused = saurus("train", data, "-o", tmp_path / "x.saurus", "--ema", "0.9", "--engine", "numpy")
    assert_one_line_error(refused, "--ema applies to --engine torch")
    refused = saurus("train", data, "-o", tmp_path / "x.saurus", *FAST, "--ema", "0")
    assert_one_line_error(refused, "--ema must be between 0 and 1")


def test_a_transformer_too_big_for_memory_names_its_own_options(tmp_path: Path) -> None:
    data = tmp_path / "names.txt"
    data.write_text(NAMES * 4)
    result = saurus(
        "train", data, "-o", tmp_path / "m.saurus", *FAST, "--model", "transformer", "--context", "100000000"
    )
    assert_one_line_error(result, "choose a smaller --hidden, --layers, --batch-size or --context")
    assert not (tmp_path / "m.saurus").exists()
