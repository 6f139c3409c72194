"""Monitor thresholds have one definition, ``MonitorConfig``: the monitor takes values, the yaml sets none.

They used to be written four times (schema, conf/monitor/default.yaml, MonitorSettings,
DriftThresholds) and a change to one silently did not reach the others. These tests fail when
a second definition appears anywhere in the package, its backends or its default conf/.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import yaml

from tesla.config.schema import MonitorConfig
from tesla.monitor.results import DriftThresholds, MonitorSettings
from tesla.project import Project

ROOT = Path(__file__).resolve().parents[2]
THRESHOLDS = [f.name for f in dataclasses.fields(MonitorConfig) if f.name != "retrain"]
# the same word for other things, not monitor thresholds: the fewest rows a training set may have, and
# the row-count bound a dataset's declared expectations may set (data.expect.min_rows)
UNRELATED = {"tesla/data/schema.py: min_rows: int = 2", "conf/data/default.yaml: min_rows: n"}


def test_the_monitor_takes_every_threshold_the_schema_defines_and_no_other() -> None:
    assert [f.name for f in dataclasses.fields(MonitorSettings)] == THRESHOLDS
    schema, settings = typing.get_type_hints(MonitorConfig), typing.get_type_hints(MonitorSettings)
    assert {n: settings[n] for n in THRESHOLDS} == {n: schema[n] for n in THRESHOLDS}


def test_the_domain_classes_have_no_defaults_of_their_own() -> None:
    for cls in (MonitorSettings, DriftThresholds):
        defaulted = [f.name for f in dataclasses.fields(cls)
                     if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING]
        assert defaulted == [], f"{cls.__name__} defines defaults again: {defaulted}"


def test_the_shipped_yaml_sets_no_threshold() -> None:
    assert yaml.safe_load((ROOT / "conf" / "monitor" / "default.yaml").read_text()) == {}


def test_no_second_definition_in_code_or_conf() -> None:
    names = "|".join(THRESHOLDS)
    # psi_threshold: float = 0.2, psi_threshold=0.2; not an override written in text (monitor.psi_threshold=0.3)
    assigned = re.compile(rf"(?<![.\w])({names})\s*(?::[^=\n]*)?=\s*[-+\d.'\"]")
    keyed = re.compile(rf"^\s*({names})\s*:\s*[-+\d.'\"\w]", re.M)  # a yaml key with a value
    found = []
    for path in [*(ROOT / "tesla").rglob("*.py"), *(ROOT / "backends").rglob("*.py")]:
        if path != ROOT / "tesla" / "config" / "schema.py":
            found += [f"{path.relative_to(ROOT)}: {m[0]}" for m in assigned.finditer(path.read_text())]
    for path in (ROOT / "conf").rglob("*.yaml"):
        text = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))
        found += [f"{path.relative_to(ROOT)}: {m[0].strip()}" for m in keyed.finditer(text)]
    assert [f for f in found if f not in UNRELATED] == []


def test_the_composed_config_shows_the_schema_values(project: Path) -> None:
    """What ``tesla plan --cfg`` prints and what a check runs with: the schema's values, overridable."""
    _, plain = Project(project).config([])
    assert plain["monitor"] == dataclasses.asdict(MonitorConfig())
    _, plain = Project(project).config(["monitor.psi_threshold=0.3"])
    settings = MonitorSettings.from_config(plain["monitor"])
    assert settings.psi_threshold == 0.3 and settings.thresholds(4).pvalue == MonitorConfig.pvalue_threshold / 4
