"""One HTML file that generates names with no server and no network: the model's weights,
its characters and the hashes of its training names, embedded beside a small JavaScript
port of the NumPy step (sampler.js) and the page's controls (page.html).

    write_page(load("dinos.saurus"), Path("names.html"), title="dinosaurs")

What the page holds, and so what anyone who has it can read: the weights (float32, as in
the model file), the model's characters, and one 64-bit chain hash per distinct training
name (saurus.generation.novelty: enough to tell whether a name was in the data, not to
list the names; but a short name can be found by trying candidates). Nothing else of the
training data. The page makes no request: every script and style is inline, and its
Content-Security-Policy forbids connections.
"""

from __future__ import annotations

import base64
import html
import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from saurus.atomic import atomic_write_bytes
from saurus.errors import OptionError
from saurus.generation.novelty import read_record
from saurus.protocol import SequenceModel

FAMILIES = ("lstm", "gru", "rnn")
MAX_PAGE_BYTES = 256 * 1024**2


def b64(array: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).tobytes()).decode("ascii")


def model_json(model: SequenceModel) -> dict[str, Any]:
    """What the sampler needs, as JSON: shapes, and the arrays as base64 (little-endian)."""
    cell = getattr(model, "cell", None)
    if model.mode != "lines" or cell not in FAMILIES or not hasattr(model, "params"):
        what = "a text model" if model.mode != "lines" else f"a {getattr(model, 'kind', 'other')} model"
        raise OptionError(
            f"saurus export writes a names page for LSTM, GRU and RNN names models; this is {what}"
        )
    params: dict[str, np.ndarray] = model.params  # type: ignore[attr-defined]
    seen = getattr(model, "seen", None)
    record = read_record(seen) if seen is not None and len(seen) else None
    chain = record.chain if record is not None and record.chain is not None else np.zeros(0, np.uint64)
    return {
        "cell": cell,
        "convention": getattr(model, "convention", "cho"),
        "hidden": int(model.hidden),  # type: ignore[attr-defined]
        "layers": int(model.layers),  # type: ignore[attr-defined]
        "chars": list(model.vocab.chars),
        "eos": int(model.vocab.eos_id),
        "lowercase": bool(model.lowercase),
        "params": {k: {"shape": list(v.shape), "data": b64(v, "<f4")} for k, v in params.items()},
        "seen": b64(np.sort(chain), "<u8"),
    }


def page_html(model: SequenceModel, title: str) -> str:
    folder = resources.files("saurus.export")
    template = folder.joinpath("page.html").read_text(encoding="utf-8")
    script = folder.joinpath("sampler.js").read_text(encoding="utf-8")
    data = json.dumps(model_json(model), separators=(",", ":")).replace("</", "<\\/")
    return (
        template.replace("{{TITLE}}", html.escape(title))
        .replace("{{SAMPLER}}", script)
        .replace("{{MODEL}}", data)
    )


def write_page(model: SequenceModel, path: Path, title: str = "names") -> int:
    """Write the page (atomically); returns its size in bytes."""
    page = page_html(model, title).encode("utf-8")
    if len(page) > MAX_PAGE_BYTES:
        raise OptionError(f"the page would be {len(page) / 1024**2:.0f} MiB; export a smaller model")
    atomic_write_bytes(path, page)
    return len(page)
