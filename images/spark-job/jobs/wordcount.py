"""Word count over a text given as a parameter; prints the top words as one JSON line."""
from __future__ import annotations

import json
import re

from _jobargs import start

WORD = re.compile(r"[\w']+")


def main() -> None:
    params, spark = start("wordcount")
    try:
        lines = spark.sparkContext.parallelize(params["text"].splitlines() or [""], 2)
        counts = (lines.flatMap(lambda line: WORD.findall(line.lower()))
                  .map(lambda word: (word, 1))
                  .reduceByKey(lambda a, b: a + b))
        # Most frequent first, ties alphabetically, so the output is deterministic.
        top = counts.takeOrdered(params["top"], key=lambda wc: (-wc[1], wc[0]))
        result = {
            "total": counts.values().sum(),
            "distinct": counts.count(),
            "top": [{"word": word, "count": count} for word, count in top],
        }
        print(json.dumps(result), flush=True)
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
