"""Spark SQL over generated rows: count, sum and average of ids per group, printed as a table."""
from __future__ import annotations

from _jobargs import start


def main() -> None:
    params, spark = start("sql_aggregate")
    try:
        spark.range(params["rows"]).createOrReplaceTempView("numbers")
        result = spark.sql(
            "SELECT id % {groups} AS grp, COUNT(*) AS n, SUM(id) AS total, AVG(id) AS mean "
            "FROM numbers GROUP BY id % {groups} ORDER BY grp",
            groups=params["groups"],
        )
        result.show(n=params["groups"], truncate=False)
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
