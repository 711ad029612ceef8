"""What counts as a label: the one definition of a missing label, of the labeled records and of the class
checks (at least 2 classes, :data:`MIN_PER_CLASS` records in each), used by every reader and check.

A label cell is *missing* when it holds None, NaN (or pandas' ``NA``/``NaT``), or a string that, stripped of
whitespace and compared case-insensitively, is one of :data:`MISSING_LABEL_STRINGS`:

- ``""`` (also whitespace only): an empty cell;
- ``"nan"`` (``NaN``, ``NAN``): what ``str(float("nan"))`` and pandas write for a missing float;
- ``"none"`` (``None``): what ``str(None)`` writes;
- ``"null"`` (``NULL``): JSON's and SQL's missing value, written out as text;
- ``"n/a"`` (``N/A``) and ``"#n/a"`` (``#N/A``): "not available" in spreadsheets;
- ``"<na>"`` (``<NA>``): what ``str(pandas.NA)`` writes.

``"NA"`` is deliberately **not** missing: it is a real class often enough (Namibia's ISO country code, "North
America", a grade). Neither are ``"-"``, ``"?"``, ``"0"``, ``"unknown"`` or ``False``: they may be classes.
A user who means "no label" by one of those should empty the cell.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from likewise.errors import InputError

#: label strings (stripped, lower-cased) that mean "no label"; see the module docstring for why each is here
MISSING_LABEL_STRINGS = frozenset({"", "nan", "none", "null", "n/a", "#n/a", "<na>"})


def is_missing_label(value: Any) -> bool:
    """True when ``value`` means "no label" (see the module docstring); False for every real label.

    >>> [is_missing_label(v) for v in (None, float("nan"), " N/A ", "null", "NA", "sport", 0)]
    [True, True, True, True, False, False, False]
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, str):
        return value.strip().lower() in MISSING_LABEL_STRINGS
    if isinstance(value, (float, np.floating)):
        return math.isnan(value)
    if isinstance(value, (np.datetime64, np.timedelta64)):
        return bool(np.isnat(value))
    return False


#: similarity learning needs at least this many labeled records in every class (an anchor and a positive)
MIN_PER_CLASS = 2


def labeled_arrays(labels: Sequence[Hashable | None]) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the labeled records (:func:`is_missing_label` decides) and their labels as strings."""
    keep = [i for i, lab in enumerate(labels) if not is_missing_label(lab)]
    return np.asarray(keep, dtype=np.int64), np.asarray([str(labels[i]) for i in keep], dtype=object)


def check_labels(y: Sequence[Hashable], *, unlabeled: int = 0, what: str = "labeled records") -> None:
    """Refuse label sets similarity learning cannot use (no labels, one class, a class with fewer than
    :data:`MIN_PER_CLASS` records), naming the classes and the fix."""
    ignored = f" ({unlabeled} unlabeled records ignored)" if unlabeled else ""
    if len(y) == 0:
        raise InputError(f"no {what}{ignored}: pass --label-column (or label some records) before tuning or "
                         f"evaluating; similarity learning needs at least {MIN_PER_CLASS} records in each of 2 classes")
    counts = Counter(y)
    if len(counts) < 2:
        raise InputError(f"all {len(y)} {what} are in one class ({next(iter(counts))}){ignored}; "
                         "similarity learning needs at least 2 classes")
    single = [str(c) for c, n in counts.items() if n < MIN_PER_CLASS]
    if single:
        names = ", ".join(sorted(single)[:10]) + (", ..." if len(single) > 10 else "")
        many = len(single) > 1
        raise InputError(
            f"{len(single)} class{'es have' if many else ' has'} only 1 labeled record ({names}){ignored}; "
            f"similarity learning needs at least {MIN_PER_CLASS} per class: label more or drop "
            f"{'those classes' if many else 'that class'}"
        )
