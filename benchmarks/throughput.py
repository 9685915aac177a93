"""Throughput: requests per second of gunicorn with 2 workers on PostgreSQL, driven by wrk.

The database gets the data set of the page-cost benchmark at its largest
stage (2,000 organizations, 1,000 registries, 10,000 accounts, 1,000 labs).
gunicorn serves the product with DEBUG off and ``DJANGO_SETTINGS_MODULE=
benchmarks.settings``, which adds one trivial page (``/benchmark/trivial/``)
as the ceiling. Debian's ``wrk`` requests, for a bounded time and only on
127.0.0.1, with a logged-in session cookie:

- the registry list, as the platform administrator;
- the persist page of the lab 20 levels deep, as its owner;
- the trivial page.

Each run of each page reports requests per second and the count of
non-2xx/3xx responses and socket errors. The order of the pages rotates
between runs. Every page is first checked to return 200 with the cookie,
since a redirect to the login page would also count as a success for wrk.

Run: ``.venv/bin/python -m benchmarks.throughput --runs 5 --duration 10``
"""

import argparse
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request

from benchmarks import common

DATABASE = "lod_admin_bench_throughput"
TRIVIAL_PATH = "/benchmark/trivial/"
SERVER_START_TIMEOUT = 60


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="wrk runs per page (default 5)")
    parser.add_argument("--duration", type=int, default=10,
                        help="seconds per wrk run (default 10)")
    parser.add_argument("--connections", type=int, default=8,
                        help="open connections of wrk (default 8)")
    parser.add_argument("--threads", type=int, default=2, help="threads of wrk (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--conn-max-age", type=int, default=None,
                        help="DATABASE_CONN_MAX_AGE for gunicorn (default: the product's, 0)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply the registry and lab counts (default 1)")
    parser.add_argument("--organizations", type=int, default=2000,
                        help="organizations to generate (default 2000)")
    common.add_database_arguments(parser, DATABASE)
    return parser.parse_args(argv)


def session_cookie(user):
    """Log USER in through the test client and return the session key it stored."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def start_gunicorn(env, port, workers, log_path):
    gunicorn = shutil.which("gunicorn", path=str(common.REPO_DIR / ".venv" / "bin")) or "gunicorn"
    log = open(log_path, "ab")
    try:
        return subprocess.Popen(
            [gunicorn, "lod_admin.wsgi:application", "--workers", str(workers),
             "--bind", f"127.0.0.1:{port}", "--access-logfile", "-", "--log-level", "warning"],
            cwd=common.REPO_DIR, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
        )
    finally:
        log.close()


def fetch_status(url, cookie):
    """Return the HTTP status of GET URL with COOKIE, without following redirects."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, headers={"Cookie": cookie})
    try:
        with opener.open(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def run_wrk(url, cookie, args):
    """Run wrk against URL; return requests per second, requests, non-2xx/3xx and socket errors."""
    result = subprocess.run(
        ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s",
         "--timeout", "10s", "-H", f"Cookie: {cookie}", url],
        capture_output=True, text=True, check=True, timeout=args.duration + 30,
    )
    output = result.stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    socket_error_count = 0
    if socket_errors:
        socket_error_count = sum(int(value) for value in socket_errors.groups())
    return {
        "rate": rate,
        "requests": requests,
        "non_2xx_3xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": socket_error_count,
    }


def run(args, folder):
    from devstack.registry import free_port

    extra_env = {}
    if args.conn_max_age is not None:
        extra_env["DATABASE_CONN_MAX_AGE"] = str(args.conn_max_age)
    env = common.configure_django(args.database_url, folder / "var", debug=False,
                                  settings_module="benchmarks.settings", extra_env=extra_env)
    common.migrate()
    common.collect_static()

    from benchmarks.page_cost import STAGES, Dataset

    dataset = Dataset(args.organizations, seed=1)
    dataset.create_organizations()
    dataset.create_people()
    registries, detail_accounts, labs = STAGES[-1]
    dataset.grow_registries(max(1, int(registries * args.scale)))
    dataset.grow_detail_accounts(detail_accounts)
    dataset.grow_labs(max(1, int(labs * args.scale)))

    admin_cookie = f"sessionid={session_cookie(dataset.platform_admin)}"
    lab_cookie = f"sessionid={session_cookie(dataset.lab_user)}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    pages = [
        ("registry list", f"{base}/registries/", admin_cookie),
        ("persist page", f"{base}/labs/{dataset.deep_lab.pk}/persist/", lab_cookie),
        ("trivial page", f"{base}{TRIVIAL_PATH}", admin_cookie),
    ]

    log_path = folder / "gunicorn.log"
    server = start_gunicorn(env, port, args.workers, log_path)
    try:
        common.wait_for(
            lambda: server.poll() is not None or _responds(base), SERVER_START_TIMEOUT,
            interval=0.1, description="gunicorn to respond",
        )
        if server.poll() is not None:
            raise RuntimeError(
                f"gunicorn exited with status {server.returncode}; the end of its log:\n"
                + log_path.read_text(errors="replace")[-2000:]
            )
        for label, url, cookie in pages:
            status = fetch_status(url, cookie)
            if status != 200:
                raise RuntimeError(f"{label} ({url}) returned {status}, not 200, with the cookie.")
            # One run to warm the workers' caches and connections; not counted.
            warm_up = argparse.Namespace(**{**vars(args), "duration": min(2, args.duration)})
            run_wrk(url, cookie, warm_up)

        figures = {label: [] for label, _, _ in pages}
        for run_index in range(args.runs):
            shift = run_index % len(pages)
            for label, url, cookie in pages[shift:] + pages[:shift]:
                result = run_wrk(url, cookie, args)
                figures[label].append(result)
                print(f"run {run_index} {label}: {result['rate']:.1f} requests/s, "
                      f"{result['non_2xx_3xx']} non-2xx/3xx, "
                      f"{result['socket_errors']} socket errors",
                      flush=True)
    finally:
        common.stop_process(server)

    report = {"machine": common.machine_summary(), "runs": args.runs, "duration": args.duration,
              "connections": args.connections, "threads": args.threads, "workers": args.workers,
              "conn_max_age": args.conn_max_age, "pages": {}}
    trivial_median = common.summarize([r["rate"] for r in figures["trivial page"]])["median"]
    for label, results in figures.items():
        rates = common.summarize([r["rate"] for r in results])
        report["pages"][label] = {
            "requests_per_second": rates,
            "ratio_to_trivial": rates["median"] / trivial_median,
            "non_2xx_3xx": sum(r["non_2xx_3xx"] for r in results),
            "socket_errors": sum(r["socket_errors"] for r in results),
            "requests": sum(r["requests"] for r in results),
        }
        print(f"{label}: {common.format_summary(rates, unit='requests/s', digits=1)}, "
              f"{rates['median'] / trivial_median:.3f} of the trivial page, "
              f"{report['pages'][label]['non_2xx_3xx']} non-2xx/3xx, "
              f"{report['pages'][label]['socket_errors']} socket errors", flush=True)
    common.print_json("RESULT", report)
    return report


def _responds(base):
    try:
        return fetch_status(f"{base}{TRIVIAL_PATH}", "") == 200
    except OSError:
        return False


def main(argv=None):
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed; install the Debian package wrk (apt-get install wrk).")
    with common.scratch_folder("lodt-") as folder:
        with common.bench_database(args.database, keep=args.keep) as url:
            args.database_url = url
            return run(args, folder)


if __name__ == "__main__":
    main()
