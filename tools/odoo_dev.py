#!/usr/bin/env python3
"""Drive a local Odoo 18 for this addon: ``serve`` a demo database, ``test``.

Odoo itself is not part of the repository. An Odoo 18 importable by the
``python3`` running this script is used as it is; otherwise the script sets
one up in ``.venv/`` (from ``ODOO_SRC``, see ``odoo_setup.py``) and re-runs
itself with that interpreter. The addon is exposed to Odoo as
``stock_channel_sync`` through a symlink, so the clone's folder name does not
matter.

    python3 tools/odoo_dev.py serve            # http://localhost:8069, admin/admin
    python3 tools/odoo_dev.py test             # the whole suite, real PostgreSQL
"""

import argparse
import contextlib
import fcntl
import hashlib
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ADDON = "stock_channel_sync"
REPO = Path(__file__).resolve().parent.parent
BASE_MODULES = "stock,sale_stock,queue_job"
# Odoo's closing line of a test run, e.g.
# "0 failed, 0 error(s) of 42 tests when loading database 'x'".
RESULT_LINE = re.compile(r"(\d+) failed, (\d+) error\(s\) of (\d+) tests")


def find_odoo():
    """Return (odoo-bin path, core addons path) of the importable Odoo, setting
    one up in ``.venv`` (and re-running this script there) when there is none."""
    try:
        import odoo  # noqa: F401  (import check only)
        import odoo.release
    except ImportError:
        _run_in_venv()
    if not odoo.release.version.startswith("18."):
        sys.exit(f"Odoo 18 is required, found {odoo.release.version}")
    root = Path(odoo.__file__).resolve().parent.parent
    odoo_bin = root / "odoo-bin"
    if not odoo_bin.exists():
        sys.exit(f"odoo-bin not found next to {root / 'odoo'}")
    return odoo_bin, [root / "addons", root / "odoo" / "addons"]


def _run_in_venv():
    """Re-run this very command with ``.venv``'s interpreter, built if needed."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import odoo_setup

    if Path(sys.prefix).resolve() == odoo_setup.VENV.resolve():
        sys.exit(f"Odoo 18 does not import in {odoo_setup.VENV}: remove it and retry.")
    odoo_setup.ensure_venv()
    python = str(odoo_setup.VENV_PYTHON)
    os.execv(python, [python, str(Path(__file__).resolve()), *sys.argv[1:]])


def check_postgresql():
    """Fail early, with the command that starts it, when PostgreSQL is down."""
    if not shutil.which("psql"):
        sys.exit("PostgreSQL's client (psql) is missing: apt-get install postgresql")
    probe = subprocess.run(
        ["psql", "-XAtq", "-d", "postgres", "-c", "SELECT 1"],
        capture_output=True,
        text=True,
    )
    if probe.returncode:
        clusters = "/etc/postgresql"
        version = sorted(os.listdir(clusters))[-1] if os.path.isdir(clusters) else "15"
        sys.exit(
            "PostgreSQL is not answering for this user "
            f"({probe.stderr.strip()}).\nStart it with:\n"
            f"    pg_ctlcluster --skip-systemctl-redirect {version} main start\n"
            "(or: service postgresql start), and make sure a role named after "
            "this user exists: createuser -s $USER"
        )


def addons_dir():
    """A folder holding ``stock_channel_sync`` -> this repository."""
    folder = Path(tempfile.gettempdir()) / f"{ADDON}-addons-{_digest(str(REPO))}"
    folder.mkdir(exist_ok=True)
    link = folder / ADDON
    if link.is_symlink() and link.resolve() != REPO:
        link.unlink()
    if not link.exists():
        link.symlink_to(REPO, target_is_directory=True)
    return folder


def odoo_command(odoo, db, *extra):
    odoo_bin, core_paths = odoo
    addons_path = ",".join(str(p) for p in [addons_dir(), *core_paths])
    return [
        sys.executable,
        str(odoo_bin),
        f"--addons-path={addons_path}",
        f"--database={db}",
        f"--db-filter=^{re.escape(db)}$",
        *extra,
    ]


def db_exists(name):
    out = subprocess.run(
        [
            "psql",
            "-XAtq",
            "-d",
            "postgres",
            "-c",
            f"SELECT 1 FROM pg_database WHERE datname = '{name}'",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip() == "1"


def drop_db(name):
    subprocess.run(["dropdb", "--if-exists", name], check=True)
    filestore = Path.home() / ".local/share/Odoo/filestore" / name
    shutil.rmtree(filestore, ignore_errors=True)


def template_db(odoo, demo):
    """A database with the dependencies installed, built once and reused:
    ``createdb -T`` copies it in a second instead of 40-90 s of install."""
    from odoo import release

    try:
        queue_job = importlib.metadata.version("odoo-addon-queue_job")
    except importlib.metadata.PackageNotFoundError:
        queue_job = "?"
    key = _digest(f"{release.version}|{BASE_MODULES}|{queue_job}|{demo}|{odoo[0]}")
    name = f"scs_tpl_{'demo' if demo else 'nodemo'}_{key}"
    if db_exists(name):
        return name
    building = f"{name}_building"
    drop_db(building)
    args = ["-i", BASE_MODULES, "--stop-after-init", "--log-level=warn"]
    if not demo:
        args.append("--without-demo=all")
    print(f"Building template database {name} ({BASE_MODULES}) ...", flush=True)
    run = subprocess.run(odoo_command(odoo, building, *args))
    if run.returncode:
        sys.exit(f"Building {name} failed")
    subprocess.run(
        [
            "psql",
            "-Xq",
            "-d",
            "postgres",
            "-c",
            f'ALTER DATABASE "{building}" RENAME TO "{name}"',
        ],
        check=True,
    )
    return name


def fresh_db(odoo, name, demo):
    drop_db(name)
    subprocess.run(["createdb", "-T", template_db(odoo, demo), name], check=True)
    return name


def run_odoo(odoo, db, demo, test_tags):
    """Install the addon on a fresh copy of the template, running its tests
    when ``test_tags`` is given; return (tests run, failures, log, errors)."""
    fresh_db(odoo, db, demo)
    args = ["-i", ADDON, "--stop-after-init", "--log-level=test", "--http-port=0"]
    if test_tags:
        args += ["--test-enable", f"--test-tags={test_tags}"]
    started = time.time()
    proc = subprocess.run(odoo_command(odoo, db, *args), capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    label = "with demo data" if demo else "without demo data"
    print(f"-- install {label} on {db}: {time.time() - started:.0f} s", flush=True)
    errors = [
        line for line in log.splitlines() if re.search(r"\s(ERROR|CRITICAL)\s", line)
    ]
    results = RESULT_LINE.findall(log)
    if results:
        failed, errored, total = (int(n) for n in results[-1])
        failures = failed + errored
    else:
        total, failures = 0, 0
    if test_tags and not total:
        errors.append("no test ran")
    # An install error, or a test that fails outside unittest's accounting.
    failures = max(failures, 1 if (proc.returncode or errors) else 0)
    return total, failures, log, errors


# Odoo logs a skipped test as "<module>: skipped <Class.test> : <reason>".
SKIPPED = re.compile(r"odoo\.addons\.stock_channel_sync\.tests\.\S+: skipped ")


@contextlib.contextmanager
def machine_lock():
    """One Odoo suite or benchmark at a time on this machine (2 cores): a
    second ``test`` waits for the first instead of slowing both down."""
    path = Path(tempfile.gettempdir()) / "stock_channel_sync-odoo.lock"
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"Waiting for another Odoo run to finish ({path}) ...", flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def cmd_test(args):
    odoo = find_odoo()
    check_postgresql()
    with machine_lock():
        return _run_suites(odoo, args)


def _run_suites(odoo, args):
    passed = failed = skipped = 0
    runs = [
        # The whole suite, without demo data (as on a customer's database)
        # and with it (as on OCA's CI): no test may lean on demo records.
        (f"{args.db}_nodemo", False, args.test_tags),
        (args.db, True, args.test_tags),
    ]
    for db, demo, tags in runs:
        total, failures, log, errors = run_odoo(odoo, db, demo, tags)
        log_file = Path(tempfile.gettempdir()) / f"{db}.log"
        log_file.write_text(log)
        for line in errors[:50]:
            print("   " + line)
        skips = [line for line in log.splitlines() if SKIPPED.search(line)]
        for line in skips:
            print("   " + line.split(" odoo.addons.", 1)[-1])
        print(
            f"   {total} tests, {failures} failures, {len(skips)} skipped "
            f"(log: {log_file})",
            flush=True,
        )
        passed += total - min(failures, total) - len(skips)
        failed += failures
        skipped += len(skips)
        if not args.keep:
            drop_db(db)
    print(
        f"{passed} passed, {failed} failed"
        + (f", {skipped} skipped" if skipped else "")
    )
    return 1 if failed else 0


def cmd_serve(args):
    odoo = find_odoo()
    check_postgresql()
    extra = []
    if not db_exists(args.db):
        print(f"Creating demo database {args.db} ...", flush=True)
        fresh_db(odoo, args.db, demo=True)
        extra = ["-i", ADDON]
    os.environ.setdefault("ODOO_QUEUE_JOB_CHANNELS", "root:2")
    command = odoo_command(
        odoo,
        args.db,
        *extra,
        f"--http-port={args.port}",
        "--load=base,web,queue_job",
        f"--workers={args.workers}",
        *args.odoo_args,
    )
    os.execv(sys.executable, command)


def _digest(text):
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run Odoo with the addon on a demo database")
    serve.add_argument("--db", default="scs_demo")
    serve.add_argument("--port", type=int, default=8069)
    serve.add_argument(
        "--workers", type=int, default=2, help="2 or more runs queue_job's job runner"
    )
    serve.add_argument("odoo_args", nargs="*", help="passed on to odoo-bin")
    test = sub.add_parser("test", help="run the test suite on fresh databases")
    test.add_argument("--db", default="scs_test")
    test.add_argument("--test-tags", default=f"/{ADDON}")
    test.add_argument("--keep", action="store_true", help="keep the test databases")
    args = parser.parse_args()
    return {"serve": cmd_serve, "test": cmd_test}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
