"""``likewise tune``: learn the mapping from the current labels."""
from __future__ import annotations

import click

from likewise.cli.options import cache_option, device_option, workspace_option
from likewise.cli.output import json_option, note, print_json, progress_bar, quiet_option, stdout, table, wants_json


@click.command("tune")
@click.option("--head", default=None, help="Head: skip, linear, mlp, identity (default: likewise's default).")
@click.option("--loss", default=None, help="Loss: batch_hard_triplet, batch_semi_hard_triplet, batch_all_triplet, supcon, online_contrastive.")
@click.option("--reference", is_flag=True, help="Use the reference recipe exactly (skip head, batch-hard triplet, Adam 1e-3).")
@click.option("-k", "--k", "k", type=int, default=None, help="k of the top_k used for early stopping (default 100).")
@click.option("--epochs", type=int, default=None, help="Maximum epochs (early stopping picks the best).")
@click.option("--lr", type=float, default=None, help="Learning rate.")
@click.option("--batch-size", type=int, default=None, help="Records per batch.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--force", is_flag=True, help="Keep the trained head even when it does not beat the identity on validation.")
@click.option("--train-encoder", is_flag=True, help="Fine-tune the encoder itself (slow on CPU; GPU when present).")
@click.option("--encoder-epochs", type=int, default=8, show_default=True, help="Epochs of encoder fine-tuning.")
@device_option
@cache_option
@workspace_option
@json_option
@quiet_option
def tune_command(head, loss, reference, k, epochs, lr, batch_size, seed, force, train_encoder, encoder_epochs, device,
                 workspace, as_json, quiet) -> None:
    """Learn from the workspace's labels a mapping under which similar means same class.

    Trains a head on the cached vectors of the labeled records (early stopping on a validation split of them),
    saves it in the workspace (safetensors + JSON + a model card) and writes tuned vectors for every record,
    labeled or not. If the trained head does not beat the identity on validation it says so and keeps the
    identity (unless --force). The previous head stays intact until the new one is completely saved.

    \b
    Example:
      likewise tune
      likewise tune --head skip --loss batch_hard_triplet --epochs 50
      likewise tune --reference
      likewise tune --train-encoder --encoder-epochs 1 --device cuda
    """
    from likewise.ops.tune import tune_workspace
    from likewise.workspace import Workspace

    options: dict = {"seed": seed}
    if reference:
        from likewise.tuning import REFERENCE_RECIPE

        options.update(REFERENCE_RECIPE)
    for name, value in (("head", head), ("loss", loss), ("k", k), ("epochs", epochs), ("lr", lr),
                        ("batch_size", batch_size), ("device", device)):
        if value is not None:
            options[name] = value
    if force:
        options["force"] = True
    ws = Workspace.open(workspace)
    with progress_bar(quiet) as progress:
        if train_encoder:
            enc = {"seed": seed, "epochs": encoder_epochs, "device": device, "force": force}
            for name, value in (("loss", loss), ("lr", lr), ("batch_size", batch_size), ("k", k)):
                if value is not None:
                    enc[name] = value
            result = tune_workspace(ws, train_encoder=True, encoder_options=enc, progress=progress)
        else:
            result = tune_workspace(ws, tuner_options=options, progress=progress)
    if wants_json(as_json):
        print_json(result.to_dict())
        return
    if result.message:
        note(result.message)
    if result.validation:
        stdout.print(table("Validation (labeled records held out from training)", list(result.validation),
                           [[f"{v:.4f}" if isinstance(v, float) else v for v in result.validation.values()]]))
    stdout.print(f"Trained on {result.train_records:,} labeled records in {result.seconds:.1f} s; saved {result.kind} "
                 f"to {result.path}; tuned vectors written for every record.", highlight=False)


def register(group: click.Group) -> None:
    group.add_command(tune_command)
