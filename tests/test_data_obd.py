"""Open Bandit Dataset loader: the real sample, mini folders, and every bad input named by file, line and field."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from recbandit.data import DataError, load, load_obd
from recbandit.data.detect import detect_format

SHARED = Path(os.environ.get("RECBANDIT_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
OBD = SHARED / "obd"
needs_obd = pytest.mark.skipif(
    not (OBD / "random" / "all" / "all.csv").is_file(),
    reason=f"Open Bandit Dataset sample not found at {OBD} (set RECBANDIT_SHARED_DATA to the shared data folder)",
)

# --------------------------------------------------------------------------- the real sample


@needs_obd
def test_real_sample_random_all() -> None:
    start = time.perf_counter()
    d = load_obd(OBD, policy="random", campaign="all")
    seconds = time.perf_counter() - start
    assert seconds < 1.0, f"loading 10,000 OBD rows took {seconds:.2f} s"
    inter = d.interactions
    assert d.name == "obd/random/all" and d.reward_kind == "binary" and d.meta["format"] == "obd"
    assert len(inter) == 10_000 and len(d.items) == 80 and len(d.users) == 10_000
    assert int(inter.reward.sum()) == 38  # the published count (shared/data/README.md)
    np.testing.assert_allclose(inter.propensity, 1 / 80)
    assert set(np.unique(inter.position).tolist()) == {1, 2, 3}
    # 2019-11-24 00:00:34.762830+00:00 .. 2019-11-30 23:59:47.022892+00:00
    assert inter.timestamp[0] == pytest.approx(1574553634.762830) and inter.timestamp[-1] == pytest.approx(
        1575158387.022892
    )
    assert (np.diff(inter.timestamp) >= 0).all()
    # context: one-hot user features (3 + 5 + 8 + 8 values in this log) then 80 affinities
    names = d.meta["context_names"]
    assert inter.context.shape == (10_000, 24 + 80) and inter.context.dtype == np.float32
    assert names[24:] == [f"user-item_affinity_{j}" for j in range(80)]
    assert (inter.context[:, :24].sum(axis=1) == 4).all()  # one value per user feature
    assert d.items.ids.tolist() == list(range(80)) and d.items.feature_names[0] == "item_feature_0"
    assert d.items.features.shape == (80, 1 + 12 + 21 + 7)  # item_feature_0, then 12 + 21 + 7 hashed values
    assert np.isfinite(d.items.first_seen).all()


@needs_obd
@pytest.mark.parametrize(("policy", "campaign", "items", "clicks"), [("bts", "all", 80, 42), ("random", "men", 34, 46)])
def test_real_sample_other_logs(policy: str, campaign: str, items: int, clicks: int) -> None:
    d = load_obd(OBD, policy=policy, campaign=campaign)
    assert len(d.items) == items and int(d.interactions.reward.sum()) == clicks
    assert (d.interactions.propensity > 0).all() and (d.interactions.propensity <= 1).all()


@needs_obd
def test_real_sample_folders_and_detection() -> None:
    assert load_obd(OBD / "bts" / "women").name == "obd/bts/women"  # a campaign folder
    assert load_obd(OBD / "bts").name == "obd/bts/all"  # a policy folder
    assert detect_format(OBD) == detect_format(OBD / "random" / "all") == "obd"
    assert load(OBD / "random" / "all").name == "obd/random/all"
    assert load(OBD, campaign="men").name == "obd/random/men"


# --------------------------------------------------------------------------- mini folders

ITEM_HEADER = ",item_id,item_feature_0,item_feature_1,item_feature_2,item_feature_3"
ITEMS = [ITEM_HEADER, "0,0,-0.5,aa,bb,cc", "1,1,0.25,aa,bd,cc", "2,2,1.5,ab,bb,cd"]
LOG_HEADER = (
    ",timestamp,item_id,position,click,propensity_score,user_feature_0,user_feature_1,user_feature_2,"
    "user_feature_3,user-item_affinity_0,user-item_affinity_1,user-item_affinity_2"
)
ROWS = [
    "0,2019-11-24 00:00:34.762830+00:00,2,3,0,0.3333333,u1,v1,w1,x1,0.0,0.0,1.0",
    "1,2019-11-24 00:00:10.000000+00:00,0,1,1,0.3333333,u2,v1,w1,x2,2.0,0.0,0.0",
    "2,2019-11-24 00:01:00.500000+00:00,1,2,0,0.3333333,u1,v2,w1,x1,0.0,0.0,0.0",
    "3,2019-11-24 00:02:00+00:00,0,2,1,0.3333333,u1,v1,w2,x2,1.0,3.0,0.0",
]


def write_obd(root: Path, rows: list[str] | None = None, items: list[str] | None = None, header: str = LOG_HEADER,
              policy: str = "random", campaign: str = "all", eol: str = "\n") -> Path:  # fmt: skip
    folder = root / policy / campaign
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "item_context.csv").write_bytes((eol.join(ITEMS if items is None else items) + eol).encode())
    lines = [header, *(ROWS if rows is None else rows)]
    (folder / f"{campaign}.csv").write_bytes((eol.join(lines) + eol).encode())
    return root


@pytest.mark.parametrize("eol", ["\n", "\r\n"], ids=["LF", "CRLF"])
def test_mini_folder_loads(tmp_path: Path, eol: str) -> None:
    d = load_obd(write_obd(tmp_path / "obd", eol=eol))
    inter = d.interactions
    assert d.name == "obd/random/all" and d.meta["rows"] == {"all.csv": 4, "item_context.csv": 3}
    # sorted by time: the row logged second in the file happened first
    assert inter.timestamp.tolist() == [1574553610.0, 1574553634.76283, 1574553660.5, 1574553720.0]
    assert inter.item.tolist() == [0, 2, 1, 0] and inter.reward.tolist() == [1, 0, 0, 1]
    assert inter.position.tolist() == [1, 3, 2, 2] and inter.position.dtype == np.int64
    assert d.users.ids[inter.user].tolist() == [1, 0, 2, 3]  # the file's index column, per row
    names = d.meta["context_names"]
    assert names == [
        "user_feature_0=u1", "user_feature_0=u2", "user_feature_1=v1", "user_feature_1=v2",
        "user_feature_2=w1", "user_feature_2=w2", "user_feature_3=x1", "user_feature_3=x2",
        "user-item_affinity_0", "user-item_affinity_1", "user-item_affinity_2",
    ]  # fmt: skip
    assert inter.context[0].tolist() == [0, 1, 1, 0, 1, 0, 0, 1, 2, 0, 0]
    assert d.items.feature_names == [
        "item_feature_0", "item_feature_1=aa", "item_feature_1=ab", "item_feature_2=bb", "item_feature_2=bd",
        "item_feature_3=cc", "item_feature_3=cd",
    ]  # fmt: skip
    assert d.items.features[1].tolist() == [0.25, 1, 0, 0, 1, 1, 0]
    assert d.items.text == ["", "", ""]
    assert d.items.first_seen.tolist() == [1574553610.0, 1574553660.5, 1574553634.76283]


def test_mini_folder_without_index_column_and_missing_items(tmp_path: Path) -> None:
    rows = [r.split(",", 1)[1] for r in ROWS[:2]]  # no index column; item 1 never shown
    d = load_obd(write_obd(tmp_path / "obd", rows=rows, header=LOG_HEADER[1:]))
    assert d.users.ids.tolist() == [0, 1] and np.isnan(d.items.first_seen[1])


def _replace(row: int, column: str, value: str) -> list[str]:
    names = LOG_HEADER.split(",")
    out = list(ROWS)
    fields = out[row].split(",")
    fields[names.index(column)] = value
    out[row] = ",".join(fields)
    return out


def bad(case: str, message: str, line: int, field: str | None, rows: list[str] | None = None,
        header: str = LOG_HEADER, items: list[str] | None = None) -> object:  # fmt: skip
    return pytest.param(rows, header, items, message, line, field, id=case)


PSCORE = "propensity_score"
#: (rows, header, items, expected message, line, field); field None where the error names none.
BAD_LOGS = [
    bad("missing-click", "missing column 'click'", 1, "click", header=LOG_HEADER.replace(",click", "")),
    bad("click-text", "click 'yes' is not a number", 3, "click", _replace(1, "click", "yes")),
    bad("click-2", "click '2' is out of range: must be 0 or 1", 4, "click", _replace(2, "click", "2")),
    bad(
        "pscore-zero", r"propensity_score '0' is out of range: must be in \(0, 1\]", 2, PSCORE, _replace(0, PSCORE, "0")
    ),
    bad("pscore-negative", "propensity_score '-0.1' is out of range", 5, PSCORE, _replace(3, PSCORE, "-0.1")),
    bad("pscore-missing", "propensity_score is missing", 3, PSCORE, _replace(1, PSCORE, "")),
    bad("pscore-nan", "propensity_score 'NaN' is not a number", 4, PSCORE, _replace(2, PSCORE, "NaN")),
    bad("pscore-above-1", "propensity_score '1.5' is out of range", 2, PSCORE, _replace(0, PSCORE, "1.5")),
    bad("unknown-item", "item_id 7 is not in item_context.csv", 5, "item_id", _replace(3, "item_id", "7")),
    bad(
        "position-4",
        "position '4' is out of range: must be an integer from 1 to 3",
        3,
        "position",
        _replace(1, "position", "4"),
    ),  # fmt: skip
    bad(
        "bad-timestamp",
        "timestamp 'yesterday' is not a date/time",
        2,
        "timestamp",
        _replace(0, "timestamp", "yesterday"),
    ),  # fmt: skip
    bad(
        "affinity-text",
        "user-item_affinity_1 'high' is not a number",
        4,
        "user-item_affinity_1",
        _replace(2, "user-item_affinity_1", "high"),
    ),  # fmt: skip
    bad("user-feature-empty", "user_feature_3 is empty", 4, "user_feature_3", _replace(2, "user_feature_3", "")),
    bad("empty-log", "the log is empty", 2, None, []),
    bad(
        "truncated",
        r"user_feature_1 is empty \(the line has 7 of 13 fields.*truncated file\?\)",
        5,
        "user_feature_1",
        [*ROWS[:3], ROWS[3][:45]],
    ),  # fmt: skip
    bad(
        "affinity-beyond-items",
        "names item 3, but item_context.csv has 3 items",
        1,
        "user-item_affinity_3",
        [r + ",0.0" for r in ROWS],
        LOG_HEADER + ",user-item_affinity_3",
    ),  # fmt: skip
    bad("extra-field", "has 14 fields, expected 13", 6, None, [*ROWS, ROWS[0] + ",extra"]),
    bad(
        "items-missing-column",
        "missing column 'item_feature_0'",
        1,
        "item_feature_0",
        items=[ITEM_HEADER.replace(",item_feature_0", ""), "0,0,aa,bb,cc"],
    ),  # fmt: skip
    bad("items-duplicate", "item_id 1 is repeated", 5, "item_id", items=[*ITEMS, "3,1,0.0,aa,bb,cc"]),
    bad("items-empty", "item_context.csv is empty", 2, None, items=[ITEM_HEADER]),
    bad(
        "items-feature-text",
        "item_feature_0 'x' is not a number",
        3,
        "item_feature_0",
        items=[*ITEMS[:2], "2,2,x,ab,bb,cd"],
    ),  # fmt: skip
]


@pytest.mark.parametrize(("rows", "header", "items", "message", "line", "field"), BAD_LOGS)
def test_bad_input_names_file_line_and_field(
    tmp_path: Path, rows: list[str] | None, header: str, items: list[str] | None, message: str, line: int,
    field: str | None,
) -> None:  # fmt: skip
    root = write_obd(tmp_path / "obd", rows=rows, header=header, items=items)
    with pytest.raises(DataError, match=message) as info:
        load_obd(root)
    err = info.value
    assert err.line == line and err.field == field
    expected_file = "item_context.csv" if items is not None else "all.csv"
    assert Path(err.path).name == expected_file and f"line {line}" in str(err)


def test_missing_files_and_folders(tmp_path: Path) -> None:
    root = write_obd(tmp_path / "obd")
    with pytest.raises(DataError, match="no such folder"):
        load_obd(root, policy="bts")
    (root / "random" / "all" / "all.csv").unlink()
    with pytest.raises(DataError, match="missing file") as info:
        load_obd(root)
    assert Path(info.value.path).name == "all.csv"
    with pytest.raises(DataError, match="not a folder"):
        load_obd(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="unknown campaign 'kids'"):
        load_obd(root, campaign="kids")
    with pytest.raises(DataError, match="policy folder"):
        load_obd(write_obd(tmp_path / "o2", policy="bts") / "bts", policy="random")


def test_detect_and_load_mini_root(tmp_path: Path) -> None:
    root = write_obd(tmp_path / "obd", campaign="men")
    assert detect_format(root) == "obd"
    assert load(root, campaign="men").name == "obd/random/men"
    assert load(root / "random" / "men").meta["campaign"] == "men"
