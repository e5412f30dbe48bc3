"""Sweeps resume: finished runs are skipped, broken records are redone, writes are atomic, Ctrl-C is safe."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import recbandit.evaluation.results as results
import recbandit.evaluation.sweep as sweep
from recbandit.envs.defaults import env_defaults
from recbandit.envs.registration import ENVS
from recbandit.evaluation import RunSpec, execute, load_records, make_specs, run_sweep
from recbandit.evaluation.results import REQUIRED_FIELDS, WHERE_FIELDS, atomic_write_bytes, read_record

ENV = "recbandit/Synthetic-v0"
SMALL = {"n_items": 200, "n_users": 100}
TIMING = WHERE_FIELDS  # measure the machine or say where the run ran; the rest is reproducible from the spec


def specs_for(seeds: list[int], horizon: int = 300) -> list[RunSpec]:
    return make_specs(
        ENV, ["random", ("linucb-shared", {"alpha": 1.0})], seeds=seeds, horizon=horizon, env_kwargs=SMALL
    )


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    """File name -> (mtime in ns, bytes) of every record in ``folder``."""
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.glob("*.json"))}


def temp_files(folder: Path) -> list[str]:
    return [name for _, _, files in os.walk(folder) for name in files if name.endswith(".tmp")]


def reproducible(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in TIMING}


class CountingExecute:
    """Wraps the real ``execute`` and records which specs were run."""

    def __init__(self) -> None:
        self.specs: list[RunSpec] = []

    def __call__(self, spec: RunSpec, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.specs.append(spec)
        return execute(spec, *args, **kwargs)


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> CountingExecute:
    spy = CountingExecute()
    monkeypatch.setattr(sweep, "execute", spy)
    return spy


# --------------------------------------------------------------------------- resume


@pytest.mark.parametrize("workers", [1, 2])
def test_second_sweep_skips_finished_runs(tmp_path: Path, workers: int, monkeypatch: pytest.MonkeyPatch) -> None:
    specs = specs_for([0, 1])
    out = tmp_path / "results"
    first = run_sweep(specs, out, workers=workers, show_progress=False)
    assert [(r["agent"], r["seed"]) for r in first] == [(s.name, s.seed) for s in specs]
    # Worker processes give the same run as this process.
    assert reproducible(first[3]) == reproducible(execute(specs[3]))
    before = snapshot(out)
    assert len(before) == 4
    assert sorted(before) == sorted(s.filename for s in specs)

    def must_not_run(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a finished run was executed again")

    monkeypatch.setattr(sweep, "execute", must_not_run)
    second = run_sweep(specs, out, workers=workers, show_progress=False)
    assert second == first
    assert snapshot(out) == before
    assert temp_files(out) == []


def test_new_specs_run_and_old_ones_are_reused(tmp_path: Path, counting: CountingExecute) -> None:
    out = tmp_path / "results"
    run_sweep(specs_for([0, 1]), out, show_progress=False)
    before = snapshot(out)
    counting.specs.clear()
    records = run_sweep(specs_for([0, 1, 2]), out, show_progress=False)
    assert sorted((s.name, s.seed) for s in counting.specs) == [("linucb-shared", 2), ("random", 2)]
    assert len(records) == 6 and [r["seed"] for r in records] == [0, 1, 2, 0, 1, 2]
    after = snapshot(out)
    assert {k: after[k] for k in before} == before
    # A different configuration (horizon) is a different run: nothing is reused.
    counting.specs.clear()
    run_sweep(specs_for([0], horizon=400), out, show_progress=False)
    assert len(counting.specs) == 2 and len(snapshot(out)) == 8


@pytest.mark.parametrize(
    "damage, warning",
    [
        (lambda b: b[: len(b) // 2], r"unreadable result record"),  # truncated JSON
        (lambda b: b"", r"unreadable result record"),
        (lambda b: b"\xff\xfe garbage", r"unreadable result record"),
        (lambda b: b"null", r"not a JSON object"),
        (lambda b: b"[1, 2, 3]", r"not a JSON object"),
        (lambda b: b'{"env": "x", "agent": "y"}', r"result record lacks \['agent_params', 'seed'"),
    ],
    ids=["truncated", "empty", "binary", "null", "list", "missing-fields"],
)
def test_corrupt_record_is_detected_and_recomputed(
    tmp_path: Path, counting: CountingExecute, damage: Any, warning: str
) -> None:
    specs = specs_for([0, 1])
    out = tmp_path / "results"
    first = run_sweep(specs, out, show_progress=False)
    before = snapshot(out)
    victim = out / specs[1].filename
    victim.write_bytes(damage(victim.read_bytes()))
    counting.specs.clear()
    with pytest.warns(UserWarning, match=warning) as caught:
        second = run_sweep(specs, out, show_progress=False)
    assert any(victim.name in str(w.message) for w in caught)
    assert counting.specs == [specs[1]]
    # The damaged record is rewritten, complete and equal to the original run; the others are untouched.
    rewritten = json.loads(victim.read_text())
    assert set(REQUIRED_FIELDS) <= set(rewritten)
    assert reproducible(rewritten) == reproducible(first[1])
    assert reproducible(second[1]) == reproducible(first[1])
    assert [second[i] for i in (0, 2, 3)] == [first[i] for i in (0, 2, 3)]
    after = snapshot(out)
    assert {k: v for k, v in after.items() if k != victim.name} == {k: v for k, v in before.items() if k != victim.name}
    assert temp_files(out) == []


def test_record_with_another_digest_is_redone(tmp_path: Path, counting: CountingExecute) -> None:
    specs = specs_for([0])
    out = tmp_path / "results"
    run_sweep(specs, out, show_progress=False)
    path = out / specs[0].filename
    rec = json.loads(path.read_text())
    rec["spec_key"] = "000000000000"
    path.write_text(json.dumps(rec))
    counting.specs.clear()
    with pytest.warns(UserWarning, match=r"configuration digest differs"):
        run_sweep(specs, out, show_progress=False)
    assert counting.specs == [specs[0]]
    assert json.loads(path.read_text())["spec_key"] == specs[0].key


def test_summary_tolerates_a_corrupt_file(tmp_path: Path) -> None:
    out = tmp_path / "results"
    run_sweep(specs_for([0]), out, show_progress=False)
    (out / "stray.json").write_text("3")
    (out / "half.json").write_text('{"env": ')
    with pytest.warns(UserWarning):
        records = load_records(out)
    assert len(records) == 2


# --------------------------------------------------------------------------- atomic writes


def test_records_are_written_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "results"
    run_sweep(specs_for([0]), out, show_progress=False, save_logs=True)
    assert temp_files(out) == []
    assert len(list((out / "logs").glob("*.npz"))) == 2
    path = next(out.glob("*.json"))
    original = path.read_bytes()

    # A failure (or Ctrl-C) at any point of a write leaves the old file and no temporary file.
    for where, exc in (("replace", OSError("disk full")), ("fsync", KeyboardInterrupt())):

        def fail(*args: Any, _exc: BaseException = exc) -> None:
            raise _exc

        with monkeypatch.context() as m:
            m.setattr(results.os, where, fail)
            with pytest.raises(type(exc)):
                atomic_write_bytes(path, b'{"half": ')
        assert path.read_bytes() == original
        assert temp_files(out) == []
        assert read_record(path) is not None


def test_interrupted_sweep_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process Ctrl-C in the middle of the third run, then a rerun."""
    specs = specs_for([0, 1], horizon=400)
    out = tmp_path / "results"
    calls: list[RunSpec] = []

    def interrupted(spec: RunSpec, out_dir: Path, progress: Any = None, **kwargs: Any) -> dict[str, Any]:
        calls.append(spec)
        if len(calls) < 3:
            return execute(spec, out_dir, progress, **kwargs)

        def ctrl_c(n: int) -> None:
            if n >= spec.horizon // 2:
                raise KeyboardInterrupt

        return execute(spec, out_dir, ctrl_c, **kwargs)

    monkeypatch.setattr(sweep, "execute", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(specs, out, show_progress=False)
    assert len(calls) == 3
    before = snapshot(out)
    assert sorted(before) == sorted(s.filename for s in specs[:2])
    assert temp_files(out) == []

    spy = CountingExecute()
    monkeypatch.setattr(sweep, "execute", spy)
    records = run_sweep(specs, out, show_progress=False)
    assert spy.specs == specs[2:]
    assert len(records) == 4
    after = snapshot(out)
    assert {k: after[k] for k in before} == before
    assert len(after) == 4


# --------------------------------------------------------------------------- Ctrl-C on the command


def _restore_sigint() -> None:  # pragma: no cover (runs in the child before exec)
    # A child started from a background job inherits SIGINT ignored; Python only installs
    # its KeyboardInterrupt handler when SIGINT is at its default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
def test_ctrl_c_on_the_command_then_resume(tmp_path: Path) -> None:
    out = tmp_path / "results"
    n_runs, horizon = 6, 10_000
    cmd = [
        sys.executable, "-m", "recbandit.cli", "run", "--agents", "linucb-shared", "--seeds", str(n_runs),
        "--horizon", str(horizon), "--env-arg", "n_items=200", "--env-arg", "n_users=100",
        "--out", str(out), "--quiet",
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        preexec_fn=_restore_sigint,
    )
    try:
        deadline = time.monotonic() + 60
        while not list(out.glob("*.json")):
            assert proc.poll() is None, f"exited early with {proc.returncode}: {proc.communicate()}"
            assert time.monotonic() < deadline, "no record after 60 s"
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    assert "interrupted; finished runs are saved" in stderr and "Traceback" not in stderr
    assert stderr.count("\n") == 1
    assert "(6 runs)" not in stdout

    files = sorted(out.glob("*.json"))
    assert 1 <= len(files) < n_runs, "the interrupt came after the sweep finished; the test proved nothing"
    for path in files:
        rec = json.loads(path.read_text())  # parses: no half-written file
        assert set(REQUIRED_FIELDS) <= set(rec)
        assert rec["horizon"] == horizon and rec["curve"]["t"][-1] == horizon
    assert temp_files(out) == []
    before = snapshot(out)

    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=1200, preexec_fn=_restore_sigint)
    assert done.returncode == 0, done.stderr
    assert f"({n_runs} runs)" in done.stdout
    after = snapshot(out)
    assert len(after) == n_runs
    assert {k: after[k] for k in before} == before, "finished records were rewritten"
    assert sorted(json.loads(b)["seed"] for _, b in after.values()) == list(range(n_runs))
    assert temp_files(out) == []
    assert (out / "regret_recbandit_Synthetic-v0.png").exists()


def test_a_changed_default_redoes_the_run(tmp_path: Path) -> None:
    """The digest covers explicit parameters; a record made under another default is stale."""
    from recbandit.evaluation.runner import finished

    spec = specs_for([0])[1]  # linucb-shared, alpha given; its other parameters are defaults
    execute(spec, tmp_path)
    path = tmp_path / spec.filename
    assert finished(spec, tmp_path) is not None
    record = json.loads(path.read_text())
    assert record["agent_params"]["alpha"] == 1.0 and len(record["agent_params"]) > 1
    other = next(k for k in record["agent_params"] if k != "alpha")
    record["agent_params"][other] = "an older default"
    path.write_text(json.dumps(record))
    with pytest.warns(UserWarning, match="resolved parameters changed"):
        assert finished(spec, tmp_path) is None


def test_a_changed_env_default_redoes_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A record made when the env had other defaults is stale; one from before the field existed is kept."""
    from recbandit.envs import defaults
    from recbandit.evaluation import runner
    from recbandit.evaluation.runner import finished

    spec = specs_for([0])[0]
    execute(spec, tmp_path)
    path = tmp_path / spec.filename
    record = json.loads(path.read_text())
    assert record["env_defaults"] == defaults.env_defaults(spec.env) and "k" in record["env_defaults"]
    assert finished(spec, tmp_path) is not None
    changed = {**record["env_defaults"], "k": record["env_defaults"]["k"] + 1}
    monkeypatch.setattr(runner, "env_defaults", lambda env_id: changed)  # as if the code's default moved
    with pytest.warns(UserWarning, match="default configuration changed"):
        assert finished(spec, tmp_path) is None
    del record["env_defaults"]  # written by an older version: nothing to compare
    path.write_text(json.dumps(record))
    assert finished(spec, tmp_path) is not None


@pytest.mark.parametrize("env_id", sorted(ENVS))
def test_every_env_has_json_ready_defaults_without_its_data(env_id: str) -> None:
    first = env_defaults(env_id)
    assert first and json.loads(json.dumps(first)) == first == env_defaults(env_id)
    assert "path" not in json.dumps(first)


def test_a_parameter_added_since_keeps_the_run_a_removed_one_redoes_it(tmp_path: Path) -> None:
    """An agent option added later (at its default) does not invalidate earlier records; one that went does."""
    from recbandit.evaluation.runner import finished

    spec = specs_for([0])[1]  # linucb-shared
    execute(spec, tmp_path)
    path = tmp_path / spec.filename
    record = json.loads(path.read_text())
    newer = record["agent_params"].pop("item_id_features")  # as written before the option existed
    assert newer is False
    path.write_text(json.dumps(record))
    assert finished(spec, tmp_path) is not None
    record["agent_params"]["an_option_since_removed"] = 1
    path.write_text(json.dumps(record))
    with pytest.warns(UserWarning, match="resolved parameters changed"):
        assert finished(spec, tmp_path) is None
