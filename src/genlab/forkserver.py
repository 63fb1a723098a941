"""A warm process that runs each local `genlab` call as a fork of itself, so a job does not pay the imports.

Every Snakemake job is one `genlab` process, and before its work each one imports torch, numpy, jsonschema,
the families and, for figures and tables, papermill: a second or two of a 2-core machine per job, which the
default run's ~200 jobs and the test suite's thesis miniature (~220) pay again and again. The Snakefile
starts this server when Snakemake runs the jobs on this machine (`start`, its onstart hook) and sets
GENLAB_FORKSERVER to the server's socket; `genlab.cli.main` then hands its command line, working folder,
environment and its three standard streams (as file descriptors) to the server, which forks a child that
has everything imported already. The child takes the caller's streams, folder and environment, sets torch's
thread count from OMP_NUM_THREADS (the OpenMP runtime read the variable when the server loaded it), seeds
the random generators from the OS as a fresh process does, runs `genlab.cli.main` and sends back its exit
code; the caller exits with it, forwarding SIGTERM and SIGUSR1 (the trainer checkpoints on them) meanwhile.

What the caller gets is what a fresh process gives: the same files, exit codes, logs and numbers
(tests/test_forkserver.py trains a model both ways and compares the checkpoints bit for bit). Any doubt
means a fresh process: no server, a server of another interpreter or genlab tree, another working folder,
another environment (beyond PER_JOB_ENV). A caller killed outright takes its child with it: the child
watches the socket and exits when the caller is gone. What differs: Snakemake's `benchmark:` files time
the caller, so their wall clock (`s`, which benchmarks/job_costs.py reads) is the job's, but their CPU and
memory columns are the caller's; the child's CPU seconds and peak memory end each successful job's log.

Clusters never use it: `start` does nothing unless Snakemake runs the jobs locally, and a job that cannot
reach the socket runs as a fresh process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ENV = "GENLAB_FORKSERVER"  # the socket's path, set by `start` for the jobs it serves
OFF = "off"  # GENLAB_FORKSERVER=off snakemake ...: every job a fresh process (to compare, or to debug)
# What Snakemake (thread counts, the temp folder) and DVC (the stage) set per job and what the shell in
# between sets or drops (a non-interactive bash drops PS1), which the child takes on itself; any other
# difference of environment means a fresh process
PER_JOB_ENV = {"OMP_NUM_THREADS", "GOTO_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "TMPDIR", "TMP", "TEMP", "TEMPDIR",
               "DVC_STAGE", "DVC_ROOT", "_", "SHLVL", "PWD", "OLDPWD", "PS1", "PS2", "PS3", "PS4",
               "PROMPT_COMMAND", "COLUMNS", "LINES", ENV}
# The CLI's heavy imports, loaded once in the server (each command still imports what it uses, lazily)
PRELOAD = ("torch", "numpy", "genlab.validation", "genlab.data", "genlab.families", "genlab.checkpoints",
           "genlab.train", "genlab.evaluation", "genlab.io", "genlab.generation", "genlab.figures",
           "genlab.tables", "papermill")
SERVED = "a fork of the warm process"  # in the line a served job's log ends with (tests and benchmarks look for it)
HEADER = 8  # a request's length in bytes, then the request: argv, identity and environment as JSON


def _identity() -> dict:
    """What caller and server must share for a fork to behave as a fresh process would."""
    import genlab
    return {"prefix": sys.prefix, "genlab": str(Path(genlab.__file__).resolve().parent), "cwd": os.getcwd(),
            "env": {k: v for k, v in os.environ.items() if k not in PER_JOB_ENV}}


# ---- the caller's side ------------------------------------------------------------------------------

def run_in_server(argv: list[str]) -> int | None:
    """Run `genlab argv` in the server named by GENLAB_FORKSERVER; None (run it yourself) when there is
    none or it refuses. Returns the command's exit code."""
    path = os.environ.get(ENV)
    if not path or path == OFF:
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
        request = json.dumps({"argv": argv, "identity": _identity(), "env": dict(os.environ)}).encode()
        socket.send_fds(conn, [len(request).to_bytes(HEADER, "big") + request], [0, 1, 2])
        answer = b""  # "pid N\n" once a fork runs the job, then its status; or "refused"
        while b"\n" not in answer and (chunk := conn.recv(4096)):
            answer += chunk
    except OSError:
        conn.close()
        return None  # no server (not yet up, or gone): a fresh process does the job
    if not answer.startswith(b"pid "):
        conn.close()
        return None
    line, _, reply = answer.partition(b"\n")
    child = int(line[4:])

    def forward(sig, frame):  # the trainer checkpoints on SIGTERM and SIGUSR1 (Slurm, Snakemake's cancel)
        try:
            os.kill(child, sig)
        except ProcessLookupError:
            pass

    for sig in (signal.SIGTERM, signal.SIGUSR1):
        signal.signal(sig, forward)
    try:  # from here on the job is the fork's: never run it a second time
        reply += _read_all(conn)  # the socket stays open until then: the fork takes its closing for our end
    except OSError:
        pass
    finally:
        conn.close()
    if not reply:
        print(f"genlab: error: the job's process {child} ended without an exit code (killed?)", file=sys.stderr)
        return 1
    status = json.loads(reply)
    if status["code"] == 0:  # a failed call's log keeps its one line naming the culprit
        print(f"genlab: ran as pid {child}, {SERVED}: {status['cpu_s']:.1f} CPU-s, "
              f"peak memory {status['max_rss_mb']:.0f} MB", file=sys.stderr)
    return int(status["code"])


def _read_all(conn: socket.socket, size: int | None = None) -> bytes:
    """Until `size` bytes, or until the other side closes."""
    chunks, got = [], 0
    while size is None or got < size:
        chunk = conn.recv(65536 if size is None else min(65536, size - got))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


# ---- the server's side ------------------------------------------------------------------------------

def serve(path: str, target: str = "genlab.cli:main") -> None:
    """Import the CLI's heavy modules, then fork a child per request until the parent or the socket is gone.

    `target` ("module:function", called with the argv list, returning an exit code) is the CLI; tests
    pass a probe."""
    import gc
    import importlib

    import torch
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # an optional extra not installed: its commands import it (and fail) as before
    module, function = target.split(":")
    main = getattr(importlib.import_module(module), function)
    if torch.cuda.is_initialized():
        return  # CUDA does not survive a fork: the callers find no socket and start fresh
    gc.freeze()  # the preloaded objects stay out of the children's collections (fewer copied pages)
    identity = _identity()
    parent = os.getppid()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the children are reaped by the kernel
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = f"{path}.{os.getpid()}"
    server.bind(tmp)
    server.listen(16)
    os.replace(tmp, path)  # callers see the socket only once the imports are done
    server.settimeout(1.0)
    try:
        while os.getppid() == parent and os.path.exists(path):
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            conn.settimeout(None)
            _answer(server, conn, identity, main)
    except KeyboardInterrupt:
        pass  # Ctrl-C on the Snakemake run: its jobs see it too
    finally:
        _remove(path)  # only the server gets here: a fork always ends in os._exit


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _answer(server: socket.socket, conn: socket.socket, identity: dict, main) -> None:
    fds: list[int] = []
    try:
        message, fds, _, _ = socket.recv_fds(conn, 65536, 3)
        size = int.from_bytes(message[:HEADER], "big")
        body = message[HEADER:]
        request = json.loads(body + _read_all(conn, size - len(body)))
        if request.get("identity") != identity or len(fds) != 3:
            conn.sendall(b"refused")
            return
        if os.fork() == 0:
            try:
                server.close()
                _child(conn, fds, request, main)
            finally:
                os._exit(1)  # a child never returns to the server's loop
    except Exception:  # noqa: BLE001 - one caller's broken request must not end the server
        pass  # the caller runs the job itself, or has ended
    finally:
        for fd in fds:
            os.close(fd)
        conn.close()


def _child(conn: socket.socket, fds: list[int], request: dict, main) -> None:
    """Become the caller's `genlab` process, run the command, send its exit code back, exit."""
    code = 1
    try:
        for target_fd, fd in enumerate(fds):
            os.dup2(fd, target_fd)  # the caller's stdin, stdout and stderr
            os.close(fd)
        fds.clear()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # subprocess.wait needs its children back
        os.environ.clear()
        os.environ.update(request["env"])
        tempfile.tempdir = None  # the job's TMPDIR, not the server's
        import random

        import numpy
        import torch
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1))
        # seeded from the OS as in a fresh process, not the server's state shared by every fork
        torch.seed()
        random.seed()
        numpy.random.seed()
        sys.stdin = open(0, closefd=False)
        sys.stdout = open(1, "w", closefd=False)
        sys.stderr = open(2, "w", buffering=1, errors="backslashreplace", closefd=False)  # as Python's own
        sys.argv = ["genlab", *request["argv"]]
        conn.sendall(f"pid {os.getpid()}\n".encode())
        threading.Thread(target=_exit_when_caller_goes, args=(conn,), daemon=True).start()
        code = main(request["argv"])
    except KeyboardInterrupt:
        import traceback
        traceback.print_exc()
        code = 130  # as Python exits on Ctrl-C
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        if isinstance(stop.code, str):
            print(stop.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - a job's crash must reach its log, as in a fresh process
        import traceback
        traceback.print_exc()
    finally:
        try:
            import logging
            logging.shutdown()  # what a fresh process's exit would flush (os._exit skips atexit)
            sys.stdout.flush()
            sys.stderr.flush()
            import resource
            usage = resource.getrusage(resource.RUSAGE_SELF)
            conn.sendall(json.dumps({"code": code, "cpu_s": usage.ru_utime + usage.ru_stime,
                                     "max_rss_mb": usage.ru_maxrss / 1024}).encode())
        finally:
            os._exit(code if isinstance(code, int) else 1)


def _exit_when_caller_goes(conn: socket.socket) -> None:
    """The caller sends nothing after its request: a read returns only when it is gone."""
    try:
        conn.recv(1)
    except OSError:
        pass
    os._exit(143)  # as a fresh process killed with the caller would


# ---- Snakemake's hooks -------------------------------------------------------------------------------

_server: subprocess.Popen | None = None


def start(log: str | None = None) -> None:
    """Start the server for the jobs this Snakemake process runs locally (its onstart hook)."""
    global _server
    if _server is not None or os.environ.get(ENV):
        return  # running already, or switched off
    folder = tempfile.mkdtemp(prefix="genlab-fork-", dir="/tmp" if os.path.isdir("/tmp") else None)
    path = os.path.join(folder, "socket")  # a socket's path must fit in 107 bytes: hence /tmp
    if log:
        os.makedirs(os.path.dirname(log), exist_ok=True)
    out = open(log, "ab") if log else subprocess.DEVNULL
    _server = subprocess.Popen([sys.executable, "-m", "genlab.forkserver", path], stdin=subprocess.DEVNULL,
                               stdout=out, stderr=out)
    if log:
        out.close()  # the server holds its own copy
    # Wait for its imports (a second or two) so that the first jobs find it too; a server that died (its
    # log says why) leaves the jobs to start fresh
    deadline = time.monotonic() + 120
    while not os.path.exists(path) and _server.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.environ[ENV] = path


def stop() -> None:
    """Stop it (onsuccess / onerror); a server whose Snakemake dies stops by itself within a second."""
    global _server
    if _server is None:
        return
    path = os.environ.pop(ENV, None)
    _server.terminate()
    _server.wait()
    _server = None
    if path:
        _remove(path)
        try:
            os.rmdir(os.path.dirname(path))
        except OSError:
            pass


if __name__ == "__main__":
    serve(*sys.argv[1:])
