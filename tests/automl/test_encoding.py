"""search.onehot_max_levels: how wide the encoded frame gets (issue 10: one-hot widening flipped cv to holdout)."""

from __future__ import annotations

import pandas as pd
import pytest

from tesla.models import Preprocessor

FRAME = pd.DataFrame({"colour": ["red", "blue", "red", "green", None], "size": [1.0, 2.0, None, 4.0, 5.0]})
SCHEMA = {"colour": {"type": "categorical"}, "size": {"type": "numeric"}}


@pytest.mark.parametrize(("onehot_max", "columns"), [
    (15, ["colour=red", "colour=blue", "colour=green", "size"]),  # the default: few levels, one column each
    (2, ["colour", "size"]),  # three levels > 2: one ordinal column (codes by training frequency)
    (0, ["colour", "size"]),
], ids=["default", "below-levels", "ordinal-only"])
def test_onehot_max_sets_the_width_of_the_frame(onehot_max: int, columns: list[str]) -> None:
    pre = Preprocessor.fit(FRAME, SCHEMA, onehot_max=onehot_max)
    assert pre.output_columns == columns
    encoded = pre.transform(FRAME)
    if onehot_max < 3:  # the most frequent category gets code 0; a missing value -1
        assert encoded["colour"].tolist() == [0.0, 1.0, 0.0, 2.0, -1.0]
