"""`dlexp serve`: a live, interactive view of a results folder in the browser.

    index   an incrementally refreshed index of runs (summaries, live files) and sweeps (manifests)
    views   what each page shows, as data: the runs table, a run, a sweep, with their captions
    paths   which files may be read: only inside the results folder
    assets  the page's script and style (static/), and plotly.js from the installed plotly package
    server  the HTTP server (standard library) and its routes

The page's script (static/app.js) draws the same views from the same payloads whether they come
from the server or are embedded in the file `dlexp report` writes.
"""
