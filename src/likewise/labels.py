"""What counts as a label: the one definition of a missing label, used by every reader and check.

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
from typing import Any

import numpy as np
import pandas as pd

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
