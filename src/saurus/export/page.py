"""One HTML file that generates names with no server and no network: the model's weights,
its characters and the hashes of its training names, embedded beside a small JavaScript
port of the NumPy step (sampler.js and one file per family: recurrent.js, classic.js,
transformer.js) and the page's controls (page.html). Every family of names model exports
(saurus.export.spec).

    write_page(load("dinos.saurus"), Path("names.html"), title="dinosaurs")

What the page holds, and so what anyone who has it can read: the weights (as
float32), the model's characters, its category labels and how many training names
each had (a model with categories), and one 64-bit chain hash per distinct training
name (saurus.generation.novelty: enough to tell whether a name was in the data, not to
list the names; but a short name can be found by trying candidates). Nothing else of the
training data. The page makes no request: every script and style is inline, and its
Content-Security-Policy forbids connections.
"""

from __future__ import annotations

import html
import json
import re
from importlib import resources
from pathlib import Path

from saurus.atomic import atomic_write_bytes
from saurus.errors import OptionError
from saurus.export.spec import model_json
from saurus.protocol import SequenceModel

SCRIPTS = ("sampler.js", "recurrent.js", "classic.js", "transformer.js")  # in this order
MAX_PAGE_BYTES = 256 * 1024**2


def page_html(model: SequenceModel, title: str) -> str:
    """The page: the template with its title, the sampler's scripts and the model's JSON
    filled in (in one pass, so that no filled text is read as a placeholder)."""
    folder = resources.files("saurus.export")
    template = folder.joinpath("page.html").read_text(encoding="utf-8")
    script = "\n".join(folder.joinpath(name).read_text(encoding="utf-8") for name in SCRIPTS)
    data = json.dumps(model_json(model), separators=(",", ":")).replace("</", "<\\/")
    fill = {"TITLE": html.escape(title), "SAMPLER": script, "MODEL": data}
    return re.sub(r"\{\{(TITLE|SAMPLER|MODEL)\}\}", lambda m: fill[m.group(1)], template)  # one pass


def write_page(model: SequenceModel, path: Path, title: str = "names") -> int:
    """Write the page (atomically); returns its size in bytes."""
    page = page_html(model, title).encode("utf-8")
    if len(page) > MAX_PAGE_BYTES:
        raise OptionError(f"the page would be {len(page) / 1024**2:.0f} MiB; export a smaller model")
    atomic_write_bytes(path, page)
    return len(page)
