"""The operations a user runs on a workspace, each reading and writing through :mod:`likewise.workspace`.

One layer for both front ends: the CLI (:mod:`likewise.cli`) and the HTTP API (:mod:`likewise.serve`)
call these functions and format what they return; nothing here prints.

- :mod:`.embed`: records in, raw vectors through the shared cache, labels into the label store
- :mod:`.labels`: label, undo, import and export labels, class renames/merges/deletes, history
- :mod:`.tune`: train a head or fine-tune the encoder; tuned vectors; transform and export vectors
- :mod:`.evaluate`: held-out evaluation over label budgets and seeds; compare candidate encoders
- :mod:`.search`: the index, search, labeling sessions
- :mod:`.classify`, :mod:`.maps`: the classifier and 2D maps on the workspace's vectors
- :mod:`.runs`: the run log ("learning in public")
"""
