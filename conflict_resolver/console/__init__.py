"""The sales-ops console: one static page (HTML, CSS, a small script; no build step).

It signs in with an ops key (kept in the tab's ``sessionStorage``), reads the queue API and
listens to ``GET /v1/conflicts/stream`` for live changes.
"""
