"""The ``recbandit`` command, called in-process through ``recbandit.cli.main``."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import recbandit.evaluation.runlog as runlog
from recbandit.agents import AGENTS
from recbandit.cli import main
from recbandit.envs import ENVS, make_env
from recbandit.evaluation.results import REQUIRED_FIELDS

ENV = "recbandit/Synthetic-v0"
SMALL_ARGS = ["--env-arg", "n_items=200", "--env-arg", "n_users=100"]
HORIZON = 500
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLOT_NAME = "regret_recbandit_Synthetic-v0.png"
COLD_PLOT_NAME = "cold_recbandit_Synthetic-v0.png"  # Synthetic-v0 items arrive from the first decisions


def call(argv: list[str]) -> tuple[int, str, str]:
    """Run ``main(argv)`` and return (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's own errors
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def json_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.json"))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One ``recbandit run``: 2 agents x 2 seeds on a small Synthetic-v0."""
    out = tmp_path_factory.mktemp("cli") / "results"
    argv = ["run", "--horizon", str(HORIZON), "--seeds", "2", "--agents", "random,linucb-shared"]
    argv += [*SMALL_ARGS, "--out", str(out), "--quiet"]
    code, stdout, stderr = call(argv)
    return {"argv": argv, "out": out, "code": code, "stdout": stdout, "stderr": stderr}


def table_of(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("|")]


def test_run_exits_zero_and_writes_one_record_per_agent_and_seed(finished_run: dict[str, Any]) -> None:
    assert finished_run["code"] == 0, finished_run["stderr"]
    assert finished_run["stderr"] == ""
    files = json_files(finished_run["out"])
    assert len(files) == 4
    records = [json.loads(p.read_text()) for p in files]
    assert sorted((r["agent"], r["seed"]) for r in records) == [
        ("linucb-shared", 0),
        ("linucb-shared", 1),
        ("random", 0),
        ("random", 1),
    ]
    # File names carry the readable parts of the run.
    for path, rec in zip(files, records, strict=True):
        assert f"__{rec['agent']}__seed{rec['seed']}__" in path.name
    assert not [n for n in os.listdir(finished_run["out"]) if n.endswith(".tmp")]


def test_records_have_the_design_doc_fields(finished_run: dict[str, Any]) -> None:
    required = {
        "env", "agent", "agent_params", "seed", "horizon", "cumulative_regret", "mean_reward",
        "decisions_per_s", "curve", "cost", "versions",
    }  # fmt: skip
    assert required <= set(REQUIRED_FIELDS)
    for path in json_files(finished_run["out"]):
        rec = json.loads(path.read_text())
        assert required <= set(rec), f"{path.name} lacks {required - set(rec)}"
        assert rec["env"] == ENV
        assert rec["horizon"] == HORIZON
        assert rec["env_kwargs"] == {"n_items": 200, "n_users": 100}
        assert rec["agent_params"] == AGENTS[rec["agent"]]().params  # the defaults, spelled out
        assert isinstance(rec["seed"], int) and rec["seed"] in (0, 1)
        assert 0.0 <= rec["mean_reward"] <= 1.0
        assert rec["decisions_per_s"] > 0
        curve = rec["curve"]
        t, cum = np.array(curve["t"]), np.array(curve["cumulative_regret"])
        assert len(t) == len(cum) >= 10
        assert t[0] == 1 and t[-1] == HORIZON and np.all(np.diff(t) > 0)
        assert np.all(np.diff(cum) >= -1e-9), "cumulative regret must not decrease"
        assert cum[-1] == pytest.approx(rec["cumulative_regret"])
        assert rec["cost"]["seconds"] > 0 and "peak_rss_mb" in rec["cost"]
        assert {"python", "recbandit", "numpy", "gymnasium"} <= set(rec["versions"])
        assert rec["versions"]["recbandit"] != "not installed"


def test_run_prints_the_summary_table(finished_run: dict[str, Any]) -> None:
    stdout = finished_run["stdout"]
    table = table_of(stdout)
    assert table[0].startswith("| env | agent | seeds | horizon |")
    rows = table[2:]
    assert len(rows) == 2
    for agent in ("random", "linucb-shared"):
        (row,) = [r for r in rows if f"| {agent} |" in r]
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[0] == ENV and cells[2] == "2" and cells[3] == f"{HORIZON}"
        assert "±" in cells[5]  # two seeds give a confidence interval
    out = finished_run["out"]
    assert f"results: {out.resolve()} (4 runs)" in stdout


def test_run_writes_the_png_plot(finished_run: dict[str, Any]) -> None:
    for name in (PLOT_NAME, COLD_PLOT_NAME):
        png = finished_run["out"] / name
        assert png.read_bytes()[:8] == PNG_MAGIC
        assert png.stat().st_size > 5000
        assert f"plot: {png}" in finished_run["stdout"]


def test_summary_subcommand_prints_the_same_table(finished_run: dict[str, Any]) -> None:
    code, stdout, stderr = call(["summary", str(finished_run["out"])])
    assert code == 0, stderr
    assert table_of(stdout) == table_of(finished_run["stdout"])


@pytest.mark.parametrize("log", [False, True])
def test_plot_subcommand(finished_run: dict[str, Any], tmp_path: Path, log: bool) -> None:
    dest = tmp_path / "plots"
    code, stdout, stderr = call(["plot", str(finished_run["out"]), "--out", str(dest), *(["--log"] if log else [])])
    assert code == 0, stderr
    pngs = [dest / PLOT_NAME, dest / COLD_PLOT_NAME]
    for png in pngs:
        assert png.read_bytes()[:8] == PNG_MAGIC
    assert stdout.splitlines() == [f"plot: {png}" for png in pngs]


def test_rerun_resumes_without_recomputing(finished_run: dict[str, Any]) -> None:
    files = json_files(finished_run["out"])
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in files}
    code, stdout, stderr = call(finished_run["argv"])
    assert code == 0, stderr
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in json_files(finished_run["out"])}
    assert after == before
    assert table_of(stdout) == table_of(finished_run["stdout"])


def test_list() -> None:
    code, stdout, stderr = call(["list"])
    assert code == 0 and stderr == ""
    lines = stdout.splitlines()
    assert lines[0] == "envs:"
    for env_id in ENVS:
        assert f"  {env_id}" in lines
    agents_at = lines.index("agents:")
    listed = [line.split()[0] for line in lines[agents_at + 1 :]]
    assert listed == list(AGENTS)
    assert re.search(r"^  eps-greedy\s+epsilon=0\.1, initial_value=1\.0$", stdout, re.M)
    assert re.search(
        r"^  linucb-shared\s+ridge=1\.0, features='outer', intercept=True, item_id_features=False, alpha=0\.5$",
        stdout,
        re.M,
    )


BASE = ["run", "--horizon", "200", "--seeds", "1", *SMALL_ARGS, "--quiet", "--no-plot"]

BAD_RUNS = [
    (["--agents", "nope"], r"unknown agent 'nope'; allowed values: " + re.escape(", ".join(AGENTS))),
    (["--agents", "random,bogus"], r"unknown agent 'bogus'; allowed values: random, "),
    (["--agents", "random", "--first-seed", "-1"], r"first.seed must be an integer >= 0, got -1"),
    (["--agents", "random", "--horizon", "0"], r"horizon must be an integer >= 1, got 0"),
    (["--agents", "random", "--horizon", "-10"], r"horizon must be an integer >= 1, got -10"),
    (["--agents", "random", "--env-arg", "k=1"], r"k must be an integer >= 2, got 1"),
    (
        ["--agents", "random", "--env-arg", "wat=1"],
        r"unknown Synthetic-v0 argument\(s\) \['wat'\]; allowed: .*n_items",
    ),
    (["--agents", "random", "--env-arg", "k"], r"--env-arg expects KEY=VALUE, got 'k'"),
    (
        ["--agents", "random", "--env", "recbandit/Nope-v0"],
        r"unknown env 'recbandit/Nope-v0'; allowed values: ",
    ),
    (["--agents", "random", "--seeds", "0"], r"seeds must be an integer >= 1, got 0"),
    (["--agents", "random", "--workers", "0"], r"workers must be an integer >= 1, got 0"),
    (["--agents", "random", "--batch-size", "0"], r"batch_size must be an integer in \[1, 65536\], got 0"),
    (["--agents", "random", "--batch-size", "7"], r"horizon must be a multiple of batch_size \(7\), got 200"),
    (
        ["--agents", "eps-greedy:epsilon=1.5"],
        r"epsilon must be a finite number >= 0\.0 and <= 1\.0, got 1\.5",
    ),
    (
        ["--agents", "eps-greedy:eps=0.2"],
        r"unknown parameter\(s\) \['eps'\] for agent 'eps-greedy'; allowed: epsilon",
    ),
    (["--agents", "linucb-shared:alpha=-1"], r"alpha must be a finite number >= 0\.0, got -1"),
    (["--agents", "linucb-shared:ridge=0"], r"ridge must be a finite number > 0\.0, got 0"),
    (["--agents", "eps-greedy:epsilon"], r"--agents NAME:KEY=VALUE expects KEY=VALUE, got 'epsilon'"),
    (["--agents", ","], r"--agents must name at least one agent"),
    (
        ["--agents", "random", "--agent-arg", "ucb1.c=2"],
        r"--agent-arg 'ucb1\.c=2' names agent 'ucb1', which is not",
    ),
    (["--agents", "eps-greedy", "--agent-arg", "epsilon=2"], r"--agent-arg expects AGENT\.KEY=VALUE"),
    (
        ["--agents", "random", "--env-arg", "encoder=glove"],
        r"unknown encoder 'glove'; known encoders: bow\[:DIM\]\[,seed=S\]; minilm\[:OPTIONS\]; hf:ORG/NAME",
    ),
    (["--agents", "random", "--env-arg", "encoder=bow:dim=x"], r"option dim must be an integer, got 'x'"),
]


@pytest.mark.parametrize("args, match", BAD_RUNS)
def test_bad_run_input_exits_2_with_one_line(tmp_path: Path, args: list[str], match: str) -> None:
    out = tmp_path / "results"
    code, stdout, stderr = call([*BASE, *args, "--out", str(out)])
    assert code == 2
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("recbandit run: error: ")
    assert re.search(match, lines[0]), lines[0]
    assert "Traceback" not in stderr and stdout == ""
    assert not out.exists(), "bad input must fail before the results folder is created"


@pytest.mark.parametrize("command", ["summary", "plot"])
def test_summary_and_plot_of_missing_or_empty_folder(tmp_path: Path, command: str) -> None:
    code, _, stderr = call([command, str(tmp_path / "missing")])
    assert code == 2 and re.fullmatch(rf"recbandit {command}: error: results folder .*missing does not exist\n", stderr)
    code, _, stderr = call([command, str(tmp_path)])
    assert code == 2 and re.fullmatch(rf"recbandit {command}: error: no result records in .*\n", stderr)


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--agents", "random", "--horizon", "abc", "--out", "x"],
        ["run", "--agents", "random"],  # --out missing
        ["frobnicate"],
        [],
    ],
)
def test_argparse_errors_exit_2(argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, stdout, stderr = call(argv)
    assert code == 2 and "error:" in stderr and stdout == ""
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "agents_args, label, params",
    [
        (
            ["--agents", "eps-greedy:epsilon=0.2"],
            "eps-greedy:epsilon=0.2",
            {"epsilon": 0.2, "initial_value": 1.0},
        ),
        (
            ["--agents", "eps-greedy", "--agent-arg", "eps-greedy.epsilon=0.3"],
            "eps-greedy:epsilon=0.3",
            {"epsilon": 0.3, "initial_value": 1.0},
        ),
        (
            ["--agents", "linucb-shared:alpha=1.5:features=item"],
            "linucb-shared:alpha=1.5:features=item",
            {"ridge": 1.0, "features": "item", "intercept": True, "item_id_features": False, "alpha": 1.5},
        ),
    ],
)
def test_agent_params_reach_the_record(
    tmp_path: Path, agents_args: list[str], label: str, params: dict[str, Any]
) -> None:
    out = tmp_path / "results"
    code, stdout, stderr = call([*BASE, *agents_args, "--out", str(out)])
    assert code == 0, stderr
    (path,) = json_files(out)
    rec = json.loads(path.read_text())
    assert rec["agent_params"] == params
    assert rec["agent"] == label
    assert rec["agent_class"] == label.split(":")[0]
    assert f"| {label} |" in stdout


def test_two_configurations_of_one_agent_are_separate_runs(tmp_path: Path) -> None:
    out = tmp_path / "results"
    code, stdout, stderr = call([*BASE, "--agents", "eps-greedy:epsilon=0.0,eps-greedy:epsilon=1.0", "--out", str(out)])
    assert code == 0, stderr
    recs = [json.loads(p.read_text()) for p in json_files(out)]
    assert sorted(r["agent_params"]["epsilon"] for r in recs) == [0.0, 1.0]
    assert len(table_of(stdout)) == 4


def test_batched_run_and_save_logs(tmp_path: Path) -> None:
    out = tmp_path / "results"
    argv = [
        *BASE,
        "--agents",
        "random",
        "--batch-size",
        "50",
        "--save-logs",
        "--first-seed",
        "7",
        "--out",
        str(out),
    ]
    code, _, stderr = call(argv)
    assert code == 0, stderr
    (path,) = json_files(out)
    rec = json.loads(path.read_text())
    assert (rec["seed"], rec["batch_size"], rec["mode"]) == (7, 50, "batched (B=50)")
    (npz,) = (out / "logs").glob("*.npz")
    with np.load(npz) as log:
        assert log["regret"].shape == (200,)
        assert float(log["regret"].sum()) == pytest.approx(rec["cumulative_regret"])
        assert np.allclose(log["propensities"], 0.1)


@pytest.mark.parametrize("batch_size", [1, 50])
def test_record_regret_is_the_user_models_regret_of_the_logged_decisions(tmp_path: Path, batch_size: int) -> None:
    """Replay the logged actions on the env (same seed) and recompute every regret from the user model."""
    out, horizon, seed = tmp_path / "results", 300, 4
    argv = [*BASE, "--agents", "linucb-shared", "--horizon", str(horizon), "--batch-size", str(batch_size)]
    code, _, stderr = call([*argv, "--first-seed", str(seed), "--save-logs", "--out", str(out)])
    assert code == 0, stderr
    (path,) = json_files(out)
    rec = json.loads(path.read_text())
    with np.load(next((out / "logs").glob("*.npz"))) as npz:
        log = {key: npz[key] for key in npz.files}
    # The env's users, candidates and reward draws do not depend on the actions: the same
    # seed and the logged actions give the run's steps again.
    env = make_env(ENV, batch_size=batch_size, n_items=200, n_users=100)
    model = env.problem.user_model  # type: ignore[attr-defined]
    env.reset(seed=seed)
    regret, rows = np.zeros(horizon), np.arange(batch_size)
    for start in range(0, horizon, batch_size):
        step = slice(start, start + batch_size)
        actions = log["actions"][step]
        _, _, _, _, info = env.step(actions)
        users, candidates = info["user_ids"], info["item_ids"]
        expected = model.expected_reward(users, candidates)  # [B, K] from the truth, not the env's info
        np.testing.assert_array_equal(log["users"][step], users)
        np.testing.assert_array_equal(log["items"][step], candidates[rows, actions])
        np.testing.assert_array_equal(log["expected"][step], expected[rows, actions])
        np.testing.assert_array_equal(log["rewards"][step], info["rewards"])
        regret[step] = expected.max(axis=1) - expected[rows, actions]
    cumulative = np.cumsum(regret)
    assert rec["cumulative_regret"] == cumulative[-1]
    t = np.array(rec["curve"]["t"])
    np.testing.assert_array_equal(rec["curve"]["cumulative_regret"], cumulative[t - 1])
    assert rec["mean_reward"] == log["rewards"].mean()
    # A regret is zero exactly where the chosen candidate was a best one, and the learner found some.
    best = regret == 0
    assert 0 < best.sum() < horizon


def test_a_horizon_that_cannot_fit_ends_in_one_line_naming_the_largest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "results"
    avail = 8 * 10**9
    monkeypatch.setattr(runlog, "available_bytes", lambda: avail)  # this test's machine, whatever runs it
    largest = (avail - runlog.FIXED_BYTES) // (runlog.LOG_BYTES + runlog.SUMMARY_BYTES)
    for horizon in (10**9, 10**21):
        code, stdout, stderr = call([*BASE, "--agents", "random", "--horizon", str(horizon), "--out", str(out)])
        assert code == 2 and stdout == ""
        assert re.fullmatch(
            rf"recbandit run: error: horizon {horizon} does not fit in memory: a run keeps 142 bytes per decision "
            rf"\([0-9.e+]+ GB in all\) and 8 GB is available; the largest horizon that fits is {largest}\n",
            stderr,
        ), stderr
        assert not out.exists()
    # The same run with the largest horizon passes the check (it is not run here).
    runlog.check_memory(largest)


def test_a_horizon_beyond_any_memory_fails_the_same_way_on_this_machine(tmp_path: Path) -> None:
    out = tmp_path / "results"
    code, stdout, stderr = call([*BASE, "--agents", "random", "--horizon", str(10**21), "--out", str(out)])
    assert code == 2 and stdout == "" and "Traceback" not in stderr
    assert re.fullmatch(r"recbandit run: error: horizon 10{21} does not fit in memory: .* is \d+\n", stderr), stderr
    assert not out.exists()


def test_running_out_of_memory_anyway_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where memory cannot be read (not Linux) or is taken meanwhile, the allocation fails: one line too."""
    monkeypatch.setattr(runlog, "available_bytes", lambda: None)

    def no_memory(horizon: int) -> None:
        raise MemoryError(f"Unable to allocate {horizon * 8} bytes")

    monkeypatch.setattr(runlog.RunLog, "empty", staticmethod(no_memory))
    code, stdout, stderr = call([*BASE, "--agents", "random", "--out", str(tmp_path / "results")])
    assert code == 2 and stdout == ""
    assert stderr == (
        "recbandit run: error: out of memory (Unable to allocate 1600 bytes); a smaller --horizon needs less\n"
    )


def test_run_with_progress_bars_when_not_a_terminal(tmp_path: Path) -> None:
    out = tmp_path / "results"
    code, stdout, stderr = call([*BASE[:-2], "--agents", "random", "--out", str(out)])  # no --quiet / --no-plot
    assert code == 0, stderr
    assert (out / PLOT_NAME).exists() and len(json_files(out)) == 1
    assert len(table_of(stdout)) == 3


def test_console_script_entry_point(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / ("recbandit.exe" if os.name == "nt" else "recbandit")
    assert script.exists(), f"console script not installed next to {sys.executable}"
    proc = subprocess.run([str(script), "list"], capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("envs:\n")
    for name in AGENTS:
        assert f"  {name} " in proc.stdout
    argv = [str(script), "run", "--agents", "nope", "--out", "unused"]
    bad = subprocess.run(argv, capture_output=True, text=True, timeout=1200, cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.startswith("recbandit run: error: unknown agent 'nope'")
    assert os.listdir(tmp_path) == []


def test_encoder_by_name_on_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "results"
    for encoder in ("bow:32", "bow"):
        argv = [*BASE, "--agents", "linucb-shared", "--env-arg", f"encoder={encoder}", "--out", str(out), "--no-table"]
        code, stdout, stderr = call(argv)
        assert code == 0, stderr
        assert table_of(stdout) == []  # --no-table
    recs = sorted((json.loads(p.read_text()) for p in json_files(out)), key=lambda r: r["env_kwargs"]["encoder"])
    assert [r["encoder"]["spec"] for r in recs] == ["bow:256", "bow:32"]
    assert recs[0]["cost"]["encode"]["items"] == 300  # n_items + n_users of SMALL_ARGS
    code, stdout, stderr = call(["summary", str(out)])
    assert code == 0, stderr
    table = table_of(stdout)
    assert table[0].endswith("| context | encode s / GFLOP |") and len(table) == 4
    assert sorted(row.split("|")[-3].strip() for row in table[2:]) == ["bow:256", "bow:32"]
    code, stdout, _ = call(["list"])
    assert "encoders (--env-arg encoder=SPEC):" in stdout and "  minilm[:OPTIONS]" in stdout
