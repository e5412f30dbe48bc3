"""Sweeps on Ray and ``recbandit tune``: same records as the local back end, failures, a killed worker, two nodes.

One local Ray (2 CPUs, no dashboard) serves the module and is shut down at its end; the
module checks that none of its processes is left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from test_sweep_resume import _restore_sigint  # noqa: E402

import recbandit.evaluation.ray_backend as ray_backend  # noqa: E402
from recbandit.cli import main  # noqa: E402
from recbandit.envs import make_env  # noqa: E402
from recbandit.evaluation import RunSpec, execute, make_specs, run_sweep  # noqa: E402
from recbandit.evaluation.ray_backend import run_resources  # noqa: E402
from recbandit.evaluation.results import REQUIRED_FIELDS, WHERE_FIELDS  # noqa: E402
from recbandit.evaluation.sweep import SweepError  # noqa: E402
from recbandit.evaluation.tune import _Watch, final_metric, parse_space, tune_agent  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ENV = "recbandit/Synthetic-v0"
SMALL = {"n_items": 200, "n_users": 100}
WHERE = WHERE_FIELDS  # fields that measure the machine or say where a run ran; everything else is the run's


def specs_for(seeds: list[int], horizon: int = 300) -> list[RunSpec]:
    return make_specs(
        ENV, ["random", ("linucb-shared", {"alpha": 1.0})], seeds=seeds, horizon=horizon, env_kwargs=SMALL
    )


def on_disk(folder: Path) -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


def the_run(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in WHERE}


def ray_processes(session_dir: str) -> list[int]:
    """Live processes whose command line names the session folder (raylet, GCS, workers)."""
    out = subprocess.run(["ps", "-ww", "-eo", "pid=,stat=,args="], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines() if session_dir in line and line.split()[1][0] != "Z"]


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Any:
    """A local Ray for the module, shut down after it; no process of it may outlive it."""
    ray.init(
        address="local", num_cpus=2, include_dashboard=False, object_store_memory=256 * 1024**2, log_to_driver=False
    )
    session = ray._private.worker._global_node.get_session_dir_path()
    try:
        yield session
    finally:
        ray.shutdown()
        deadline = time.monotonic() + 30
        while ray_processes(session) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ray_processes(session) == [], "Ray processes outlived the test module"


# --------------------------------------------------------------------------- sweeps


def test_ray_and_local_sweeps_write_the_same_records(tmp_path: Path) -> None:
    specs = specs_for([0, 1])
    by_ray = run_sweep(specs, tmp_path / "ray", workers=2, show_progress=False, backend="ray")
    by_pool = run_sweep(specs, tmp_path / "local", workers=2, show_progress=False)
    ray_files, local_files = on_disk(tmp_path / "ray"), on_disk(tmp_path / "local")
    assert sorted(ray_files) == sorted(local_files) == sorted(s.filename for s in specs)
    for name in ray_files:
        assert the_run(ray_files[name]) == the_run(local_files[name]), name
        assert ray_files[name]["backend"] == "ray" and local_files[name]["backend"] == "local"
        node = ray_files[name]["node"]
        assert node["id"] and node["hostname"] == socket.gethostname() and node["pid"] != os.getpid()
    assert [r["seed"] for r in by_ray] == [r["seed"] for r in by_pool] == [0, 1, 0, 1]
    # Resume: nothing is run again, nothing rewritten.
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "ray").glob("*.json")}
    again = run_sweep(specs, tmp_path / "ray", workers=2, show_progress=False, backend="ray")
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "ray").glob("*.json")} == before
    assert [the_run(r) for r in again] == [the_run(ray_files[s.filename]) for s in specs]


def test_logs_come_back_to_the_driver(tmp_path: Path) -> None:
    specs = specs_for([0])[:1]
    run_sweep(specs, tmp_path / "ray", show_progress=False, backend="ray", save_logs=True)
    run_sweep(specs, tmp_path / "local", show_progress=False, save_logs=True)
    name = specs[0].filename.replace(".json", ".npz")
    with np.load(tmp_path / "ray" / "logs" / name) as a, np.load(tmp_path / "local" / "logs" / name) as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])


def test_a_failed_run_is_reported_and_the_others_finish(tmp_path: Path) -> None:
    good = specs_for([0])
    bad = RunSpec(ENV, "random", 5, 300, env_kwargs={**SMALL, "n_items": -3})
    gpu = RunSpec(ENV, "neural-linear", 6, 300, env_kwargs=SMALL, agent_params={"device": "cuda"})
    # With an address the driver builds no env: the bad env fails inside its Ray task.
    with pytest.raises(SweepError) as caught:
        run_sweep([good[0], bad, gpu, good[1]], tmp_path, show_progress=False, backend="ray", address="auto")
    failures = {f.spec.seed: f.error for f in caught.value.failures}
    assert set(failures) == {5, 6}
    assert "n_items" in failures[5] and failures[5].startswith("ValueError")
    assert "GPU" in failures[6]
    assert "random seed 5" in str(caught.value) and "2 of 4 runs failed" in str(caught.value)
    assert sorted(on_disk(tmp_path)) == sorted(s.filename for s in good)
    assert sorted(caught.value.records) == [0, 3]


def test_gpu_runs_ask_ray_for_a_gpu() -> None:
    cpu = RunSpec(ENV, "linucb-shared", 0, 100)
    assert run_resources(cpu) == {"num_cpus": 1.0, "num_gpus": 0.0}
    for device in ("cuda", "cuda:1", "CUDA"):
        assert run_resources(RunSpec(ENV, "neural-linear", 0, 100, agent_params={"device": device}))["num_gpus"] == 1
    auto = RunSpec(ENV, "neural-linear", 0, 100, agent_params={"device": "auto"})
    assert run_resources(auto, cluster_gpus=0)["num_gpus"] == 0  # runs on CPU, as a local run would
    assert run_resources(auto, cluster_gpus=2)["num_gpus"] == 1
    assert run_resources(RunSpec(ENV, "ppo", 0, 100, agent_params={"device": "cpu"}), cluster_gpus=2)["num_gpus"] == 0


def test_a_killed_worker_is_retried_and_nothing_finished_is_lost(tmp_path: Path) -> None:
    specs = make_specs(ENV, ["linucb-shared"], seeds=range(4), horizon=10_000, env_kwargs=SMALL)
    out = tmp_path / "out"
    result: dict[str, Any] = {}

    def sweep() -> None:
        try:
            result["records"] = run_sweep(specs, out, workers=2, show_progress=False, backend="ray")
        except BaseException as exc:  # pragma: no cover (reported below)
            result["error"] = exc

    thread = threading.Thread(target=sweep)
    thread.start()
    victim, kept = None, {}
    deadline = time.monotonic() + 120
    while victim is None and thread.is_alive() and time.monotonic() < deadline:
        lines = subprocess.run(["ps", "-ww", "-eo", "pid=,args="], capture_output=True, text=True).stdout.splitlines()
        busy = [int(line.split()[0]) for line in lines if line.split()[1:2] == ["ray::run_task"]]
        if busy and any(out.glob("*.json")):  # a run in flight, and at least one finished
            kept = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.glob("*.json")}
            victim = busy[0]
            os.kill(victim, signal.SIGKILL)
        time.sleep(0.05)
    thread.join(timeout=900)
    assert not thread.is_alive(), "the sweep did not finish after a worker was killed"
    assert victim is not None, "no run was caught in flight; the test proved nothing"
    assert "error" not in result, result.get("error")
    records = result["records"]
    assert len(records) == len(specs) and len(list(out.glob("*.json"))) == len(specs)
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.glob("*.json")}
    assert {k: after[k] for k in kept} == kept, "a finished record was lost or rewritten"
    # The killed worker's records are those it finished before it died; its run in flight was redone.
    by_victim = {s.filename for s, r in zip(specs, records, strict=True) if r["node"]["pid"] == victim}
    assert by_victim <= set(kept)
    for spec in specs:  # the runs that ended after the kill (the retried one among them) are the same runs
        if spec.filename not in kept:
            stored = json.loads((out / spec.filename).read_text())
            assert the_run(stored) == the_run(json.loads(json.dumps(execute(spec), default=float)))


def test_cli_run_on_ray_with_address(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    args = ["run", "--agents", "random", "--seeds", "2", "--horizon", "200", "--env-arg", "n_items=200"]
    args += ["--env-arg", "n_users=100", "--out", str(out), "--quiet", "--no-plot", "--no-table"]
    assert main([*args, "--backend", "ray", "--address", "auto"]) == 0
    assert "(2 runs)" in capsys.readouterr().out
    assert {r["backend"] for r in on_disk(out).values()} == {"ray"}
    assert main([*args, "--address", "auto"]) == 2
    assert "--address needs --backend ray" in capsys.readouterr().err


def test_a_record_being_written_at_ctrl_c_is_still_stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while the driver writes a returned record: the run had ended, so it is stored on the way out."""
    specs = specs_for([0])
    calls: list[str] = []
    real = ray_backend.store

    def store(out: Path, spec: RunSpec, record: dict[str, Any], log: bytes | None) -> None:
        calls.append(spec.filename)
        if len(calls) == 1:
            raise KeyboardInterrupt  # as a Ctrl-C inside atomic_write_bytes, which removes its temporary file
        real(out, spec, record, log)

    monkeypatch.setattr(ray_backend, "store", store)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(specs, tmp_path, workers=2, show_progress=False, backend="ray")
    assert calls[0] in on_disk(tmp_path), "a run that had ended was lost at Ctrl-C"
    monkeypatch.undo()
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.json")}
    records = run_sweep(specs, tmp_path, workers=2, show_progress=False, backend="ray")
    assert [r["seed"] for r in records] == [0, 0]
    assert {k: v for k, v in ((p.name, p.stat().st_mtime_ns) for p in tmp_path.glob("*.json")) if k in before} == before


# --------------------------------------------------------------------------- Ctrl-C


def in_session(sid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the live processes of session ``sid``.

    A command started in a session of its own keeps there everything it starts: Ray's
    GCS, raylet and agents, and its workers, whose command lines (``ray::run_task``,
    ``ray::IDLE``) do not name the Ray session folder that ``ray_processes`` looks for.
    """
    out = subprocess.run(["ps", "-ww", "-eo", "pid=,sid=,stat=,args="], capture_output=True, text=True).stdout
    rows = [line.split(None, 3) for line in out.splitlines()]
    return [(int(r[0]), r[3] if len(r) > 3 else "") for r in rows if int(r[1]) == sid and r[2][0] != "Z"]


@contextlib.contextmanager
def driver(cmd: list[str], env: dict[str, str], cwd: Path) -> Iterator[subprocess.Popen[str]]:
    """``cmd`` in a session of its own; whatever of it still runs at the end is killed."""
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_restore_sigint,
    )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):  # a failed test leaves nothing running
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()


def left_behind(ray_tmp: Path, sid: int) -> list[int]:
    """The processes of a finished driver's Ray still alive after up to 30 s."""
    deadline = time.monotonic() + 30
    while (left := sorted({*ray_processes(str(ray_tmp)), *(pid for pid, _ in in_session(sid))})) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.2)
    return left


def check_records(out: Path, keys: dict[str, str], horizon: int) -> dict[str, tuple[int, bytes]]:
    """Every record in ``out`` is whole, of its spec and has its log; no temporary file is left."""
    files = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(out.glob("*.json"))}
    for name, (_, data) in files.items():
        record = json.loads(data)  # parses: no half-written file
        assert set(REQUIRED_FIELDS) <= set(record), name
        assert record["spec_key"] == keys[name], name
        assert record["horizon"] == horizon and record["curve"]["t"][-1] == horizon, name
        assert record["backend"] == "ray", name
        with np.load(out / "logs" / name.replace(".json", ".npz")) as log:  # its log, whole
            assert {len(log[k]) for k in log.files} == {horizon}, name
    assert [p.name for p in out.rglob("*") if p.name.endswith(".tmp")] == []
    return files


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX signals, ps sessions")
def test_ctrl_c_on_a_ray_sweep_keeps_every_finished_record_then_resumes(tmp_path: Path) -> None:
    """A real SIGINT to the driver of ``recbandit run --backend ray`` while runs are in flight, then the rerun."""
    horizon = 15_000
    out = tmp_path / "out"
    cmd = [
        sys.executable, "-m", "recbandit.cli", "run", "--agents", "random,linucb-shared", "--seeds", "3",
        "--horizon", str(horizon), "--env-arg", "n_items=200", "--env-arg", "n_users=100", "--out", str(out),
        "--backend", "ray", "--workers", "2", "--save-logs", "--quiet", "--no-plot", "--no-table",
    ]  # fmt: skip
    # The random runs end first, the linucb-shared ones take several times longer.
    specs = [
        RunSpec(ENV, a, s, horizon, env_kwargs=SMALL, label=a) for a in ("random", "linucb-shared") for s in range(3)
    ]
    keys = {s.filename: s.key for s in specs}
    # The driver's Ray gets a folder of its own (short: Ray's socket paths must fit in 107 bytes).
    ray_tmp = Path(tempfile.mkdtemp(prefix="rb-"))
    env = {**os.environ, "RAY_TMPDIR": str(ray_tmp)}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    try:
        with driver(cmd, env, tmp_path) as proc:
            deadline = time.monotonic() + 120
            while True:  # at least one record written and a run in flight
                before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.glob("*.json")}
                busy = [pid for pid, args in in_session(proc.pid) if args.split()[:1] == ["ray::run_task"]]
                if before and busy:
                    break
                assert proc.poll() is None, f"exited early with {proc.returncode}: {proc.communicate()}"
                assert time.monotonic() < deadline, "no record with a run in flight after 120 s"
                time.sleep(0.05)
            proc.send_signal(signal.SIGINT)
            stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 130, stderr
        lines = stderr.strip().splitlines()
        message = "recbandit run: interrupted; finished runs are saved, rerun the same command to resume"
        assert lines[-1] == message and "Traceback" not in stderr, stderr
        assert len(lines) <= 4, stderr  # Ray's start-up lines and the message, no wall
        assert "results:" not in stdout
        assert left_behind(ray_tmp, proc.pid) == [], "Ray processes outlived the interrupted sweep"
        interrupted = check_records(out, keys, horizon)
        assert {k: interrupted[k] for k in before} == before, "a record finished before Ctrl-C was lost or rewritten"
        assert len(interrupted) < len(specs), "the sweep ended anyway: the runs in flight were not stopped"

        with driver(cmd, env, tmp_path) as again:
            stdout, stderr = again.communicate(timeout=300)
        assert again.returncode == 0, stderr
        assert f"({len(specs)} runs)" in stdout
        assert left_behind(ray_tmp, again.pid) == [], "Ray processes outlived the resumed sweep"
        final = check_records(out, keys, horizon)
        assert sorted(final) == sorted(keys)
        # The runs that had finished were not run again: same file, same bytes (so same `created`).
        assert {k: final[k] for k in interrupted} == interrupted, "finished records were rewritten"
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)


# --------------------------------------------------------------------------- two nodes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_two_nodes_on_this_machine_both_run(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable, "PORT": str(free_port()), "HORIZON": "10000", "SEEDS": "3"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["OUT"] = str(tmp_path / "out")
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "ray_two_nodes.sh")], env=env, capture_output=True, text=True, timeout=1200
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "nodes used: 2" in done.stdout, done.stdout
    folder = done.stdout.split("cluster folder: ", 1)[1].split()[0]
    left = subprocess.run(["ps", "-ww", "-eo", "pid=,stat=,args="], capture_output=True, text=True).stdout.splitlines()
    assert [p for p in left if folder in p and p.split()[1][0] != "Z"] == [], "the cluster's processes outlived it"
    nodes = {r["node"]["id"] for r in on_disk(tmp_path / "out").values()}
    assert len(nodes) == 2 and len(on_disk(tmp_path / "out")) == 6


# --------------------------------------------------------------------------- tune


@pytest.mark.parametrize(
    "space, agent, match",
    [
        ("lr=log(1e-4,1e-2)", "ppo", r"ppo has no hyper-parameter 'lr'; its parameters: gamma, hidden"),
        ("learning_rate=log(0,1e-2)", "ppo", r"log range needs a lower bound > 0"),
        ("learning_rate=log(1e-2,1e-4)", "ppo", r"lower bound must be below the upper bound"),
        ("learning_rate=uniform(a,1)", "ppo", r"bound 'a' is not a number"),
        ("learning_rate=log(1e-4,inf)", "ppo", r"bound 'inf' is not finite"),
        ("n_steps=log(16.5,64)", "ppo", r"n_steps is an integer; its bounds must be integers"),
        ("gamma=uniform(0.5,1.5)", "ppo", r"gamma=1.5 is refused by ppo"),
        ("n_steps=16|0", "ppo", r"n_steps=0 is refused by ppo"),
        ("alpha=gauss(1,2)", "linucb-shared", r"ranges are log\(LOW,HIGH\) or uniform\(LOW,HIGH\)"),
        ("alpha", "linucb-shared", r"--space expects NAME=log"),
        ("alpha=1|2,alpha=3|4", "linucb-shared", r"'alpha' is given twice"),
        ("", "linucb-shared", r"--space is empty"),
        ("alpha=1|", "linucb-shared", r"an empty choice"),
        ("alpha=1|2", "no-such-agent", r"unknown agent|agent"),
    ],
)
def test_the_space_is_checked_against_the_agents_config(space: str, agent: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_space(space, agent)


def test_a_good_space_parses_with_its_types() -> None:
    dims = parse_space("learning_rate=log(1e-4,1e-2), n_steps=16|32|64, batch_size=log(32,256)", "ppo")
    assert [(d.name, d.kind, d.integer) for d in dims] == [
        ("learning_rate", "log", False),
        ("n_steps", "choice", False),
        ("batch_size", "log", True),
    ]
    assert dims[1].choices == (16, 32, 64)
    assert dims[0].describe() == "learning_rate=log(0.0001,0.01)"


def test_cli_tune_refuses_a_bad_space_before_anything_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tune"
    code = main(["tune", "--agent", "ppo", "--space", "lr=log(1e-4,1e-2)", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "has no hyper-parameter 'lr'" in err
    code = main(["tune", "--agent", "ppo", "--space", "gamma=0.9|0.99", "--first-seed", "3", "--out", str(out)])
    assert code == 2 and "first_seed must be >= 1000" in capsys.readouterr().err
    code = main(["tune", "--agent", "ppo", "--space", "gamma=0.9|0.99", "--metric", "return", "--out", str(out)])
    assert code == 2 and "needs an episodic env" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("metric", ["regret", "return"])
def test_the_reported_curve_ends_at_the_records_metric(metric: str) -> None:
    spec = RunSpec("recbandit/Session-v0", "linucb-shared", 1000, 1600, batch_size=16, agent_params={"alpha": 0.1})
    watch = _Watch(make_env(spec.env, batch_size=16))
    seen: list[float | None] = []
    record = execute(spec, None, lambda n: seen.append(watch.value(metric)) if n % 400 == 0 else None, env=watch)
    value = final_metric(record, metric)
    assert value is not None and seen[-1] == pytest.approx(value, rel=1e-12)
    assert the_run(record) == the_run(execute(spec))  # watching changes nothing


def test_tune_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "tune"
    summary = tune_agent(
        ENV, "linucb-shared", "alpha=log(0.01,3)", out, trials=3, seeds=2, horizon=1000, env_kwargs=SMALL, reports=2
    )
    rows = summary["trials"]
    assert len(rows) == 3 and all(r["error"] is None for r in rows)
    records = [json.loads(p.read_text()) for p in sorted((out / "trials").glob("*.json"))]
    assert len(records) == sum(r["seeds_done"] for r in rows) >= 2
    assert all(r["seed"] >= 1000 and "disjoint" in r["tune"]["seed_rule"] for r in records)
    assert all(r["backend"] == "ray" and r["node"]["id"] for r in records)
    best = summary["chosen"]
    assert best is not None and best["seeds_done"] == 2
    mine = [r for r in records if r["tune"]["config"] == best["params"]]
    assert sorted(r["seed"] for r in mine) == [1000, 1001]
    values = [final_metric(r, "regret") for r in mine]
    assert best["objective"] == pytest.approx(float(np.mean(values)))  # type: ignore[arg-type]
    complete = [r["objective"] for r in rows if r["seeds_done"] == 2]
    assert best["objective"] == min(complete)
    assert json.loads((out / "tune.json").read_text())["chosen"]["params"] == best["params"]
    # The chosen setting reruns outside Tune to the same regret on its tuning seed.
    again = execute(RunSpec(ENV, "linucb-shared", 1000, 1000, env_kwargs=SMALL, agent_params=best["params"]))
    first = next(r for r in mine if r["seed"] == 1000)
    assert again["cumulative_regret"] == first["cumulative_regret"]
