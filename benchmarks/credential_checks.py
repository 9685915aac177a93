"""Checking many credentials: ``verify_registries`` over 50 accounts behind a slow token service.

One local registry (Debian's docker-registry, TLS, token authentication)
takes its tokens from ``devstack.token_issuer.TokenIssuer``, which sleeps
DELAY seconds (default 0.2) before each response, as a distant token
service would. The registry row has ACCOUNTS accounts (default 50), each a
user of the issuer that may pull and push.

Per run the benchmark times:

- each account's check alone (``registries.client.check_account``, one
  after the other), giving the median single check and the sum;
- ``manage.py verify_registries --registry ID`` as a child process, with
  the default worker count and with ``--workers`` equal to the number of
  checks (ACCOUNTS + 1, the registry's own ping);
- the same command for a second row of the registry without accounts,
  which costs the command's start-up and one ping.

Every single check must end OK. Checks that fail inside
``verify_registries`` are counted and reported, not raised.

Run: ``.venv/bin/python -m benchmarks.credential_checks --runs 5``
"""

import argparse
import json
import secrets
import subprocess
import sys
import time

from benchmarks import common

DATABASE = "lod_admin_bench_checks"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=50, help="accounts to check (default 50)")
    parser.add_argument("--delay", type=float, default=0.2,
                        help="seconds the token service waits before each response (default 0.2)")
    parser.add_argument("--runs", type=int, default=5, help="runs (default 5)")
    common.add_database_arguments(parser, DATABASE)
    return parser.parse_args(argv)


def verify(env, registry_id, workers=None):
    """Run ``manage.py verify_registries`` for one registry; return (seconds, results as dicts).

    The command runs in its own process, as an operator runs it, so its
    threads do not compete for the interpreter lock with the token issuer,
    which serves from a thread of this process.
    """
    command = [sys.executable, "manage.py", "verify_registries", "--registry", str(registry_id),
               "--format", "json"]
    if workers is not None:
        command += ["--workers", str(workers)]
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=common.REPO_DIR, env=env, capture_output=True,
                               text=True, check=False)
    elapsed = time.perf_counter() - started
    if completed.returncode not in (0, 1):
        raise RuntimeError(f"verify_registries failed: {completed.stderr[-2000:]}")
    return elapsed, json.loads(completed.stdout)


def run(args, folder):
    from devstack.registry import LocalRegistry
    from devstack.tls import CertificateAuthority, write_server_tls
    from devstack.token_issuer import TokenIssuer, TokenUser

    ca = CertificateAuthority()
    users = {f"checker-{index:03d}": TokenUser(secrets.token_urlsafe(16), ("pull", "push"))
             for index in range(args.accounts)}
    issuer = TokenIssuer(ca, folder / "issuer", users=users, delay=args.delay).start()
    try:
        tls = write_server_tls(folder / "tls", ca=ca)
        with LocalRegistry(folder / "registry", tls=tls, token_issuer=issuer) as registry:
            env = common.configure_django(args.database_url, folder / "var", debug=False)
            common.migrate()
            return measure(args, env, registry, ca, users)
    finally:
        issuer.stop()


def measure(args, env, registry, ca, users):
    from benchmarks import rows
    from registries import client
    from registries.models import CheckStatus, RegistryAccount

    organization = rows.make_organization("Check benchmark")
    registry_row = rows.make_registry(organization, registry.address, ca_pem=ca.cert_pem)
    for username, user in users.items():
        rows.make_account(registry_row, username, user.password)
    accounts = list(
        RegistryAccount.objects.filter(registry=registry_row).select_related("registry")
    )
    checks = len(accounts) + 1
    # The same registry once more, in another organization and without
    # accounts: verifying it costs the command's start-up and one ping.
    ping_only_row = rows.make_registry(rows.make_organization("Ping only"), registry.address,
                                       name="Ping only", ca_pem=ca.cert_pem)

    figures = {"single_check": [], "sum_of_single_checks": [], "verify_default_workers": [],
               "verify_one_worker_per_check": [], "verify_ping_only": []}
    failures, messages = {}, set()
    for run_index in range(args.runs):
        singles = []
        for account in accounts:
            started = time.perf_counter()
            result = client.check_account(account)
            singles.append(time.perf_counter() - started)
            if result.status != CheckStatus.OK:
                raise RuntimeError(
                    f"Check of {account.username} ended {result.status}: {result.message}"
                )
        figures["single_check"].extend(singles)
        figures["sum_of_single_checks"].append(sum(singles))

        for label, row, workers, expected in (
            ("verify_default_workers", registry_row, None, checks),
            ("verify_one_worker_per_check", registry_row, checks, checks),
            ("verify_ping_only", ping_only_row, None, 1),
        ):
            elapsed, results = verify(env, row.pk, workers)
            if len(results) != expected:
                raise RuntimeError(
                    f"verify_registries made {len(results)} checks, not {expected}."
                )
            # A failed check is a finding, not a broken benchmark: it is counted and shown.
            for item in results:
                if not item["passed"]:
                    failures[label] = failures.get(label, 0) + 1
                    messages.add(f"{label}: {item['status']}: {item['message']}")
            figures[label].append(elapsed)
        print(f"run {run_index}: sum of singles {figures['sum_of_single_checks'][-1]:.2f} s, "
              f"verify {figures['verify_default_workers'][-1]:.2f} s (default workers), "
              f"{figures['verify_one_worker_per_check'][-1]:.2f} s ({checks} workers), "
              f"{figures['verify_ping_only'][-1]:.2f} s (ping only); failed checks so far "
              f"{failures or 'none'}", flush=True)

    report = {"machine": common.machine_summary(), "accounts": len(accounts), "checks": checks,
              "token_delay": args.delay, "runs": args.runs, "failed_checks": failures,
              "failure_messages": sorted(messages)}
    for label, values in figures.items():
        report[label] = common.summarize(values)
        print(f"{label}: {common.format_summary(report[label])}", flush=True)
    single = report["single_check"]["median"]
    for label in ("verify_default_workers", "verify_one_worker_per_check"):
        report[f"{label}_in_single_checks"] = report[label]["median"] / single
        print(f"{label}: {report[label]['median'] / single:.1f} times one check", flush=True)
    common.print_json("RESULT", report)
    return report


def main(argv=None):
    args = parse_args(argv)
    with common.scratch_folder("lodc-") as folder:
        with common.bench_database(args.database, keep=args.keep) as url:
            args.database_url = url
            return run(args, folder)


if __name__ == "__main__":
    main()
