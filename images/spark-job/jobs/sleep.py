"""Hold a Spark application open for a while: the job to cancel in kill tests."""
from __future__ import annotations

import time

from _jobargs import start


def main() -> None:
    params, spark = start("sleep")
    try:
        print(f"sleeping {params['seconds']} s", flush=True)
        time.sleep(params["seconds"])
        print("done sleeping", flush=True)
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
