"""What a person watching a training run expects to see, and what a plotting tool reads.

Every trainer logs through one `RunLog`: a progress bar on the terminal (step, loss, rate, ETA,
and the time left under a --minutes cap), the JSON lines the runs always wrote (printed and in
the run's ``log.jsonl``, which the trainers' tests and the model cards read), and ``log.csv``
beside them, one row per record, for a spreadsheet, pandas or gnuplot.

The CSV's columns are every key logged so far: validation metrics first appear after some
hundred steps, and a resumed run may log a key the first did not. When a record brings a new
key the file is rewritten once with the wider header, so every row stays aligned with it.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

from tqdm import tqdm

CSV_NAME = "log.csv"
JSONL_NAME = "log.jsonl"


class RunLog:
    """The log of one training run in folder ``run``, starting at ``step`` of ``steps``;
    ``minutes`` is the run's time cap, if any. The bar shows only on a terminal."""

    def __init__(self, run, step: int, steps: int, minutes: float | None = None):
        self.run = Path(run)
        self.history: list[dict] = []
        self.deadline = time.monotonic() + minutes * 60 if minutes else None
        self.bar = tqdm(total=steps, initial=step, unit="step", dynamic_ncols=True,
                        disable=None, mininterval=1.0, smoothing=0.05)
        self._columns = _csv_columns(self.run / CSV_NAME)

    def advance(self, steps: int = 1) -> None:
        self.bar.update(steps)

    def record(self, record: dict) -> None:
        """One log line: kept in ``history``, printed above the bar, appended to both logs."""
        self.history.append(record)
        line = json.dumps(record)
        tqdm.write(line)
        with open(self.run / JSONL_NAME, "a") as log:
            log.write(line + "\n")
        self._append_csv(record)
        self.bar.set_postfix(self._postfix(record), refresh=False)

    def close(self) -> None:
        self.bar.close()

    def _postfix(self, record: dict) -> dict:
        shown = {k: record[k] for k in ("total", "normal") if k in record}
        shown.update({k: v for k, v in record.items() if k.startswith("val_")})
        if self.deadline is not None:
            shown["cap left"] = f"{max(0.0, self.deadline - time.monotonic()) / 60:.0f} min"
        return shown

    def _append_csv(self, record: dict) -> None:
        path = self.run / CSV_NAME
        new = [k for k in record if k not in self._columns]
        if new:
            rows = _read_csv(path)
            self._columns += new
            with open(path, "w", newline="") as file:
                writer = csv.DictWriter(file, self._columns)
                writer.writeheader()
                writer.writerows(rows)
        with open(path, "a", newline="") as file:
            csv.DictWriter(file, self._columns).writerow(record)


def _csv_columns(path: Path) -> list[str]:
    if not path.is_file():
        return []
    with open(path, newline="") as file:
        return next(csv.reader(file), [])


def _read_csv(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as file:
        return list(csv.DictReader(file))
