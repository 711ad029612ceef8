"""``likewise compare-models``: rank candidate encoders on your labels before tuning."""
from __future__ import annotations

import click

from likewise.cli.options import cache_option, device_option, workspace_option
from likewise.cli.output import json_option, print_json, progress_bar, quiet_option, stdout, table, wants_json


@click.command("compare-models")
@click.option("-m", "--model", "models", multiple=True,
              help="default (all-MiniLM-L6-v2), static (distilled from it), hashing, or a local sentence-transformers folder (repeat).")
@click.option("--vectors", "vector_files", multiple=True, type=click.Path(dir_okay=False), help="A vector file to compare (repeat).")
@click.option("-k", "--k", "k", type=int, default=100, show_default=True, help="Neighbours per query for top_k.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the held-out split (as in `likewise evaluate`).")
@click.option("--runtime", type=click.Choice(["auto", "torch", "onnx"]), default="auto", show_default=True,
              help="auto = ONNX Runtime on CPU when installed (same vectors, faster), else PyTorch.")
@device_option
@cache_option
@workspace_option
@json_option
@quiet_option
def compare_models_command(models: tuple[str, ...], vector_files: tuple[str, ...], k: int, seed: int, runtime: str,
                           device: str | None, workspace: str, as_json: bool, quiet: bool) -> None:
    """Rank candidate encoders on your labels before tuning, so you start from the best existing model.

    Each candidate embeds the held-out labeled records (through the cache) and is scored by top_k and MAP@R,
    with its encoding speed. Without --model, compares the bundled default, the static encoder distilled from
    it (when the `static` extra, model2vec, is installed: 50-500x the texts/s) and the hashing baseline.

    \b
    Example:
      likewise compare-models -m default -m ./models/my-sbert -m hashing
      likewise compare-models -m default --vectors openai_vectors.parquet --json
    """
    from likewise.ops.evaluate import compare_models
    from likewise.workspace import Workspace

    ws = Workspace.open(workspace)
    defaults = ["default", "static", "hashing"] if _static_available() else ["default", "hashing"]
    with progress_bar(quiet, "loading the models") as progress:
        scores = compare_models(ws, list(models) or (defaults if not vector_files else []),
                                vector_files=list(vector_files), k=k, seed=seed, runtime=runtime, device=device,
                                progress=progress)
    if wants_json(as_json):
        print_json([s.to_dict() for s in scores])
        return
    rows = [(i + 1, s.model, s.dim, f"{100 * s.metrics['top_k']:.1f}", f"{100 * s.metrics['map_at_r']:.1f}",
             f"{100 * s.metrics['precision_at_1']:.1f}", "cached" if s.texts_per_s is None else f"{s.texts_per_s:,.0f}")
            for i, s in enumerate(scores)]
    stdout.print(table(f"Models on {scores[0].test_records:,} held-out labeled records", ["rank", "model", "dim", f"top_{k}",
                                                                                          "MAP@R", "P@1", "texts/s"], rows))


def _static_available() -> bool:
    """Whether the static encoder can be built here (its extra, model2vec, is installed)."""
    import importlib.util

    return importlib.util.find_spec("model2vec") is not None


def register(group: click.Group) -> None:
    group.add_command(compare_models_command)
