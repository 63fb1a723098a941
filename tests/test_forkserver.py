"""The warm process (genlab.forkserver) runs a `genlab` call as a fresh process would: the caller's streams,
folder, environment, thread count and exit code; the same trained numbers bit for bit; a fresh process
whenever it cannot be sure; and no child left running when the caller is killed."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from genlab import forkserver
from genlab.checkpoints import load_checkpoint
from genlab.data import make_dataset
from tests.conftest import small_params

REPO = Path(__file__).resolve().parents[1]
FELL_BACK = 255  # what the client script below exits with when the server did not run the call

PROBE = '''
import os, signal, sys, time
import torch

torch.rand(3)  # an import that draws: forks must not share the server's random state

def main(argv):
    what = argv[0]
    if what == "report":
        product = torch.ones(512, 512) @ torch.ones(512, 512)  # a parallel region: no deadlock after the fork
        assert product[0, 0] == 512
        print(os.getcwd(), os.environ.get("PROBE_VALUE"), torch.get_num_threads(), sys.argv[1:], torch.rand(1).item())
        print("to stderr", file=sys.stderr)
        return 0
    if what == "exit":
        return int(argv[1])
    if what == "raise":
        raise RuntimeError("the probe failed")
    if what == "sleep":
        def checkpoint_and_exit(sig, frame):  # as the trainer does on SIGTERM
            open(argv[1] + ".term", "w").write("checkpointed")
            sys.exit(143)
        signal.signal(signal.SIGTERM, checkpoint_and_exit)
        open(argv[1], "w").write(str(os.getpid()))
        time.sleep(120)
    return 0
'''
CLIENT = ("import sys; from genlab import forkserver; code = forkserver.run_in_server(sys.argv[1:]); "
          f"sys.exit({FELL_BACK} if code is None else code)")


def _wait_for(path, seconds=120):
    deadline = time.monotonic() + seconds
    while not os.path.exists(path):
        assert time.monotonic() < deadline, "the server never opened its socket"
        time.sleep(0.05)


@pytest.fixture
def env(tmp_path):
    """One environment for server and callers (pytest changes its own variables between test phases)."""
    (tmp_path / "probe.py").write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if k not in ("GENLAB_FORKSERVER", "OMP_NUM_THREADS")}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(REPO)])
    return env


def _server(tmp_path, env, target=None):
    socket_path = str(tmp_path / "socket")
    command = [sys.executable, "-m", "genlab.forkserver", socket_path] + ([target] if target else [])
    server = subprocess.Popen(command, env=env, cwd=tmp_path)
    _wait_for(socket_path)
    return server, socket_path


@pytest.fixture
def probe_server(tmp_path, env):
    server, socket_path = _server(tmp_path, env, "probe:main")
    yield socket_path
    server.terminate()
    server.wait()


def _call(tmp_path, env, socket_path, *args, **extra_env):
    return subprocess.run([sys.executable, "-c", CLIENT, *args], capture_output=True, text=True, cwd=tmp_path,
                          env={**env, "GENLAB_FORKSERVER": socket_path, **extra_env})


def test_a_fork_takes_the_callers_streams_folder_environment_and_threads(tmp_path, env, probe_server):
    draws = set()
    for threads in ("1", "2"):
        result = _call(tmp_path, env, probe_server, "report", "x y", OMP_NUM_THREADS=threads, TMPDIR="/tmp")
        assert result.returncode == 0, result.stderr
        *report, draw = result.stdout.split()
        assert " ".join(report) == f"{tmp_path} None {threads} ['report', 'x y']"
        assert result.stderr.startswith("to stderr\n") and forkserver.SERVED in result.stderr
        draws.add(draw)
    assert len(draws) == 2  # each fork seeded from the OS, as fresh processes are (torch 2.13 seeds so)


def test_exit_codes_and_crashes_come_back(tmp_path, env, probe_server):
    assert _call(tmp_path, env, probe_server, "exit", "3").returncode == 3
    crashed = _call(tmp_path, env, probe_server, "raise")
    assert crashed.returncode == 1 and "RuntimeError: the probe failed" in crashed.stderr


def test_a_call_it_cannot_vouch_for_runs_as_a_fresh_process(tmp_path, env, probe_server):
    # another environment (a variable the preloaded modules might have read), another folder, no server
    assert _call(tmp_path, env, probe_server, "report", PROBE_VALUE="1").returncode == FELL_BACK
    other = tmp_path / "elsewhere"
    other.mkdir()
    moved = subprocess.run([sys.executable, "-c", CLIENT, "report"], capture_output=True, cwd=other,
                           env={**env, "GENLAB_FORKSERVER": probe_server})
    assert moved.returncode == FELL_BACK
    assert _call(tmp_path, env, str(tmp_path / "absent"), "report").returncode == FELL_BACK
    assert _call(tmp_path, env, probe_server, "report").returncode == 0  # the server still serves


def test_killing_the_caller_kills_the_fork(tmp_path, env, probe_server):
    pid_file = tmp_path / "pid"
    caller = subprocess.Popen([sys.executable, "-c", CLIENT, "sleep", str(pid_file)], cwd=tmp_path,
                              env={**env, "GENLAB_FORKSERVER": probe_server})
    _wait_for(pid_file, 60)
    while not pid_file.read_text():
        time.sleep(0.05)
    child = int(pid_file.read_text())
    caller.send_signal(signal.SIGKILL)
    caller.wait()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child}").exists() and Path(f"/proc/{child}/stat").read_text().split()[2] != "Z":
        assert time.monotonic() < deadline, "the fork outlived its caller"
        time.sleep(0.05)


def _catches(pid, sig):
    caught = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("SigCgt"))
    return bool(int(caught.split()[1], 16) >> (sig - 1) & 1)


def test_sigterm_reaches_the_fork(tmp_path, env, probe_server):
    # Snakemake cancelling a job, or Slurm's preemption: the trainer checkpoints before it exits
    pid_file = tmp_path / "pid"
    caller = subprocess.Popen([sys.executable, "-c", CLIENT, "sleep", str(pid_file)], cwd=tmp_path,
                              env={**env, "GENLAB_FORKSERVER": probe_server})
    _wait_for(pid_file, 60)
    while not pid_file.read_text() or not _catches(caller.pid, signal.SIGTERM):  # the caller forwards it
        time.sleep(0.05)
    caller.send_signal(signal.SIGTERM)
    assert caller.wait(timeout=30) == 143
    assert (tmp_path / "pid.term").read_text() == "checkpointed"


def test_the_server_stops_with_its_parent(tmp_path, env):
    # Snakemake killed hard never calls stop(): the server notices its parent is gone
    socket_path = str(tmp_path / "socket")
    parent = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; "
                               f"subprocess.Popen([sys.executable, '-m', 'genlab.forkserver', {socket_path!r}, "
                               "'probe:main']); time.sleep(600)"], env=env, cwd=tmp_path)
    _wait_for(socket_path)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while os.path.exists(socket_path) and _call(tmp_path, env, socket_path, "report").returncode == 0:
        assert time.monotonic() < deadline, "the server outlived its parent"
        time.sleep(0.2)


def test_the_cli_trains_the_same_numbers_forked_as_fresh(tmp_path, env):
    params = small_params()
    params["models"]["diffusion_vp"]["training"].update(steps=30, batch_size=32, checkpoint_every=10)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    make_dataset("digits", params["datasets"]["digits"], params["seed"]).save(tmp_path / "digits.npz")
    server, socket_path = _server(tmp_path, env)
    try:
        runs = {}
        for name, extra in (("fresh", {}), ("forked", {"GENLAB_FORKSERVER": socket_path})):
            result = subprocess.run(
                [sys.executable, "-m", "genlab.cli", "train", "--params", "params.yaml", "--dataset", "digits",
                 "--model", "diffusion_vp", "--data", "digits.npz", "--run-dir", name, "--no-progress"],
                capture_output=True, text=True, cwd=tmp_path, env={**env, "OMP_NUM_THREADS": "1", **extra})
            assert result.returncode == 0, result.stderr[-3000:]
            assert (forkserver.SERVED in result.stderr) == (name == "forked")
            runs[name] = load_checkpoint(tmp_path / name / "checkpoint.pt")
        bad = subprocess.run([sys.executable, "-m", "genlab.cli", "check-params", "--params", "absent.yaml"],
                             capture_output=True, text=True, cwd=tmp_path, env={**env, "GENLAB_FORKSERVER": socket_path})
    finally:
        server.terminate()
        server.wait()
    for key in ("model", "ema"):
        for name, tensor in runs["fresh"][key].items():
            assert torch.equal(tensor, runs["forked"][key][name]), f"{key}.{name}"
    assert bad.returncode == 2  # with its one line, as from a fresh process
    assert bad.stderr == "genlab: error: params file absent.yaml does not exist (try params/default.yaml)\n"
