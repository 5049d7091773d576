"""deal_registration: the REST intake for PRM frontends (partner portals).

It owns the registration record and what partners see of it: ``domain`` (the lifecycle as
partners see it, pure), ``adapters`` (tables and repositories), ``handlers`` (one function per
use case), ``api`` (FastAPI routes) and ``app`` (the composition root).
"""
