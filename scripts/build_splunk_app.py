#!/usr/bin/env python3
"""Build the Splunk app in siem/splunk/ into build/siem/<app id>-<version>.tgz (the file Splunk installs).

The archive holds one top folder named after the app id, as Splunk and AppInspect require; owners, times and
modes are normalised so the same sources give the same archive. Prints the archive's path.
"""

from __future__ import annotations

import argparse
import configparser
import gzip
import io
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_DIR = ROOT / "siem" / "splunk"


def app_id_and_version(app_dir: Path = APP_DIR) -> tuple[str, str]:
    conf = configparser.ConfigParser(interpolation=None, strict=False)
    conf.read(app_dir / "default" / "app.conf", encoding="utf-8")
    return conf["package"]["id"], conf["id"]["version"]


def build(out_dir: Path, app_dir: Path = APP_DIR) -> Path:
    app_id, version = app_id_and_version(app_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{app_id}-{version}.tgz"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted([app_dir, *app_dir.rglob("*")]):
            if "__pycache__" in path.parts or path.name.startswith("."):
                continue
            info = tar.gettarinfo(str(path), arcname=str(Path(app_id) / path.relative_to(app_dir)))
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            info.mode = 0o755 if path.is_dir() else 0o644
            if path.is_dir():
                tar.addfile(info)
            else:
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
    with target.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(buffer.getvalue())
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "siem", help="output folder (default build/siem)")
    args = parser.parse_args(argv)
    print(build(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
