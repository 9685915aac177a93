"""Persist overhead: the product's persist against the engine's own commit and push.

For each size N (MB) and each run, three containers of the busybox base
image start on one private Podman service, and each gets N MB of fresh
random files (16 MB each, from /dev/urandom). Each container is then
persisted one way, in an order that rotates between runs:

- product: ``manage.py persist_lab LAB --wait`` with one ``db_worker``
  running (job row, enqueue, worker pick-up, commit, push, local image
  removed, job succeeded). The figure is the job's ``finished_at -
  created_at``. The command's wall time, which adds Python start-up and its
  0.5 s polling, is printed beside it.
- engine CLI: ``podman commit --pause=true`` then ``podman push``, with the
  service's storage and configuration, logged in beforehand through
  ``podman login --password-stdin`` into a separate auth file.
- engine API: the same two calls through the docker SDK on the service's
  socket (commit, then a push whose stream is read to its end), which is
  what the product itself sends.

All three push to one local registry (Debian's docker-registry with TLS and
htpasswd) on 127.0.0.1, each to its own repository. A fresh worker serves
each N, and its peak resident set size (VmHWM) is read before it stops.

Run: ``.venv/bin/python -m benchmarks.persist_overhead --sizes 16 128 512 --runs 5``
"""

import argparse
import re
import secrets
import subprocess
import sys
import time

from benchmarks import common

DATABASE = "lod_admin_bench_persist"
FILE_MB = 16
REGISTRY_USER = "bench-pusher"
PERSIST_TIMEOUT = 900
DIGEST_RE = re.compile(r"digest: (sha256:[0-9a-f]{64})")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 128, 512],
                        help="MB of random files per container (default 16 128 512)")
    parser.add_argument("--runs", type=int, default=5, help="runs per size (default 5)")
    parser.add_argument("--worker-interval", type=float, default=None,
                        help="db_worker --interval in seconds (default: the worker's own, 1 s)")
    common.add_database_arguments(parser, DATABASE)
    return parser.parse_args(argv)


class Peers:
    """The Podman service and the registry of one benchmark run."""

    def __init__(self, folder):
        from devstack.podman import PodmanService
        from devstack.registry import LocalRegistry

        self.password = secrets.token_urlsafe(24)
        self.podman = PodmanService(folder / "podman")
        self.registry = LocalRegistry(folder / "registry", tls=True,
                                      users={REGISTRY_USER: self.password})
        self.cli_auth_file = folder / "cli-auth.json"

    def start(self):
        self.registry.start()
        self.podman.start()
        self.podman.ensure_base_image()
        self.podman.trust_ca(self.registry.address, self.registry.ca_pem)
        self.podman.podman(
            "login", "--authfile", str(self.cli_auth_file), "--username", REGISTRY_USER,
            "--password-stdin", self.registry.address, input=self.password.encode(),
        )
        return self

    def stop(self):
        self.podman.destroy()
        self.registry.stop()


def prepare_container(peers, size_mb, lab_id):
    """Start a base-image container and write SIZE_MB of random files into it; return its id."""
    from devstack.podman import BASE_IMAGE
    from labs import engine

    container_id = engine.run_container(peers.podman.url, BASE_IMAGE, lab_id=lab_id,
                                        network_mode="none")
    remaining, index, commands = size_mb, 0, ["mkdir -p /root/data"]
    while remaining > 0:
        chunk = min(FILE_MB, remaining)
        commands.append(f"head -c {chunk * 1024 * 1024} /dev/urandom > /root/data/file-{index}")
        remaining -= chunk
        index += 1
    result = engine.exec_command(peers.podman.url, container_id, " && ".join(commands),
                                 time_limit=600)
    if result.exit_code != 0:
        raise RuntimeError(f"Writing random files failed ({result.exit_code}): {result.output}")
    return container_id


def persist_with_product(env, lab, registry_row, repository, tag, folder):
    """Run persist_lab --wait.

    Return seconds from the job's creation to its end and to its start, and
    the command's wall time.
    """
    from labs.models import PersistJob

    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "manage.py", "persist_lab", str(lab.pk),
         "--registry", str(registry_row.pk), "--account", REGISTRY_USER,
         "--repository", repository, "--tag", tag, "--wait",
         "--timeout", str(PERSIST_TIMEOUT), "--verbosity", "0"],
        cwd=common.REPO_DIR, env=env, capture_output=True, text=True, check=False,
    )
    wall = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"persist_lab failed: {result.stdout} {result.stderr}")
    job = PersistJob.objects.filter(lab=lab).latest("created_at")
    if job.status != PersistJob.Status.SUCCEEDED:
        raise RuntimeError(f"Persist job {job.pk} ended {job.status}: {job.error_message}")
    return (
        (job.finished_at - job.created_at).total_seconds(),
        (job.started_at - job.created_at).total_seconds(),
        wall,
    )


def persist_with_cli(peers, container_id, reference):
    """Run podman commit and podman push; return their seconds, then remove the image."""
    started = time.monotonic()
    peers.podman.podman("commit", "--quiet", "--pause=true", container_id, reference)
    peers.podman.podman("push", "--authfile", str(peers.cli_auth_file), reference)
    elapsed = time.monotonic() - started
    peers.podman.podman("rmi", reference, check=False)
    return elapsed


def persist_with_api(peers, container_id, repository, tag):
    """Commit and push through the docker SDK; return their seconds, then remove the image."""
    import docker

    client = docker.DockerClient(base_url=peers.podman.url, timeout=PERSIST_TIMEOUT)
    auth = {"username": REGISTRY_USER, "password": peers.password,
            "serveraddress": peers.registry.address}
    try:
        started = time.monotonic()
        client.api.commit(container_id, repository=repository, tag=tag)
        digest = ""
        for line in client.api.push(repository, tag=tag, stream=True, decode=True,
                                    auth_config=auth):
            if line.get("error") or line.get("errorDetail"):
                raise RuntimeError(f"The push through the engine API failed: {line}")
            digest = digest or (line.get("aux") or {}).get("Digest", "")
            # Podman 4.3 reports the digest only in a status line.
            match = DIGEST_RE.search(str(line.get("status") or ""))
            digest = digest or (match.group(1) if match else "")
        elapsed = time.monotonic() - started
        if not digest:
            raise RuntimeError("The push through the engine API reported no digest.")
        client.images.remove(f"{repository}:{tag}")
    finally:
        client.close()
    return elapsed


def run(args, folder):
    peers = Peers(folder).start()
    try:
        env = common.configure_django(
            args.database_url, folder / "var", debug=False,
            extra_env={"CONTAINER_ENGINE_URL": peers.podman.url, "LOD_LAB_NETWORK_MODE": "none"},
        )
        common.migrate()
        return measure(args, folder, peers, env)
    finally:
        peers.stop()


def measure(args, folder, peers, env):
    from benchmarks import rows
    from labs import engine
    from organizations.models import Membership

    organization = rows.make_organization("Persist benchmark")
    owner = rows.make_member("persist-owner", organization, Membership.Role.MEMBER)
    registry_row = rows.make_registry(organization, peers.registry.address,
                                      ca_pem=peers.registry.ca_pem)
    rows.make_account(registry_row, REGISTRY_USER, peers.password)
    address = peers.registry.address
    worker_args = [] if args.worker_interval is None else ["--interval", str(args.worker_interval)]

    report = {"machine": common.machine_summary(), "runs": args.runs,
              "worker_interval": args.worker_interval, "sizes": {}}
    for size in args.sizes:
        figures = {"product_job": [], "product_pickup": [], "product_command": [],
                   "engine_cli": [], "engine_api": []}
        worker = common.start_worker(env, folder / f"worker-{size}.log", *worker_args)
        try:
            for run_index in range(args.runs):
                containers = [prepare_container(peers, size, 1000 * size + 3 * run_index + k)
                              for k in range(3)]
                lab = rows.make_running_lab(owner, organization, containers[0], peers.podman.url,
                                            name=f"Persist {size} MB run {run_index}")
                tag = f"run{run_index}"
                steps = [
                    ("product", lambda: persist_with_product(
                        env, lab, registry_row, f"bench/product-{size}", tag, folder)),
                    ("engine_cli", lambda: persist_with_cli(
                        peers, containers[1], f"{address}/bench/cli-{size}:{tag}")),
                    ("engine_api", lambda: persist_with_api(
                        peers, containers[2], f"{address}/bench/api-{size}", tag)),
                ]
                # Rotating the order spreads any warm-cache advantage over all three.
                shift = run_index % len(steps)
                for name, step in steps[shift:] + steps[:shift]:
                    value = step()
                    if name == "product":
                        figures["product_job"].append(value[0])
                        figures["product_pickup"].append(value[1])
                        figures["product_command"].append(value[2])
                    else:
                        figures[name].append(value)
                for container_id in containers:
                    engine.remove_container(peers.podman.url, container_id)
                print(f"{size} MB run {run_index}: " + ", ".join(
                    f"{name} {values[-1]:.2f} s" for name, values in figures.items()), flush=True)
            peak = common.peak_rss_mib(worker.pid)
        finally:
            common.stop_process(worker)

        summary = {name: common.summarize(values) for name, values in figures.items()}
        summary["ratio_product_to_cli"] = (
            summary["product_job"]["median"] / summary["engine_cli"]["median"])
        summary["ratio_product_to_api"] = (
            summary["product_job"]["median"] / summary["engine_api"]["median"])
        summary["ratios_per_run_to_cli"] = common.summarize(
            [p / c for p, c in zip(figures["product_job"], figures["engine_cli"])])
        summary["worker_peak_rss_mib"] = peak
        report["sizes"][size] = summary
        print(f"{size} MB: product {common.format_summary(summary['product_job'])}; "
              f"CLI {common.format_summary(summary['engine_cli'])}; "
              f"API {common.format_summary(summary['engine_api'])}; "
              f"ratio to CLI {summary['ratio_product_to_cli']:.3f}, "
              f"to API {summary['ratio_product_to_api']:.3f}; worker VmHWM {peak:.1f} MiB",
              flush=True)
    common.print_json("RESULT", report)
    return report


def main(argv=None):
    args = parse_args(argv)
    with common.scratch_folder("lodp-") as folder:
        with common.bench_database(args.database, keep=args.keep) as url:
            args.database_url = url
            return run(args, folder)


if __name__ == "__main__":
    main()
