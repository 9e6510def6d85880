"""Provide an Odoo 18 for ``odoo_dev.py`` when none is importable.

Builds ``.venv/`` in the repository (ignored by git) holding Odoo 18.0 from
``ODOO_SRC`` (a source folder, or a ``.tar.xz`` / ``.tar.gz`` of one) or, when
``ODOO_SRC`` is unset, from a shallow clone of the official repository; then
Odoo's requirements, ``odoo-addon-queue_job`` at a release that fits that
Odoo, and what the tests use. A stamp file makes a second run a no-op.

Pitfalls it handles (found on Debian 12 with Python 3.11):

* Odoo's pins for Python < 3.12 include ``cbor2==5.4.2``, which no longer
  builds: requirement markers are evaluated as for Python 3.12 at least (the
  3.12 pins all install on 3.11).
* Odoo must be installed editable in *compat* mode: a PEP 660 editable install
  makes ``import odoo`` resolve to the empty namespace package that OCA addon
  wheels create in site-packages. That install needs ``wheel`` and
  ``setuptools<70`` in the environment.
* queue_job releases from 18.0.1.7 call ``odoo.api.private``, which Odoo 18.0
  sources of late 2024 predate: 18.0.1.6.0 is taken for those.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv"
VENV_PYTHON = VENV / "bin" / "python"
SRC_DIR = VENV / "src"
STAMP = VENV / ".stock_channel_sync-setup"
ODOO_GIT = "https://github.com/odoo/odoo.git"
# Bump when what this module installs changes: the next run re-checks it.
SETUP_VERSION = "1"
# Debian packages that Odoo's requirements need to build (psycopg2,
# python-ldap); keyed by a header each of them installs.
DEBIAN_BUILD_DEPS = {
    "libpq-dev": "/usr/include/postgresql/libpq-fe.h",
    "libldap2-dev": "/usr/include/ldap.h",
    "libsasl2-dev": "/usr/include/sasl/sasl.h",
}
# What the addon's tests and tools use besides Odoo's own requirements.
EXTRA_REQUIREMENTS = ["requests", "websocket-client", "hypothesis"]
QUEUE_JOB_LEGACY = "odoo-addon-queue_job==18.0.1.6.0"
QUEUE_JOB_CURRENT = "odoo-addon-queue_job>=18.0,<18.1dev"


def venv_has_odoo():
    """True when ``.venv``'s interpreter imports Odoo 18."""
    if not VENV_PYTHON.exists():
        return False
    check = "import odoo.release as r, sys; sys.exit(r.version_info[0] != 18)"
    return subprocess.run([str(VENV_PYTHON), "-c", check]).returncode == 0


def ensure_venv():
    """Make ``.venv`` hold a ready Odoo 18; idempotent, seconds when done.

    A ready environment is kept when ``ODOO_SRC`` is unset (or names the
    source it was built from): only a new source, or a change of what this
    module installs, redoes the set-up."""
    source = os.environ.get("ODOO_SRC", "").strip()
    stamp = _read_stamp()
    wanted = {"setup": _setup_key(), "source": _source_identity(source)}
    if (
        stamp.get("setup") == wanted["setup"]
        and (not source or stamp.get("source") == wanted["source"])
        and venv_has_odoo()
    ):
        return
    print(f"Setting up Odoo 18 in {VENV} (once; ODOO_SRC={source or 'git'}) ...")
    _ensure_debian_build_deps()
    if not VENV_PYTHON.exists():
        _run([sys.executable, "-m", "venv", str(VENV)])
    pip = [str(VENV_PYTHON), "-m", "pip", "install", "--disable-pip-version-check"]
    _run([*pip, "--quiet", "setuptools<70", "wheel", "packaging"])
    odoo_root = _odoo_source(source)
    requirements = _requirements_for_this_python(odoo_root / "requirements.txt")
    _run([*pip, "--quiet", "-r", str(requirements)])
    _run(
        [
            *pip,
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-e",
            str(odoo_root),
            "--config-settings",
            "editable_mode=compat",
        ]
    )
    # queue_job depends on an "odoo" distribution that an editable source
    # install does not always satisfy: its own dependencies are Odoo's.
    _run([*pip, "--quiet", "--no-deps", _queue_job_release(odoo_root)])
    _run([*pip, "--quiet", *EXTRA_REQUIREMENTS])
    if not venv_has_odoo():
        sys.exit(f"Odoo 18 still does not import in {VENV}: see the output above.")
    STAMP.write_text(json.dumps(wanted))
    print("Odoo 18 is ready in .venv.", flush=True)


def _read_stamp():
    try:
        return json.loads(STAMP.read_text())
    except (OSError, ValueError):
        return {}


def _setup_key():
    """What this module installs: a change of it redoes the set-up."""
    text = "|".join([SETUP_VERSION, sys.version, *EXTRA_REQUIREMENTS, str(VENV)])
    return hashlib.sha256(text.encode()).hexdigest()


def _source_identity(source):
    """Which Odoo source the environment was built from."""
    if not source:
        return ODOO_GIT
    path = Path(source).resolve()
    if path.is_file():
        stat = path.stat()
        return f"{path}|{stat.st_size}|{int(stat.st_mtime)}"
    return str(path)


def _odoo_source(source):
    """The Odoo source folder to install: ODOO_SRC's folder, the extracted
    archive, or a shallow clone of the 18.0 branch."""
    if source and Path(source).is_dir():
        root = Path(source).resolve()
    elif source and Path(source).is_file():
        root = _extract(Path(source).resolve())
    elif source:
        sys.exit(f"ODOO_SRC={source} is neither a folder nor an archive.")
    else:
        root = SRC_DIR / "odoo"
        if not (root / "odoo-bin").exists():
            shutil.rmtree(root, ignore_errors=True)
            SRC_DIR.mkdir(parents=True, exist_ok=True)
            print(f"Cloning Odoo 18.0 from {ODOO_GIT} (shallow) ...", flush=True)
            _run(["git", "clone", "--depth=1", "--branch=18.0", ODOO_GIT, str(root)])
    if not (root / "odoo-bin").exists() or not (root / "setup.py").exists():
        sys.exit(f"{root} is not an Odoo source folder (no odoo-bin / setup.py).")
    return root


def _extract(archive):
    """Extract an Odoo source archive once into .venv/src/ (by its digest)."""
    stat = archive.stat()
    identity = f"{archive}|{stat.st_size}|{int(stat.st_mtime)}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:10]
    target = SRC_DIR / f"odoo-{digest}"
    marker = target / ".extracted"
    if not marker.exists():
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        print(f"Extracting {archive.name} ...", flush=True)
        with tarfile.open(archive) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(target, filter="data")
            else:  # Python < 3.11.4: the archive is the user's own choice
                tar.extractall(target)  # noqa: S202
        marker.write_text(str(archive))
    roots = [p.parent for p in target.glob("*/odoo-bin")] or [target]
    return roots[0]


def _requirements_for_this_python(requirements):
    """Odoo's requirements with markers evaluated for Python >= 3.12.

    Odoo pins older releases for older Pythons, some of which no longer build
    (cbor2 5.4.2); the 3.12 pins install on 3.10 and 3.11 too.
    """
    script = (
        "import sys, platform\n"
        "from packaging.requirements import Requirement\n"
        "version = max(sys.version_info[:2], (3, 12))\n"
        "env = {'python_version': '%d.%d' % version,\n"
        "       'python_full_version': '%d.%d.0' % version}\n"
        "for line in open(sys.argv[1]):\n"
        "    line = line.split('#')[0].strip()\n"
        "    if not line:\n"
        "        continue\n"
        "    req = Requirement(line)\n"
        "    if req.marker is None or req.marker.evaluate(env):\n"
        "        req.marker = None\n"
        "        print(req)\n"
    )
    out = subprocess.run(
        [str(VENV_PYTHON), "-c", script, str(requirements)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    target = VENV / "odoo-requirements.txt"
    target.write_text(out)
    return target


def _queue_job_release(odoo_root):
    """The newest queue_job that runs on this Odoo: releases from 18.0.1.7
    call ``odoo.api.private``, absent from Odoo 18.0 sources of late 2024."""
    api = (odoo_root / "odoo" / "api.py").read_text(encoding="utf-8")
    return QUEUE_JOB_CURRENT if "def private(" in api else QUEUE_JOB_LEGACY


def _ensure_debian_build_deps():
    missing = [
        pkg for pkg, header in DEBIAN_BUILD_DEPS.items() if not Path(header).exists()
    ]
    if not missing:
        return
    if not can_apt_install():
        sys.exit(
            "Building Odoo's requirements needs these Debian packages: "
            f"{' '.join(missing)}.\nInstall them as root: "
            f"apt-get install -y {' '.join(missing)}"
        )
    print(f"Installing Debian build dependencies: {' '.join(missing)} ...", flush=True)
    apt_install(missing)


def ensure_browser():
    """The browser tests (tours, screens) drive Debian's headless Chromium:
    install it when missing and allowed (root with apt-get); otherwise say
    which tests will skip, instead of letting them skip silently."""
    if shutil.which("chromium"):
        return True
    if not can_apt_install():
        print(
            "!! Chromium is missing: the browser tests (onboarding tour, screens) "
            "will be skipped.\n!! Install it as root: apt-get install -y chromium",
            flush=True,
        )
        return False
    print("Installing Debian's chromium for the browser tests ...", flush=True)
    apt_install(["chromium"])
    return True


def can_apt_install():
    return os.geteuid() == 0 and bool(shutil.which("apt-get"))


def apt_install(packages):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    _run(["apt-get", "update", "-qq"], env=env)
    _run(["apt-get", "install", "-y", "-qq", *packages], env=env)


def _run(command, **kwargs):
    result = subprocess.run(command, **kwargs)
    if result.returncode:
        sys.exit(f"Set-up step failed ({result.returncode}): {' '.join(command)}")
