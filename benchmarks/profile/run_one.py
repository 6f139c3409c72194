"""Profile a CSV with one tool and print one JSON line: tool, seconds, report bytes, load average.

Run with the interpreter of the venv that has the tool: ``python run_one.py TOOL table.csv out.html``.
"""

from __future__ import annotations

import json
import os
import sys
import time

import pandas as pd


def main() -> None:
    tool, csv, out = sys.argv[1:4]
    df = pd.read_csv(csv)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    if tool == "ydata-profiling":
        from ydata_profiling import ProfileReport

        html = ProfileReport(df, title="churn", progress_bar=False).to_html()
    elif tool == "ydata-profiling-minimal":
        from ydata_profiling import ProfileReport

        html = ProfileReport(df, title="churn", minimal=True, progress_bar=False).to_html()
    elif tool == "skrub":
        from skrub import TableReport

        html = TableReport(df).html()
    else:  # tesla
        from tesla.report.profile import profile_frame

        html = profile_frame(df, name="churn", target="churn",
                             kinds={"customer_id": "text", "signup_date": "datetime"}).report_html
    seconds = time.perf_counter() - start
    with open(out, "w", encoding="utf-8") as f:
        f.write(html)
    external = sum(html.count(s) for s in ("http://", "https://"))
    print(json.dumps({"tool": tool, "seconds": round(seconds, 2), "report_kb": len(html.encode()) // 1024,
                      "url_mentions": external, "load1": round(load, 1)}))


if __name__ == "__main__":
    main()
