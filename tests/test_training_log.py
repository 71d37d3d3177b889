"""A training run's log: JSON lines as before, and a CSV whose header widens when a record
brings a new key (validation metrics), across a resumed run too."""

import csv
import json

from photonormals.training.progress import RunLog


def _rows(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def test_the_csv_keeps_every_row_aligned_when_validation_keys_appear(tmp_path):
    log = RunLog(tmp_path, step=0, steps=30, minutes=1)
    for step in (10, 20):
        log.advance(10)
        log.record({"step": step, "lr": 0.001, "total": 1.0 / step})
    log.record({"step": 20, "val_normal_deg": 9.5})
    log.close()

    rows = _rows(tmp_path / "log.csv")
    assert list(rows[0]) == ["step", "lr", "total", "val_normal_deg"]
    assert [r["step"] for r in rows] == ["10", "20", "20"]
    assert rows[0]["val_normal_deg"] == "" and rows[2]["val_normal_deg"] == "9.5"
    assert float(rows[1]["total"]) == 0.05
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [10, 20, 20]
    assert log.history[-1] == {"step": 20, "val_normal_deg": 9.5}


def test_a_resumed_run_appends_under_the_same_header(tmp_path):
    first = RunLog(tmp_path, step=0, steps=10)
    first.record({"step": 5, "lr": 0.1, "val_normal_deg": 12.0})
    first.close()
    second = RunLog(tmp_path, step=5, steps=10)
    second.record({"step": 10, "lr": 0.05})
    second.close()

    rows = _rows(tmp_path / "log.csv")
    assert [(r["step"], r["lr"], r["val_normal_deg"]) for r in rows] == [
        ("5", "0.1", "12.0"), ("10", "0.05", "")]
