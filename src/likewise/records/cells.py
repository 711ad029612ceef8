"""Turning one table cell into a text, a label, an id or a confidence, the same way for every format.

Delimited files arrive as literal strings, JSON and Parquet as typed values (pandas turns an integer column
with gaps into floats, so ``1`` may arrive as ``1.0``). These functions make both agree: ``1``, ``1.0`` and
``"1.0"`` all become the label ``"1"``. Which cells hold no label is defined once, in :mod:`likewise.labels`.
"""
from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd

from likewise.errors import InputError
from likewise.labels import is_missing_label

_INTEGRAL_FLOAT = re.compile(r"[+-]?\d+\.0+")


def is_missing(value: Any) -> bool:
    """True for None, NaN and pandas' missing markers (not for strings)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, (float, np.floating)) and math.isnan(value)


def _is_sequence(value: Any) -> bool:
    return isinstance(value, (list, tuple, dict, set, np.ndarray))


def scalar_text(value: Any) -> str:
    """A scalar cell as a stripped string; integral floats lose their ``.0``; missing becomes ``""``.

    Raises ``TypeError`` for lists and objects (the caller names the record).
    """
    if type(value) is str:  # the common case first: every cell of a delimited file
        text = value.strip()
        return text.split(".", 1)[0] if "." in text and _INTEGRAL_FLOAT.fullmatch(text) else text
    if is_missing(value):
        return ""
    if _is_sequence(value):
        raise TypeError(type(value).__name__)
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    text = str(value).strip()
    if _INTEGRAL_FLOAT.fullmatch(text):
        text = text.split(".", 1)[0]
    return text


def label_value(value: Any) -> str | None:
    """The label in a cell, or None when the cell holds no label (:func:`likewise.labels.is_missing_label`).

    Raises ``TypeError`` for lists and objects (the caller names the record).
    """
    text = scalar_text(value)
    return None if is_missing_label(text) else text


def text_value(value: Any) -> str:
    """The text in a cell, stripped; missing becomes ``""``. Numbers are kept as written."""
    if type(value) is str:
        return value.strip()
    if is_missing(value):
        return ""
    if _is_sequence(value):
        raise TypeError(type(value).__name__)
    return str(value).strip()


def confidence_value(value: Any, where: str, column: str) -> float:
    """A confidence in [0, 1] from a number or a numeric string (``"0.6220"``); NaN when the cell is empty
    (any value :func:`likewise.labels.is_missing_label` calls missing: ``""``, ``"null"``, ``"N/A"``...).

    ``where`` names the record in the error message ("record 3 (id 'a7')").
    """
    if type(value) is float and 0.0 <= value <= 1.0:  # the common case: a number from JSON or Parquet
        return value
    if is_missing_label(value):
        return math.nan
    try:
        if _is_sequence(value) or isinstance(value, (bool, np.bool_)):
            raise ValueError
        confidence = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise InputError(
            f"confidence column '{column}' holds a value that is not a number: {where} has {value!r}; "
            "confidences must be numbers between 0 and 1"
        ) from None
    if not 0.0 <= confidence <= 1.0:
        hint = " (a percentage? divide by 100)" if 1.0 < confidence <= 100.0 else ""
        raise InputError(
            f"confidence column '{column}': {where} has {value!r}, outside 0..1{hint}; "
            "confidences must be numbers between 0 and 1"
        )
    return confidence
