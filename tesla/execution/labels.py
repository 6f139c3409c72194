"""One tag set, rendered as valid AWS tags and valid GCP labels.

Tesla marks every cloud resource it creates with the same logical tags (``tesla-run``,
``tesla-step``, ``tesla-model``...). The two clouds disagree on what a tag may hold:

* GCP labels: at most 64; keys and values at most 63 characters of ``[a-z0-9_-]``
  (lowercase), keys start with a lowercase letter; no colons, dots or uppercase.
* AWS tags: at most 50; keys 1-128 and values 0-256 characters of letters, digits, spaces
  and ``_ . : / = + - @``; keys may not start with ``aws:``.

Tesla's own keys use only ``[a-z0-9-]`` so they are the same on both clouds, and finding
resources by tag (``tesla jobs list``, teardown) uses the same key everywhere. Values are
converted, never rejected: a value that must be shortened keeps a short hash of the
original so two long values stay distinct.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from tesla.errors import ConfigError

__all__ = [
    "AWS_MAX_TAGS",
    "GCP_MAX_LABELS",
    "aws_tag_problems",
    "aws_tags",
    "gcp_label_problems",
    "gcp_label_value",
    "gcp_labels",
    "tesla_tags",
]

GCP_MAX_LABELS = 64
GCP_MAX_CHARS = 63
AWS_MAX_TAGS = 50
AWS_MAX_KEY = 128
AWS_MAX_VALUE = 256

_GCP_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_GCP_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
_GCP_BAD = re.compile(r"[^a-z0-9_-]")
# AWS allows \p{L}\p{Z}\p{N} plus these; Python's \w covers letters, digits and "_"
_AWS_BAD = re.compile(r"[^\w .:/=+\-@]")


def tesla_tags(*, run_id: str | None = None, step: str | None = None, plan: str | None = None,
               extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Tesla's logical tags for a resource, before rendering for a cloud.

    Args:
        run_id: the Tesla run the resource belongs to.
        step: the plan step it runs.
        plan: the plan name (``train/my_model``).
        extra: user tags from the backend config; Tesla's own keys win on a clash.

    Returns:
        key -> value, always including ``tesla-managed: true`` (what teardown filters on).
    """
    tags = dict(extra or {})
    tags["tesla-managed"] = "true"
    for key, value in (("tesla-run", run_id), ("tesla-step", step), ("tesla-plan", plan)):
        if value is not None:
            tags[key] = value
    return tags


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{text[:limit - 9]}-{digest}"


def gcp_label_value(value: str) -> str:
    """``value`` as a valid GCP label value (lowercase, ``[a-z0-9_-]``, at most 63 chars)."""
    return _shorten(_GCP_BAD.sub("-", str(value).lower()), GCP_MAX_CHARS)


def _gcp_key(key: str) -> str:
    cleaned = _GCP_BAD.sub("-", key.lower())
    if not cleaned or not cleaned[0].isalpha():
        cleaned = f"tag-{cleaned}"  # keys must start with a letter
    return _shorten(cleaned, GCP_MAX_CHARS)


def gcp_labels(tags: Mapping[str, str]) -> dict[str, str]:
    """The tags as GCP labels.

    Raises:
        ConfigError: two tags become the same label key, or there are more than 64.
    """
    labels: dict[str, str] = {}
    origin: dict[str, str] = {}
    for key, value in tags.items():
        label = _gcp_key(key)
        if label in labels:
            raise ConfigError(f"tags '{origin[label]}' and '{key}' both become the GCP label '{label}'; "
                              "rename one of them", key=key)
        labels[label] = gcp_label_value(value)
        origin[label] = key
    if len(labels) > GCP_MAX_LABELS:
        raise ConfigError(f"{len(labels)} labels; GCP allows at most {GCP_MAX_LABELS}: drop some backend labels")
    return labels


def aws_tags(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """The tags as an AWS ``Tags`` list (``[{"Key", "Value"}]``).

    Raises:
        ConfigError: a key starts with ``aws:``, or there are more than 50.
    """
    out = []
    for key, value in tags.items():
        if key.lower().startswith("aws:"):
            raise ConfigError(f"tag key '{key}' starts with 'aws:', which AWS reserves; rename it", key=key)
        out.append({"Key": _shorten(_AWS_BAD.sub("-", key), AWS_MAX_KEY),
                    "Value": _shorten(_AWS_BAD.sub("-", str(value)), AWS_MAX_VALUE)})
    if len(out) > AWS_MAX_TAGS:
        raise ConfigError(f"{len(out)} tags; AWS allows at most {AWS_MAX_TAGS}: drop some backend tags")
    return out


def gcp_label_problems(labels: Mapping[str, str]) -> list[str]:
    """Every way ``labels`` breaks GCP's label rules (empty when valid)."""
    problems = [f"label key {k!r} must match [a-z][a-z0-9_-]{{0,62}}" for k in labels if not _GCP_KEY.fullmatch(k)]
    problems += [f"label {k!r} value {v!r} must match [a-z0-9_-]{{0,63}}" for k, v in labels.items()
                 if not _GCP_VALUE.fullmatch(v)]
    if len(labels) > GCP_MAX_LABELS:
        problems.append(f"{len(labels)} labels; at most {GCP_MAX_LABELS}")
    return problems


def aws_tag_problems(tags: list[Mapping[str, str]]) -> list[str]:
    """Every way an AWS ``Tags`` list breaks AWS's tag rules (empty when valid)."""
    problems = []
    for tag in tags:
        key, value = tag.get("Key", ""), tag.get("Value", "")
        if not 1 <= len(key) <= AWS_MAX_KEY or _AWS_BAD.search(key) or key.lower().startswith("aws:"):
            problems.append(f"tag key {key!r} must be 1-{AWS_MAX_KEY} allowed characters, not starting with aws:")
        if len(value) > AWS_MAX_VALUE or _AWS_BAD.search(value):
            problems.append(f"tag {key!r} value {value!r} must be 0-{AWS_MAX_VALUE} allowed characters")
    if len(tags) > AWS_MAX_TAGS:
        problems.append(f"{len(tags)} tags; at most {AWS_MAX_TAGS}")
    return problems
