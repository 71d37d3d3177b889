"""Jobs: a bounded queue, one worker thread running the predict pipeline, a result store with
expiry and a disk cap. One folder per job (input/, output/, result.zip); inputs go as soon as the
job ends, outputs after --keep-minutes, or sooner, oldest first, when the kept results pass
--max-results-mb.

The worker is a plain thread, so inference never runs on the event loop: health and status keep
answering while a job runs. Relights wait in the same queue (call()), so one worker runs
everything heavy and --max-queue counts them too. Cancel is cooperative: the pipeline reports
progress between stages and the callback raises when the job was cancelled.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import threading
import time
import traceback
import uuid
import zipfile
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ModelNotAvailable, UserError
from ..geometry.height import HEIGHT_FILES, write_height_maps
from ..predict import predict, save_prediction
from .expiry import expired
from .models import ModelCache
from .schemas import FINISHED
from .uploads import CheckedUpload

log = logging.getLogger("photonormals.service")

# Test-only hooks (never set in production): a pause at every stage so a test can cancel a
# running job, and a photo name that makes the worker crash as a bug would.
STAGE_DELAY_ENV = "PHOTONORMALS_TEST_STAGE_DELAY"
CRASH_NAME_ENV = "PHOTONORMALS_TEST_CRASH_NAME"


class Cancelled(Exception):
    pass


class QueueFull(Exception):
    pass


@dataclass
class Job:
    id: str
    folder: Path
    upload: CheckedUpload | None = None
    state: str = "queued"
    stage: str = "queued"
    progress: float = 0.0
    error: str | None = None
    error_code: str | None = None
    files: list[str] = field(default_factory=list)
    finished_at: float | None = None
    size: int = 0  # bytes its folder keeps once finished
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)

    @property
    def output(self) -> Path:
        return self.folder / "output"

    @property
    def archive(self) -> Path:
        return self.folder / "result.zip"

    def photo_for(self, suffix: str) -> Path:
        return self.folder / f"photo{suffix}"

    @property
    def photo(self) -> Path | None:
        """The set's first photo, kept after the job for relighting over the original."""
        found = sorted(self.folder.glob("photo.*"))
        return found[0] if found else None

    def status(self) -> dict:
        return {
            "id": self.id,
            "state": self.state,
            "stage": self.stage,
            "progress": round(self.progress, 4),
            "error": self.error,
            "files": list(self.files),
        }

    def end(self, state: str, error: str | None = None, code: str | None = None) -> None:
        self.state, self.error, self.error_code = state, error, code
        self.stage = state
        if state == "done":
            self.progress = 1.0
        self.finished_at = time.monotonic()
        self.finished.set()


@dataclass
class Call:
    """Work other than a job (a relight) run by the worker in queue order; its result or
    exception lands in the future."""

    fn: Callable[[], object]
    future: Future = field(default_factory=Future)


class JobManager:
    def __init__(self, root: Path | None, device: str, models: ModelCache, max_queue: int = 8,
                 keep_seconds: float = 1800.0, max_results_bytes: int | None = None):
        self.root = Path(root) if root is not None else None  # None: set before start()
        self.device = device
        self.models = models
        self.keep_seconds = keep_seconds
        self.max_results_bytes = max_results_bytes
        self.max_queue = max_queue
        # bounded by enqueue and call: cancelled jobs do not count
        self._queue: queue.Queue[Job | Call] = queue.Queue()
        self._calls_waiting = 0
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stage_delay = float(os.environ.get(STAGE_DELAY_ENV) or 0.0)
        self.crash_name = os.environ.get(CRASH_NAME_ENV) or None
        self.completed = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._work, name="photonormals-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        for job in list(self._jobs.values()):
            job.cancel_requested.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    # ------------------------------------------------------------------ requests

    def new_job(self) -> Job:
        job_id = uuid.uuid4().hex
        folder = self.root / job_id
        folder.mkdir(parents=True)
        return Job(job_id, folder)

    def waiting(self) -> int:
        """Jobs and calls (relights) in the queue."""
        return sum(job.state == "queued" for job in list(self._jobs.values())) + self._calls_waiting

    def is_full(self) -> bool:
        return self.waiting() >= self.max_queue

    def enqueue(self, job: Job) -> None:
        with self._lock:
            if self.is_full():
                raise QueueFull(f"the queue is full ({self.max_queue} jobs waiting)")
            self._jobs[job.id] = job
            self._queue.put_nowait(job)
        self._changed(job)

    def call(self, fn: Callable[[], object]) -> Future:
        """Run fn in the worker after what is queued; QueueFull if the queue is."""
        with self._lock:
            if self.is_full():
                raise QueueFull(f"the queue is full ({self.max_queue} waiting)")
            item = Call(fn)
            self._calls_waiting += 1
            self._queue.put_nowait(item)
        return item.future

    def discard(self, job: Job) -> None:
        """Drop a job that never made it into the queue."""
        shutil.rmtree(job.folder, ignore_errors=True)

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def cancel(self, job: Job) -> None:
        """A queued job ends at once; a running one at its next stage; a finished one is left."""
        with self._lock:
            if job.state == "running":
                job.cancel_requested.set()
            if job.state != "queued":
                return
            job.end("cancelled")
            self._remove_files(job)
        self._changed(job)

    def counts(self) -> dict:
        jobs = list(self._jobs.values())
        states = [job.state for job in jobs]
        return {"waiting": self.waiting(), "max": self.max_queue,
                "running": states.count("running"), "completed": self.completed,
                "results_mib": round(sum(job.size for job in jobs) / (1 << 20), 1)}

    # ------------------------------------------------------------------ worker

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                job = self._queue.get(timeout=1.0)
            except queue.Empty:
                self.cleanup()
                continue
            if isinstance(job, Call):
                self._run_call(job)
                continue
            with self._lock:
                if job.state != "queued":  # cancelled while waiting
                    continue
                job.state = job.stage = "running"
            self._changed(job)
            self._run(job)
            self._changed(job)
            self.completed += 1
            self.cleanup()

    def _run(self, job: Job) -> None:
        try:
            upload = job.upload
            if self.crash_name and self.crash_name in upload.names:
                raise RuntimeError("test hook: simulated worker crash")
            prediction = predict(upload.paths, upload.options, self._progress(job), self.models.get)
            self._progress(job)("writing", 0.92)
            save_prediction(prediction, job.output, upload.names)
            wanted = upload.outputs
            if upload.height and prediction.height is None:  # material mode makes its own
                self._progress(job)("height", 0.94)
                write_height_maps(job.output, prediction.normals, prediction.mask)
                wanted = None if wanted is None else [*wanted, *HEIGHT_FILES]
            job.files = self._keep_outputs(job, wanted)
            self._progress(job)("packing", 0.97)
            _write_zip(job.archive, [job.output / name for name in job.files])
            first = upload.paths[0]  # relight's background "keep" needs one original photo
            os.replace(first, job.photo_for(first.suffix))
            self._completed(job)
            job.end("done")
        except Cancelled:
            job.end("cancelled")
        except ModelNotAvailable as exc:
            job.end("error", str(exc), "model_not_available")
        except UserError as exc:
            job.end("error", str(exc), "bad_input")
        except MemoryError:
            job.end("error", "out of memory: try smaller or fewer photos", "out_of_memory")
        except Exception as exc:  # a bug: keep the server up, say so on the job, log the details
            log.error("job %s failed:\n%s", job.id, traceback.format_exc())
            job.end("error", f"internal error: {type(exc).__name__}: {exc}", "internal")
            _free_gpu_memory()
        finally:
            shutil.rmtree(job.folder / "input", ignore_errors=True)
            if job.state != "done":
                self._remove_files(job)
            job.size = _folder_size(job.folder)

    def _changed(self, job: Job) -> None:
        """Called after a job's state, stage or progress changed (once it is queued): nothing
        here; a manager that shares its jobs with other processes publishes them
        (service/shared_jobs.py)."""

    def _completed(self, job: Job) -> None:
        """Called when a job's results are all written, just before it is marked done: nothing
        here; a manager that shares its jobs publishes them here, so that no one hears of a
        done job whose results cannot yet be had."""

    def _run_call(self, call: Call) -> None:
        with self._lock:
            self._calls_waiting -= 1
        if not call.future.set_running_or_notify_cancel():
            return
        try:
            call.future.set_result(call.fn())
        except BaseException as exc:  # the caller raises it (a UserError is its 400)
            call.future.set_exception(exc)

    def _progress(self, job: Job):
        def report(stage: str, fraction: float) -> None:
            if job.cancel_requested.is_set() or self._stop.is_set():
                raise Cancelled()
            job.stage, job.progress = stage, max(job.progress, float(fraction))
            self._changed(job)
            if self.stage_delay:
                time.sleep(self.stage_delay)
                if job.cancel_requested.is_set():
                    raise Cancelled()

        return report

    @staticmethod
    def _keep_outputs(job: Job, wanted: list[str] | None) -> list[str]:
        written = sorted(p.name for p in job.output.iterdir() if not p.name.startswith("."))
        if wanted is None:
            return written
        for name in set(written) - set(wanted):
            (job.output / name).unlink()
        return [name for name in written if name in wanted]

    # ------------------------------------------------------------------ expiry

    def cleanup(self) -> None:
        """Forget finished jobs older than keep_seconds and, while the kept results are over
        max_results_bytes, the oldest others but the newest; and delete their folders."""
        with self._lock:
            finished = [(job.id, job.finished_at, job.size) for job in self._jobs.values()
                        if job.state in FINISHED and job.finished_at is not None]
            gone = [self._jobs.pop(job_id) for job_id in expired(
                finished, time.monotonic(), self.keep_seconds, self.max_results_bytes)]
        for job in gone:
            shutil.rmtree(job.folder, ignore_errors=True)

    @staticmethod
    def _remove_files(job: Job) -> None:
        shutil.rmtree(job.folder, ignore_errors=True)
        job.files = []


def _write_zip(path: Path, files: list[Path]) -> None:
    """PNGs are already compressed: store them; deflate the rest (npy, json) lightly."""
    tmp = path.with_name(f".{path.name}.tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        for file in files:
            compress = zipfile.ZIP_STORED if file.suffix == ".png" else zipfile.ZIP_DEFLATED
            zf.write(file, file.name, compress_type=compress, compresslevel=1)
    os.replace(tmp, path)


def _folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _free_gpu_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
