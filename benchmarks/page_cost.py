"""Page cost at scale: SQL queries and server time of the main pages as data grows.

A fresh PostgreSQL database gets 2,000 organizations (a tree 20 levels
deep: a chain of 20 plus 1,980 organizations under random parents), then
registries and accounts in three stages (10/100, 100/1,000, 1,000/10,000),
with a tenth of the registries on the chain above the deepest lab. After
each stage the benchmark requests, through Django's test client in this
process (DEBUG off), each page below, and reports the SQL query count (one
request under CaptureQueriesContext) and the median time of the timed
requests:

- registry list, as the platform administrator and as the administrator
  of the root of the chain;
- Django admin's changelist of the same model (``/admin/registries/
  containerregistry/``), as the platform administrator;
- the detail of one registry with 10, then 100 accounts;
- the persist page of a lab 20 levels deep;
- the lab list of that lab's owner, with 10, 100, then 1,000 labs.

Run: ``.venv/bin/python -m benchmarks.page_cost``
"""

import argparse
import random
import time

from benchmarks import common

DATABASE = "lod_admin_bench_pages"
ORGANIZATIONS = 2000
DEPTH = 20
ACCOUNTS_PER_REGISTRY = 10
# (registries, accounts of the detail registry, labs of the lab user)
STAGES = ((10, 10, 10), (100, 100, 100), (1000, 100, 1000))
CHAIN_SHARE = 0.1


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20,
                        help="timed requests per page and stage (default 20)")
    parser.add_argument("--organizations", type=int, default=ORGANIZATIONS,
                        help=f"organizations to generate (default {ORGANIZATIONS})")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply the registry and lab counts of every stage (default 1)")
    common.add_database_arguments(parser, DATABASE)
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated tree")
    return parser.parse_args(argv)


class Dataset:
    """The generated rows of every stage, with the users, registry and lab that the pages use."""

    def __init__(self, organization_count, seed):
        self.random = random.Random(seed)
        self.organization_count = organization_count
        self.registry_count = 0
        self.lab_count = 0

    def create_organizations(self):
        """Bulk-create the tree with explicit ids, paths and depths, then fix the id sequence."""
        from django.core.management.color import no_style
        from django.db import connection

        from organizations.models import Organization

        organizations = []
        for index in range(1, self.organization_count + 1):
            if index <= DEPTH:
                parent = organizations[-1] if organizations else None
            else:
                parent = self.random.choice(
                    [org for org in organizations[-200:] if org.depth < DEPTH - 1]
                    or organizations[:DEPTH - 1]
                )
            organizations.append(Organization(
                pk=index,
                name=f"Organization {index}",
                slug=f"organization-{index}",
                parent_id=parent.pk if parent else None,
                path=f"{parent.path if parent else '/'}{index}/",
                depth=parent.depth + 1 if parent else 0,
            ))
        Organization.objects.bulk_create(organizations, batch_size=500)
        with connection.cursor() as cursor:
            for statement in connection.ops.sequence_reset_sql(no_style(), [Organization]):
                cursor.execute(statement)
        self.organizations = organizations
        self.chain = organizations[:DEPTH]
        self.deepest = self.chain[-1]

    def create_people(self):
        from benchmarks import rows
        from organizations.models import Membership

        self.platform_admin = rows.make_user("platform-admin", superuser=True)
        self.chain_admin = rows.make_member("chain-admin", self.chain[0], Membership.Role.ADMIN)
        self.lab_user = rows.make_member("deep-lab-user", self.deepest)
        self.detail_registry = rows.make_registry(self.chain[0], "detail.registry.test",
                                                  name="Detail registry")
        self.deep_lab = rows.make_running_lab(self.lab_user, self.deepest, "bench-container",
                                              "unix:///nonexistent/podman.sock", name="Deep lab")
        self.lab_count = 1

    def grow_registries(self, target):
        """Add registries (each with ACCOUNTS_PER_REGISTRY accounts) until there are TARGET."""
        from registries.models import ContainerRegistry, RegistryAccount

        new = []
        for index in range(self.registry_count, target):
            on_chain = self.random.random() < CHAIN_SHARE
            organization = self.random.choice(self.chain if on_chain else self.organizations)
            new.append(ContainerRegistry(
                name=f"Registry {index:05d}",
                organization_id=organization.pk,
                address=f"registry-{index}.example.test",
                allow_push=True,
            ))
        created = ContainerRegistry.objects.bulk_create(new, batch_size=500)
        by_id = {org.pk: org for org in self.organizations}
        accounts = []
        for registry in created:
            owner = by_id[registry.organization_id]
            candidates = [org for org in self.chain if org.path.startswith(owner.path)] or [owner]
            for number in range(ACCOUNTS_PER_REGISTRY):
                accounts.append(RegistryAccount(
                    registry=registry,
                    username=f"user-{number}",
                    password=f"benchmark-password-{registry.pk}-{number}",
                    organization_id=self.random.choice(candidates).pk,
                ))
        RegistryAccount.objects.bulk_create(accounts, batch_size=1000)
        self.registry_count = target

    def grow_detail_accounts(self, target):
        from registries.models import RegistryAccount

        existing = self.detail_registry.accounts.count()
        RegistryAccount.objects.bulk_create([
            RegistryAccount(registry=self.detail_registry, username=f"detail-{number:04d}",
                            password=f"benchmark-detail-password-{number}",
                            organization_id=self.random.choice(self.chain).pk)
            for number in range(existing, target)
        ])

    def grow_labs(self, target):
        from labs.models import Lab

        Lab.objects.bulk_create([
            Lab(name=f"Lab {number}", organization=self.deepest, owner=self.lab_user,
                image="localhost/lod-base:latest", engine_url="unix:///nonexistent/podman.sock",
                container_id=f"container-{number}", status=Lab.Status.RUNNING)
            for number in range(self.lab_count, target)
        ], batch_size=1000)
        self.lab_count = max(self.lab_count, target)


def measure_page(client, url, requests):
    """Time GET URL; return its query count, response size and the summary of its seconds."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    # The next request clears the query log, so the count is taken now.
    query_count = len(queries)
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} returned {response.status_code}.")
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        client.get(url)
        timings.append(time.perf_counter() - started)
    summary = common.summarize(timings)
    return {"queries": query_count, "bytes": len(response.content), **summary}


def run(args, folder):
    common.configure_django(args.database_url, folder / "var", debug=False)
    common.migrate()
    common.collect_static()

    from django.test import Client

    dataset = Dataset(args.organizations, args.seed)
    started = time.monotonic()
    dataset.create_organizations()
    dataset.create_people()
    print(f"Created {args.organizations} organizations in {time.monotonic() - started:.1f} s",
          flush=True)

    clients = {}
    for name, user in (("platform_admin", dataset.platform_admin),
                       ("chain_admin", dataset.chain_admin),
                       ("lab_user", dataset.lab_user)):
        clients[name] = Client()
        clients[name].force_login(user)

    pages = [
        ("registry list (platform admin)", "platform_admin", "/registries/"),
        ("registry list (chain root admin)", "chain_admin", "/registries/"),
        ("admin changelist (platform admin)", "platform_admin",
         "/admin/registries/containerregistry/"),
        ("registry detail", "platform_admin", f"/registries/{dataset.detail_registry.pk}/"),
        ("persist page, lab 20 levels deep", "lab_user", f"/labs/{dataset.deep_lab.pk}/persist/"),
        ("lab list", "lab_user", "/labs/"),
    ]
    report = {"machine": common.machine_summary(), "requests": args.requests, "stages": []}
    for registries, detail_accounts, labs in STAGES:
        registries = max(1, int(registries * args.scale))
        labs = max(1, int(labs * args.scale))
        started = time.monotonic()
        dataset.grow_registries(registries)
        dataset.grow_detail_accounts(detail_accounts)
        dataset.grow_labs(labs)
        print(f"Stage {registries} registries, {registries * ACCOUNTS_PER_REGISTRY} accounts, "
              f"{detail_accounts} detail accounts, {labs} labs: made in "
              f"{time.monotonic() - started:.1f} s", flush=True)
        stage = {"registries": registries, "accounts": registries * ACCOUNTS_PER_REGISTRY,
                 "detail_accounts": detail_accounts, "labs": labs, "pages": {}}
        for label, client_name, url in pages:
            figures = measure_page(clients[client_name], url, args.requests)
            stage["pages"][label] = figures
            print(f"  {label}: {figures['queries']} queries, {figures['bytes']} bytes, "
                  f"median {figures['median'] * 1000:.1f} ms "
                  f"(range {figures['min'] * 1000:.1f}–{figures['max'] * 1000:.1f})", flush=True)
        product = stage["pages"]["registry list (platform admin)"]["median"]
        admin = stage["pages"]["admin changelist (platform admin)"]["median"]
        stage["ratio_registry_list_to_admin"] = product / admin
        print(f"  registry list / admin changelist: {product / admin:.2f}", flush=True)
        report["stages"].append(stage)
    common.print_json("RESULT", report)
    return report


def main(argv=None):
    args = parse_args(argv)
    with common.scratch_folder("lodg-") as folder:
        with common.bench_database(args.database, keep=args.keep) as url:
            args.database_url = url
            return run(args, folder)


if __name__ == "__main__":
    main()
