"""Serve a bundle: ``python -m tesla.serving --bundle DIR [--host H] [--port P]``.

This is the command of the serving container on every target. Inside SageMaker the bundle
is at ``/opt/ml/model`` and the port is 8080; on Vertex ``AIP_HTTP_PORT`` and
``AIP_STORAGE_URI`` (a mounted path) apply. The bearer token is read from the environment
variable named by ``--auth-token-env`` and never logged.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys

from tesla.errors import TeslaError


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tesla.serving", description="Serve a Tesla model bundle over HTTP.")
    ap.add_argument("--bundle", default=os.environ.get("AIP_STORAGE_URI") or "/opt/ml/model")
    ap.add_argument("--host", default="0.0.0.0" if "AIP_HTTP_PORT" in os.environ else "127.0.0.1")
    ap.add_argument("--port", type=int, default=int(os.environ.get("AIP_HTTP_PORT", "8080")))
    ap.add_argument("--model-ref", default="")
    ap.add_argument("--unseen-category", default="error", choices=["error", "unknown"])
    ap.add_argument("--max-body-bytes", type=int, default=10_000_000)
    ap.add_argument("--auth-token-env", default=None)
    args = ap.parse_args(argv)

    token = os.environ.get(args.auth_token_env) if args.auth_token_env else None
    if args.auth_token_env and not token:
        print(f"Error: environment variable {args.auth_token_env} (deploy.auth_token_env) is empty", file=sys.stderr)
        return 1
    if not token and not _is_loopback(args.host):
        print(f"Error: serving on {args.host} (not loopback) needs a bearer token: set deploy.auth_token_env "
              "to the name of an environment variable holding it", file=sys.stderr)
        return 1
    try:
        import uvicorn

        from tesla.serving.app import ServingSettings, create_app

        app = create_app(args.bundle, ServingSettings(model_ref=args.model_ref, unseen_category=args.unseen_category,
                                                      max_body_bytes=args.max_body_bytes, auth_token=token))
    except TeslaError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
