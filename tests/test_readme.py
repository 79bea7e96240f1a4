"""The README's Quick start, run as a new user runs it: in a fresh clone, in a shell that has only what the
README's own lines put there (no virtual environment on PATH until `source .venv/bin/activate`)."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, run
from tests.test_pipeline import stages_run

MARK = "::: README line: "


def quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def fresh_clone(dest: Path) -> Path:
    """What `git clone` of this working tree gives: its tracked and not-ignored files, committed; the pinned
    environment is linked, not installed again, and `make setup` still checks it against requirements.lock."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    (dest / ".venv").symlink_to(Path(sys.prefix))
    for command in (["git", "init", "-q", "-b", "main"], ["git", "config", "user.email", "readme@example.com"],
                    ["git", "config", "user.name", "README"], ["git", "add", "-A"], ["git", "commit", "-qm", "clone"]):
        run(command, dest)
    return dest


def test_the_quick_start_works_as_written_in_a_fresh_clone(tmp_path):
    commands = quick_start_commands()
    assert [command.split("#")[0].strip() for command in commands] == [
        "make setup", "source .venv/bin/activate", "make demo", "dvc exp run -S model.heads=8"]
    clone = fresh_clone(tmp_path / "clone")
    script = "set -e\n" + "".join(f"echo '{MARK}{command}'\n{command}\n" for command in commands)
    venv_bin = str(Path(sys.prefix) / "bin")
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != Path(venv_bin))
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")} | {"PATH": path}
    shell = subprocess.run(["bash", "-c", script], cwd=clone, env=env, capture_output=True, text=True)
    output = shell.stdout + shell.stderr
    assert shell.returncode == 0, output[-5000:]
    assert "Enter it with: source .venv/bin/activate" in output
    steps = dict(part.split("\n", 1) for part in shell.stdout.split(MARK)[1:])
    seeds = [42, 43, 44]
    per_seed = {stage: [f"{stage}@{seed}" for seed in seeds]
                for stage in ("train_self", "train_mha", "faithfulness_self", "faithfulness_mha")}
    assert stages_run(steps[commands[2]]) == ["download", "tokenize", *per_seed["train_self"], *per_seed["train_mha"],
                                              *per_seed["faithfulness_self"], *per_seed["faithfulness_mha"],
                                              "baseline", "evaluate", "report"]
    assert stages_run(steps[commands[-1]]) == [*per_seed["train_mha"], *per_seed["faithfulness_mha"], "evaluate",
                                               "report"]
    assert (clone / "reports" / "report.md").is_file()


def test_every_document_the_readme_links_to_exists():
    readme = (ROOT / "README.md").read_text()
    linked = set(re.findall(r"\]\((docs/[^)#]+)\)", readme))
    assert {"docs/results.md", "docs/performance.md", "docs/benchmarks.md"} <= linked
    assert all((ROOT / path).is_file() for path in linked)
    assert len(readme.splitlines()) <= 300
