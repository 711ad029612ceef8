"""``likewise serve``: a labeling web app over one workspace (FastAPI + uvicorn, the ``serve`` extra).

- :mod:`.server`: bind, print the URL with its token, run uvicorn until Ctrl-C
- :mod:`.app`: the FastAPI app, JSON errors, the page; :mod:`.routes`: the HTTP API; :mod:`.schemas`: bodies
- :mod:`.security`: token, CSRF, allowed hosts, bounded bodies, headers
- :mod:`.state`: records, search, labels, classes, settings (the API without HTTP)
- :mod:`.sessions`: labeling sessions (open, read with the meter, re-rank, bulk label)
- :mod:`.jobs`: background retrain in the loop, maps, report; :mod:`.progress`: the progress page's data
- :mod:`.space`, :mod:`.labelview`: the in-memory vectors and current labels a keystroke needs
- ``static/``: the page (HTML, CSS, vanilla JavaScript; no CDN, user text only through ``textContent``)

The retrain, re-rank and bulk rules themselves are library functions in :mod:`likewise.ops.loop`.
"""
