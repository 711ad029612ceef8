"""``likewise embed``: read records, embed them through the cache, store them in the workspace."""
from __future__ import annotations

from pathlib import Path

import click

from likewise.cli.options import cache_option, device_option, workspace_option
from likewise.cli.output import json_option, note, print_json, progress_bar, quiet_option, stdout, table, wants_json


@click.command("embed")
@click.argument("data")
@click.option("-t", "--text-column", "text_columns", multiple=True, help="Text column; repeat to join several (title + body).")
@click.option("-l", "--label-column", default=None, help="Class label column (records without a label stay unlabeled).")
@click.option("--id-column", default=None, help="Record id column (default: 'id' if present, else ids from row numbers).")
@click.option("--confidence-column", default=None, help="Weak-label confidence column.")
@click.option("--min-confidence", "confidence_threshold", type=float, default=0.7, show_default=True,
              help="Keep a weak label only when its confidence is above this.")
@click.option("--format", "fmt", type=click.Choice(["csv", "tsv", "jsonl", "json", "parquet", "refinery"]), default=None,
              help="File format (default: from the extension; refinery exports are detected).")
@click.option("--task", "refinery_task", default=None, help="Refinery labeling task to read labels from.")
@click.option("-m", "--model", default="default", show_default=True,
              help="Encoder: 'default' (all-MiniLM-L6-v2, bundled), 'static' (distilled from it, "
                   "hundreds of times faster; likewise[static]), 'hashing', or a local sentence-transformers folder.")
@click.option("--runtime", type=click.Choice(["auto", "torch", "onnx"]), default="auto", show_default=True,
              help="auto = ONNX Runtime on CPU when installed (same vectors, faster), else PyTorch.")
@click.option("--precision", type=click.Choice(["fp32", "int8"]), default="fp32", show_default=True,
              help="int8: ONNX Runtime with int8 weights on the CPU, faster, slightly other vectors (own cache "
                   "entries; held-out top_k within 0.5 points of fp32, see bench/RESULTS.md).")
@click.option("--vectors", "vectors_file", type=click.Path(dir_okay=False), default=None,
              help="Use your own vectors instead of a model: .npy (row order) or .parquet/.jsonl (by id).")
@click.option("--vector-column", default="vector", show_default=True, help="Vector column in a .parquet/.jsonl vector file.")
@click.option("--ray", "ray_address", envvar="LIKEWISE_RAY_ADDRESS", default=None, metavar="ADDRESS",
              help="Encode on this Ray cluster (HOST:PORT of its head, or $LIKEWISE_RAY_ADDRESS); same vectors and "
                   "cache as a local run (likewise[ray]; see docs/scale.md).")
@click.option("--ray-gpus", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="GPUs per Ray worker (0: CPU workers, one per CPU of the cluster).")
@device_option
@cache_option
@workspace_option
@json_option
@quiet_option
def embed_command(data: str, text_columns: tuple[str, ...], label_column: str | None, id_column: str | None,
                  confidence_column: str | None, confidence_threshold: float, fmt: str | None, refinery_task: str | None,
                  model: str, runtime: str, precision: str, vectors_file: str | None, vector_column: str, ray_address: str | None,
                  ray_gpus: float, device: str | None,
                  workspace: str, as_json: bool, quiet: bool) -> None:
    """Read records from DATA and store them with their embeddings in the workspace.

    DATA is a CSV, TSV, JSON lines, JSON, Parquet file or a Kern refinery export, '-' for stdin, or the name
    of a bundled dataset (see `likewise datasets`). Vectors come from the embedding cache when the same
    encoder has seen the same text before, so re-running encodes only new or edited records.

    \b
    Example:
      likewise embed reviews.csv --text-column title --text-column body --label-column label
      likewise embed export.json --task sentiment --min-confidence 0.7
      likewise embed bbc_news
      likewise embed bbc_news --precision int8                     # faster on CPU, its own vectors
      likewise embed items.parquet --label-column label --vectors api_vectors.parquet
      likewise embed bbc_news --ray 10.0.0.5:6379
      likewise embed bbc_news --ray 10.0.0.5:6379 --ray-gpus 1       # one GPU per worker
    """
    from likewise.datasets import DATASETS, load_dataset
    from likewise.ops.embed import embed_into_workspace
    from likewise.encoders import UserVectors, get_encoder
    from likewise.records import load_records, summary_lines
    from likewise.workspace import Workspace

    if data in DATASETS and not Path(data).exists():
        dataset = load_dataset(data)
        source = {"dataset": data, "path": f"bundled:{data}"}
    else:
        dataset = load_records(
            data, text_columns=list(text_columns) or None, label_column=label_column, id_column=id_column,
            confidence_column=confidence_column, confidence_threshold=confidence_threshold, format=fmt,
            refinery_task=refinery_task,
        )
        source = {"path": str(Path(data).resolve()) if data != "-" else "-", "text_columns": list(text_columns),
                  "label_column": label_column, "id_column": id_column, "confidence_column": confidence_column,
                  "confidence_threshold": confidence_threshold, "format": fmt, "task": refinery_task}
    if not as_json:
        for line in summary_lines(dataset.summary):
            note(line, quiet=quiet)
    ws = Workspace.open(workspace, create=True)
    if vectors_file:
        encoder = UserVectors(vectors_file, column=vector_column, id_column="id")
        source["vectors"] = str(Path(vectors_file).resolve())
    else:
        encoder = get_encoder(model, runtime=runtime, device=device, precision=precision)
    with progress_bar(quiet, "loading the model") as progress:
        result = embed_into_workspace(ws, dataset, encoder, source=source, threshold=confidence_threshold,
                                      ray_address=ray_address, ray_gpus=ray_gpus, progress=progress)
    if wants_json(as_json):
        print_json(result.to_dict())
        return
    s = result.stats
    stdout.print(table(None, ["records", "from cache", "encoded", "duplicates", "cut at token window", "seconds", "dim"],
                       [(s.records, s.cache_hits, s.encoded, s.duplicates, s.truncated_to_window, round(s.seconds, 1), result.dim)]))
    if s.ignored_cache_shards:
        note(f"{s.ignored_cache_shards} unreadable cache shard(s) were ignored and re-encoded.")
    written = result.labels["written"]
    note(f"Labels: {written:,} new label event(s), {result.labels['unchanged']:,} unchanged "
         "(see `likewise labels`).", quiet=quiet)
    if result.head_reapplied:
        note("Re-applied the saved head: every record has tuned vectors again (`likewise tune` retrains it on the "
             "current labels).", quiet=quiet)
    note(f"Stored in {result.workspace} (encoder {s.encoder}).", quiet=quiet)


def register(group: click.Group) -> None:
    group.add_command(embed_command)
