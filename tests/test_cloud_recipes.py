"""The cloud recipes of examples/cloud, checked offline: the task files pass the checker, the
commands they run parse with the real command line, a broken copy fails with one line, the
shell recipes are valid bash, and SkyPilot's own loader takes the task files (when installed)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cadenza.cli import command
from cadenza.cloud import check_task, load_task, parse_cadenza, skypilot_check
from cadenza.errors import CadenzaError
from support import run_cli

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "examples" / "cloud"
TASKS = sorted(RECIPES.glob("*.yaml"))
SCRIPTS = sorted(RECIPES.glob("*.sh"))
SINGLE = RECIPES / "sky-train.yaml"
MULTI = RECIPES / "sky-train-multinode.yaml"


def test_the_recipes_are_there():
    assert SINGLE in TASKS and MULTI in TASKS
    assert RECIPES / "torchrun-multinode.sh" in SCRIPTS and RECIPES / "setup-gpu.sh" in SCRIPTS


@pytest.mark.parametrize("task", TASKS, ids=lambda p: p.name)
def test_every_task_file_passes_the_checker(task):
    recipe = check_task(task, command())
    assert recipe.commands, "a recipe trains something"
    assert recipe.use_spot and recipe.job_recovery, "spot machines, recovered by sky jobs launch"
    assert recipe.buckets and all("MOUNT" in b for b in recipe.buckets.values())
    for train in recipe.commands:
        # parsed by the real command line: the options are the model's and the trainer's own
        ctx = parse_cadenza(command(), train.argv)
        assert ctx.command.name == train.model and ctx.info_name == train.model
        assert train.trainer.accelerator == "gpu" and ctx.params["out"].as_posix().startswith("/runs/")
        assert int(train.trainer.devices) == recipe.accelerators[0].count
        assert train.trainer.num_nodes == recipe.num_nodes
        assert not ctx.params.get("restart")
    if recipe.num_nodes > 1:
        assert recipe.commands[0].trainer.strategy == "ddp"


@pytest.mark.parametrize("task", TASKS, ids=lambda p: p.name)
def test_cloud_check_command(task, capsys):
    code, out, err = run_cli(["cloud-check", task], capsys)
    assert code == 0, err
    assert f"{task}: ok" in out and "cadenza train" in out and err == ""


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_one_line_picks_the_cloud(cloud, tmp_path):
    for task in TASKS:
        text = task.read_text()
        assert len(re.findall(r"(?m)^  infra: aws\b", text)) == 1, "the cloud is one line"
        copy = tmp_path / task.name
        copy.write_text(re.sub(r"(?m)^  infra: aws\b", f"  infra: {cloud}", text))
        assert check_task(copy, command()).infra == [cloud]


def test_the_recipes_use_the_readme_setup_and_a_cuda_torch():
    setup = (RECIPES / "setup-gpu.sh").read_text()
    assert "make setup" in setup and "download.pytorch.org/whl/" in setup
    # the Makefile's pin, read from it, so that make finds the CUDA build satisfying it
    assert "TORCH := torch==" in (ROOT / "Makefile").read_text()
    assert re.search(r"sed -n 's/\^TORCH := torch==", setup)
    for task in TASKS:
        assert "examples/cloud/setup-gpu.sh" in task.read_text()


# --- broken copies: one line, exit code 2, nothing run ------------------------------------------

def _edit(text: str, old: str, new: str, count: int = 1) -> str:
    assert old in text, old
    return text.replace(old, new, count)


def _drop_key(text: str, key: str) -> str:
    """``text`` without the top-level ``key:`` and the block under it."""
    out, skipping = [], False
    for line in text.splitlines(keepends=True):
        if line.startswith(f"{key}:"):
            skipping = True
            continue
        if skipping and line.strip() and not line.startswith((" ", "#")):
            skipping = False
        if not skipping:
            out.append(line)
    assert len(out) < len(text.splitlines()), key
    return "".join(out)


DEVICES = '--devices "$SKYPILOT_NUM_GPUS_PER_NODE"'
BROKEN = {
    "no resources": (lambda t: _drop_key(t, "resources"), "no resources"),
    "no setup": (lambda t: _drop_key(t, "setup"), "no setup"),
    "no run": (lambda t: _drop_key(t, "run"), "no run"),
    "no file_mounts": (lambda t: _drop_key(t, "file_mounts"), "no file_mounts"),
    "no accelerators": (lambda t: re.sub(r"(?m)^  accelerators:.*\n", "", t), "resources has no accelerators"),
    "no cloud": (lambda t: re.sub(r"(?m)^  infra:.*\n", "", t), "resources names no cloud"),
    "env without value": (lambda t: re.sub(r"(?m)^  RUN: .*$", "  RUN:", t), "envs: RUN has no value"),
    "unknown option": (lambda t: _edit(t, "--precision", "--precison"), "No such option '--precison'"),
    "bad value": (lambda t: _edit(t, '--max-minutes "$MAX_MINUTES"', "--max-minutes -3"), "--max-minutes must be"),
    "bad preset": (lambda t: _edit(t, "PRESET: gpu", "PRESET: huge"), "Invalid value for '--preset'"),
    "no gpu preset": (lambda t: _edit(t, "MODEL: transformer", "MODEL: polyphonic"), "'gpu' is not one of"),
    "unknown model": (lambda t: _edit(t, "MODEL: transformer", "MODEL: transformr"), "unknown trainable model"),
    "cpu model": (lambda t: _edit(_edit(t, "MODEL: transformer", "MODEL: markov"), ' --preset "$PRESET"', ""),
                  "markov trains on the CPU"),
    "on the cpu": (lambda t: _edit(t, "--accelerator gpu ", ""), "without --accelerator it trains on the CPU"),
    "auto": (lambda t: _edit(t, "--accelerator gpu", "--accelerator auto"), "falls back to the CPU"),
    "too few devices": (lambda t: _edit(t, DEVICES, "--devices 1"), "--devices 1 trains on 1 GPU(s) of the 4"),
    "bf16 on a T4": (lambda t: re.sub(r"(?m)^  accelerators: .*$", "  accelerators: T4:4", t), "T4:4 has no bfloat16"),
    "restart": (lambda t: _edit(t, "--max-minutes", "--restart --max-minutes"), "--restart would throw"),
    "run folder on the disk": (lambda t: _edit(t, '--out "/runs/$RUN"', '--out "runs/$RUN"'),
                               "the run folder runs/transformer-essen-ddp is not in a bucket"),
    "copied, not mounted": (lambda t: _edit(t, "mode: MOUNT_CACHED", "mode: COPY"), "mounted with mode COPY"),
    "unknown variable": (lambda t: _edit(t, '"/runs/$RUN"', '"/runs/$RUN_NAME"'), "uses $RUN_NAME, which is set"),
    "variable of the machine": (lambda t: _edit(t, '--data "$DATA"', '--data "$MASTER_ADDR"'),
                                "uses $MASTER_ADDR, which is set from a command"),
    "nodes": (lambda t: _edit(t, '--num-nodes "$SKYPILOT_NUM_NODES"', "--num-nodes 3"), "the task starts 2 machine"),
    "no launcher": (lambda t: _edit(t, 'export NODE_RANK="$SKYPILOT_NODE_RANK"\n', ""), "export NODE_RANK"),
    "no train command": (lambda t: _edit(t, "cadenza train", "cadenza trian"), "run has no `cadenza train` command"),
    "help": (lambda t: _edit(t, "--max-minutes", "--help --max-minutes"), "asks for help"),
    "a GPU fraction": (lambda t: re.sub(r"(?m)^  accelerators: .*$", "  accelerators: L4:0.5", t),
                       "whole number of GPUs"),
    "no number of GPUs": (lambda t: re.sub(r"(?m)^  accelerators: .*$", "  accelerators: L4:inf", t),
                          "whole number of GPUs"),
    "YAML error": (lambda t: _edit(t, "  use_spot: true", "  use_spot: [true"), "not valid YAML (line"),
    "key twice": (lambda t: t + "run: echo hi\n", "the key 'run' is written twice"),
    "quotes": (lambda t: _edit(t, '--data "$DATA"', '--data "$DATA'), "No closing quotation"),
    "not a mapping": (lambda t: "- resources\n- run\n", "a task file is a YAML mapping"),
    "empty": (lambda t: "", "the task file is empty"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_task_file_fails_in_one_line(case, tmp_path, capsys):
    # the multi-node task: it has every part the checks look at (4 GPUs a machine, 2 machines)
    breaks, message = BROKEN[case]
    broken = tmp_path / "task.yaml"
    broken.write_text(breaks(MULTI.read_text()))
    with pytest.raises(CadenzaError, match=re.escape(message)):
        check_task(broken, command())
    code, out, err = run_cli(["cloud-check", broken], capsys)
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    assert message in err and str(broken) in err and "Traceback" not in err, err


def test_env_overrides_are_checked_as_sky_jobs_launch_takes_them(capsys, monkeypatch):
    code, _, err = run_cli(["cloud-check", SINGLE, "--env", "MODEL=polyphonic"], capsys)
    assert code == 2 and "'gpu' is not one of 'jsb', 'nottingham'" in err and err.count("\n") == 1, err
    monkeypatch.setenv("PRESET", "jsb")  # a bare NAME takes this shell's value, as SkyPilot does
    code, out, err = run_cli(["cloud-check", SINGLE, "--env", "MODEL=polyphonic", "--env", "PRESET",
                              "--env", "RUN=poly"], capsys)
    assert code == 0 and "cadenza train polyphonic" in out and "--out /runs/poly --preset jsb" in out, err
    for bad, message in (("1X=2", "--env wants NAME=VALUE"), ("UNSET_HERE_X", "UNSET_HERE_X is not set")):
        code, _, err = run_cli(["cloud-check", SINGLE, "--env", bad], capsys)
        assert code == 2 and message in err and err.count("\n") == 1, err


def test_the_line_of_a_bad_command_is_the_file_line(tmp_path):
    text = SINGLE.read_text()
    line = 1 + text[:text.index(".venv/bin/cadenza train")].count("\n")
    broken = tmp_path / "task.yaml"
    broken.write_text(_edit(text, "--precision", "--precison"))
    with pytest.raises(CadenzaError, match=f"run line {line}: No such option"):
        check_task(broken, command())


@pytest.mark.parametrize("args, message", [
    (["missing.yaml"], "missing.yaml: no such file"),
    (["."], "is a folder"),
    ([SINGLE, "--bogus"], "No such option"),
])
def test_cloud_check_refuses_bad_arguments(args, message, capsys):
    code, _, err = run_cli(["cloud-check", *args], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_the_entry_point_says_one_line(tmp_path):
    broken = tmp_path / "task.yaml"
    broken.write_text(_edit(SINGLE.read_text(), "--precision", "--precison"))
    cadenza = Path(sys.executable).parent / "cadenza"
    done = subprocess.run([str(cadenza), "cloud-check", str(broken)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "No such option '--precison'" in done.stderr, done.stderr


def test_the_checker_imports_no_heavy_library():
    probe = ("import sys\nfrom cadenza.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in ('torch', 'lightning', 'transformers', 'sky') if m in sys.modules))")
    for args in (["cloud-check", "--help"], ["cloud-check", str(MULTI)]):
        done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, cwd=ROOT,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout[-300:]


# --- how run is read ----------------------------------------------------------------------------

def _task(run: str, envs: str = "  RUN: r\n", nodes: int = 1) -> str:
    return (f"num_nodes: {nodes}\nresources:\n  infra: gcp\n  accelerators: L4:2\nenvs:\n{envs}"
            "file_mounts:\n  /runs:\n    source: gs://my-bucket\n    mode: MOUNT\n"
            "setup: bash examples/cloud/setup-gpu.sh\nrun: |\n" + "".join(f"  {line}\n" for line in run.splitlines()))


@pytest.mark.parametrize("run", [
    # a redirection and a pipe are not arguments
    "cadenza train lstm --data bach --out /runs/$RUN --accelerator gpu --devices 2 2>&1 | tee /runs/log.txt",
    # continued lines, a comment, ${NAME:-default}, a variable set in the script
    "# train\nOUT=/runs/${RUN}\ncadenza train lstm --data ${DATA:-bach} \\\n  --out \"$OUT\" \\\n"
    "  --accelerator gpu --devices auto",
    # after other commands, with a variable in front of it, a list of GPUs
    "nvidia-smi; cd ~/sky_workdir && PYTHONUNBUFFERED=1 exec .venv/bin/cadenza train lstm --data bach "
    "--out /runs/x --accelerator cuda --devices 0,1 --precision 16-mixed",
])
def test_run_scripts_are_read_like_a_shell(run, tmp_path):
    task = tmp_path / "task.yaml"
    task.write_text(_task(run))
    recipe = check_task(task, command())
    assert [c.model for c in recipe.commands] == ["lstm"]
    assert recipe.buckets == {"/runs": "gs://my-bucket (MOUNT)"}
    assert recipe.commands[0].params["data"] == "bach"


def test_several_machines_by_torchrun_or_lightning_variables(tmp_path):
    task = tmp_path / "task.yaml"
    train = "cadenza train lstm --data bach --out /runs/x --accelerator gpu --devices 2 --num-nodes 2"
    for run in (f"torchrun --nnodes 2 --nproc-per-node 2 --no-python {train}",
                f"MASTER_ADDR=$(echo \"$SKYPILOT_NODE_IPS\" | head -n1) \nexport MASTER_ADDR\n"
                f"NODE_RANK=$SKYPILOT_NODE_RANK MASTER_PORT=29500 {train}"):
        task.write_text(_task(run, nodes=2))
        assert check_task(task, command()).num_nodes == 2
    task.write_text(_task(f"MASTER_ADDR=10.0.0.1 {train}", nodes=2))  # NODE_RANK missing
    with pytest.raises(CadenzaError, match="need a launcher that joins them: export NODE_RANK"):
        check_task(task, command())


def test_every_gpu_choice_is_checked(tmp_path):
    task = tmp_path / "task.yaml"
    text = _task("cadenza train lstm --data bach --out /runs/x --accelerator gpu --devices 2 --precision bf16-mixed")
    task.write_text(text.replace("accelerators: L4:2", "accelerators: {L4: 2, A10G: 2}"))
    assert [str(a) for a in check_task(task, command()).accelerators] == ["L4:2", "A10G:2"]
    task.write_text(text.replace("accelerators: L4:2", "accelerators: [L4:2, V100:2]"))
    with pytest.raises(CadenzaError, match="V100:2 has no bfloat16"):
        check_task(task, command())
    # SKYPILOT_NUM_GPUS_PER_NODE follows the choice that launched
    task.write_text(text.replace("accelerators: L4:2", "accelerators: {L4: 2, A10G: 4}")
                    .replace("--devices 2", '--devices "$SKYPILOT_NUM_GPUS_PER_NODE"'))
    assert len(check_task(task, command()).commands) == 1
    task.write_text(text.replace("accelerators: L4:2", "any_of: [{infra: aws, accelerators: A10G:2}, "
                                                        "{infra: azure, accelerators: A10:2}]")
                    .replace("  infra: gcp\n", ""))
    assert check_task(task, command()).infra == ["aws", "azure"]


# --- the shell recipes --------------------------------------------------------------------------

@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shell_recipes_are_valid_bash(script):
    done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert script.read_text().startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in script.read_text()
    assert os.access(script, os.X_OK)


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shell_recipes_pass_shellcheck(script):
    done = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout


CLUSTER = {"NODE_RANK": "1", "MASTER_ADDR": "10.0.0.1", "NUM_NODES": "2", "GPUS_PER_NODE": "4",
           "RUN_DIR": "/shared/runs/tf essen", "DRY_RUN": "1"}


@pytest.mark.parametrize("launcher", ["torchrun", "lightning"])
def test_the_cluster_recipe_runs_a_command_the_cli_takes(launcher):
    env = {**os.environ, **CLUSTER, "LAUNCHER": launcher}
    done = subprocess.run(["bash", str(RECIPES / "torchrun-multinode.sh")], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    words = shlex.split(done.stdout)
    at = next(i for i, w in enumerate(words) if Path(w).name == "cadenza")
    if launcher == "torchrun":
        assert Path(words[0]).name == "torchrun" and "--no-python" in words[:at]
        assert words[words.index("--node-rank") + 1] == "1" and words[words.index("--nproc-per-node") + 1] == "4"
    else:
        assert {"MASTER_ADDR=10.0.0.1", "NODE_RANK=1", "MASTER_PORT=29500"} <= set(words[:at])
    ctx = parse_cadenza(command(), words[at + 1:])
    params = ctx.params
    assert ctx.info_name == "transformer" and str(params["out"]) == "/shared/runs/tf essen"
    assert (params["accelerator"], params["devices"], params["num_nodes"], params["strategy"]) == ("gpu", "4", 2, "ddp")


@pytest.mark.parametrize("unset, message", [("NODE_RANK", "NODE_RANK is not set"), ("RUN_DIR", "RUN_DIR is not set")])
def test_the_cluster_recipe_says_what_is_missing_in_one_line(unset, message):
    env = {k: v for k, v in {**os.environ, **CLUSTER}.items() if k != unset}
    done = subprocess.run(["bash", str(RECIPES / "torchrun-multinode.sh")], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"error: {message}") and done.stderr.count("\n") == 1, done.stderr


# --- packaging and SkyPilot's own loader --------------------------------------------------------

def test_skypilot_is_an_optional_extra_of_its_own():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert any(r.startswith("skypilot") for r in extras["cloud"])
    assert not any("skypilot" in r or "cloud" in r for name in ("all", "dev") for r in extras[name])
    assert any(r.lower().startswith("pyyaml") for r in project["dependencies"])


def test_skypilot_check_without_skypilot_says_how_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sky", None)  # import sky fails
    with pytest.raises(CadenzaError, match=r"pip install 'cadenza\[cloud\]'"):
        skypilot_check(SINGLE)
    code, out, err = run_cli(["cloud-check", SINGLE, "--skypilot"], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1 and "SkyPilot is not installed" in err, err


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_skypilot_loads_the_task_files(cloud, tmp_path, capsys):
    sky = pytest.importorskip("sky")
    # the bucket's name comes from envs, overridden by --env as sky jobs launch does
    task = sky.Task.from_yaml_config(load_task(SINGLE), env_overrides=[("BUCKET", "cadenza-runs-test")])
    storage = task.storage_mounts["/runs"]
    assert storage.name == "cadenza-runs-test" and storage.mode.value == "MOUNT_CACHED" and storage.persistent
    code, out, err = run_cli(["cloud-check", SINGLE, "--skypilot", "--env", "BUCKET=cadenza-runs-test"], capsys)
    assert code == 0 and "SkyPilot loads it" in out, err
    for task in TASKS:
        copy = tmp_path / task.name
        copy.write_text(re.sub(r"(?m)^  infra: aws\b", f"  infra: {cloud}", task.read_text()))
        assert "cadenza-train" in skypilot_check(copy)
    broken = tmp_path / "broken.yaml"
    broken.write_text(SINGLE.read_text().replace("  use_spot: true", "  use_spots: true"))
    with pytest.raises(CadenzaError, match="SkyPilot refuses it"):
        skypilot_check(broken)
