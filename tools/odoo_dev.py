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
import sysconfig
import tempfile
import time
from pathlib import Path

ADDON = "stock_channel_sync"
REPO = Path(__file__).resolve().parent.parent
BASE_MODULES = "stock,sale_stock,queue_job"
# Soft dependencies: kits work when mrp is installed, drop-ship orders when
# stock_dropshipping is; the suite runs with them and once without them.
SOFT_MODULES = "mrp,stock_dropshipping"
FULL_MODULES = f"{BASE_MODULES},{SOFT_MODULES}"
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


def _setup_module():
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import odoo_setup

    return odoo_setup


def _run_in_venv():
    """Re-run this very command with ``.venv``'s interpreter, built if needed."""
    odoo_setup = _setup_module()
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


def odoo_command(odoo, db, *extra, addons=None):
    odoo_bin, core_paths = odoo
    addons_path = ",".join(str(p) for p in [addons or addons_dir(), *core_paths])
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


def filestore(name):
    return Path.home() / ".local/share/Odoo/filestore" / name


def drop_db(name):
    subprocess.run(["dropdb", "--if-exists", name], check=True)
    shutil.rmtree(filestore(name), ignore_errors=True)


def template_db(odoo, demo, modules=FULL_MODULES):
    """A database with the dependencies installed, built once and reused:
    ``createdb -T`` copies it in a second instead of 40-90 s of install."""
    from odoo import release

    try:
        queue_job = importlib.metadata.version("odoo-addon-queue_job")
    except importlib.metadata.PackageNotFoundError:
        queue_job = "?"
    key = _digest(f"{release.version}|{modules}|{queue_job}|{demo}|{odoo[0]}")
    name = f"scs_tpl_{'demo' if demo else 'nodemo'}_{key}"
    building = f"{name}_building"
    if db_exists(name):
        # Templates of older runs left their filestore under the build name.
        if filestore(building).exists() and not filestore(name).exists():
            filestore(building).rename(filestore(name))
        return name
    drop_db(building)
    args = ["-i", modules, "--stop-after-init", "--log-level=warn"]
    if not demo:
        args.append("--without-demo=all")
    print(f"Building template database {name} ({modules}) ...", flush=True)
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
    if filestore(building).exists() and not filestore(name).exists():
        filestore(building).rename(filestore(name))
    return name


def fresh_db(odoo, name, demo, modules=FULL_MODULES):
    """A copy of the template, its filestore (menu icons, assets) included:
    without it the web client logs a missing file for every attachment."""
    drop_db(name)
    template = template_db(odoo, demo, modules)
    subprocess.run(["createdb", "-T", template, name], check=True)
    if filestore(template).exists():
        shutil.copytree(filestore(template), filestore(name))
    return name


def run_odoo(odoo, db, demo, test_tags, modules=FULL_MODULES):
    """Install the addon on a fresh copy of the template, running its tests
    when ``test_tags`` is given; return (tests run, failures, log, errors)."""
    fresh_db(odoo, db, demo, modules)
    args = ["-i", ADDON, "--stop-after-init", "--log-level=test", "--http-port=0"]
    if test_tags:
        args += ["--test-enable", f"--test-tags={test_tags}"]
    started = time.time()
    proc = subprocess.run(odoo_command(odoo, db, *args), capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    label = "with demo data" if demo else "without demo data"
    if modules != FULL_MODULES:
        label += f", only {modules}"
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
    _setup_module().ensure_browser()
    with machine_lock():
        return _run_suites(odoo, args)


def _run_suites(odoo, args):
    passed = failed = skipped = 0
    runs = [
        # The whole suite, without demo data (as on a customer's database)
        # and with it (as on OCA's CI): no test may lean on demo records.
        # Both with mrp and stock_dropshipping; a third time without them
        # (kits and drop-ship orders are optional: nothing else may change).
        (f"{args.db}_nodemo", False, args.test_tags, FULL_MODULES),
        (args.db, True, args.test_tags, FULL_MODULES),
        (f"{args.db}_bare", False, args.test_tags, BASE_MODULES),
    ]
    if args.quick:
        runs = runs[:1]
    elif args.bare:
        runs = runs[2:]
    for db, demo, tags, modules in runs:
        total, failures, log, errors = run_odoo(odoo, db, demo, tags, modules)
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


def cmd_wheel(args):
    """Build the wheel from the committed tree (whool), install it into a
    fresh virtual environment that sees Odoo, and install the addon from
    there, with demo data, on a fresh database: the addons path holds Odoo's
    own folders only, never this repository."""
    odoo = find_odoo()
    check_postgresql()
    with machine_lock(), tempfile.TemporaryDirectory(prefix="scs-wheel-") as tmp:
        work = Path(tmp)
        clone = work / ADDON  # whool names the addon after its folder
        subprocess.run(
            ["git", "clone", "-q", "--shared", str(REPO), str(clone)], check=True
        )
        pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
        subprocess.run(
            [*pip, "wheel", "-q", "--no-deps", "-w", str(work / "dist"), str(clone)],
            check=True,
        )
        (wheel,) = (work / "dist").glob("*.whl")
        print(f"Built {wheel.name}", flush=True)
        env = work / "env"
        subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
        python = env / "bin" / "python"
        purelib = subprocess.run(
            [
                str(python),
                "-c",
                "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        # Odoo and its requirements come from this interpreter's environment.
        Path(purelib, "odoo_environment.pth").write_text(
            f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n"
        )
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
            check=True,
        )
        installed = Path(purelib, "odoo", "addons", ADDON, "__manifest__.py")
        if not installed.exists():
            sys.exit(f"The wheel did not install {installed}")
        db = fresh_db(odoo, args.db, demo=True)
        odoo_bin, core_paths = odoo
        command = [
            str(python),
            str(odoo_bin),
            f"--addons-path={','.join(str(p) for p in core_paths)}",
            f"--database={db}",
            "-i",
            ADDON,
            "--stop-after-init",
            "--log-level=warn",
        ]
        proc = subprocess.run(command, capture_output=True, text=True)
        state = subprocess.run(
            [
                "psql",
                "-XAtq",
                "-d",
                db,
                "-c",
                f"SELECT state FROM ir_module_module WHERE name = '{ADDON}'",
            ],
            capture_output=True,
            text=True,
        ).stdout.strip()
        drop_db(db)
        errors = [
            line
            for line in (proc.stdout + proc.stderr).splitlines()
            if re.search(r"\s(ERROR|CRITICAL)\s", line)
        ]
        for line in errors[:20]:
            print("   " + line)
        if proc.returncode or errors or state != "installed":
            print("The addon did not install from its wheel.")
            return 1
        print(f"Installed {ADDON} from {installed.parent} (state: {state})")
        return 0


POT = REPO / "i18n" / f"{ADDON}.pot"
# Header lines of an export that change with every run.
POT_VOLATILE = re.compile(r'^"(POT-Creation-Date|PO-Revision-Date): ')


def cmd_pot(args):
    """Export the translation template from the code (``--check``: fail
    when the committed one is not current)."""
    odoo = find_odoo()
    check_postgresql()
    with machine_lock(), tempfile.TemporaryDirectory(prefix="scs-pot-") as tmp:
        # Odoo's exporter walks the addon's folder: give it the project's
        # files only, not .venv.
        addons = Path(tmp) / "addons"
        _copy_project(addons / ADDON)
        db = fresh_db(odoo, args.db, demo=False)
        once = ["--stop-after-init", "--log-level=warn"]
        install = odoo_command(odoo, db, "-i", ADDON, *once, addons=addons)
        subprocess.run(install, check=True)
        exported = Path(tmp) / f"{ADDON}.pot"
        export = [f"--i18n-export={exported}", f"--modules={ADDON}", *once]
        subprocess.run(odoo_command(odoo, db, *export, addons=addons), check=True)
        drop_db(db)
        fresh = exported.read_text(encoding="utf-8")
    if args.check:
        current = POT.read_text(encoding="utf-8") if POT.exists() else ""
        if _stable(current) != _stable(fresh):
            print(f"{POT.relative_to(REPO)} is not current: run tools/odoo_dev.py pot")
            return 1
        print(f"{POT.relative_to(REPO)} is current")
        return 0
    POT.parent.mkdir(exist_ok=True)
    POT.write_text(fresh, encoding="utf-8")
    print(f"Wrote {POT.relative_to(REPO)}")
    return 0


def _copy_project(target):
    """The files git tracks or would track (not ignored), as in the tree."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def _stable(pot):
    return [line for line in pot.splitlines() if not POT_VOLATILE.match(line)]


def _digest(text):
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run Odoo with the addon on a demo database")
    serve.add_argument("--db", default="scs_demo")
    serve.add_argument("--port", type=int, default=8069)
    serve.add_argument(
        "--workers",
        type=int,
        default=0,
        help="0 (default): the threaded server, whose one port also serves the web "
        "client's websocket, with queue_job's runner in a thread; 2 or more: "
        "Odoo's multi-process server, which needs its gevent port behind a proxy",
    )
    serve.add_argument("odoo_args", nargs="*", help="passed on to odoo-bin")
    test = sub.add_parser("test", help="run the test suite on fresh databases")
    test.add_argument("--db", default="scs_test")
    test.add_argument("--test-tags", default=f"/{ADDON}")
    test.add_argument("--keep", action="store_true", help="keep the test databases")
    test.add_argument(
        "--quick",
        action="store_true",
        help="only the database without demo data (while iterating; CI runs all three)",
    )
    test.add_argument(
        "--bare",
        action="store_true",
        help=f"only the database without demo data nor {SOFT_MODULES}",
    )
    wheel = sub.add_parser(
        "wheel", help="build the wheel and install the addon from it, not the repo"
    )
    wheel.add_argument("--db", default="scs_wheel")
    pot = sub.add_parser("pot", help="export i18n/stock_channel_sync.pot")
    pot.add_argument("--db", default="scs_pot")
    pot.add_argument("--check", action="store_true", help="fail if not current")
    args = parser.parse_args()
    commands = {"serve": cmd_serve, "test": cmd_test, "wheel": cmd_wheel}
    return dict(commands, pot=cmd_pot)[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
