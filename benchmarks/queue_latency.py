"""Queue latency: time from enqueueing a persist job to the worker starting it.

One ``manage.py db_worker`` (started as bin/run starts it) takes persist
jobs from a fresh PostgreSQL database. Each job is a real persist request
(``labs.services.request_persist``: job row, audit record, task enqueued on
commit) for a lab whose engine address is a socket that does not exist.
The job therefore starts, records ``started_at`` and fails at once at its
first engine call. Latency is ``PersistJob.started_at - PersistJob.created_at``;
the queue's own figure (``DBTaskResult.started_at - enqueued_at``) is
printed beside it.

Two patterns:

- idle: one job at a time, after a random pause of 0 to 1.5 s, so the
  request lands at a random point of the worker's idle polling;
- burst: every job enqueued at once, so later jobs wait for earlier ones.

Run: ``.venv/bin/python -m benchmarks.queue_latency --jobs 50``
"""

import argparse
import random
import time
import uuid

from benchmarks import common

DATABASE = "lod_admin_bench_queue"
JOB_TIMEOUT = 60


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=50, help="jobs per pattern (default 50)")
    common.add_database_arguments(parser, DATABASE)
    parser.add_argument("--seed", type=int, default=1, help="seed of the random pauses")
    return parser.parse_args(argv)


def request(lab, registry, account, tag):
    from labs import services

    return services.request_persist(
        lab.owner, lab, registry=registry, account=account,
        repository="bench/queue", tag=tag,
    )


def wait_until_ended(job_ids):
    from labs.models import PersistJob

    def ended():
        return not PersistJob.objects.filter(pk__in=job_ids).active().exists()

    common.wait_for(ended, JOB_TIMEOUT, description=f"persist jobs {job_ids} to end")


def latencies(job_ids):
    """Return (job latencies, queue latencies, job durations) in seconds for JOB_IDS."""
    from django_tasks_db.models import DBTaskResult

    from labs.models import PersistJob

    jobs = list(PersistJob.objects.filter(pk__in=job_ids))
    results = DBTaskResult.objects.in_bulk([uuid.UUID(job.task_result_id) for job in jobs])
    job_latency, queue_latency, durations = [], [], []
    for job in jobs:
        if job.started_at is None:
            raise RuntimeError(f"Persist job {job.pk} ended without a start time: {job.status}.")
        job_latency.append((job.started_at - job.created_at).total_seconds())
        durations.append((job.finished_at - job.started_at).total_seconds())
        result = results.get(uuid.UUID(job.task_result_id))
        if result is not None and result.started_at is not None:
            queue_latency.append((result.started_at - result.enqueued_at).total_seconds())
    return job_latency, queue_latency, durations


def run(args, folder):
    env = common.configure_django(args.database_url, folder / "var", debug=False)
    common.migrate()

    from benchmarks import rows
    from labs.models import PersistJob
    from organizations.models import Membership

    organization = rows.make_organization("Queue benchmark")
    owner = rows.make_member("queue-owner", organization, Membership.Role.MEMBER)
    registry = rows.make_registry(organization, "registry.example.test")
    account = rows.make_account(registry, "pusher", "benchmark-registry-password")
    missing_engine = f"unix://{folder}/no-engine.sock"
    labs = [
        rows.make_running_lab(owner, organization, f"gone-{index}", missing_engine,
                              name=f"Queue lab {index}")
        for index in range(args.jobs)
    ]

    worker = common.start_worker(env, folder / "worker.log")
    try:
        # The first job also waits for the worker's start-up; it is not counted.
        warm_up = request(labs[0], registry, account, "warm-up")
        wait_until_ended([warm_up.pk])

        pauses = random.Random(args.seed)
        idle_ids = []
        for index, lab in enumerate(labs):
            time.sleep(pauses.uniform(0, 1.5))
            job = request(lab, registry, account, f"idle-{index}")
            wait_until_ended([job.pk])
            idle_ids.append(job.pk)

        burst_ids = [
            request(lab, registry, account, f"burst-{index}").pk
            for index, lab in enumerate(labs)
        ]
        wait_until_ended(burst_ids)
    finally:
        common.stop_process(worker)

    statuses = set(PersistJob.objects.filter(pk__in=idle_ids + burst_ids).values_list(
        "status", flat=True))
    report = {"machine": common.machine_summary(), "jobs_per_pattern": args.jobs,
              "final_statuses": sorted(statuses)}
    for name, ids in (("idle", idle_ids), ("burst", burst_ids)):
        job_latency, queue_latency, durations = latencies(ids)
        report[name] = {
            "job_started_minus_created": common.summarize(job_latency),
            "task_started_minus_enqueued": common.summarize(queue_latency),
            "job_finished_minus_started": common.summarize(durations),
        }
        started = report[name]["job_started_minus_created"]
        durations = report[name]["job_finished_minus_started"]
        print(f"{name}: enqueue to start {common.format_summary(started)}, "
              f"p95 {started['p95']:.3f} s; start to end {common.format_summary(durations)}")
    common.print_json("RESULT", report)
    return report


def main(argv=None):
    args = parse_args(argv)
    with common.scratch_folder("lodq-") as folder:
        with common.bench_database(args.database, keep=args.keep) as url:
            args.database_url = url
            return run(args, folder)


if __name__ == "__main__":
    main()
