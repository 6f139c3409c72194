"""A job's worker process: ``python -m tesla.server.worker PROJECT_ROOT JOB_ID`` (started by ``tesla.services.jobs``).

It runs one queued job to its end and then starts the next queued one, if any. Its output is the
job's log (``.tesla/jobs/<id>.log``); the server never waits on it, so it outlives a server restart.
"""

from __future__ import annotations

import logging
import sys

from tesla.project import Project

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the job ``argv`` names; exit 0 once it is recorded (whatever its outcome), 2 on a usage mistake."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m tesla.server.worker PROJECT_ROOT JOB_ID", file=sys.stderr)
        return 2
    # a process of its own, so configuring the root logger here touches nobody else: warnings go to the log
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    root, job_id = args
    job = Project(root).jobs.run(job_id)
    print(f"job {job_id}: {job.status if job else 'not run here (already started, cancelled or at the limit)'}",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
