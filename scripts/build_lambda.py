#!/usr/bin/env python3
"""Build the deployment package of one aispm Lambda function.

    scripts/build_lambda.py FUNCTION OUTDIR [--zip FILE] [--python PY] [--arch arm64|x86_64]

FUNCTION is one of plan, collect-aws, collect-azure, collect-gcp, deliver, replay (or the SAM logical id,
e.g. PlanFunction). The project is installed with only the extra that function needs (core + aws, azure or
gcp) into OUTDIR with `pip install --target`, for the Lambda runtime (CPython 3.13 on arm64 by default, using
manylinux wheels, so the build works on any host). Then:

* what the runtime never reads is removed: tests, docs, console scripts, type stubs, the bulky parts of
  *.dist-info (METADATA, entry points and licence files are kept: libraries read their versions from them);
* the project's demo and its local fakes (aispm/demo, aispm/testing) are removed: no function runs them, and a
  fake server has no place in a deployed function;
* for Google Cloud, the parts of google-cloud-aiplatform that `google.cloud.aiplatform_v1` does not import
  (aiplatform_v1beta1, vertexai, agentplatform, vertex_ray, the high-level google.cloud.aiplatform SDK) and the
  dependencies only that SDK uses (BigQuery, Cloud Storage, google-genai, httpx, anyio, websockets, ...) are
  removed, unless the project's own code imports them (the list the README's "Lambda artifacts" section measured);
* everything is compiled to bytecode by a CPython of the runtime's version (unchecked-hash pycs, so a cold start
  neither compiles nor stats sources);
* when this host can run the target (same architecture), the handler module is imported from OUTDIR alone,
  with site-packages disabled, to prove the package is complete.

The unzipped size is printed; the build fails above Lambda's 250 MB limit.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

TARGET_PYTHON = (3, 13)
TARGET_VERSION = "{}.{}".format(*TARGET_PYTHON)
LAMBDA_UNZIPPED_LIMIT = 262_144_000  # bytes, Lambda's limit for a .zip deployment package (unzipped)
MARKER = ".aispm-build"
LAMBDA_TASK_ROOT = "/var/task"

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True)
class Function:
    name: str  # artifact name: .build/<name>.zip
    logical_id: str  # SAM logical id (template.yaml), build-<logical_id> in the Makefile
    module: str  # handler module; the handler is <module>.handler
    extra: str  # the pyproject extra installed with the core


FUNCTIONS: dict[str, Function] = {
    f.name: f
    for f in (
        Function("plan", "PlanFunction", "aispm.lambdas.plan", "aws"),
        Function("collect-aws", "CollectAwsFunction", "aispm.lambdas.collect", "aws"),
        Function("collect-azure", "CollectAzureFunction", "aispm.lambdas.collect", "azure"),
        Function("collect-gcp", "CollectGcpFunction", "aispm.lambdas.collect", "gcp"),
        Function("deliver", "DeliverFunction", "aispm.lambdas.deliver", "aws"),
        Function("replay", "ReplayFunction", "aispm.lambdas.replay", "aws"),
    )
}

# manylinux tags the Lambda python3.13 runtime (Amazon Linux 2023, glibc 2.34) can load.
PLATFORMS = {
    "arm64": ["manylinux_2_34_aarch64", "manylinux_2_28_aarch64", "manylinux2014_aarch64"],
    "x86_64": ["manylinux_2_34_x86_64", "manylinux_2_28_x86_64", "manylinux2014_x86_64"],
}
HOST_MACHINES = {"arm64": {"aarch64", "arm64"}, "x86_64": {"x86_64", "amd64"}}

# The project's own packages that only the demo, the tests and the benchmarks use (paths relative to OUTDIR).
FIRST_PARTY_NOT_SHIPPED = ("aispm/demo", "aispm/testing")

# Removed from every package.
PRUNE_DIR_NAMES = {"__pycache__", "tests", "test"}
DOC_DIR_NAMES = {"docs", "doc", "examples"}  # removed only when they are not Python packages
PRUNE_FILE_SUFFIXES = (".pyc", ".pyo", ".pyi")
DIST_INFO_KEEP = re.compile(
    r"^(METADATA|entry_points\.txt|top_level\.txt|(LICEN[CS]E|COPYING|NOTICE|AUTHORS)[^/]*)$", re.IGNORECASE
)
DIST_INFO_KEEP_DIRS = {"licenses", "license_files"}

# Google Cloud: paths (relative to OUTDIR) removed from collect-gcp unless the project's own code imports them.
# Each maps to the import pattern that would keep it. `google.cloud.aiplatform_v1` imports none of these
# (checked: importing it and building a client loads no module below any of them).
def _imports(module: str) -> str:
    """Pattern for the project's own code importing `module` (dotted) or a submodule of it."""
    dotted = re.escape(module)
    parent, _, leaf = module.rpartition(".")
    pattern = rf"(^|\s)(import|from)\s+{dotted}(?![\w])"
    if parent:
        pattern += rf"|(^|\s)from\s+{re.escape(parent)}\s+import\s+[^\n]*\b{re.escape(leaf)}\b(?![\w])"
    return pattern


GCP_PRUNE = {
    path: _imports(module)
    for path, module in {
        # parts of google-cloud-aiplatform besides aiplatform_v1
        "google/cloud/aiplatform_v1beta1": "google.cloud.aiplatform_v1beta1",
        "google/cloud/aiplatform": "google.cloud.aiplatform",
        "vertexai": "vertexai",
        "agentplatform": "agentplatform",
        "vertex_ray": "vertex_ray",
        # what only the high-level SDK needs
        "google/cloud/bigquery": "google.cloud.bigquery",
        "google/cloud/bigquery_v2": "google.cloud.bigquery_v2",
        "google/cloud/storage": "google.cloud.storage",
        "google/cloud/_storage": "google.cloud._storage",
        "google/cloud/_storage_v2": "google.cloud._storage_v2",
        "google/resumable_media": "google.resumable_media",
        "google/genai": "google.genai",
        "httpx": "httpx",
        "httpcore": "httpcore",
        "anyio": "anyio",
        "websockets": "websockets",
        "h11": "h11",
        "sniffio": "sniffio",
        "docstring_parser": "docstring_parser",
        "shapely": "shapely",
        "shapely.libs": "shapely",
    }.items()
}


class BuildError(Exception):
    """A build step failed; the message says which and why."""


# ------------------------------------------------------------------ helpers


def resolve_function(name: str) -> Function:
    for fn in FUNCTIONS.values():
        if name in (fn.name, fn.logical_id):
            return fn
    choices = ", ".join(f"{f.name} ({f.logical_id})" for f in FUNCTIONS.values())
    raise BuildError(f"unknown function {name!r}; choose one of: {choices}")


def interpreter_version(python: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout.strip()
        major, minor = out.split(".")
        return int(major), int(minor)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def find_interpreter(explicit: str | None) -> str:
    """A CPython of the runtime's version: it resolves environment markers and compiles the bytecode."""
    wanted = TARGET_VERSION
    candidates = [explicit] if explicit else [
        os.environ.get("AISPM_LAMBDA_PYTHON"),
        sys.executable,
        shutil.which(f"python{wanted}"),
    ]
    for candidate in filter(None, candidates):
        if interpreter_version(candidate) == TARGET_PYTHON:
            return candidate
        if explicit:
            raise BuildError(f"--python {explicit} is not a working Python {wanted}")
    raise BuildError(
        f"no Python {wanted} found (the Lambda runtime's version, needed to resolve dependencies and compile "
        f"bytecode): install python{wanted}, or pass --python / set AISPM_LAMBDA_PYTHON, "
        "or build in the runtime's image with `sam build --use-container`"
    )


def prepare_outdir(outdir: Path) -> None:
    """Empty OUTDIR, refusing to wipe a directory this script did not create."""
    outdir = outdir.resolve()
    if outdir == REPO_ROOT or outdir in REPO_ROOT.parents or outdir == Path.home() or outdir == Path("/"):
        raise BuildError(f"refusing to build into {outdir}")
    if outdir.exists():
        entries = list(outdir.iterdir())
        if entries and not (outdir / MARKER).exists():
            raise BuildError(f"{outdir} is not empty and was not made by this script; remove it or pick another")
        for entry in entries:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    outdir.mkdir(parents=True, exist_ok=True)


def run(cmd: list[str], what: str, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(cmd, env=env)
    if proc.returncode != 0:
        raise BuildError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}")


def host_runs(arch: str) -> bool:
    return platform.machine().lower() in HOST_MACHINES[arch]


# ------------------------------------------------------------------ build steps


def build_wheel(python: str, project_root: Path, workdir: Path) -> Path:
    wheel_dir = workdir / "wheel"
    run(
        [python, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--wheel-dir", str(wheel_dir), str(project_root)],
        "building the project wheel",
    )
    wheels = sorted(wheel_dir.glob("*.whl"))
    if len(wheels) != 1:
        raise BuildError(f"expected one wheel from {project_root}, got {[w.name for w in wheels]}")
    return wheels[0]


def install(python: str, wheel: Path, extra: str, outdir: Path, arch: str) -> None:
    cmd = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
           "--target", str(outdir)]
    if not host_runs(arch):
        # Cross-install: binary wheels for the runtime's platform only (an sdist would compile for this host).
        for tag in PLATFORMS[arch]:
            cmd += ["--platform", tag]
        cmd += ["--implementation", "cp", "--python-version", TARGET_VERSION, "--only-binary=:all:"]
    cmd.append(f"{wheel}[{extra}]")
    run(cmd, f"installing {wheel.name}[{extra}]")


def first_party_modules(wheel: Path) -> list[str]:
    """Top-level packages and modules the project's own wheel installs."""
    with zipfile.ZipFile(wheel) as zf:
        tops = {n.split("/")[0] for n in zf.namelist()}
    return sorted(t for t in tops if not t.endswith((".dist-info", ".data")))


def _first_party_sources(root: Path, first_party: list[str]) -> str:
    texts = []
    for top in first_party:
        path = root / top
        files = path.rglob("*.py") if path.is_dir() else [path] if path.suffix == ".py" else []
        for f in files:
            texts.append(f.read_text(encoding="utf-8", errors="replace"))
    return "\n".join(texts)


def prune(root: Path, function: Function, first_party: list[str]) -> list[str]:
    """Remove what the runtime never reads; returns notes on what was kept on purpose."""
    notes: list[str] = []
    shutil.rmtree(root / "bin", ignore_errors=True)  # console scripts from --target
    for pth in root.glob("*.pth"):  # namespace-package hooks: inert outside site-packages
        pth.unlink()
    for rel in FIRST_PARTY_NOT_SHIPPED:
        shutil.rmtree(root / rel, ignore_errors=True)
    first_party_set = set(first_party)

    for dirpath, dirnames, filenames in os.walk(root, topdown=True):
        here = Path(dirpath)
        rel_top = here.relative_to(root).parts[:1]
        if here.name.endswith(".dist-info"):
            for fname in filenames:
                if not DIST_INFO_KEEP.match(fname):
                    (here / fname).unlink()
            for d in list(dirnames):
                if d not in DIST_INFO_KEEP_DIRS:
                    shutil.rmtree(here / d)
                    dirnames.remove(d)
            continue
        if rel_top and rel_top[0] in first_party_set:
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for fname in filenames:
                if fname.endswith((".pyc", ".pyo")):
                    (here / fname).unlink()
            continue  # the project's own code is kept whole
        for d in list(dirnames):
            sub = here / d
            is_package = (sub / "__init__.py").exists()
            if (d in PRUNE_DIR_NAMES and here != root) or (d in DOC_DIR_NAMES and not is_package):
                shutil.rmtree(sub)
                dirnames.remove(d)
        for fname in filenames:
            if fname.endswith(PRUNE_FILE_SUFFIXES):
                (here / fname).unlink()

    if function.extra == "gcp":
        sources = _first_party_sources(root, first_party)
        for rel, pattern in GCP_PRUNE.items():
            target = root / rel
            if not target.exists():
                continue
            if re.search(pattern, sources, re.M):
                notes.append(f"kept {rel}: imported by the project's own code")
                continue
            shutil.rmtree(target)
    return notes


def compile_bytecode(python: str, root: Path) -> None:
    # -d: record the paths the files will have on Lambda (/var/task), not this build directory, so that the
    # bytecode (and the zip) is the same wherever it was built.
    run(
        [python, "-m", "compileall", "-q", "-f", "-j", "0", "--invalidation-mode", "unchecked-hash",
         "-d", LAMBDA_TASK_ROOT, str(root)],
        "compiling bytecode",
    )


def verify_imports(python: str, root: Path, function: Function, workdir: Path) -> None:
    """Import the handler from OUTDIR alone (no site-packages), as the runtime will.

    The Lambda Python runtime provides boto3 itself (after the package on sys.path); functions built without the
    aws extra rely on it, so the check puts a boto3 behind OUTDIR the same way.
    """
    modules = [function.module]
    if function.extra == "gcp":
        modules.append("google.cloud.aiplatform_v1")
    path = [str(root)]
    if not (root / "boto3").exists():
        runtime = workdir / "runtime"
        run(
            [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--target", str(runtime), "boto3"],
            "installing boto3 as the runtime provides it",
        )
        path.append(str(runtime))
    code = (
        "import importlib, sys\n"
        f"sys.path[:0] = {path!r}\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"handler = getattr(sys.modules[{function.module!r}], 'handler', None)\n"
        f"assert callable(handler), 'no handler() in {function.module}'\n"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "NO_GCE_CHECK": "true",
    }
    run([python, "-I", "-S", "-B", "-c", code], f"importing {', '.join(modules)} from the package", env=env)


def tree_size(root: Path) -> tuple[int, int]:
    total = count = 0
    for dirpath, _, filenames in os.walk(root):
        for fname in filenames:
            total += (Path(dirpath) / fname).stat().st_size
            count += 1
    return total, count


def write_zip(root: Path, zip_path: Path) -> None:
    """A reproducible zip: sorted entries, fixed timestamps and modes (stable source_code_hash)."""
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = zip_path.with_suffix(zip_path.suffix + ".tmp")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != MARKER)
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    tmp.replace(zip_path)


# ------------------------------------------------------------------ main


def build(args: argparse.Namespace) -> int:
    function = resolve_function(args.function)
    outdir = Path(args.outdir)
    project_root = Path(args.project_root).resolve()
    python = find_interpreter(args.python)

    prepare_outdir(outdir)
    with tempfile.TemporaryDirectory(prefix="aispm-build-") as tmp:
        wheel = build_wheel(python, project_root, Path(tmp))
        install(python, wheel, function.extra, outdir, args.arch)
        first_party = first_party_modules(wheel)
        notes = prune(outdir, function, first_party)
        compile_bytecode(python, outdir)
        (outdir / MARKER).write_text(f"{function.name} {args.arch}\n")

        if args.verify == "yes" or (args.verify == "auto" and host_runs(args.arch)):
            verify_imports(python, outdir, function, Path(tmp))
            verified = "handler import verified"
        else:
            verified = f"import check skipped (this host is {platform.machine()}, target {args.arch})"

    size, count = tree_size(outdir)
    for note in notes:
        print(f"{function.name}: {note}")
    print(
        f"{function.name}: {count} files, {size / 1_000_000:.1f} MB unzipped "
        f"(limit {LAMBDA_UNZIPPED_LIMIT / 1_000_000:.0f} MB) in {outdir}; {verified}"
    )
    if size > LAMBDA_UNZIPPED_LIMIT:
        raise BuildError(f"{function.name} is {size} bytes unzipped, over Lambda's {LAMBDA_UNZIPPED_LIMIT}")
    if args.zip:
        write_zip(outdir, Path(args.zip))
        print(f"{function.name}: {Path(args.zip).stat().st_size / 1_000_000:.1f} MB zipped -> {args.zip}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "function", help="plan, collect-aws, collect-azure, collect-gcp, deliver or replay (or the SAM logical id)"
    )
    parser.add_argument("outdir", help="directory to install into (emptied first; SAM passes $(ARTIFACTS_DIR))")
    parser.add_argument("--zip", help="also write a reproducible zip of OUTDIR to this path")
    parser.add_argument(
        "--python",
        help=f"Python {TARGET_VERSION} to use (default: $AISPM_LAMBDA_PYTHON, this one, python{TARGET_VERSION})",
    )
    parser.add_argument(
        "--arch", choices=sorted(PLATFORMS), default="arm64", help="Lambda architecture (default arm64)"
    )
    parser.add_argument("--project-root", default=str(REPO_ROOT), help="project to install (default: this repository)")
    parser.add_argument("--verify", choices=["auto", "yes", "no"], default="auto",
                        help="import the handler from the package (auto: when this host can run the target)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    try:
        return build(parse_args(argv))
    except BuildError as exc:
        print(f"build_lambda: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
