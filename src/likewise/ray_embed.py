"""Encoding on an existing Ray cluster: the cache misses of :func:`likewise.embedding.embed_records` as one Ray
Data ``map_batches`` job (``likewise embed --ray ADDRESS``).

The driver (this process) still normalises texts, looks them up in the cache, dedupes them and writes the new
vectors to the cache, chunk by chunk, through the same code as a local run; only the encoding moves. Each
worker rebuilds the encoder once from ``encoder.spec`` with :func:`likewise.encoders.get_encoder` and checks
that it has the same ``identity`` (the same model files), so a cluster gives the same vectors as a local run.
Workers need likewise and the model package installed (on one machine they share the driver's venv).
"""
from __future__ import annotations

import logging
import os
import re
import socket
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from likewise.encoders.base import Encoder
from likewise.errors import InputError, MissingExtraError
from likewise.progress import Progress, no_progress

#: where `likewise embed` reads the cluster address when --ray is not given
RAY_ADDRESS_ENV = "LIKEWISE_RAY_ADDRESS"
#: seconds to wait for the cluster's head to answer before giving up with an error
CONNECT_TIMEOUT_S = 10.0
#: Ray's own setting: how many times (about once per 40 s) ray.init tries to reach the head
GCS_WAIT_ENV = "RAY_gcs_server_port_wait_time_s"
#: texts per map_batches call on a worker (one block each); the worker sorts them by length as locally
RAY_BATCH_SIZE = 256


def import_ray():
    """The ``ray`` module, or the extra to install. likewise never phones home: the driver's usage statistics
    (Ray's, and Ray Data's queries of a Prometheus server per job) are off unless the environment says otherwise."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_DATA_USAGE_DISABLED", "1")
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError("encoding on a Ray cluster (--ray)", "ray", exc.name or "ray") from exc
    return ray


def parse_address(address: str) -> tuple[str, int] | None:
    """(host, port) of ``HOST:PORT`` or ``ray://HOST:PORT``; None for ``auto`` (the cluster this machine
    belongs to, as ``ray.init`` finds it)."""
    address = address.strip()
    if address == "auto":
        return None
    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise InputError(f"Ray address {address!r} is not HOST:PORT (the head's address that `ray start --head` "
                         "prints, e.g. 10.0.0.5:6379), ray://HOST:PORT or auto")
    return host.strip("[]"), int(port)


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Fail fast, with one line, when nothing listens at ``address`` (ray.init would retry for minutes)."""
    hostport = parse_address(address)
    if hostport is None:
        return
    try:
        socket.create_connection(hostport, timeout=timeout).close()
    except OSError as exc:
        raise InputError(f"no Ray cluster at {address}: {exc.strerror or exc}; start one with `ray start --head` "
                         f"and pass the address it prints (--ray or ${RAY_ADDRESS_ENV})") from None


class EncodeBatch:
    """Runs on a Ray worker (a Ray Data actor): builds the encoder once, then encodes batches of texts."""

    def __init__(self, spec: dict, identity: str, dim: int, threads: int) -> None:
        from likewise.encoders import get_encoder

        # a worker's failure reaches the driver as this one line (see RayEncoding._job_error)
        try:
            encoder = get_encoder(spec["model"], runtime=spec.get("runtime", "auto"), precision=spec.get("precision", "fp32"))
        except (ImportError, InputError) as exc:
            raise InputError(f"a Ray worker on {socket.gethostname()} cannot build the encoder: {exc}") from None
        if encoder.identity != identity or encoder.dim != dim:
            raise InputError(
                f"a Ray worker on {socket.gethostname()} builds encoder {encoder.identity} ({encoder.dim}-d), "
                f"not the driver's {identity} ({dim}-d): install the same model files on every node"
            )
        if getattr(encoder, "threads", 0) is None:
            encoder.threads = threads  # ONNX Runtime would take every core of the node per worker
        self.encoder = encoder

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        before = self.encoder.truncated
        vectors = self.encoder.embed([str(t) for t in batch["text"]])
        truncated = np.zeros(len(vectors), dtype=np.int64)
        if len(truncated):
            truncated[0] = self.encoder.truncated - before
        return {"position": batch["position"], "vector": vectors, "truncated": truncated}


@dataclass
class RayEncoding:
    """A :class:`likewise.embedding.ChunkEncoder` that encodes every chunk's texts on the Ray cluster at
    ``address`` as one streaming ``map_batches`` job, and yields each chunk's vectors once all of them are back
    (in chunk order), so the driver writes the cache chunk by chunk while the cluster still works on later ones.

    ``workers``: encoder actors (default: as many as the cluster has ``num_cpus`` / ``num_gpus`` slots for);
    each one takes ``num_cpus`` CPUs and ``num_gpus`` GPUs (a GPU worker runs the model on CUDA).
    """

    address: str
    workers: int | None = None
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    batch_size: int = RAY_BATCH_SIZE

    def __post_init__(self) -> None:
        parse_address(self.address)
        if self.workers is not None and self.workers < 1:
            raise InputError(f"Ray workers must be at least 1, got {self.workers}")
        if self.num_cpus <= 0 and self.num_gpus <= 0:
            raise InputError("each Ray worker needs some CPUs or GPUs (num_cpus or num_gpus above 0)")

    @contextmanager
    def connected(self):
        """Attached to the cluster (``ray.init``) for the duration, then detached; a session this process had
        already opened is used as is and left open."""
        ray = import_ray()
        if ray.is_initialized():
            yield ray
            return
        check_reachable(self.address)
        # one connection attempt (about 40 s when something that is not Ray listens), not Ray's default of
        # 20 attempts of that length
        saved = os.environ.get(GCS_WAIT_ENV)
        os.environ[GCS_WAIT_ENV] = saved or "1"
        try:
            ray.init(address=self.address, logging_level=logging.ERROR, log_to_driver=False,
                     include_dashboard=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise InputError(f"could not join the Ray cluster at {self.address}: {_first_line(exc)}") from None
        finally:
            if saved is None:
                os.environ.pop(GCS_WAIT_ENV, None)
        logging.getLogger("ray").setLevel(logging.ERROR)
        try:
            yield ray
        finally:
            ray.shutdown()

    def actor_count(self, ray) -> int:
        """``workers``, or as many as the cluster's CPUs (or GPUs) hold."""
        if self.workers is not None:
            return self.workers
        resources = ray.cluster_resources()
        slots = [int(resources.get(name, 0) // need) for name, need in (("CPU", self.num_cpus), ("GPU", self.num_gpus))
                 if need > 0]
        count = min(slots)
        if count < 1:
            raise InputError(f"the Ray cluster at {self.address} has {resources.get('CPU', 0):g} CPUs and "
                             f"{resources.get('GPU', 0):g} GPUs: not enough for one worker of {self.num_cpus:g} "
                             f"CPU(s) and {self.num_gpus:g} GPU(s)")
        return count

    def __call__(self, encoder: Encoder, chunks: Iterable[list[str]], progress: Progress = no_progress
                 ) -> Iterator[np.ndarray]:
        if not encoder.spec:
            raise InputError(f"encoder {encoder.identity} cannot be rebuilt on a Ray worker (it has no spec); "
                             "embed without --ray")
        with self.connected() as ray:
            sizes: list[int] = []
            texts: list[str] = []
            for chunk in chunks:  # the cache lookups: every chunk's misses, before the job starts
                sizes.append(len(chunk))
                texts.extend(chunk)
            if not texts:
                for _ in sizes:
                    yield np.empty((0, encoder.dim), np.float32)
                return
            progress(0, None, "starting the Ray job")
            vectors = np.empty((len(texts), encoder.dim), dtype=np.float32)
            ends = np.cumsum(sizes)
            # each map_batches call is one batch: rows of several chunks may arrive in any order
            left = np.asarray(sizes, dtype=np.int64)
            chunk_of = np.repeat(np.arange(len(sizes)), sizes)
            next_chunk = 0
            done = 0
            for batch in self._job(ray, encoder, texts):
                positions = batch["position"]
                vectors[positions] = batch["vector"]
                encoder.truncated += int(batch["truncated"].sum())
                np.subtract.at(left, chunk_of[positions], 1)
                done += len(positions)
                progress(done, None, "encoding on Ray")
                while next_chunk < len(sizes) and left[next_chunk] == 0:
                    lo = ends[next_chunk] - sizes[next_chunk]
                    yield vectors[lo : ends[next_chunk]]
                    next_chunk += 1
            if next_chunk < len(sizes):
                raise InputError(f"the Ray job returned {done:,} of {len(texts):,} vectors; run it again "
                                 "(what came back is in the cache)")

    def _job(self, ray, encoder: Encoder, texts: list[str]) -> Iterator[dict[str, np.ndarray]]:
        """The job's output batches as they finish (streaming execution; nothing waits for the whole set)."""
        import pandas as pd
        from ray.data import ActorPoolStrategy, DataContext

        context = DataContext.get_current()
        saved = context.enable_progress_bars, context.print_on_execution_start
        # the driver's progress callback reports instead; a failure becomes one InputError (see _job_error)
        context.enable_progress_bars = context.print_on_execution_start = False
        data_logger = logging.getLogger("ray.data")
        saved_level = data_logger.level
        data_logger.setLevel(logging.CRITICAL)
        # one block per batch, so every worker gets work from the start
        blocks = [pd.DataFrame({"position": np.arange(lo, min(lo + self.batch_size, len(texts))),
                                "text": texts[lo : lo + self.batch_size]})
                  for lo in range(0, len(texts), self.batch_size)]
        actors = min(self.actor_count(ray), len(blocks))
        with warnings.catch_warnings():
            # max_restarts goes through ray_remote_args, which Ray deprecates without a named replacement yet
            warnings.simplefilter("ignore", DeprecationWarning)
            dataset = ray.data.from_pandas(blocks).map_batches(
                EncodeBatch,
                fn_constructor_kwargs={"spec": encoder.spec, "identity": encoder.identity, "dim": encoder.dim,
                                       "threads": max(1, int(self.num_cpus))},
                compute=ActorPoolStrategy(min_size=1, max_size=actors),
                batch_size=self.batch_size,
                batch_format="numpy",
                num_cpus=self.num_cpus,
                num_gpus=self.num_gpus or None,
                # a lost worker fails the job (what finished is in the cache: rerun to resume) instead of being
                # restarted; Ray also logs a warning to stderr for every restartable actor
                max_restarts=0,
            )
        try:
            yield from dataset.iter_batches(batch_size=None, batch_format="numpy")
        except Exception as exc:  # Ray wraps a worker's error in its own exception types
            raise self._job_error(exc) from None
        finally:
            context.enable_progress_bars, context.print_on_execution_start = saved
            data_logger.setLevel(saved_level)

    def _job_error(self, exc: BaseException) -> InputError:
        """One line from a failed job: the worker's own InputError when there is one."""
        cause: BaseException | None = exc
        seen = set()
        while cause is not None and id(cause) not in seen:
            seen.add(id(cause))
            if isinstance(cause, InputError):
                return InputError(str(cause))
            cause = getattr(cause, "cause", None) or cause.__cause__ or cause.__context__
        # an actor that failed to start carries its error only as traceback text
        worker_error = re.search(r"likewise\.errors\.InputError: (.+)", str(exc))
        if worker_error:
            return InputError(worker_error.group(1).strip())
        return InputError(f"the Ray job at {self.address} failed: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]

