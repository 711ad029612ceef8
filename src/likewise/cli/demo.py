"""``likewise demo``: the tour, end to end on bundled real data, narrated in a terminal (JSON when piped)."""
from __future__ import annotations

import click

from likewise.cli.options import parse_budgets, parse_ints, workspace_option
from likewise.cli.output import json_option, one_line, print_json, progress_bar, quiet_option, share, stdout, wants_json
from likewise.demo import DEMO_BUDGETS


@click.command("demo")
@click.option("--dataset", type=click.Choice(["bbc_news", "rotten_tomatoes"]), default="bbc_news", show_default=True,
              help="Bundled dataset to run on (see `likewise datasets`).")
@click.option("--budgets", default=",".join(map(str, DEMO_BUDGETS)), show_default=True,
              help="Label budgets to evaluate: labeled training records per run, comma-separated (or 'all').")
@click.option("--seeds", default="0,1,2", show_default=True, help="Seeds of the held-out split, comma-separated.")
@click.option("-k", "--k", "k", type=int, default=None,
              help="k of top_k: neighbours per query (default: 100 for bbc_news, 1000 for rotten_tomatoes).")
@click.option("--no-report", is_flag=True, help="Skip the HTML report.")
@workspace_option
@json_option
@quiet_option
def demo_command(dataset: str, budgets: str, seeds: str, k: int | None, no_report: bool, workspace: str,
                 as_json: bool, quiet: bool) -> None:
    """The tour: embed bundled real data, evaluate raw vs tuned on held-out records, tune, write the report.

    Embeds BBC News with the bundled all-MiniLM-L6-v2, trains raw, the reference recipe, LDA and likewise
    on small label budgets and scores each on the held-out 40%; tunes a head on the labels; writes the
    report with a before/after similarity session. A few minutes on a laptop CPU; the workspace is left
    for you to explore. Piped (or --json), it prints the JSON result instead of the narration.

    \b
    Example:
      likewise demo
      likewise demo --dataset rotten_tomatoes --budgets 100 --seeds 0 -w rt-workspace
    """
    from likewise.demo import run_demo

    k = k or (100 if dataset == "bbc_news" else 1000)
    with progress_bar(quiet, f"loading {dataset}") as progress:
        result = run_demo(workspace, dataset=dataset, budgets=parse_budgets(budgets), seeds=parse_ints(seeds), k=k,
                          report=not no_report, progress=progress)
    if wants_json(as_json):
        print_json(result.to_dict())
        return
    narrate(result, k)


def narrate(result, k: int, console=None) -> None:
    """What a person reads: the data, what was tuned, raw vs tuned on held-out records, one session, the report."""
    console = console or stdout

    def say(text: str) -> None:
        console.print(text, highlight=False)

    classes = result.tuned.get("classes") or {}
    say(f"[bold]Data[/bold]  {result.dataset}: {result.records:,} records, {len(classes)} classes "
        f"({', '.join(classes)}), embedded with {result.encoder.split(':')[1] if ':' in result.encoder else result.encoder}.")
    say(f"[bold]Tuned[/bold]  a mapping of the vectors learned from {result.tuned.get('train_records', 0):,} labels "
        f"in {result.tuned.get('seconds', 0):.1f} s.")
    summary = result.evaluation.summary()
    by = {(str(e["budget"]), e["method"]): e for e in summary if "top_k" in e}
    budgets = list(dict.fromkeys(str(e["budget"]) for e in summary))
    say(f"[bold]Held-out[/bold]  top_{k} (share of a record's {k} nearest in its own class), raw → tuned:")
    for b in budgets:
        raw, tuned = by.get((b, "raw")), by.get((b, "likewise"))
        if raw and tuned:
            say(f"  {tuned['train_records']:>6,} labels: {share(raw['top_k']['mean'])} → {share(tuned['top_k']['mean'])}")
    session = result.session
    if session:
        before, after = session["before"], session["after"]
        say(f"[bold]Session[/bold]  the {session['k']} records nearest to {session['query_id']} "
            f"({session['query_label']}) “{one_line(session['query_text'])[:70]}…”: in its class, among the labeled "
            f"ones, {before['same_class']} of {before['labeled']} before tuning, {after['same_class']} of "
            f"{after['labeled']} after.")
    if result.report:
        say(f"[bold]Report[/bold]  {result.report['html']}")
    say(f"Workspace {result.workspace}: try `likewise search --text \"...\" -w {result.workspace}`.")


def register(group: click.Group) -> None:
    group.add_command(demo_command)
