"""The supervisor of one submission: runs its notebook cell by cell in a kernel of its own.

The grader starts this file as a separate process (`python runner.py JOB.json`, in a session of
its own), so a kernel that kills its parent, or its parent's process group, ends this supervisor
and never the grader, which holds the results. The executed notebook goes back on stdout.

Inside: an endless loop is interrupted (or the kernel restarted, the cells that ran before
replayed), a dying kernel is restarted, and the other cells still run.

Test cells do not go through IPython's `run_cell`: each is sent as a `user_expressions` entry of an
execute request (see `verdict_expression`), which the kernel evaluates with `eval` after the request's
own code ("pass"). So a submission that patched `run_cell`, `run_cell_async`, the input or AST
transformers, `showtraceback` or the display hooks cannot make a failing test report success: the
test's verdict is the expression's value, which carries a random nonce only a test that ran to its
end returns (no nonce: failed). Before the test, in the same expression, the exercise's own helpers
(the job's `preamble`) and the values it reads from fixed cells (the job's `rebind`) are bound
again, so an answer cell that redefined `expect` or reassigned a fixed cell's data does not pass a
test. The kernel starts with a memory limit (RLIMIT_AS), a file-size limit and, where the
grader found bubblewrap, inside its sandbox (the job's `kernel_prefix`). Each code cell gets
`metadata.grader = {"status": ok|error|timeout|died|out_of_memory|not_run, "ename", "evalue", "seconds"}`.

This file imports nothing from the package, so a supervisor starts without importing torch.
"""
from __future__ import annotations

import time

STARTED = time.perf_counter()  # before the imports: a supervisor's own start is a phase of grading

import ast
import asyncio
import copy
import json
import os
import re
import resource
import secrets
import sys
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

MAX_STREAM_CHARS = 20_000
PROBE_TIMEOUT = 15
STARTUP_TIMEOUT = 120
KERNEL_NAME = "pretext-grading"
# how an allocation refused by RLIMIT_AS shows up: Python, NumPy, PyTorch's CPU allocator, C++, threads
OUT_OF_MEMORY = re.compile(r"MemoryError|can't allocate memory|Cannot allocate memory|bad_alloc|"
                           r"can't start new thread|out of memory", re.I)


TEST_KEY = "pretext_grader_test"  # the user_expressions key of a test's verdict
# Run in the kernel by `eval` (user_expressions): execs the harness in a dict of its own that holds the
# user's namespace, and returns the harness's verdict.
_EXPRESSION = "[exec({harness!r}, _d) or _d['_verdict'] for _d in [{{'_ns': (lambda: 0).__globals__}}]][0]"
_HARNESS = """\
import ast as _ast
exec(compile({preamble!r}, '<grader: fixed helpers bound again>', 'exec'), _ns)
exec(compile({restore!r}, '<grader: fixed data bound again>', 'exec'))
_tree = _ast.parse({source!r})
_last = _tree.body.pop() if _tree.body and isinstance(_tree.body[-1], _ast.Expr) else None
exec(compile(_tree, '<hidden test>', 'exec'), _ns)
_value = None if _last is None else eval(compile(_ast.Expression(_last.value), '<hidden test>', 'eval'), _ns)
_verdict = {nonce!r} + ':' + ('' if _value is None else repr(_value))
"""


def verdict_expression(source: str, preamble: str, nonce: str, restore: str = "") -> str:
    """The expression that runs one test cell in the kernel; its value starts with `nonce`.

    Before the test: `preamble` in the user's namespace (helpers bound again), then `restore` with
    `_ns` the user's namespace (fixed data bound again, see rebind.restore_code). The test's last
    expression, if any, is evaluated and its repr returned after the nonce (a number there is
    partial credit, as nbgrader reads a test's displayed value).
    """
    return _EXPRESSION.format(harness=_HARNESS.format(preamble=preamble, restore=restore, source=source,
                                                      nonce=nonce))


def code_expression(code: str) -> str:
    """An expression that execs `code` with `_ns` the user's namespace and returns 'ok' (see rebind)."""
    return _EXPRESSION.format(harness=code + "\n_verdict = 'ok'\n")


def read_verdict(reply: dict, key: str, nonce: str) -> dict:
    """A test's grader status from the execute reply of its expression.

    Passed only when the expression returned a text that starts with the nonce; an error in the
    test comes back as the expression's error; anything else (no value, a value without the nonce,
    a request whose own code failed) is a failure that says the kernel was tampered with.
    """
    if reply.get("status") == "error" and reply.get("ename") == "CellTimeoutError":
        return {"status": "timeout", "ename": reply["ename"], "evalue": reply.get("evalue", "")}
    value = (reply.get("user_expressions") or {}).get(key)
    tampered = {"status": "error", "ename": "GraderError",
                "evalue": "the test's result did not come back from the kernel (the submission changed how the "
                          "kernel runs code or reports results); the test counts as failed"}
    if not isinstance(value, dict):
        return tampered
    if value.get("status") == "error":
        ename, evalue = str(value.get("ename", "")), str(value.get("evalue", ""))
        if ename == "KeyboardInterrupt":
            return {"status": "timeout", "ename": "CellTimeoutError", "evalue": "the test was interrupted"}
        return {"status": "error", "ename": ename, "evalue": evalue, "traceback": value.get("traceback", [])}
    text = value.get("data", {}).get("text/plain", "") if value.get("status") == "ok" else ""
    try:
        verdict = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return tampered
    if not isinstance(verdict, str) or not verdict.startswith(nonce + ":"):
        return tampered
    return {"status": "ok", "value": verdict[len(nonce) + 1:]}


def _trim_streams(cell) -> None:
    # a print in an endless loop must not make the graded notebook huge
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and len(out.get("text", "")) > MAX_STREAM_CHARS:
            out["text"] = out["text"][:MAX_STREAM_CHARS] + "\n... [output cut by the grader]\n"


def _grade_id(cell):
    m = cell.get("metadata", {}).get("nbgrader", {})
    return m.get("grade_id") if isinstance(m, dict) else None


def _is_answer(cell) -> bool:
    m = cell.get("metadata", {}).get("nbgrader", {})
    return isinstance(m, dict) and bool(m.get("solution"))


def _is_test(cell) -> bool:
    m = cell.get("metadata", {}).get("nbgrader", {})
    return isinstance(m, dict) and bool(m.get("grade")) and not m.get("solution") and cell.get("cell_type") == "code"


def kernel_manager(workdir: Path, prefix: list[str]) -> AsyncKernelManager:
    """A kernel manager for this grading kernel: `prefix` (the sandbox) before the kernel's command.

    The kernel talks over Unix sockets in workdir/ipc, which a sandbox without a network still shares.
    """
    spec_dir = workdir / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    ipc = workdir / "ipc"
    ipc.mkdir(exist_ok=True)
    spec = {"argv": [*prefix, sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "grading", "language": "python",
            # a signal would also reach the sandbox's own process; a message reaches the kernel alone
            "interrupt_mode": "message"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return AsyncKernelManager(kernel_name=KERNEL_NAME, transport="ipc", ip=str(ipc / "k"),
                              connection_file=str(ipc / "kernel.json"),
                              kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(workdir / "kernels")]))


FILE_BYTES = 2**30  # the largest file a kernel may write (RLIMIT_FSIZE): a write beyond it fails (EFBIG)


def limits(memory_bytes: int, file_bytes: int = FILE_BYTES):
    """The function the kernel's process runs before it starts: no core files, at most `memory_bytes`
    of address space, no file larger than `file_bytes`."""
    def apply():
        # best effort: some systems (macOS) refuse RLIMIT_AS; the kernel then runs without the limit
        wanted = [(resource.RLIMIT_CORE, 0), (resource.RLIMIT_FSIZE, file_bytes)]
        wanted += [(resource.RLIMIT_AS, memory_bytes)] if memory_bytes else []
        for limit, value in wanted:
            try:
                resource.setrlimit(limit, (value, value))
            except (ValueError, OSError):
                pass
    return apply


class _Run:
    """One notebook's execution: the client, the replies it saw, the limits it reports."""

    def __init__(self, nb, cwd: str, km, memory_bytes: int = 0, preamble: str = "", rebind: dict | None = None):
        self.replies: dict[int, dict] = {}
        self.memory_bytes = memory_bytes
        self.preamble = preamble
        self.rebind = rebind or {"snapshots": {}, "tests": {}}  # grade_id -> code (see rebind.py)
        self.profile: dict[str, float] = {}  # phase -> wall seconds (see PHASES)
        self.client = NotebookClient(
            nb, km=km, allow_errors=True, interrupt_on_timeout=True, record_timing=False, shutdown_kernel="immediate",
            startup_timeout=STARTUP_TIMEOUT, resources={"metadata": {"path": cwd}},
            on_cell_executed=self._on_executed)

    def count(self, phase: str, start: float) -> None:
        """Add the seconds since `start` (time.perf_counter) to `phase`."""
        self.profile[phase] = self.profile.get(phase, 0.0) + time.perf_counter() - start

    def _on_executed(self, cell, cell_index, execute_reply):
        self.replies[cell_index] = execute_reply.get("content", {})

    def out_of_memory(self, ename: str, evalue: str) -> dict:
        limit = f" of {self.memory_bytes / 2**30:g} GB" if self.memory_bytes else ""
        detail = f"{ename}: {evalue}".strip(": ")[:200]
        return {"status": "out_of_memory", "ename": "OutOfMemory",
                "evalue": f"out of memory: the cell needed more memory than the grader's limit{limit} per "
                          f"kernel ({detail})"}

    async def execute(self, cell, index: int, timeout: float, user_expressions: dict | None = None) -> dict:
        """Run one cell (with `user_expressions` in its request); returns its grader status (outputs filled in place)."""
        if user_expressions:
            kc = self.client.kc
            send = kc.execute
            kc.execute = lambda code, **kw: send(code, **{**kw, "user_expressions": user_expressions})
            try:
                return await self.execute(cell, index, timeout)
            finally:
                kc.execute = send
        seconds = max(1, int(timeout))
        self.client.timeout = seconds
        self.client.error_on_timeout = {"ename": "CellTimeoutError", "traceback": [],
                                        "evalue": f"the cell ran longer than {seconds} s and was stopped"}
        self.replies.pop(index, None)
        start = time.perf_counter()
        try:
            await self.client.async_execute_cell(cell, index)
        except DeadKernelError:
            return {"status": "died", "ename": "DeadKernelError", "seconds": round(time.perf_counter() - start, 3),
                    "evalue": "the kernel died while running this cell (a crash, os._exit or out of memory)"}
        reply = self.replies.get(index, {})
        info = {"status": "ok", "seconds": round(time.perf_counter() - start, 3)}
        if reply.get("status") == "error":
            ename, evalue = reply.get("ename", ""), reply.get("evalue", "")
            if ename == "CellTimeoutError":
                info.update(status="timeout", ename=ename, evalue=evalue)
            elif OUT_OF_MEMORY.search(f"{ename}: {evalue}"):
                info.update(self.out_of_memory(ename, evalue))
            else:
                info.update(status="error", ename=ename, evalue=evalue)
        return info

    async def execute_test(self, cell, index: int, timeout: float) -> dict:
        """Run a test cell as a verified expression (see `verdict_expression`); its outputs go to `cell`."""
        nonce = secrets.token_hex(16)
        restore = self.rebind["tests"].get(_grade_id(cell), "")
        expression = verdict_expression(cell.source, self.preamble, nonce, restore)
        source, cell.source = cell.source, "pass"
        try:
            info = await self.execute(cell, index, timeout, {TEST_KEY: expression})
        finally:
            cell.source = source
        if info["status"] in ("died", "timeout"):
            return info
        reply = self.replies.get(index, {})
        if info["status"] == "error":  # the request's own "pass" failed: the kernel is not running code as sent
            reply = {}
        verdict = read_verdict(reply, TEST_KEY, nonce)
        verdict["seconds"] = info.get("seconds", 0)
        if verdict["status"] == "error":
            if OUT_OF_MEMORY.search(f"{verdict['ename']}: {verdict['evalue']}"):
                verdict.update(self.out_of_memory(verdict["ename"], verdict["evalue"]))
            cell.outputs.append(nbformat.v4.new_output("error", ename=verdict["ename"], evalue=verdict["evalue"],
                                                       traceback=verdict.pop("traceback", [])))
        elif verdict["status"] == "ok":
            value = verdict.pop("value")
            if value:  # the test's last expression, shown as nbgrader shows it (a number is partial credit)
                cell.outputs.append(nbformat.v4.new_output("execute_result", data={"text/plain": value},
                                                           execution_count=None))
        return verdict

    async def execute_aside(self, cell, timeout: float) -> dict:
        """Run a cell that is not part of the graded notebook (a probe, a replay, the helpers' preamble)."""
        graded, self.client.nb = self.client.nb, nbformat.v4.new_notebook(cells=[cell])
        try:
            return await self.execute(cell, 0, timeout)
        finally:
            self.client.nb = graded

    async def keep_fixed_values(self, cell) -> None:
        """After a fixed cell that ran: keep a copy of the values tests read from it (see rebind.py)."""
        code = self.rebind["snapshots"].get(_grade_id(cell))
        if code:
            start = time.perf_counter()
            aside = nbformat.v4.new_code_cell("pass")
            graded, self.client.nb = self.client.nb, nbformat.v4.new_notebook(cells=[aside])
            try:
                await self.execute(aside, 0, PROBE_TIMEOUT * 4, {TEST_KEY: code_expression(code)})
            finally:
                self.client.nb = graded
                self.count("fixed values kept", start)

    async def responsive(self) -> bool:
        """Whether the kernel answers a trivial cell (an interrupt may not stop code that swallows it)."""
        return (await self.execute_aside(nbformat.v4.new_code_cell("pass"), PROBE_TIMEOUT))["status"] == "ok"

    async def restart(self, done: list) -> None:
        """A fresh kernel that has run again every cell that succeeded before (on copies)."""
        start = time.perf_counter()
        await self.client.km.restart_kernel(now=True)
        await self.client.kc.wait_for_ready(timeout=STARTUP_TIMEOUT)
        for cell in done:
            if (await self.execute_aside(copy.deepcopy(cell), PROBE_TIMEOUT * 4))["status"] == "ok":
                await self.keep_fixed_values(cell)
        self.count("restarts", start)


# the phases of one submission's run that `run_notebook` times (its `profile`)
PHASES = ("kernel start", "set-up cell", "fixed cells", "answer cells", "fixed values kept", "tests", "restarts",
          "kernel shut-down")


async def run_notebook(nb, cell_timeout: float, notebook_timeout: float, cwd: str, km, env: dict | None = None,
                       kernel_log=None, memory_bytes: int = 0, preamble: str = "", rebind: dict | None = None,
                       profile: dict | None = None) -> None:
    """Execute `nb` in place, cell by cell, under both time limits.

    `env` is the kernel's whole environment (default: this process's); `kernel_log` an open file
    for the kernel's own output; `preamble` code run before each test cell; `rebind` the code that
    keeps and binds again the fixed cells' values ({"snapshots": {grade_id: code}, "tests": {grade_id: code}});
    `profile`, a dict, gets the wall seconds of each of PHASES (the kernel's start includes the sandbox's).
    """
    deadline = time.monotonic() + notebook_timeout
    run = _Run(nb, cwd, km, memory_bytes, preamble, rebind)
    launch = {"preexec_fn": limits(memory_bytes)}
    if env is not None:
        launch["env"] = env
    if kernel_log is not None:
        launch.update(stdout=kernel_log, stderr=kernel_log)
    if profile is not None:
        run.profile = profile
    start = time.perf_counter()
    try:
        # cleanup_kc: nbclient shuts down a kernel manager it was given only when asked to
        async with run.client.async_setup_kernel(cleanup_kc=True, **launch):
            run.count("kernel start", start)
            await _run_cells(run, nb, cell_timeout, notebook_timeout, deadline, preamble)
            start = time.perf_counter()
    finally:
        if km.has_kernel and km.provisioner is not None:
            await km.provisioner.kill()  # its whole process group; the grader also ends what escaped it
        run.count("kernel shut-down", start)


async def _run_cells(run: _Run, nb, cell_timeout: float, notebook_timeout: float, deadline: float,
                     preamble: str) -> None:
    done, ran = [], False  # ran: a code cell ran before (the first one is the set-up: imports, data)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        left = deadline - time.monotonic()
        if left < 1:
            cell.metadata["grader"] = {"status": "not_run", "ename": "NotebookTimeout", "seconds": 0,
                                       "evalue": f"not run: the notebook's time limit of {notebook_timeout:.0f} s "
                                                 f"was used up by earlier cells"}
            continue
        start = time.perf_counter()
        if _is_test(cell):
            info = await run.execute_test(cell, index, min(cell_timeout, left))
            run.count("tests", start)
        else:
            info = await run.execute(cell, index, min(cell_timeout, left))
            run.count("answer cells" if _is_answer(cell) else "fixed cells" if ran else "set-up cell", start)
        ran = True
        cell.metadata["grader"] = info
        _trim_streams(cell)
        if info["status"] == "ok" and not _is_test(cell):  # a restart replays what built the state, not tests
            done.append(cell)
            if not _is_answer(cell):
                await run.keep_fixed_values(cell)
        elif info["status"] == "died" or (info["status"] == "timeout" and not await run.responsive()):
            await run.restart(done)


def supervise(job: dict) -> dict:
    """Run one job (see grader.execute) to the end; the executed notebook and an error text or None."""
    workdir = Path(job["workdir"])
    nb = nbformat.read(job["notebook"], as_version=4)
    km = kernel_manager(workdir, job.get("kernel_prefix", []))
    error = None
    profile = {"supervisor start": time.perf_counter() - STARTED}
    with open(workdir / "kernel.log", "w") as log:
        try:
            asyncio.run(asyncio.wait_for(
                run_notebook(nb, job["cell_timeout"], job["timeout"], job["cwd"], km, env=job["env"],
                             kernel_log=log, memory_bytes=job.get("memory_bytes", 0),
                             preamble=job.get("preamble", ""), rebind=job.get("rebind"), profile=profile),
                job["timeout"] + job["grace"]))
        except asyncio.TimeoutError:
            error = f"grading was stopped after {job['timeout'] + job['grace']:.0f} s"
        except Exception as err:  # noqa: BLE001 - e.g. a kernel that never starts; the report says so
            error = f"the notebook could not be run ({type(err).__name__}: {err})"
    return {"notebook": nb, "error": error, "profile": profile}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    result = supervise(job)
    # stdout is a pipe to the grader: the kernel writes to its log file, never here
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    out.write(json.dumps(result))
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
