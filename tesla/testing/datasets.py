"""Datasets for demos and tests, all offline: scikit-learn's bundled sets and a generated one.

``churn`` is generated (not downloaded): a seeded, mixed-type customer table whose label
follows a known logistic model, so tests exercise numeric, categorical, boolean and
datetime columns with a learnable signal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["breast_cancer", "churn", "diabetes", "iris", "wine"]


def _sklearn_frame(loader_name: str, *, label_names: bool) -> pd.DataFrame:
    import sklearn.datasets as sk

    bunch = getattr(sk, loader_name)(as_frame=True)
    df = bunch.frame.copy()
    df.columns = [str(c).replace(" ", "_").replace("(", "").replace(")", "") for c in df.columns]
    if label_names and hasattr(bunch, "target_names"):
        names = list(bunch.target_names)
        df["target"] = df["target"].map(lambda i: str(names[int(i)]))
    return df


def breast_cancer() -> pd.DataFrame:
    """569 rows, 30 numeric features, target 'malignant'/'benign' (binary)."""
    return _sklearn_frame("load_breast_cancer", label_names=True)


def iris() -> pd.DataFrame:
    """150 rows, 4 numeric features, 3 species (multiclass)."""
    return _sklearn_frame("load_iris", label_names=True)


def wine() -> pd.DataFrame:
    """178 rows, 13 numeric features, 3 cultivars (multiclass)."""
    return _sklearn_frame("load_wine", label_names=True)


def diabetes() -> pd.DataFrame:
    """442 rows, 10 numeric features, disease progression (regression)."""
    return _sklearn_frame("load_diabetes", label_names=False)


def churn(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """A generated customer-churn table with numeric, categorical, boolean and datetime columns."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "standard", "premium"], size=n, p=[0.5, 0.3, 0.2])
    region = rng.choice(["north", "south", "east", "west"], size=n)
    tenure = rng.integers(1, 72, size=n)
    charges = np.round(rng.normal(70, 20, size=n).clip(10, 150), 2)
    support_calls = rng.poisson(1.5, size=n)
    autopay = rng.random(n) < 0.6
    signup = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1500, size=n), unit="D")
    logit = (-1.0 - 0.04 * tenure + 0.02 * (charges - 70) + 0.5 * support_calls
             - 0.8 * autopay + np.where(plan == "premium", -0.7, np.where(plan == "basic", 0.4, 0.0)))
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame({
        "customer_id": [f"C{i:06d}" for i in range(n)], "plan": plan, "region": region, "tenure_months": tenure,
        "monthly_charges": charges, "support_calls": support_calls, "autopay": autopay,
        "signup_date": signup.strftime("%Y-%m-%d"), "churn": np.where(churned, "yes", "no"),
    })
