"""Tesla's execution backends, installed as ``tesla_backends``.

Each subpackage's ``__init__`` holds only its config dataclass and ``SPEC`` (cheap to
import); the implementation that imports SDKs lives in its ``_backend`` module.
"""
