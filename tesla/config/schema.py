"""Structured-config schema: one dataclass per config group, stored in Hydra's ConfigStore.

OmegaConf checks structure and types against these at compose time (unknown keys, wrong
types, missing required values); ``tesla.config.checks`` then checks allowed values.
Units are in the names (``time_budget_s``). Backend settings live with each backend
(``tesla_backends.<name>.Config``) and are registered by ``tesla.config.compose``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

__all__ = [
    "BatchingConfig",
    "ColumnRulesConfig",
    "DataConfig",
    "DeployConfig",
    "EvaluationConfig",
    "ExpectConfig",
    "ModelConfig",
    "MonitorConfig",
    "SearchConfig",
    "SplitConfig",
    "TeslaConfig",
    "ThresholdConfig",
]


@dataclass
class SplitConfig:
    test_size: float = 0.2  # fraction of rows held out for evaluation, in (0, 1)
    stratify: bool = True  # keep class proportions in both parts (classification only)
    time_column: Optional[str] = None  # when set, the newest rows by this column are the test set
    seed: int = 42  # random seed of the split


@dataclass
class ColumnRulesConfig:
    """What every value of one column must be (``data.schema.COLUMN``); a load breaking a rule is refused."""

    type: Optional[str] = None  # numeric | categorical | boolean | datetime | text (as inferred); null: any
    nullable: bool = True  # false: a missing value is a violation
    min: Optional[float] = None  # smallest allowed value (numeric); null: no bound
    max: Optional[float] = None  # largest allowed value (numeric); null: no bound
    allowed: list[str] = field(default_factory=list)  # the only allowed values / categories, as text; empty: any
    unique: bool = False  # no value may repeat (an id)


@dataclass
class ExpectConfig:
    """What the table as a whole must be (``data.expect``), checked at load."""

    key: list[str] = field(default_factory=list)  # columns that together identify a row: never repeated
    min_rows: Optional[int] = None  # fewest rows a version may have; null: no bound
    max_rows: Optional[int] = None  # most rows a version may have; null: no bound
    other_columns: str = "refuse"  # refuse | warn | allow: columns data.schema does not declare (when it declares any)


@dataclass
class DataConfig:
    dataset: Optional[str] = None  # name given to `tesla load -o NAME`; null: the only dataset
    source: Optional[str] = None  # a CSV/Parquet/JSON-lines file to load as a dataset version first
    version: Optional[int] = None  # pin a dataset version; null: the current version
    target: Optional[str] = None  # label column; null: the target recorded by `tesla load --target`
    task: str = "auto"  # auto | binary | multiclass | regression
    include: list[str] = field(default_factory=list)  # feature columns to use; empty: all
    exclude: list[str] = field(default_factory=list)  # feature columns to drop (ids, leaks)
    split: SplitConfig = field(default_factory=SplitConfig)
    # declared columns, enforced by `tesla load -o NAME` when conf/data/NAME.yaml declares them
    schema: dict[str, ColumnRulesConfig] = field(default_factory=dict)
    expect: ExpectConfig = field(default_factory=ExpectConfig)


@dataclass
class SearchConfig:
    framework: str = "scikit-learn"  # scikit-learn | pytorch | tensorflow | auto
    estimators: list[str] = field(default_factory=list)  # empty: the framework's default list
    # number of trials (the CLI's -p); null: 20 without a time budget, no cap with one (the budget is the limit)
    max_iter: Optional[int] = None
    time_budget_s: Optional[float] = None  # wall-clock budget of the search, seconds; null: none
    # auto | roundrobin | cost: how FLAML picks each trial's estimator; auto: roundrobin without a
    # time budget (no decision depends on timings: reproducible), cost (FLAML's own) with one
    learner_selector: str = "auto"
    metric: str = "auto"  # optimisation metric; auto: log_loss (classification), r2 (regression)
    eval_method: str = "auto"  # auto | holdout | cv
    n_splits: int = 5  # folds when eval_method is cv
    ensemble: bool = False  # stack the best learners of each estimator (FLAML ensembling)
    # after evaluation, fit the winner again on every row (training + held-out); the registered
    # metrics are then the held-out estimate of that configuration (the manifest's "refit" says so)
    refit: bool = True
    # categoricals with at most this many categories are one-hot encoded, others ordinal-coded by
    # frequency; null: the preprocessor's default (15); 0: ordinal codes only
    onehot_max_levels: Optional[int] = None
    # onehot: as onehot_max_levels says; native: every categorical one column of frequency codes, which
    # LightGBM splits on as categories (the other learners see the codes as numbers)
    categoricals: str = "onehot"
    starting_points: str = "none"  # none | previous: warm start from earlier versions' best configs
    search_space: dict[str, Any] = field(default_factory=dict)  # estimator -> {hp: {domain...}}
    seed: int = 0  # random seed of the search
    n_jobs: int = 1  # threads per trial; 1 keeps runs reproducible on shared machines
    # most milliseconds the chosen model may take to predict one row (measured after the search);
    # the lowest-loss estimator within it wins; null: no bound
    max_predict_ms_per_row: Optional[float] = None
    # trials run at once on Ray Tune (tesla-ml[ray]); > 1 drops the reproducible trial sequence
    n_concurrent_trials: int = 1


@dataclass
class ThresholdConfig:
    # none | f1 | cost | recall: what the binary decision threshold on P(positive) optimises, chosen on the
    # held-out rows at training and stored with the model (serving decides with it); none: argmax
    objective: str = "none"
    cost_fp: float = 1.0  # objective cost: cost of one false positive
    cost_fn: float = 1.0  # objective cost: cost of one false negative
    target_recall: float = 0.8  # objective recall: the highest threshold whose recall reaches this, in (0, 1]


@dataclass
class EvaluationConfig:
    metrics: list[str] = field(default_factory=list)  # empty: the task's default metrics
    data: Optional[str] = None  # a test file; null: the held-out split
    # metric -> {min|max: value}; `tesla evaluate` records the verdicts (exit 1 on a failure), deploy reads them
    gates: dict[str, Any] = field(default_factory=dict)
    report: list[str] = field(default_factory=lambda: ["html", "json"])  # report formats
    threshold: ThresholdConfig = field(default_factory=ThresholdConfig)
    slices: list[str] = field(default_factory=list)  # columns whose values get metrics of their own
    bootstrap_samples: int = 500  # paired bootstrap resamples of --against / models compare intervals
    # feature importance in the report: permutation (one rescoring per column x 3), TreeSHAP for LightGBM/XGBoost
    importance: bool = True


@dataclass
class BatchingConfig:
    max_batch_size: int = 64  # most rows merged into one predict call
    max_latency_ms: float = 2.0  # longest a request waits for others to join its batch


@dataclass
class DeployConfig:
    profile: str = "production"  # name of this deployment profile (conf/deploy/<profile>.yaml)
    target: str = "local"  # local | sagemaker | vertex
    host: str = "127.0.0.1"  # bind address of the local server
    port: int = 0  # port of the local server; 0: a free port
    auth_token_env: Optional[str] = None  # env var holding the bearer token (required off loopback)
    max_body_bytes: int = 10_000_000  # largest accepted request body
    unseen_category: str = "error"  # error | unknown: what to do with a category not seen in training
    data_capture: bool = True  # log every prediction for `tesla monitor`
    batching: BatchingConfig = field(default_factory=BatchingConfig)
    instance_type: Optional[str] = None  # cloud targets: instance / machine type
    instance_count: int = 1  # cloud targets: number of instances
    serverless: bool = False  # SageMaker: serverless inference instead of instances
    health_timeout_s: float = 60.0  # how long a new server may take to report healthy
    workers: int = 1  # local target: server processes sharing the one port (a supervisor above 1)
    predict_threads: int = 1  # local target: predict calls at once per process; above 1 a big request is split
    # which version `-m NAME` (no @) deploys with this profile: the one promoted to this stage or alias
    # (`tesla models promote NAME@V STAGE`); None: the newest
    model_stage: Optional[str] = None


@dataclass
class MonitorConfig:
    psi_threshold: float = 0.2  # PSI above this is drift (large samples)
    wasserstein_threshold: float = 0.1  # Wasserstein distance in reference std units above this is drift (large)
    js_threshold: float = 0.1  # Jensen-Shannon distance (base 2, 0..1) above this is categorical drift (large)
    pvalue_threshold: float = 0.01  # KS / chi-squared p-value below this is drift (small samples)
    pvalue_correction: str = "bonferroni"  # bonferroni | none: split pvalue_threshold over the features tested
    large_sample_rows: int = 5000  # from this many rows on, effect-size tests replace p-values
    min_rows: int = 30  # fewer live rows than this: no verdict
    max_error_rate: float = 0.05  # share of failed requests that alerts
    max_p99_latency_ms: float = 500.0  # p99 latency that alerts
    max_metric_drop: float = 0.05  # a live score (accuracy, roc_auc, r2...) this far below held-out alerts
    max_error_increase: float = 0.25  # a live error (rmse, log_loss...) this share above held-out alerts
    retrain: bool = False  # an alert starts a retrain on the newest data version


@dataclass
class ModelConfig:
    name: Optional[str] = None  # registered model name (the CLI's -m)


@dataclass
class TeslaConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    deploy: DeployConfig = field(default_factory=DeployConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    backend: Any = None  # one of the backend schemas, chosen by the `backend` group
