#!/usr/bin/env bash
# Interleaved A/B/A/B: each tool twice, alternating, one process each, same thread settings.
# Usage: bash benchmarks/profile/bench.sh TESLA_PY YDATA_PY SKRUB_PY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tesla_py=$1 ydata_py=$2 skrub_py=$3
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1
work=$(mktemp -d)
"$tesla_py" -c "from tesla.testing import datasets; datasets.churn(100_000).to_csv('$work/churn.csv', index=False)"
for round in 1 2; do
  "$tesla_py" "$here/run_one.py" tesla "$work/churn.csv" "$work/tesla.html"
  "$ydata_py" "$here/run_one.py" ydata-profiling "$work/churn.csv" "$work/ydata.html" 2>/dev/null
  "$skrub_py" "$here/run_one.py" skrub "$work/churn.csv" "$work/skrub.html"
  "$ydata_py" "$here/run_one.py" ydata-profiling-minimal "$work/churn.csv" "$work/ydata-min.html" 2>/dev/null
done
for py in "$tesla_py" "$ydata_py" "$skrub_py"; do
  site=$("$py" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
  echo "site-packages $(du -sm "$site" | cut -f1) MB: $py"
done
echo "reports in $work"
