"""Serving: one ASGI app for every target, request validation, and local server processes.

Import ``tesla.serving.app`` for the app (it pulls in FastAPI); this package stays light.
"""
