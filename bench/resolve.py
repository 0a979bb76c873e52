"""Does `pip install -r requirements.txt` find a wheel of every package on each
platform and Python the README names? Resolved, not installed: pip's own resolver
with --dry-run, for a platform and a Python other than this machine's.

    python bench/resolve.py           # writes results/install.json (a few minutes)
    python -m tools.report          # then rebuild the README's tables

pip evaluates environment markers for the Python that runs it, not the one it
resolves for, so the markers of requirements.txt are evaluated here first, for the
Python and platform named; those of the packages' own dependencies are still
evaluated by pip for this machine (a dependency only one platform needs can be
missed or added). Nothing here says that the packages *run* there; the README's
"Where it runs" table says what was run.
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


def resolve(python, platform, requirements=ROOT / "requirements.txt"):
    """{'ok': True, 'versions': {name: version}} or {'ok': False, 'missing': why}."""
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
            return {"ok": False,
                    "missing": match[1] if match else result.stderr.strip().splitlines()[-1]}
        installs = json.loads(report.read_text())["install"]
    versions = {item["metadata"]["name"].lower().replace("_", "-"): item["metadata"]["version"]
                for item in installs}
    return {"ok": True, "versions": versions}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pythons", nargs="+", default=list(PYTHONS))
    parser.add_argument("--platforms", nargs="+", choices=list(PLATFORMS), default=list(PLATFORMS))
    args = parser.parse_args(argv)
    rows = []
    for platform in args.platforms:
        for python in args.pythons:
            row = {"platform": platform, "python": python,
                   **resolve(python, platform)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    pip = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True,
                         text=True).stdout.split()[1]
    path = ROOT / "results" / "install.json"
    if path.exists():  # a run of some platforms or Pythons keeps the others' rows
        done = {(row["platform"], row["python"]) for row in rows}
        kept = [row for row in json.loads(path.read_text())["rows"]
                if (row["platform"], row["python"]) not in done]
        rows = sorted(kept + rows, key=lambda row: (list(PLATFORMS).index(row["platform"]),
                                                    row["python"]))
    write_json(path, {
        "rows": rows, "shown": list(SHOWN), "measured": time.strftime("%Y-%m-%d"),
        "command": f"pip {pip} install --dry-run --report --only-binary=:all: "
                   "--python-version V --platform P -r requirements.txt"})


if __name__ == "__main__":
    main()
