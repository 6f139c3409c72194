"""Serving: one ASGI app for every target, request validation, micro-batching, prediction capture,
and local server processes.

Modules: ``app`` (the FastAPI app; pulls in FastAPI), ``payload`` (request bodies -> rows),
``validation`` (rows against the model signature), ``batching`` (adaptive micro-batching),
``capture`` (the prediction log ``tesla monitor`` reads), ``metrics`` (Prometheus text),
``handoff`` (zero-downtime replace on a fixed port), ``process`` (start/stop servers) and
``__main__`` (``python -m tesla.serving``). This package itself stays light.
"""
