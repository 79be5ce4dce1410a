"""gunicorn entry point: ``gunicorn -c gunicorn.conf.py wsgi:app``."""

import gc

import background
from app import create_app

app = create_app()
background.start(app)
# Everything built so far (modules, the app, SQLAlchemy's mappers and caches) lives as long as the
# process: move it out of the cyclic collector's reach, so a full collection during a request
# walks only what requests allocate (it walked all of it, tens of milliseconds, under load).
gc.collect()
gc.freeze()
