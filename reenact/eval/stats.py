"""Summaries of lists of figures, as they go into report.json."""
from __future__ import annotations

import numpy as np

from reenact.eval.identity import reference_note


def stats(values) -> dict | None:
    """Mean, median, std, min, max, count of a list of floats (None when empty). ``inf`` values
    (PSNR of identical regions) make the mean inf; the median and min stay informative."""
    v = np.asarray([x for x in values if x is not None and not np.isnan(x)], np.float64)
    if len(v) == 0:
        return None
    finite = v[np.isfinite(v)]
    return {"mean": float(v.mean()) if len(finite) == len(v) else float("inf"),
            "median": float(np.median(v)), "std": float(finite.std()) if len(finite) else None,
            "min": float(v.min()), "max": float(v.max()), "count": int(len(v))}


def acd_stats(values) -> dict | None:
    """``stats`` of ACD values, with the reference scale beside the figures."""
    st = stats(values)
    if st is not None:
        st["reference"] = reference_note()
    return st
