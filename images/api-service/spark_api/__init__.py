"""spark_api: a stateless, OAuth-protected job API in front of a Spark standalone master.

Why stateless (docs/design.md section 5): the Spark master is the source of truth for jobs, so any
replica answers any request and a restart loses nothing. The API validates, authorizes and
translates; it keeps no job table. Ownership is carried by the submission itself and checked
with an HMAC keyed by ``SPARK_API_OWNER_SECRET`` (shared by every replica):

* owner tag  = hex(HMAC(secret, "owner|" + subject))[:16]. It goes into the submission as
  ``spark.app.name = sparkapi.<owner tag>.<job name>``.
* job id     = ``<driver id>.<job name>.<mac>`` with
  mac = base64url(HMAC(secret, "job|<driver id>|<job name>|<owner tag>"))[:22].
  A GET/DELETE by id is authorized without any store: recompute the mac for the caller; a
  mismatch is answered 404 (existence is never revealed). ``jobs:admin`` may read any job.
* listing (``GET /v1/jobs``): the drivers come from the master's ``/json/``; which owner a driver
  belongs to is read from the worker's log of that driver: the worker writes the driver's
  launch command (every ``-Dspark.*`` property, including ``spark.app.name``) at the top of the
  driver's ``stderr``. That fact never changes, so each replica caches it by driver id (a cache,
  not state: losing it costs one HTTP request per driver). This needs nothing from the job
  scripts. Lookups are single-flight, on their own connection pool, in page order and bounded
  by a time budget; a list that could not learn every owner in time says ``partial: true``
  (owners.py). The master shows no owner fact for a driver that never ran on a worker (its
  ``/json/`` gives a driver's id, state, cores, memory, worker and main class only), nor for
  one whose worker is gone for good; such a driver is listed by the replicas that learned its
  owner otherwise: the one that accepted it, and any that served its owner a GET, DELETE or
  logs by its (HMAC-checked) id, kept across restarts in ``SPARK_API_OWNER_FACTS_FILE``. A
  worker started again at the same address serves its old drivers' logs, so those are read
  there.
* state: always taken from the DRIVER (the app shows FINISHED even when its driver failed),
  with a ``message`` saying why (every terminal state has one): Spark ``driverState`` plus the
  state of the driver's worker -> API state and message, table in states.py. RELAUNCHING is
  final for its driver id (a supervised driver is relaunched under a new id): ERROR.
"""
