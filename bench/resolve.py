"""Does `pip install -r requirements.txt` find a wheel of every package on each
platform and Python that docs/where-it-runs.md names? Resolved, not installed: pip's
own resolver with --dry-run, for a platform and a Python other than this machine's.

    python bench/resolve.py           # prints the table (a few minutes), writes nothing
    python bench/resolve.py --save    # and keeps it in results/install.json
    python -m tools.report            # then rebuild docs/where-it-runs.md's table

A platform and Python for which pip finds no wheel of some package (or cannot
resolve at all: an older pip without --report, say) is an error: one line naming
it, exit status 1, and nothing saved.

pip evaluates environment markers for the Python that runs it, not the one it
resolves for, so the markers of requirements.txt are evaluated here first, for the
Python and platform named; those of the packages' own dependencies are still
evaluated by pip for this machine (a dependency only one platform needs can be
missed or added). Nothing here says that the packages *run* there; the table of
docs/where-it-runs.md says what was run.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository
from toolkit import ROOT  # noqa: E402
from toolkit.files import write_json  # noqa: E402

PYTHONS = ("3.11", "3.12", "3.13", "3.14")
# platform -> (pip's platform tags, the marker values of that platform). pip matches
# manylinux tags exactly, and expands a macOS one to the versions below it.
PLATFORMS = {
    "Linux x86_64": ([f"manylinux_2_{n}_x86_64" for n in range(17, 40)]
                     + ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"],
                     {"sys_platform": "linux", "platform_system": "Linux",
                      "platform_machine": "x86_64", "os_name": "posix"}),
    "Linux aarch64": ([f"manylinux_2_{n}_aarch64" for n in range(17, 40)]
                      + ["manylinux2014_aarch64"],
                      {"sys_platform": "linux", "platform_system": "Linux",
                       "platform_machine": "aarch64", "os_name": "posix"}),
    "macOS arm64": (["macosx_15_0_arm64"],
                    {"sys_platform": "darwin", "platform_system": "Darwin",
                     "platform_machine": "arm64", "os_name": "posix"}),
    "Windows amd64": (["win_amd64"],
                      {"sys_platform": "win32", "platform_system": "Windows",
                       "platform_machine": "AMD64", "os_name": "nt"}),
}
SHOWN = ("pytensor", "numpy", "scipy-openblas32", "numba", "jax", "jaxlib", "matplotlib")


def requirements_for(text, python, markers):
    """The lines of a requirements file that apply to that Python and platform,
    without their markers."""
    from packaging.requirements import Requirement
    environment = {**markers, "python_version": python, "python_full_version": f"{python}.0",
                   "implementation_name": "cpython", "platform_python_implementation": "CPython"}
    kept = []
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate(environment):
            requirement.marker = None
            kept.append(str(requirement))
    return "\n".join(kept) + "\n"


class ResolveError(Exception):
    """pip found no wheel of some package for a platform and Python, or could not resolve."""


def resolve(python, platform, requirements=ROOT / "requirements.txt"):
    """{name: version} of every package pip would install; ResolveError where it can't."""
    platforms, markers = PLATFORMS[platform]
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        wanted = Path(tmp) / "requirements.txt"
        wanted.write_text(requirements_for(Path(requirements).read_text(), python, markers))
        command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
                   "--quiet", "--disable-pip-version-check", "--report", str(report),
                   "--only-binary=:all:", "--implementation", "cp", "--python-version", python,
                   *[f"--platform={p}" for p in platforms], "-r", str(wanted)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=900,
                                env={**os.environ, "PIP_NO_INPUT": "1"})
        if result.returncode != 0:
            match = re.search(r"No matching distribution found for (\S+)", result.stderr)
            lines = result.stderr.strip().splitlines() or [f"pip exited {result.returncode}"]
            why = f"no wheel of {match[1]}" if match else lines[-1].strip()
            raise ResolveError(f"{platform}, Python {python}: {why}")
        installs = json.loads(report.read_text())["install"]
    return {item["metadata"]["name"].lower().replace("_", "-"): item["metadata"]["version"]
            for item in installs}


def resolved(rows, pip, save=False, path=ROOT / "results" / "install.json"):
    """The table's data for these rows; with `save`, also results/install.json, where a
    run of some platforms or Pythons keeps the others' rows."""
    if save and path.exists():
        done = {(row["platform"], row["python"]) for row in rows}
        kept = [row for row in json.loads(path.read_text())["rows"]
                if (row["platform"], row["python"]) not in done]
        rows = sorted(kept + rows, key=lambda row: (list(PLATFORMS).index(row["platform"]),
                                                    row["python"]))
    data = {"rows": rows, "shown": list(SHOWN), "measured": time.strftime("%Y-%m-%d"),
            "command": f"pip {pip} install --dry-run --report --only-binary=:all: "
                       "--python-version V --platform P -r requirements.txt"}
    if save:
        write_json(path, data)
    return data


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pythons", nargs="+", default=list(PYTHONS))
    parser.add_argument("--platforms", nargs="+", choices=list(PLATFORMS), default=list(PLATFORMS))
    parser.add_argument("--save", action="store_true",
                        help="keep the versions in results/install.json")
    args = parser.parse_args(argv)
    rows = []
    for platform in args.platforms:
        for python in args.pythons:
            try:
                versions = resolve(python, platform)
            except ResolveError as e:
                raise SystemExit(f"resolve: {e}") from None
            rows.append({"platform": platform, "python": python, "versions": versions})
            print(json.dumps(rows[-1]), flush=True)
    pip = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True,
                         text=True).stdout.split()[1]
    from tools import report
    print(report.install_table(resolved(rows, pip, save=args.save)))
    print("saved in results/install.json; python -m tools.report puts it in docs/"
          if args.save else "not saved: --save keeps it in results/install.json")


if __name__ == "__main__":
    main()
