"""The plain format (interactions.csv + items.csv [+ users.csv]) and format detection."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from recbandit.data import DataError
from recbandit.data.detect import FORMATS, detect_format, load
from recbandit.data.plain import load_plain

INTERACTIONS = [
    "user,item,reward,timestamp,propensity,position,ctx_a",
    "u1,i1,1,2019-11-24T00:00:34Z,0.5,1,0.1",
    "u2,i2,0,1574553600,0.25,2,0.2",
    "u1,i3,1,2019-11-24 00:00:10+09:00,1.0,3,-1",
    "u3,i2,0,1574553600.5,0.125,1,0",
]
ITEMS = ["item,text,price,first_seen", 'i1,"A red dress, long",9.5,', "i2,,12,2019-01-01", "i3,Blue jeans,30,"]
USERS = ["user,text,age", "u1,Likes red,30", "u2,,41", "u3,New here,22"]


def write_plain(folder: Path, eol: str = "\n", with_users: bool = True, **override: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    files = {"interactions": INTERACTIONS, "items": ITEMS}
    if with_users:
        files["users"] = USERS
    files.update(override)
    for name, lines in files.items():
        (folder / f"{name}.csv").write_bytes((eol.join(lines) + eol).encode())
    return folder


@pytest.mark.parametrize("eol", ["\n", "\r\n"], ids=["LF", "CRLF"])
def test_plain_loads(tmp_path: Path, eol: str) -> None:
    d = load_plain(write_plain(tmp_path / "shop", eol=eol))
    assert d.name == "plain/shop" and d.reward_kind == "binary" and d.rating_threshold is None
    assert d.meta["rows"] == {"items.csv": 3, "users.csv": 3, "interactions.csv": 4}
    assert d.meta["context_names"] == ["ctx_a"]
    inter = d.interactions
    # ISO with offset, ISO UTC, Unix seconds: 00:00:10+09:00 is the day before in UTC
    assert inter.timestamp.tolist() == [1574521210.0, 1574553600.0, 1574553600.5, 1574553634.0]
    assert [d.items.ids[i] for i in inter.item] == ["i3", "i2", "i2", "i1"]
    assert [d.users.ids[u] for u in inter.user] == ["u1", "u2", "u3", "u1"]
    assert inter.propensity.tolist() == [1.0, 0.25, 0.125, 0.5]
    assert inter.position.tolist() == [3, 2, 1, 1] and inter.position.dtype == np.int64
    assert inter.context.dtype == np.float32 and inter.context[:, 0].tolist() == pytest.approx([-1, 0.2, 0, 0.1])
    assert d.items.text == ["A red dress, long", "", "Blue jeans"]
    assert d.items.feature_names == ["price"] and d.items.features[:, 0].tolist() == [9.5, 12, 30]
    # first_seen: the column where given (i2), else the first interaction
    assert d.items.first_seen.tolist() == [1574553634.0, 1546300800.0, 1574521210.0]
    assert d.users.text == ["Likes red", "", "New here"] and d.users.feature_names == ["age"]
    assert d.users.features[:, 0].tolist() == [30, 41, 22]


def test_plain_rating_log_integer_ids_and_no_users_file(tmp_path: Path) -> None:
    folder = write_plain(
        tmp_path / "r",
        with_users=False,
        interactions=["user,item,reward,timestamp", "10,1,4.5,100", "2,2,3,50", "10,2,1,100"],
        items=["item,text", "1,one", "2,two"],
    )
    d = load_plain(folder, rating_threshold=4)
    assert d.reward_kind == "rating" and d.rating_threshold == 4.0
    assert d.users.ids.tolist() == [2, 10] and d.users.ids.dtype == np.int64  # numeric order, not "10" < "2"
    assert d.items.ids.dtype == np.int64 and d.users.text is None
    assert d.interactions.propensity is None and d.interactions.position is None and d.interactions.context is None
    assert d.binary_reward().tolist() == [0, 1, 0]
    # an id spelled "007" is not the integer 7: ids stay strings
    folder = write_plain(
        tmp_path / "s",
        with_users=False,
        interactions=["user,item,reward,timestamp", "007,1,1,1"],
        items=["item,text", "1,one"],
    )
    assert load_plain(folder).users.ids.tolist() == ["007"]


# --------------------------------------------------------------------------- bad input, table-driven

Writer = Callable[[Path], Path]


def plain_with(**override: list[str]) -> Writer:
    return lambda tmp: write_plain(tmp / "p", **override)


def inter_row(row: str) -> Writer:
    return plain_with(interactions=INTERACTIONS[:2] + [row] + INTERACTIONS[3:])


def raw(name: str, data: bytes) -> Writer:
    def write(tmp: Path) -> Path:
        folder = write_plain(tmp / "p")
        (folder / name).write_bytes(data)
        return folder

    return write


BAD = [
    (
        "zero-propensity",
        inter_row("u2,i2,0,1574553600,0,2,0.2"),
        r"interactions\.csv line 3: propensity '0' is out of range: must be in \(0, 1\]",
        "interactions.csv",
        3,
        "propensity",
    ),
    (
        "missing-propensity",
        inter_row("u2,i2,0,1574553600,,2,0.2"),
        r"interactions\.csv line 3: propensity is missing",
        "interactions.csv",
        3,
        "propensity",
    ),
    (
        "negative-propensity",
        inter_row("u2,i2,0,1574553600,-0.1,2,0.2"),
        r"line 3: propensity '-0\.1' is out of range",
        "interactions.csv",
        3,
        "propensity",
    ),
    (
        "propensity-above-one",
        inter_row("u2,i2,0,1574553600,1.5,2,0.2"),
        r"line 3: propensity '1\.5' is out of range",
        "interactions.csv",
        3,
        "propensity",
    ),
    (
        "non-numeric-propensity",
        inter_row("u2,i2,0,1574553600,high,2,0.2"),
        r"line 3: propensity 'high' is not a number",
        "interactions.csv",
        3,
        "propensity",
    ),
    (
        "truncated",
        raw("interactions.csv", ("\n".join(INTERACTIONS[:2]) + "\nu2,i2,0,15745").encode()),
        r"line 3: propensity is missing .*4 of 7 fields.*truncated",
        "interactions.csv",
        3,
        "propensity",
    ),
    (
        "unknown-item",
        inter_row("u2,i9,0,1574553600,0.25,2,0.2"),
        r"interactions\.csv line 3: item 'i9' is not in items\.csv",
        "interactions.csv",
        3,
        "item",
    ),
    (
        "unknown-user",
        inter_row("u7,i2,0,1574553600,0.25,2,0.2"),
        r"interactions\.csv line 3: user 'u7' is not in users\.csv",
        "interactions.csv",
        3,
        "user",
    ),
    ("empty-user", inter_row(",i2,0,1574553600,0.25,2,0.2"), r"line 3: user is empty", "interactions.csv", 3, "user"),
    (
        "empty-log",
        plain_with(interactions=INTERACTIONS[:1]),
        r"interactions\.csv line 2: no interactions after the header: the log is empty",
        "interactions.csv",
        2,
        None,
    ),
    (
        "missing-column",
        plain_with(interactions=["user,item,timestamp", "u1,i1,1"]),
        r"interactions\.csv line 1: missing column 'reward'",
        "interactions.csv",
        1,
        "reward",
    ),
    (
        "bad-timestamp",
        inter_row("u2,i2,0,yesterday,0.25,2,0.2"),
        r"line 3: timestamp 'yesterday' is neither Unix seconds nor an ISO 8601",
        "interactions.csv",
        3,
        "timestamp",
    ),
    (
        "millisecond-timestamp",
        inter_row("u2,i2,0,1574553600000,0.25,2,0.2"),
        r"interactions\.csv line 3: timestamp 1574553600000 is too large for Unix seconds \(it would be "
        r"after the year 9999\); it looks like milliseconds \(2019-11-24 00:00:00 UTC\): divide by 1000",
        "interactions.csv",
        3,
        "timestamp",
    ),
    (
        "nanosecond-timestamp",
        inter_row("u2,i2,0,1574553600000000000,0.25,2,0.2"),
        r"interactions\.csv line 3: timestamp 1574553600000000000 .*looks like nanoseconds \(2019-11-24 00:00:00 UTC\)"
        r": divide by 1000000000",
        "interactions.csv",
        3,
        "timestamp",
    ),
    (
        "negative-millisecond-timestamp",
        inter_row("u2,i2,0,-1574553600000,0.25,2,0.2"),
        r"line 3: timestamp -1574553600000 is too small for Unix seconds .*milliseconds \(1920-02-09 .*divide by 1000",
        "interactions.csv",
        3,
        "timestamp",
    ),
    (
        "iso-timestamp-after-2100",
        inter_row("u2,i2,0,2201-01-01T00:00:00Z,0.25,2,0.2"),
        r"line 3: timestamp 2201-01-01T00:00:00Z is after 2100-01-01 00:00 UTC \(the year 2201\)",
        "interactions.csv",
        3,
        "timestamp",
    ),
    (
        "first-seen-in-milliseconds",
        plain_with(items=ITEMS[:2] + ["i2,,12,1546300800000"] + ITEMS[3:]),
        r"items\.csv line 3: first_seen 1546300800000 .*milliseconds \(2019-01-01 00:00:00 UTC\): divide by 1000",
        "items.csv",
        3,
        "first_seen",
    ),
    (
        "semicolon-separated-interactions",
        plain_with(interactions=[r.replace(",", ";") for r in INTERACTIONS]),
        r"interactions\.csv line 1: the header has one field 'user;item;reward;timestamp;propensity;position;ctx_a': "
        r"is the file separated by ';'\? It must be ','-separated, with the columns user,item,reward,timestamp "
        r"\(optional: propensity,position\)",
        "interactions.csv",
        1,
        "user",
    ),
    (
        "tab-separated-rows-under-comma-header",
        plain_with(users=USERS[:2] + ["u2\tshy\t41"] + USERS[3:]),
        r"users\.csv line 3: age is missing \(the line has 1 of 3 fields: 'u2\\tshy\\t41'; "
        r"is the file separated by tab\? It must be ','-separated\)",
        "users.csv",
        3,
        "age",
    ),
    (
        "unterminated-quote-in-items",
        plain_with(items=ITEMS[:2] + ['i2,"Plain shirt,12,2019-01-01'] + ITEMS[3:]),
        r"items\.csv line 3: unterminated quote starting at line 3 in field text: "
        r"the quoted field runs to the end of the file",
        "items.csv",
        3,
        "text",
    ),
    (
        "position-zero",
        inter_row("u2,i2,0,1574553600,0.25,0,0.2"),
        r"line 3: position '0' is out of range: must be a 1-based slot",
        "interactions.csv",
        3,
        "position",
    ),
    (
        "non-numeric-context",
        inter_row("u2,i2,0,1574553600,0.25,2,abc"),
        r"line 3: ctx_a 'abc' is not a number",
        "interactions.csv",
        3,
        "ctx_a",
    ),
    (
        "wrong-encoding",
        raw("interactions.csv", ("\n".join(INTERACTIONS[:3]) + "\n").encode() + b"u\xe9,i2,0,1,0.5,1,0\n"),
        r"interactions\.csv line 4: not valid UTF-8 \(byte 0xe9",
        "interactions.csv",
        4,
        None,
    ),
    (
        "item-feature-not-numeric",
        plain_with(items=ITEMS[:2] + ["i2,,cheap,"] + ITEMS[3:]),
        r"items\.csv line 3: price 'cheap' is not a number",
        "items.csv",
        3,
        "price",
    ),
    (
        "duplicate-item",
        plain_with(items=ITEMS + ["i1,again,1,"]),
        r"items\.csv line 5: item 'i1' appears twice",
        "items.csv",
        5,
        "item",
    ),
    (
        "items-missing-text",
        plain_with(items=["item,price", "i1,1"]),
        r"items\.csv line 1: missing column 'text'",
        "items.csv",
        1,
        "text",
    ),
    (
        "bad-first-seen",
        plain_with(items=ITEMS[:2] + ["i2,,12,someday"] + ITEMS[3:]),
        r"items\.csv line 3: first_seen 'someday' is neither",
        "items.csv",
        3,
        "first_seen",
    ),
    (
        "users-feature-missing",
        plain_with(users=USERS[:2] + ["u2,,"] + USERS[3:]),
        r"users\.csv line 3: age is missing",
        "users.csv",
        3,
        "age",
    ),
]


@pytest.mark.parametrize(("writer", "match", "file", "line", "field"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_names_file_line_field(
    tmp_path: Path, writer: Writer, match: str, file: str, line: int, field: str | None
) -> None:
    folder = writer(tmp_path)
    with pytest.raises(DataError, match=match) as info:
        load_plain(folder)
    err = info.value
    assert Path(err.path).name == file and err.line == line and err.field == field


def test_long_lines_count_fields_on_the_whole_line(tmp_path: Path) -> None:
    """A complete line longer than the 200-character excerpt is not called truncated (issue 10)."""
    names = [f"f{j}" for j in range(90)]
    header = "item,text," + ",".join(names)
    rows = [f"i{i},Item {i}," + ",".join(["0.123456"] * 90) for i in (1, 2, 3)]
    bad = "i2,Item 2," + ",".join(["0.123456"] * 89 + ["x"])
    assert len(bad) > 400
    folder = write_plain(tmp_path / "complete", items=[header, rows[0], bad, rows[2]])
    with pytest.raises(DataError) as info:
        load_plain(folder)
    err = info.value
    assert (Path(err.path).name, err.line, err.field) == ("items.csv", 3, "f89")
    assert str(err).endswith("line 3: f89 'x' is not a number"), str(err)
    # A line that really is cut short still says so, with the count of the whole line.
    cut = "i2,Item 2," + ",".join(["0.123456"] * 50)
    folder = write_plain(tmp_path / "cut", items=[header, rows[0], cut, rows[2]])
    with pytest.raises(DataError) as info:
        load_plain(folder)
    err = info.value
    assert (err.line, err.field) == (3, "f50")
    excerpt = repr(cut[:200] + "...")
    assert str(err).endswith(f"f50 is missing (the line has 52 of 92 fields: {excerpt}; truncated file?)"), str(err)


def test_missing_files(tmp_path: Path) -> None:
    (tmp_path / "interactions.csv").write_text("user,item,reward,timestamp\n")
    with pytest.raises(DataError, match="items.csv is missing"):
        load_plain(tmp_path)


# --------------------------------------------------------------------------- detection


def test_detect_and_load_each_format(tmp_path: Path) -> None:
    plain = write_plain(tmp_path / "plain")
    assert detect_format(plain) == "plain"
    assert load(plain).meta["format"] == "plain"
    assert load(plain, rating_threshold=3).interactions.reward.size == 4
    with pytest.raises(TypeError, match="the plain loader does not take 'max_tags'"):
        load(plain, max_tags=3)


def test_unknown_layout_lists_what_each_format_needs(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    write_plain(tmp_path / "inner")
    with pytest.raises(DataError) as info:
        load(tmp_path)
    msg = str(info.value)
    for fmt in FORMATS.values():
        assert fmt.needs in msg
    assert "found inner, notes.txt" in msg and f"did you mean {tmp_path / 'inner'}?" in msg
    with pytest.raises(DataError, match="no such file or folder"):
        load(tmp_path / "absent")
    with pytest.raises(DataError, match="is a file"):
        load(tmp_path / "notes.txt")


def write_obd_layout(folder: Path) -> Path:
    campaign = folder / "random" / "all"
    campaign.mkdir(parents=True)
    (campaign / "all.csv").write_text(",timestamp,item_id,position,click,propensity_score\n")
    (campaign / "item_context.csv").write_text(",item_id,item_feature_0\n")
    return folder


def test_obd_layout_goes_to_load_obd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_obd_layout(tmp_path / "obd")
    assert detect_format(folder) == "obd"
    assert detect_format(folder / "random") == "obd" and detect_format(folder / "random" / "all") == "obd"
    calls = []
    fake = types.ModuleType("recbandit.data.obd")

    def load_obd(path: Path, campaign: str = "all") -> str:
        calls.append((Path(path), campaign))
        return "loaded"

    fake.load_obd = load_obd  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "recbandit.data.obd", fake)
    assert load(folder, campaign="men") == "loaded" and calls == [(folder, "men")]


def test_obd_layout_without_obd_loader_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_obd_layout(tmp_path / "obd")
    monkeypatch.setitem(sys.modules, "recbandit.data.obd", None)  # import of it fails as if absent
    with pytest.raises(DataError, match=r"looks like the obd format, but its loader recbandit\.data\.obd\.load_obd"):
        load(folder)


# --------------------------------------------------------------------------- line numbers across read chunks


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 1 << 24])
def test_line_numbers_do_not_depend_on_read_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    from recbandit.data import _csv

    monkeypatch.setattr(_csv, "_CHUNK", chunk)
    path = tmp_path / "x.csv"
    path.write_bytes("a,b\r\n1,é\r\n2,xy\xe9z\r\n".encode("latin-1").replace(b"\xe9", b"\xc3\xa9", 1))
    assert _csv.first_decode_error(path) == (3, 5, "e9")  # line 3, column 5: the byte after "2,xy"
    path.write_bytes(b"a,b\n1,2\n3,4\n")
    assert _csv.first_decode_error(path) is None
    assert not _csv._has_quotes_or_blank_lines(path)
    assert _csv.line_of_row(path, 1) == 3
    path.write_bytes(b"a,b\n1,2\n\n3,4\n")
    assert _csv._has_quotes_or_blank_lines(path) and _csv.line_of_row(path, 1) == 4
    path.write_bytes(b'a,b\n1,"x\ny"\n3,4\n')
    assert _csv.line_of_row(path, 1) == 4
