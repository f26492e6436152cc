"""`saurus export`: writes one page, for a names model of any family, and refuses what it
cannot or should not write."""

from __future__ import annotations

from pathlib import Path

from helpers import NAMES, assert_one_line_error, saurus, tiny_lines_model

from saurus.data.corpus import LinesCorpus, StreamCorpus
from saurus.files import models
from saurus.models.transformer import TransformerModel


def test_export_writes_one_page_with_everything_inline(tmp_path: Path) -> None:
    page = tmp_path / "dinos.html"
    done = saurus("export", "dinos", "-o", page, "--title", "Dinosaurs <&>")
    assert done.returncode == 0, done.stderr
    text = page.read_text()
    assert "<title>Dinosaurs &lt;&amp;&gt;: a name generator</title>" in text
    assert "connect-src" not in text and "default-src 'none'" in text  # no request is allowed
    assert "src=" not in text.replace("img-src", "")  # no script or image is loaded from elsewhere
    again = saurus("export", "dinos", "-o", page)
    assert_one_line_error(again, "already exists", "--overwrite")
    assert saurus("export", "dinos", "-o", page, "--overwrite").returncode == 0


def test_export_refuses_in_one_line(tmp_path: Path) -> None:
    other = tmp_path / "notes.html"
    other.write_text("<p>my notes</p>")
    assert_one_line_error(saurus("export", "dinos", "-o", other), "not a page saurus exported")
    assert other.read_text() == "<p>my notes</p>"
    assert_one_line_error(saurus("export", "dinos", "-o", tmp_path / "x.txt"), ".html")
    assert_one_line_error(saurus("export", "shakespeare", "-o", tmp_path / "s.html"), "names models")
    assert_one_line_error(saurus("export", tmp_path / "missing.saurus", "-o", tmp_path / "m.html"))
    assert not (tmp_path / "s.html").exists() and not (tmp_path / "m.html").exists()


def test_export_writes_a_transformer_and_a_classic_model_too(tmp_path: Path) -> None:
    vocab = LinesCorpus.from_text(NAMES).vocab()
    transformer = TransformerModel.create(vocab, "lines", d_model=8, layers=1, heads=2, context=6, tied=True)
    for name, model in {"transformer": transformer, "classic": tiny_lines_model()}.items():
        models.save(model, tmp_path / f"{name}.saurus")
        done = saurus("export", tmp_path / f"{name}.saurus", "-o", tmp_path / f"{name}.html")
        assert done.returncode == 0, done.stderr
        assert f'"family":"{name}"' in (tmp_path / f"{name}.html").read_text()
    text = TransformerModel.create(
        StreamCorpus("the cat sat").vocab(), "stream", d_model=8, layers=1, heads=2, context=6
    )
    models.save(text, tmp_path / "text.saurus")
    assert_one_line_error(
        saurus("export", tmp_path / "text.saurus", "-o", tmp_path / "t.html"), "names models"
    )
