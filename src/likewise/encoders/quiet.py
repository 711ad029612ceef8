"""Keep third-party chatter (progress bars, tracer warnings) out of the user's terminal during one-time steps.

The library never prints: the ONNX export and the static-model distillation report through the progress
callback instead, and what torch, transformers or model2vec would write to stderr while they run is kept
and dropped. Exceptions still propagate.
"""
from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Iterator


@contextlib.contextmanager
def third_party_quiet() -> Iterator[None]:
    """Silence stderr writes and warnings raised inside the block (the caller reports progress itself)."""
    previous = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        if previous is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = previous
