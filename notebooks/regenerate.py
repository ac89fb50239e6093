"""Re-execute tutorials in place, the way nbval will check them: ``python notebooks/regenerate.py
[NN ...]`` (all notebooks when no number is given).

Each notebook runs in a fresh kernel with its own throwaway data dir and the fixed ports
below (the committed outputs show these, never random ones), and the per-cell execution
timestamps nbconvert records are removed afterwards, so a re-run changes only what the
notebook really prints.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent
TEMPORAL_ADDRESS = "127.0.0.1:17233"
UI_PORT = "18233"


def regenerate(path: Path) -> None:
    with tempfile.TemporaryDirectory(prefix=f"orderflow-{path.stem}-") as data_dir:
        env = {
            **os.environ,
            "ORDERFLOW_DATA_DIR": data_dir,
            "TEMPORAL_ADDRESS": TEMPORAL_ADDRESS,
            "ORDERFLOW_UI_PORT": UI_PORT,
        }
        for name in ("TEMPORAL_PROFILE", "ORDERFLOW_UI_URL", "CODESPACE_NAME"):
            env.pop(name, None)  # outputs show the dev server's own UI links
        subprocess.run(
            [
                sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook",
                "--execute", "--inplace", "--ExecutePreprocessor.timeout=300", str(path),
            ],
            cwd=NOTEBOOKS,
            env=env,
            check=True,
        )  # fmt: skip
    strip_execution_times(path)


def strip_execution_times(path: Path) -> None:
    notebook = json.loads(path.read_text())
    for cell in notebook["cells"]:
        cell.get("metadata", {}).pop("execution", None)
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")


def main(numbers: list[str]) -> None:
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if numbers:
        paths = [path for path in paths if path.name[:2] in numbers]
    # One regeneration at a time on this machine: they share the fixed ports.
    with open(Path(tempfile.gettempdir()) / "orderflow-regenerate.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for path in paths:
            print(f"executing {path.name}", flush=True)
            regenerate(path)


if __name__ == "__main__":
    main(sys.argv[1:])
