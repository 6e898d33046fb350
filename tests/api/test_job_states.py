"""Job states and their messages (spark_api/states.py) from what the master reports, without a
JVM: the /json/ documents here have the shape Spark 4's JsonProtocol writes (workers with id,
host, state, webuiaddress; drivers with id, state, worker)."""
from __future__ import annotations

import pytest

from spark_api.routers.jobs import _log_readers
from spark_api.states import TERMINAL, JobState, address_of, describe, worker_fact

W_ALIVE = "worker-20261201010101-10.0.0.2-7078"
W_DEAD = "worker-20261201010101-10.0.0.3-7078"
W_DECOM = "worker-20261201010101-10.0.0.4-7078"
W_FORGOTTEN = "worker-20261201010101-spark-worker-1.ns.svc-7078"
CLUSTER = {"workers": [
    {"id": W_ALIVE, "host": "10.0.0.2", "state": "ALIVE", "webuiaddress": "http://10.0.0.2:8081"},
    {"id": W_DEAD, "host": "10.0.0.3", "state": "DEAD", "webuiaddress": "http://10.0.0.3:8081"},
    {"id": W_DECOM, "host": "10.0.0.4", "state": "DECOMMISSIONED",
     "webuiaddress": "http://10.0.0.4:8081"},
]}
LAUNCH_ERROR = ("Exception from the cluster:\njava.io.IOException: Cannot run program "
                "\"/nope/java\"\n\tat java.base/java.lang.ProcessBuilder.start(...)")


def job(driver_state: str, worker_id: str | None, spark_message: str | None = None):
    return describe(driver_state, worker_fact(CLUSTER, worker_id), spark_message)


@pytest.mark.parametrize("driver_state,worker,spark_message,state,says", [
    ("SUBMITTED", None, None, "SUBMITTED", "waiting for a worker"),
    ("RUNNING", W_ALIVE, None, "RUNNING", None),
    ("FINISHED", W_ALIVE, None, "FINISHED", "exited with code 0"),
    ("FAILED", W_ALIVE, None, "FAILED", "non-zero"),
    ("KILLED", None, None, "KILLED", "killed before its driver was launched"),
    ("KILLED", W_ALIVE, None, "KILLED", "killed by a DELETE"),
    ("KILLED", W_DEAD, None, "KILLED", f"when worker {W_DEAD} (10.0.0.3) stopped"),
    ("KILLED", W_DECOM, None, "KILLED",
     f"worker {W_DECOM} (10.0.0.4) was decommissioned while running the driver"),
    ("ERROR", W_DEAD, None, "ERROR",
     f"worker {W_DEAD} (10.0.0.3) was lost while running the driver"),
    ("ERROR", W_DECOM, None, "ERROR",
     f"worker {W_DECOM} (10.0.0.4) was decommissioned while running the driver"),
    ("ERROR", W_FORGOTTEN, None, "ERROR",
     f"worker {W_FORGOTTEN} (spark-worker-1.ns.svc) was lost while running the driver"),
    ("ERROR", W_ALIVE, LAUNCH_ERROR, "ERROR",
     "could not be launched: java.io.IOException: Cannot run program"),
    ("RELAUNCHING", W_DEAD, None, "ERROR", "relaunched the job (supervise) as a new driver"),
    ("UNKNOWN", W_ALIVE, None, "SUBMITTED", "recovering"),
    ("SOMETHING_NEW", None, None, "SUBMITTED", "waiting"),
])
def test_state_and_message(driver_state, worker, spark_message, state, says) -> None:
    got_state, message = job(driver_state, worker, spark_message)
    assert got_state is JobState(state)
    if says is None:
        assert message is None
    else:
        assert message is not None and says in message, message


@pytest.mark.parametrize("driver_state", ["FINISHED", "FAILED", "KILLED", "ERROR", "RELAUNCHING"])
@pytest.mark.parametrize("worker", [None, W_ALIVE, W_DEAD, W_DECOM, W_FORGOTTEN])
def test_every_terminal_state_says_why(driver_state, worker) -> None:
    state, message = job(driver_state, worker)
    assert state in TERMINAL and message, (state, message)


def test_a_relaunched_job_names_its_new_id_when_known() -> None:
    state, message = describe("RELAUNCHING", worker_fact(CLUSTER, W_DEAD), None, "NEW-ID")
    assert state is JobState.ERROR and message.endswith("(supervise) as job NEW-ID")


def test_a_lost_worker_is_named_with_its_host_and_the_logs_are_said_gone() -> None:
    state, message = job("FAILED", W_DEAD)
    assert state is JobState.FAILED
    assert f"its logs were on worker {W_DEAD} (10.0.0.3), which is gone" in message


def test_worker_facts() -> None:
    assert worker_fact(CLUSTER, None) is None and worker_fact(CLUSTER, "None") is None
    alive, dead = worker_fact(CLUSTER, W_ALIVE), worker_fact(CLUSTER, W_DEAD)
    assert not alive.gone and dead.gone and dead.webui == "http://10.0.0.3:8081"
    forgotten = worker_fact(CLUSTER, W_FORGOTTEN)
    assert forgotten.gone and forgotten.state is None
    assert worker_fact(CLUSTER, "odd-id").host is None


def test_logs_are_read_from_the_live_worker_at_the_same_address() -> None:
    """A worker started again at its address (new id, the DEAD entry dropped by the master)
    serves its old drivers' logs; a DEAD worker with no live successor serves nothing."""
    restarted = "worker-20261201020202-10.0.0.3-7078"
    cluster = {"workers": [*CLUSTER["workers"][:1], {
        "id": restarted, "host": "10.0.0.3", "state": "ALIVE",
        "webuiaddress": "http://10.0.0.3:8081"}, *CLUSTER["workers"][2:]]}
    reader = _log_readers(cluster)
    assert reader(W_DEAD) == "http://10.0.0.3:8081"  # no longer listed, same address
    assert reader(W_ALIVE) == "http://10.0.0.2:8081"
    assert reader(W_DECOM) == "http://10.0.0.4:8081"  # still running until its drivers end
    assert reader(None) is None and reader("None") is None
    assert _log_readers(CLUSTER)(W_DEAD) is None
    assert address_of(W_FORGOTTEN) == "spark-worker-1.ns.svc-7078"


def test_owner_facts_are_shared_through_the_file(tmp_path) -> None:
    """What one process learned (submit, an HMAC-checked id, a worker log) another process on
    the same disk knows at its next list; junk and a half-written line are not taken."""
    import asyncio

    from spark_api.owners import UNRESOLVED, DriverRef, OwnerIndex

    facts = tmp_path / "facts"
    first = OwnerIndex(client=None, facts_file=facts)  # no lookups happen here: no client
    first.learn("driver-20261201010101-0001", ("0123456789abcdef", "pi"))
    first.learn("driver-20261201010101-0001", ("0123456789abcdef", "pi"))  # written once
    first.learn("driver-20261201010101-0002", None)  # not an API job: nothing to write
    with facts.open("a") as handle:
        handle.write("driver-x sparkapi.0123456789abcdef.pi\n"  # not a driver id
                     "driver-20261201010101-0003 someone-elses-app\n"
                     "driver-20261201010101-0004 sparkapi.0123456789abcdef.sl")  # no newline
    assert facts.read_text().count("driver-20261201010101-0001") == 1

    second = OwnerIndex(client=None, facts_file=facts)
    ids = [f"driver-20261201010101-000{n}" for n in range(1, 5)]

    async def owners() -> list:
        return await second.owners([DriverRef(i, None) for i in ids], deadline=0)

    assert asyncio.run(owners())[0] == ("0123456789abcdef", "pi")
    assert second.cached(ids[2]) is UNRESOLVED and second.cached(ids[3]) is UNRESOLVED
    with facts.open("a") as handle:
        handle.write("eep\n")  # the half-written line completes
    assert asyncio.run(owners())[3] == ("0123456789abcdef", "sleep")


def test_ended_drivers_are_remembered_through_the_file(tmp_path) -> None:
    """A driver seen ended is written once (terminal is final; again only to add Spark's
    message) and read back, state, message and worker, by another OwnerIndex on the same file;
    old owner-only lines still read, and an old reader (the owner-only pattern) skips the new
    lines rather than misreading them."""
    import re

    from spark_api.owners import OwnerIndex

    facts = tmp_path / "facts"
    owner = ("0123456789abcdef", "pi")
    d1, d2, d3 = (f"driver-20261201010101-000{n}" for n in (1, 2, 3))
    facts.write_text(f"{d3} sparkapi.0123456789abcdef.sleep\n")  # an old owner-only line
    first = OwnerIndex(client=None, facts_file=facts)
    first.ended(d1, owner, "FINISHED", None, (W_ALIVE, "10.0.0.2", "ALIVE"))
    first.ended(d1, owner, "FINISHED", None, (W_ALIVE, "10.0.0.2", "ALIVE"))  # once
    first.ended(d2, owner, "ERROR")  # from a list: no Spark message yet
    first.ended(d2, owner, "ERROR", LAUNCH_ERROR)  # a read by id adds it
    first.ended(d2, owner, "ERROR", "something else")  # then it is final
    lines = facts.read_text().splitlines()
    assert [line.split()[0] for line in lines] == [d3, d1, d2, d2]
    old_reader = re.compile(r"^(driver-\d{14}-\d{4,}) (\S+)$")
    assert [bool(old_reader.match(line)) for line in lines] == [True, False, False, False]
    with facts.open("a") as handle:
        handle.write(f"{d3} sparkapi.0123456789abcdef.sleep {{not json}}\n"
                     f"{d3} sparkapi.0123456789abcdef.sleep {{\"state\": 7}}\n")

    second = OwnerIndex(client=None, facts_file=facts)
    assert second.remembered(d3) is None  # junk end facts are not taken (reads the file)
    assert second.cached(d3) == ("0123456789abcdef", "sleep")  # old line: owner known
    one, two = second.remembered(d1), second.remembered(d2)
    assert (one.owner, one.spark_state, one.spark_message, one.worker) == \
        (owner, "FINISHED", None, (W_ALIVE, "10.0.0.2", "ALIVE"))
    assert (two.spark_state, two.spark_message, two.worker) == ("ERROR", LAUNCH_ERROR, None)
    assert set(second.all_ended()) == {d1, d2}
    state, message = describe(two.spark_state, None, two.spark_message)
    assert state is JobState.ERROR and "Cannot run program" in message
