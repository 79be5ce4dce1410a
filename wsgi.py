"""gunicorn entry point: ``gunicorn -c gunicorn.conf.py wsgi:app``."""

from app import create_app, start_background

app = create_app()
start_background(app)
