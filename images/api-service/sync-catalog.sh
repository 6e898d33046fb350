#!/bin/sh
# Copy the job catalog (single source of truth: images/spark-job/jobs/catalog.json) into the API
# package, so the API image's build context (this folder) carries it as the default
# SPARK_API_CATALOG_PATH. Run after editing the catalog; tests/api/test_catalog_copy.py fails
# while the copy differs from the original.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cp "$here/../spark-job/jobs/catalog.json" "$here/spark_api/catalog.json"
echo "synced $here/spark_api/catalog.json"
