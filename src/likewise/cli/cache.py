"""``likewise cache``: the shared embedding cache (info, clear)."""
from __future__ import annotations

import click

from likewise.cli.output import json_option, note, print_json, stdout, table, wants_json

_cache_dir = click.option("--cache", "folder", type=click.Path(file_okay=False), default=None,
                          help="Cache folder (default $LIKEWISE_CACHE, else the user cache folder).")


@click.group("cache")
def cache_group() -> None:
    """The embedding cache every workspace shares: vectors by encoder and text, so nothing is encoded twice.

    \b
    Example:
      likewise cache info
      likewise cache clear --yes
    """


@cache_group.command("info")
@_cache_dir
@json_option
def cache_info_command(folder, as_json) -> None:
    """Where the cache is and what it holds, per encoder.

    \b
    Example:
      likewise cache info --json
    """
    from likewise.cache import cache_info, default_cache_dir

    info = cache_info(folder or default_cache_dir())
    if wants_json(as_json):
        print_json(info.to_dict())
        return
    stdout.print(f"Cache: {info.folder}", highlight=False)
    stdout.print(table(None, ["encoder", "shards", "MB"],
                       [(e["identity"], e["shards"], round(e["bytes"] / 1e6, 1)) for e in info.encoders]))


@cache_group.command("clear")
@_cache_dir
@click.option("--encoder", "identity", default=None, help="Only this encoder identity (as `cache info` lists it).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def cache_clear_command(folder, identity, yes) -> None:
    """Delete cached vectors (all, or one encoder's); they are encoded again when next needed.

    \b
    Example:
      likewise cache clear --encoder hashing:dim=64 --yes
    """
    from likewise.cache import clear_cache, default_cache_dir

    folder = folder or default_cache_dir()
    if not yes:
        click.confirm(f"Delete the cached vectors in {folder}?", abort=True, err=True)
    removed = clear_cache(folder, identity=identity)
    note(f"Deleted {removed.shards} shard(s), {removed.bytes / 1e6:.1f} MB, of {len(removed.encoders)} encoder(s).")


def register(group: click.Group) -> None:
    group.add_command(cache_group)
