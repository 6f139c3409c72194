"""One tag set renders as valid AWS tags and valid GCP labels."""

from __future__ import annotations

import pytest

from tesla.errors import ConfigError
from tesla.execution.labels import (
    aws_tag_problems,
    aws_tags,
    gcp_label_problems,
    gcp_label_value,
    gcp_labels,
    tesla_tags,
)

ODD_TAGS = [
    pytest.param({"tesla-run": "0a1b2c3d4e5f"}, id="plain"),
    pytest.param({"tesla:run-id": "ABC"}, id="colon-key-uppercase-value"),
    pytest.param({"Team": "ML Platform"}, id="uppercase-and-space"),
    pytest.param({"tesla-plan": "train/My_Model.v2"}, id="slash-and-dot"),
    pytest.param({"owner": "ana@example.com"}, id="at-sign"),
    pytest.param({"1st": "x"}, id="key-starts-with-digit"),
    pytest.param({"note": "y" * 300}, id="value-over-both-limits"),
    pytest.param({"k" * 70: "v"}, id="key-over-63"),
    pytest.param({"modèle": "étiquette"}, id="unicode"),
    pytest.param({"empty": ""}, id="empty-value"),
]


@pytest.mark.parametrize("tags", ODD_TAGS)
def test_any_tag_set_renders_valid_on_both_clouds(tags: dict[str, str]) -> None:
    assert gcp_label_problems(gcp_labels(tags)) == []
    assert aws_tag_problems(aws_tags(tags)) == []


def test_teslas_own_keys_are_identical_on_both_clouds() -> None:
    tags = tesla_tags(run_id="0a1b2c3d4e5f", step="search", plan="train/churn")
    assert set(gcp_labels(tags)) == {t["Key"] for t in aws_tags(tags)} == set(tags)


def test_long_values_stay_distinct_after_shortening() -> None:
    a, b = "x" * 100 + "a", "x" * 100 + "b"
    assert len(gcp_label_value(a)) == 63 and gcp_label_value(a) != gcp_label_value(b)


def test_extra_tags_cannot_override_teslas_keys() -> None:
    assert tesla_tags(run_id="r1", extra={"tesla-run": "forged"})["tesla-run"] == "r1"


@pytest.mark.parametrize(("call", "tags", "message"), [
    pytest.param(gcp_labels, {"Team": "a", "team": "b"}, "tags 'Team' and 'team' both become the GCP label 'team'",
                 id="gcp-collision"),
    pytest.param(gcp_labels, {f"k{i}": "v" for i in range(65)}, "65 labels; GCP allows at most 64", id="gcp-count"),
    pytest.param(aws_tags, {"aws:created": "x"}, "tag key 'aws:created' starts with 'aws:'", id="aws-reserved"),
    pytest.param(aws_tags, {f"k{i}": "v" for i in range(51)}, "51 tags; AWS allows at most 50", id="aws-count"),
])
def test_errors_name_the_tag_and_the_fix(call: object, tags: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(")) as info:
        call(tags)  # type: ignore[operator]
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("labels", "problem"), [
    pytest.param({"Team": "ml"}, "label key 'Team'", id="uppercase-key"),
    pytest.param({"tesla:run": "x"}, "label key 'tesla:run'", id="colon-key"),
    pytest.param({"team": "ML"}, "label 'team' value 'ML'", id="uppercase-value"),
    pytest.param({"team": "a" * 64}, "label 'team' value", id="value-too-long"),
])
def test_gcp_label_problems_catch_invalid_labels(labels: dict[str, str], problem: str) -> None:
    assert any(p.startswith(problem) for p in gcp_label_problems(labels))


def test_aws_tag_problems_catch_invalid_tags() -> None:
    assert aws_tag_problems([{"Key": "", "Value": "x"}, {"Key": "ok", "Value": "bad#char"}]) == [
        "tag key '' must be 1-128 allowed characters, not starting with aws:",
        "tag 'ok' value 'bad#char' must be 0-256 allowed characters",
    ]
