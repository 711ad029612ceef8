"""``likewise tune``: learn the mapping from the current labels."""
from __future__ import annotations

import click

from likewise.cli.options import cache_option, device_option, workspace_option
from likewise.cli.output import json_option, note, print_json, progress_bar, quiet_option, stdout, table, wants_json


@click.command("tune")
@click.option("--method", type=click.Choice(["auto", "head", "lda", "lda_shrinkage", "centroids", "reference", "identity"]),
              default=None, help="auto (default): choose by cross-validation on the labels among the head, LDA with "
              "and without shrinkage, the class-centroid map, the reference recipe, the identity and, when the time "
              "budget allows, encoder fine-tuning. Or one of them.")
@click.option("--time-budget", type=float, default=300.0, show_default=True,
              help="Seconds auto may spend (comparing methods and fine-tuning the encoder).")
@click.option("--head", default=None, help="Head: skip, linear, mlp, identity (implies --method head).")
@click.option("--loss", default=None, help="Loss: batch_hard_triplet, batch_semi_hard_triplet, batch_all_triplet, supcon, online_contrastive.")
@click.option("--reference", is_flag=True, help="Use the reference recipe exactly (skip head, batch-hard triplet, Adam 1e-3).")
@click.option("-k", "--k", "k", type=int, default=None, help="k of the top_k used for early stopping (default 100).")
@click.option("--epochs", type=int, default=None, help="Maximum epochs (early stopping picks the best).")
@click.option("--lr", type=float, default=None, help="Learning rate.")
@click.option("--batch-size", type=int, default=None, help="Records per batch.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--force", is_flag=True, help="Keep the trained head even when it does not beat the identity on validation.")
@click.option("--train-encoder", is_flag=True, help="Fine-tune the encoder itself (slow on CPU; GPU when present).")
@click.option("--encoder-epochs", type=int, default=None,
              help="Epochs of encoder fine-tuning (default: 8 and at least 32 steps, fewer when the time budget is short).")
@device_option
@cache_option
@workspace_option
@json_option
@quiet_option
def tune_command(method, time_budget, head, loss, reference, k, epochs, lr, batch_size, seed, force, train_encoder,
                 encoder_epochs, device, workspace, as_json, quiet) -> None:
    """Learn from the workspace's labels a mapping under which similar means same class.

    By default (--method auto) compares, by cross-validation inside the labeled records only, likewise's head,
    LDA with and without shrinkage, the class-centroid map, the reference recipe and the untouched vectors,
    prints every candidate's validation score and keeps the best (the identity when nothing beats it); when
    --time-budget allows, it also fine-tunes the encoder and keeps it if it scores higher than the chosen map
    on the same validation records (a 20% holdout of the classes with 25+ labels when they carry 80% of the
    labels; otherwise halves of the labels, where it is kept within 0.05 of the map, since half the labels
    cost the encoder more, when its fit on all the labels can run its whole schedule in the time left). Saves
    the result in the workspace (safetensors + JSON + a model card with the scores) and writes tuned vectors
    for every record, labeled or not. The previous head stays intact until the new one is completely saved.

    \b
    Example:
      likewise tune
      likewise tune --time-budget 60
      likewise tune --method lda_shrinkage
      likewise tune --head skip --loss batch_hard_triplet --epochs 50
      likewise tune --reference
      likewise tune --train-encoder --encoder-epochs 1 --device cuda
    """
    from likewise.ops.tune import tune_workspace
    from likewise.workspace import Workspace

    options: dict = {"seed": seed}
    explicit_head = any(v is not None for v in (head, loss, epochs)) and not train_encoder
    method = method or ("head" if explicit_head or reference else "auto")
    options["method"] = method
    if reference:
        from likewise.tuning import REFERENCE_RECIPE

        options.update(REFERENCE_RECIPE)
        options["method"] = "head"
    for name, value in (("head", head), ("loss", loss), ("k", k), ("epochs", epochs), ("lr", lr),
                        ("batch_size", batch_size), ("device", device)):
        if value is not None:
            options[name] = value
    if force:
        options["force"] = True
    ws = Workspace.open(workspace)
    with progress_bar(quiet, "reading the workspace") as progress:
        enc = {"seed": seed, "device": device, "force": force}
        for name, value in (("epochs", encoder_epochs), ("loss", loss), ("lr", lr), ("batch_size", batch_size), ("k", k)):
            if value is not None:
                enc[name] = value
        if train_encoder:
            enc.setdefault("time_budget", time_budget)
            result = tune_workspace(ws, train_encoder=True, encoder_options=enc, progress=progress)
        else:
            result = tune_workspace(ws, tuner_options=options, progress=progress, time_budget=time_budget,
                                    train_encoder=None if method == "auto" else False,
                                    encoder_options={k: v for k, v in enc.items() if k != "force"})
    if wants_json(as_json):
        print_json(result.to_dict())
        return
    if result.message:
        note(result.message)
    if result.selection:
        rows = []
        for name, score in result.selection["scores"].items():
            if "mean" in score:
                rows.append((name, f"{100 * score['mean']:.1f}%", f"{100 * score['min']:.1f}-{100 * score['max']:.1f}%",
                             f"{score['seconds']:.1f}"))
            elif "holdout_top_k" in score:
                rows.append((f"{name} ({score.get('split', '20% holdout')})", f"{100 * score['holdout_top_k']:.1f}%", f"vs {100 * score['vs']:.1f}%", ""))
            else:
                rows.append((name, score.get("skipped", ""), "", ""))
        stdout.print(table(f"Methods compared ({result.selection['strategy']}); chosen: {result.method}",
                           ["method", f"validation top_{result.selection['k']}", "min-max", "seconds"], rows))
    if result.self_training:
        note(self_training_line(result.self_training))
    if result.validation:
        stdout.print(validation_table(result.validation, result.kind))
    saved = result.kind
    if result.encoder_head is not None:
        saved = "the tuned encoder and a head on it" if result.encoder_head["kept"] else "the tuned encoder (no head)"
    stdout.print(f"Trained on {result.train_records:,} labeled records in {result.seconds:.1f} s; saved {saved} "
                 f"to {result.path}; tuned vectors written for every record.", highlight=False)


VALIDATION_WORDS = {"identity_top_k": "untouched vectors", "trained_top_k": "trained head",
                    "base_top_k": "base encoder", "tuned_top_k": "tuned encoder", "records": "validation records",
                    "train_records": "training records", "strategy": "how", "k": "k",
                    "head_on_encoder_top_k": "tuned encoder + head", "kept_top_k": "kept",
                    "map_top_k": "map on frozen vectors"}


def validation_table(validation: dict, kind: str = "head"):
    """The validation scores with headers in words and shares in percent."""
    words = {**VALIDATION_WORDS, "trained_top_k": "tuned encoder"} if kind == "encoder" else VALIDATION_WORDS
    columns = [words.get(key, key.replace("_", " ")) for key in validation]
    cells = [f"{100 * v:.1f}%" if isinstance(v, float) and key.endswith("top_k") else v for key, v in validation.items()]
    return table("Validation (labeled records held out from training)", columns, [cells])


def register(group: click.Group) -> None:
    group.add_command(tune_command)


def self_training_line(report: dict) -> str:
    """One line on what self-training did with the unlabeled records."""
    if report.get("skipped"):
        return f"Self-training: {report['skipped']}."
    rounds = report.get("history") or []
    last = rounds[-1]["pseudo_labeled"] if rounds else 0
    return (f"Self-training: {len(rounds)} round(s) on {report['unlabeled']:,} unlabeled records, {last:,} pseudo-labeled "
            f"(expected {100 * report['estimated_precision']:.0f}% right, cross-validated on the labels).")
