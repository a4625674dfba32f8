"""Execute one notebook cell by cell in its own kernel, with a per-cell and a per-notebook time limit.

The student's code runs only in the kernel, a separate process: an endless loop is interrupted
(or the kernel restarted, the cells that ran before replayed), a dying kernel is restarted, and
the other cells still run. Each code cell gets
`metadata.grader = {"status": ok|error|timeout|died|not_run, "ename", "evalue", "seconds"}`.
"""
from __future__ import annotations

import asyncio
import copy
import time
from pathlib import Path

MAX_STREAM_CHARS = 20_000
PROBE_TIMEOUT = 15
STARTUP_TIMEOUT = 120


def _trim_streams(cell) -> None:
    # a print in an endless loop must not make the graded notebook huge
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and len(out.get("text", "")) > MAX_STREAM_CHARS:
            out["text"] = out["text"][:MAX_STREAM_CHARS] + "\n... [output cut by the grader]\n"


class _Run:
    """One notebook's execution: the client, the replies it saw, the kernel's pid for a last-resort kill."""

    def __init__(self, nb, cwd: str, pid_file: Path | None):
        from nbclient import NotebookClient

        self.replies: dict[int, dict] = {}
        self.pid_file = pid_file
        self.client = NotebookClient(
            nb, kernel_name="python3", allow_errors=True, interrupt_on_timeout=True, record_timing=False,
            startup_timeout=STARTUP_TIMEOUT, resources={"metadata": {"path": cwd}},
            on_cell_executed=self._on_executed)

    def _on_executed(self, cell, cell_index, execute_reply):
        self.replies[cell_index] = execute_reply.get("content", {})

    def note_pid(self) -> None:
        pid = getattr(getattr(self.client.km, "provisioner", None), "pid", None)
        if self.pid_file and pid:
            self.pid_file.write_text(str(pid))

    async def execute(self, cell, index: int, timeout: float) -> dict:
        """Run one cell; returns its grader status (the cell's outputs are filled in place)."""
        from nbclient.exceptions import DeadKernelError

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
        status = "ok"
        if reply.get("status") == "error":
            status = "timeout" if reply.get("ename") == "CellTimeoutError" else "error"
        info = {"status": status, "seconds": round(time.perf_counter() - start, 3)}
        if status != "ok":
            info.update(ename=reply.get("ename", ""), evalue=reply.get("evalue", ""))
        return info

    async def execute_aside(self, cell, timeout: float) -> dict:
        """Run a cell that is not part of the graded notebook (a probe, a replay)."""
        import nbformat

        graded, self.client.nb = self.client.nb, nbformat.v4.new_notebook(cells=[cell])
        try:
            return await self.execute(cell, 0, timeout)
        finally:
            self.client.nb = graded

    async def responsive(self) -> bool:
        """Whether the kernel answers a trivial cell (an interrupt may not stop code that swallows it)."""
        import nbformat

        return (await self.execute_aside(nbformat.v4.new_code_cell("pass"), PROBE_TIMEOUT))["status"] == "ok"

    async def restart(self, done: list) -> None:
        """A fresh kernel that has run again every cell that succeeded before (on copies)."""
        await self.client.km.restart_kernel(now=True)
        await self.client.kc.wait_for_ready(timeout=STARTUP_TIMEOUT)
        self.note_pid()
        for cell in done:
            await self.execute_aside(copy.deepcopy(cell), PROBE_TIMEOUT * 4)


async def run_notebook(nb, cell_timeout: float, notebook_timeout: float, cwd: str, env: dict | None = None,
                       pid_file: Path | None = None, kernel_log=None) -> None:
    """Lesson 0: execute `nb` in place, cell by cell, under both time limits.

    `env` is the kernel's whole environment (default: this process's); `kernel_log` an open file
    for the kernel's own output.
    """
    deadline = time.monotonic() + notebook_timeout
    run = _Run(nb, cwd, pid_file)
    done = []
    launch = {"env": env} if env is not None else {}
    if kernel_log is not None:
        launch.update(stdout=kernel_log, stderr=kernel_log)
    async with run.client.async_setup_kernel(**launch):
        run.note_pid()
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            left = deadline - time.monotonic()
            if left < 1:
                cell.metadata["grader"] = {"status": "not_run", "ename": "NotebookTimeout", "seconds": 0,
                                           "evalue": f"not run: the notebook's time limit of {notebook_timeout:.0f} s "
                                                     f"was used up by earlier cells"}
                continue
            info = await run.execute(cell, index, min(cell_timeout, left))
            cell.metadata["grader"] = info
            _trim_streams(cell)
            if info["status"] == "ok":
                done.append(cell)
            elif info["status"] == "died" or (info["status"] == "timeout" and not await run.responsive()):
                await run.restart(done)
