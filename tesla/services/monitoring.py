"""The monitoring service: live traffic against the training data, ground-truth feedback, retraining."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tesla.monitor.results import FeedbackResult, MonitorReport, MonitorSettings, RetrainOutcome
from tesla.services._common import PathLike, input_file, output_file, parse_model_ref
from tesla.store import ModelVersion, MonitorEvent

if TYPE_CHECKING:
    from tesla.project import Project

__all__ = ["MonitoringService"]


class MonitoringService:
    """Monitoring of one project's deployments: checks, their history, feedback labels and retrains."""

    def __init__(self, project: Project) -> None:
        self.project = project

    def monitor(self, model: str, *, profile: str | None = None, since: str | None = None,
                overrides: Sequence[str] = (), report: PathLike | None = None) -> MonitorReport:
        """Check a deployment's captured traffic against the model's training data (``tesla monitor``).

        Returns the check's report (``alerting`` is True when a ``monitor.*`` threshold is
        crossed; no captured traffic is a clean ``no_traffic`` report) and writes its HTML to ``report``
        (default: stored as an artifact and copied to a name of its own,
        ``.tesla/reports/monitor/<model>-<profile>-<sha8>.html``). With ``monitor.retrain=true`` a drift
        or live-metric alert retrains on the newest dataset version and deploys the result if it passes
        ``evaluation.gates``; ``overrides`` apply to that retrain and deploy too.

        Args:
            model: NAME (the newest version seen in the traffic) or NAME@N.
            profile: the deploy profile whose captures to read; default: the only one with captures.
            since: only traffic from then on: a duration (``30m``, ``2h``, ``7d``) or an ISO-8601 time.
        """
        from tesla.monitor import check_deployment, write_report
        from tesla.monitor.captures import parse_since
        from tesla.monitor.report import report_html
        from tesla.report.files import keep_report

        report = output_file(report) if report is not None else None
        plain = self.project.plain_config(overrides)
        store = self.project.store
        name, version = parse_model_ref(model)
        resolved = store.model(name, version)  # an unknown model is a mistake, not "no traffic"
        version = resolved.version if isinstance(version, str) else version  # an alias: the version it names
        result = check_deployment(store, name, version, profile=profile,
                                  since=parse_since(since) if since else None,
                                  settings=MonitorSettings.from_config(plain["monitor"]))
        if report:
            report_path = write_report(result, Path(report))
        else:  # stored, under a name of its own: every check in the history keeps its report
            _, report_path = keep_report(store, report_html(result), "monitor", f"{name}-{result.profile}")
            result.report_path = report_path
        if result.wants_retrain and plain["monitor"]["retrain"]:
            result.retrain = self.retrain(result.model, result.profile, overrides)
        summary = result.to_dict()
        store.add_monitor_event(model=result.model or f"{name}@{version or '?'}", profile=result.profile or "",
                                status=result.status, alerts=summary.get("alerts", []), summary=summary,
                                report_path=str(report_path))
        return result

    def history(self, model: str | None = None, *, limit: int = 20) -> list[MonitorEvent]:
        """Recorded ``tesla monitor`` checks, newest first (status, alerts, report path)."""
        return self.project.store.monitor_events(model=model, limit=limit)

    def retrain(self, ref: str, profile: str, overrides: Sequence[str]) -> RetrainOutcome:
        """Retrain ``ref`` on its dataset's newest version and deploy the result on ``profile`` if it passes its gates."""
        from tesla.monitor.retrain import retrain

        mv = self.project.training.resolve_model(ref)
        newest = self.project.store.dataset_version(mv.dataset).version if mv.dataset else None

        def run_train(train_overrides: list[str]) -> tuple[ModelVersion, bool]:
            result = self.project.training.train(mv.name, overrides=train_overrides)
            return result.model, result.created

        def run_deploy(new_ref: str) -> str:
            return self.project.deployments.deploy(new_ref, profile, overrides=overrides).url

        return retrain(mv, newest, run_train, run_deploy, extra=overrides)

    def feedback(self, model: str, data: PathLike, *, profile: str | None = None) -> FeedbackResult:
        """Append ground-truth labels (request_id, label[, row]) from a file to a deployment's feedback.

        Returns how many were recorded and how many match a captured prediction. Nothing is written when a label is not one the model knows.
        """
        from tesla.monitor import record_feedback

        mv = self.project.training.resolve_model(model)
        return record_feedback(self.project.store, mv, input_file(data, "labels file"), profile=profile)
