"""``likewise classify``: a classifier on raw vs tuned vectors (and a tuned encoder's), held-out scores, weak labels."""
from __future__ import annotations

import click

from likewise.cli.options import device_option, parse_budget, split_options, workspace_option
from likewise.cli.output import json_option, note, print_json, progress_bar, quiet_option, share, stdout, table, wants_json


@click.command("classify")
@click.option("-o", "--out", type=click.Path(dir_okay=False), default=None,
              help="Write every record with its label; predictions carry a confidence (.csv, .jsonl, .json = refinery).")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "refinery"]), default=None,
              help="Export format (default: from the extension).")
@click.option("--attribute", default="text", show_default=True, help="Refinery export: the text attribute's name.")
@click.option("--task", default="likewise", show_default=True, help="Refinery export: the labeling task's name.")
@click.option("--min-confidence", type=float, default=None,
              help="Export only predictions with a confidence above this (default: all, so you can filter later).")
@click.option("--predictions-only", is_flag=True, help="Export the predicted records only, not the labeled ones.")
@click.option("--predict-with", type=click.Choice(["auto", "raw", "tuned", "encoder"]), default="auto",
              show_default=True, help="Vectors for the predictions; auto = those with the best held-out accuracy "
              "(encoder: the tuned encoder's vectors).")
@click.option("--encoder", "encoder", type=click.Choice(["auto", "yes", "no"]), default="auto", show_default=True,
              help="Score the tuned encoder's vectors as features too: auto = when `likewise tune` kept a tuned "
              "encoder (fine-tunes one more on the training records only, for an honest held-out score); no = skip.")
@click.option("--C", "C", type=float, default=10.0, show_default=True, help="Inverse regularisation of the classifier.")
@split_options
@device_option
@workspace_option
@json_option
@quiet_option
def classify_command(out, fmt, attribute, task, min_confidence, predictions_only, predict_with, encoder, C, seed,
                     test_size, budget, device, workspace, as_json, quiet) -> None:
    """Train a classifier on raw vs tuned vectors, score it on held-out records, label the unlabeled ones.

    A logistic regression is trained on the labeled records of the evaluation's split and scored on the
    held-out ones (accuracy, macro-F1, per class, and how a confidence threshold trades records for
    precision). The tuned vectors for that score come from a head trained on the training records only, so
    nothing leaks. Where `likewise tune` kept a fine-tuned encoder, its own vectors are scored too (SetFit's
    recipe), from an encoder fine-tuned again on the training records only; the predictions use the vectors
    with the best held-out accuracy, and the output says which. Then every unlabeled record gets a predicted
    label and a confidence, exported as weak labels that `likewise embed` (or refinery) reads back with a
    confidence filter.

    \b
    Example:
      likewise classify
      likewise classify -o weak_labels.csv
      likewise classify --encoder no          # skip scoring the tuned encoder (it fine-tunes once more)
      likewise classify -o weak_labels.json --format refinery --task topic --min-confidence 0.7
      likewise embed weak_labels.csv --label-column label --confidence-column confidence --min-confidence 0.7 -w ws2
    """
    from likewise.ops.classify import classify_workspace
    from likewise.workspace import Workspace

    ws = Workspace.open(workspace)
    with progress_bar(quiet, "reading the workspace") as progress:
        result = classify_workspace(ws, export=out, export_format=fmt, attribute=attribute, task=task,
                                    min_confidence=min_confidence, include_labeled=not predictions_only,
                                    seed=seed, test_size=test_size, budget=parse_budget(budget), C=C,
                                    predict_with=predict_with, encoder=encoder, device=device, progress=progress)
    if wants_json(as_json):
        print_json(result.to_dict())
        return
    render_classify(result)
    if result.export:
        note(f"Wrote {result.export['records']:,} records ({result.export['predicted']:,} predicted) to "
             f"{result.export['path']} ({result.export['format']}).", quiet=quiet)


def render_classify(result, console=None) -> None:
    """Held-out scores, the per-class table, the confidence filter and what the weak labels are worth."""
    from likewise.ops.classify import held_out_precision

    console = console or stdout
    c = result.classification
    split = c.config["split"]
    # with a tuned encoder's row, "tuned" is a head on the raw vectors: say so
    words = VECTOR_WORDS if c.score("encoder") is not None else {}
    console.print(table(f"Classifier on {split['test_records']:,} held-out records (trained on "
                        f"{split['train_records']:,}, budget {split['budget']})",
                        ["vectors", "accuracy", "macro-F1"],
                        [[words.get(s.vectors, s.vectors), share(s.accuracy), share(s.macro_f1)]
                         for s in c.scores]))
    if "encoder" in c.config:
        console.print(f"tuned encoder: held-out score from an encoder {c.config['encoder']['heldout_encoder']}; "
                      "predictions from the workspace's tuned encoder.", highlight=False)
    classes = list(c.scores[0].per_class)
    console.print(table("Per class, on held-out records",
                        ["class", "records"] + [f"{s.vectors} {m}" for s in c.scores for m in ("precision", "recall")],
                        [[k, c.scores[0].per_class[k]["support"]]
                         + [share(s.per_class[k][m]) for s in c.scores for m in ("precision", "recall")]
                         for k in classes]))
    rows = [[f"> {row['threshold']:.2f}"] + [v for s in c.scores for v in (share(s.thresholds[i]["kept"]),
                                                                          share(s.thresholds[i]["precision"]))]
            for i, row in enumerate(c.scores[0].thresholds)]
    console.print(table("Confidence filter on held-out records: share kept, and correct among them",
                        ["confidence"] + [f"{s.vectors} {m}" for s in c.scores for m in ("kept", "precision")], rows))
    above = result.weak.predicted_count(0.7)
    precision = held_out_precision(c, 0.7)
    worth = f" (held-out precision {share(precision)} at that threshold)" if precision is not None else ""
    chosen = "the best held-out accuracy" if c.config.get("predict_choice") == "auto" else "as asked"
    with_ = words.get(c.predicted_with, c.predicted_with)
    console.print(f"{len(c.predicted):,} unlabeled records predicted with {with_} vectors ({chosen}); {above:,} "
                  f"with confidence > 0.7{worth}.", highlight=False)


VECTOR_WORDS = {"raw": "raw", "tuned": "tuned (head)", "encoder": "tuned encoder"}


def register(group: click.Group) -> None:
    group.add_command(classify_command)
