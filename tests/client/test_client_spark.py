"""The client and the CLI end to end: real Spark (the session cluster: one 1-core worker of 1g,
so jobs run one at a time), the real API and real tokens from the mock OAuth server."""
from __future__ import annotations

import json
import os
import pty
import re
import subprocess

import pytest

from spark_stack_client import TERMINAL, Conflict

from .conftest import cli, cli_env, make_client

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def run(args: list[str], env: dict[str, str], timeout: float = 400) -> subprocess.CompletedProcess:
    return subprocess.run(cli() + args, env=env, check=False, capture_output=True, text=True,
                          timeout=timeout)


def test_submit_wait_follow_logs_and_list(live_api, short_oauth) -> None:
    with make_client(live_api, short_oauth) as api:
        job = api.submit("pi", {"samples": 20000, "partitions": 2})
        assert (job.state, job.job) == ("SUBMITTED", "pi")
        text = "".join(chunk.text for chunk in api.follow_logs(job.id, interval=0.5))
        assert api.get(job.id).state in TERMINAL  # follow_logs returned: the job had ended
        assert "Pi is roughly" in text, text
        done = api.wait(job.id, timeout=30)
        assert done.state == "FINISHED"
        # offset paging: from the middle of the log, the rest of it
        whole = api.logs(job.id)
        rest = api.logs(job.id, offset=whole.total // 2)
        assert rest.offset == whole.total // 2 and whole.text.endswith(rest.text)
        with pytest.raises(Conflict) as err:
            api.kill(job.id)
        assert err.value.code == "already_finished"
        second = api.submit("fail", {"message": "boom-client-4711"})
        assert api.wait(second.id, timeout=300).state == "FAILED"
        ids = [j.id for j in api.list(limit=1)]  # one job a page: list() walks the pages
        assert ids[:2] == [second.id, job.id]
        assert ids == [j.id for j in api.page(limit=100).items]


def test_cli_submit_wait_logs_exit_codes(live_api, short_oauth, tmp_path) -> None:
    env = cli_env(live_api, short_oauth, "bob", tmp_path)
    done = run(["--json", "jobs", "submit", "pi", "--arg", "samples=1000", "--wait"], env)
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert job["state"] == "FINISHED"
    assert done.stderr == "", "a progress line although stderr is not a terminal"
    # on a terminal, the progress line: the job's id, state and seconds elapsed
    primary, secondary = pty.openpty()
    with os.fdopen(primary, "rb", buffering=0) as tty:
        waited = subprocess.run(cli() + ["jobs", "wait", job["id"]], env=env, check=False,
                                stdout=subprocess.PIPE, stderr=secondary, timeout=120)
        os.close(secondary)
        shown = tty.read(4096).decode()
    assert waited.returncode == 0
    assert re.search(re.escape(job["id"]) + r"\s+FINISHED\s+\d+s", shown), shown
    logs = run(["jobs", "logs", job["id"]], env)
    assert logs.returncode == 0 and "Pi is roughly" in logs.stdout

    failed = run(["--json", "jobs", "submit", "fail", "--arg", "message=boom-cli-4711", "--wait"],
                 env)
    assert failed.returncode == 1, failed.stderr
    failed_id = json.loads(failed.stdout)["id"]
    followed = run(["jobs", "logs", failed_id, "--follow"], env, timeout=120)
    assert followed.returncode == 0 and "boom-cli-4711" in followed.stdout

    slow = run(["jobs", "submit", "sleep", "--arg", "seconds=600", "--wait", "--timeout", "2"],
               env)
    assert slow.returncode == 6, slow.stderr
    sleep_id = re.search(r"job (\S+) still", slow.stderr).group(1)
    killed = run(["--json", "jobs", "kill", sleep_id], env)
    assert killed.returncode == 0, killed.stderr
    assert run(["jobs", "kill", sleep_id], env).returncode == 2  # 409: already ended
    got = run(["--json", "jobs", "get", sleep_id], env)
    assert got.returncode == 0 and json.loads(got.stdout)["state"] == "KILLED"
    listed = run(["jobs", "list"], env)
    assert listed.returncode == 0
    assert listed.stdout.splitlines()[0].split() == ["ID", "JOB", "STATE", "MESSAGE"]
    assert sleep_id in listed.stdout and failed_id in listed.stdout
