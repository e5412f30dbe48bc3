"""TMDb overviews for MovieLens films: the metadata reader, both joins, the loader option, the env argument."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from test_data_movielens import GENRES_100K, write_100k, write_csv_dataset

from recbandit.data import DataError
from recbandit.data.movielens import load_movielens
from recbandit.data.tmdb import join_titles, read_links, read_movies_metadata, title_forms

SHARED = Path(os.environ.get("RECBANDIT_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
TMDB = SHARED / "the-movies-dataset"
needs_tmdb = pytest.mark.skipif(
    not (TMDB / "links.csv").is_file() or not (SHARED / "ml-100k" / "u.item").is_file(),
    reason=f"The Movies Dataset or MovieLens 100K not found under {SHARED} (set RECBANDIT_SHARED_DATA)",
)

COLUMNS = (
    "adult,belongs_to_collection,budget,genres,homepage,id,imdb_id,original_language,original_title,overview,"
    "popularity,poster_path,production_companies,production_countries,release_date,revenue,runtime,"
    "spoken_languages,status,tagline,title,video,vote_average,vote_count"
)


def row(tmdb: str, imdb: str, title: str, date: str, overview: str) -> str:
    """One well-formed 24-field record (Python-literal genres, a quoted overview)."""
    q = '"' + overview.replace('"', '""') + '"'
    genres = "\"[{'id': 18, 'name': 'Drama'}]\""
    return (
        f"False,,0,{genres},,{tmdb},{imdb},en,{title},{q},1.0,/p.jpg,[],[],{date},0,100.0,[],Released,,"
        f'"{title}",False,7.0,10'
    )


METADATA = [
    COLUMNS,
    row("629", "tt0114814", "The Usual Suspects", "1995-07-19", 'A "crime" story.\nSecond line of the overview.'),
    row("949", "tt0113277", "Heat", "1996-01-01", "Year off by one."),
    row("11", "tt0000011", "Roommates", "1995-03-01", "No overview found."),
    row("12", "tt0000012", "Hamlet", "1996-12-25", "One Hamlet."),
    row("13", "tt0000013", "Hamlet", "1996-05-01", "Another Hamlet."),
    # the complete file's malformed records: a line break outside quotes splits one, a date lands in id
    "False,,0,[],,14,tt0000014,en,Broken,Overview cut by a line break",
    " - Written by Someone,0.065736,/ff.jpg,[],[],1997-08-20,0,104.0,[],Released,,,,",
    row("15", "tt0000015", "Toy Story", "1995-10-30", ""),
    row("15", "tt0000015", "Toy Story", "1995-10-30", ""),  # listed twice: one film, not ambiguous
    row("1997-08-20", "0", "Dated", "", "id holds a date"),
]


def write_metadata(folder: Path, lines: list[str] = METADATA, name: str = "movies_metadata.first-9.csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def item_line(movie: int, title: str) -> str:
    drama = "|".join("1" if g == "Drama" else "0" for g in GENRES_100K)
    return f"{movie}|{title}|01-Jan-1995||http://x|{drama}\n"


def test_metadata_reader_keeps_good_records_and_lists_malformed(tmp_path: Path) -> None:
    films = read_movies_metadata(write_metadata(tmp_path / "tmdb"))
    assert films.tmdb_id.tolist() == [629, 949, 11, 12, 13, 15, 15]
    assert films.line.tolist() == [2, 4, 5, 6, 7, 10, 11]  # physical lines: record 1 spans lines 2-3
    assert films.overview[0] == 'A "crime" story. Second line of the overview.'
    assert films.overview[2] == "" and films.overview[5] == ""  # placeholder, empty
    assert films.year.tolist()[:2] == [1995, 1996]
    assert [line for line, _ in films.malformed] == [8, 9, 12]
    assert "id '1997-08-20' is not an integer" in films.malformed[2][1]


def test_title_forms_move_a_trailing_article() -> None:
    assert title_forms("Usual Suspects, The (1995)") == (["Usual Suspects, The", "The Usual Suspects"], 1995)
    assert title_forms("Time to Kill, A (1996)")[0][1] == "A Time to Kill"
    assert title_forms("Shanghai Triad (Yao a yao yao dao waipo qiao) (1995)") == (
        ["Shanghai Triad (Yao a yao yao dao waipo qiao)"],
        1995,
    )
    assert title_forms("unknown") == (["unknown"], 0)


def test_100k_join_by_title_and_year(tmp_path: Path) -> None:
    items = [
        item_line(1, "Usual Suspects, The (1995)"),  # article moved, overview with a line break
        item_line(2, "Heat (1995)"),  # TMDb year 1996: no match
        item_line(3, "Roommates (1995)"),  # placeholder overview: matched, no overview
        item_line(4, "Hamlet (1996)"),  # two TMDb films: ambiguous
        item_line(5, "Toy Story (1995)"),  # listed twice with one id: matched, empty overview
        item_line(6, "Dated (1995)"),  # only in a malformed record
    ]
    folder = write_100k(
        tmp_path / "ml-100k",
        **{"u.item": "".join(items).encode("latin-1"), "u.data": b"1\t1\t5\t881250949\n2\t2\t3\t881250000\n"},
    )
    data = load_movielens(folder, overviews=write_metadata(tmp_path / "tmdb"))
    assert data.items.text == [
        'Usual Suspects, The (1995) — Drama. A "crime" story. Second line of the overview.',
        "Heat (1995) — Drama",
        "Roommates (1995) — Drama",
        "Hamlet (1996) — Drama",
        "Toy Story (1995) — Drama",
        "Dated (1995) — Drama",
    ]
    meta = data.meta["overviews"]
    assert meta["join"] == "title+year" and meta["items"] == 6
    assert (meta["matched"], meta["with_overview"], meta["ambiguous"]) == (3, 1, 1)
    assert meta["malformed_records"] == 3 and meta["malformed_lines"] == [8, 9, 12]
    assert load_movielens(folder).items.text[0] == "Usual Suspects, The (1995) — Drama"  # off by default


def test_csv_join_needs_tmdb_id_and_imdb_id_to_agree(tmp_path: Path) -> None:
    meta_lines = [
        COLUMNS,
        row("862", "tt0114709", "Toy Story", "1995-10-30", "Toys come alive."),
        row("9087", "tt9999999", "Another Film", "1995-11-17", "The links' tmdbId names another film."),
    ]
    folder = write_csv_dataset(tmp_path / "ml")
    data = load_movielens(folder, overviews=write_metadata(tmp_path / "tmdb", meta_lines, "movies_metadata.csv"))
    text = dict(zip(data.items.ids.tolist(), data.items.text, strict=True))
    assert (
        text[1]
        == "Toy Story (1995) — Adventure, Animation, Children, Comedy, Fantasy. Toys come alive. Tags: pixar, fun"
    )
    assert text[2] == "American President, The (1995) — Comedy, Drama, Romance Tags: politics, romance"
    meta = data.meta["overviews"]
    assert (meta["matched"], meta["imdb_mismatch"], meta["with_overview"]) == (1, 1, 1)
    assert meta["links"] == str(folder / "links.csv")


def test_csv_join_falls_back_to_the_links_beside_the_metadata(tmp_path: Path) -> None:
    tmdb = write_metadata(tmp_path / "tmdb", [COLUMNS, row("862", "tt0114709", "Toy Story", "1995-10-30", "Toys.")])
    folder = write_csv_dataset(tmp_path / "ml", with_links=False)
    with pytest.raises(DataError, match="overviews need links.csv"):
        load_movielens(folder, overviews=tmdb)
    (tmdb / "links.csv").write_bytes(b"movieId,imdbId,tmdbId\r\n1,0114709,862\r\n2,0112346,\r\n")
    data = load_movielens(folder, overviews=tmdb)
    assert data.items.text[0].endswith("Fantasy. Toys. Tags: pixar, fun")
    assert data.meta["overviews"]["no_link"] == 5  # a blank tmdbId, and 4 films without a links row
    links = read_links(tmdb / "links.csv")
    assert links.imdb_id == ["0114709", "0112346"] and links.tmdb_id.tolist() == [862, -1]


@pytest.mark.parametrize(
    ("lines", "match", "line", "field"),
    [
        ([COLUMNS.replace(",overview,", ",synopsis,")], "missing column 'overview'", 1, "overview"),
        ([COLUMNS, 'False,,0,[],,1,tt1,en,T,"never closed', "x"], "unterminated quote", 2, "overview"),
        ([COLUMNS] + ["a,b,c"] * 11, r"has 3 fields, expected 24; 11 malformed records", 2, None),
        (
            [COLUMNS] + [row("1", "tt1", "T", "1995", "x")] * 11,
            "release_date '1995' is not YYYY-MM-DD",
            2,
            "release_date",
        ),  # fmt: skip
        ([COLUMNS], "no films after the header", 2, None),
    ],
)
def test_bad_metadata_names_file_line_field(
    tmp_path: Path, lines: list[str], match: str, line: int, field: str | None
) -> None:
    folder = write_metadata(tmp_path / "tmdb", lines)
    with pytest.raises(DataError, match=match) as err:
        read_movies_metadata(folder)
    assert err.value.line == line and err.value.field == field
    assert err.value.path.endswith("movies_metadata.first-9.csv")


def test_metadata_folder_must_hold_one_file(tmp_path: Path) -> None:
    folder = write_metadata(tmp_path / "tmdb")
    write_metadata(folder, name="movies_metadata.other.csv")
    with pytest.raises(DataError, match="several"):
        read_movies_metadata(folder)
    write_metadata(folder, name="movies_metadata.csv")  # the complete file's name wins
    assert read_movies_metadata(folder).path.endswith("movies_metadata.csv")
    with pytest.raises(DataError, match="no movies_metadata"):
        read_movies_metadata(tmp_path)


@needs_tmdb
@pytest.mark.realdata
def test_real_ml100k_overviews_match_counts() -> None:
    data = load_movielens(SHARED / "ml-100k", overviews=TMDB)
    meta = data.meta["overviews"]
    assert meta["films_read"] == 3188 and meta["malformed_records"] == 0
    assert (meta["matched"], meta["ambiguous"]) == (1334, 0)
    # The README's 1,331 "non-empty" overviews include one placeholder "No overview found."
    # (Kaspar Hauser, 1993), which counts as none here: 1,330 films get an overview.
    assert (meta["with_overview"], meta["matched_without_overview"]) == (1330, 4)
    films = read_movies_metadata(TMDB)
    rows, _ = join_titles(["Kaspar Hauser (1993)"], films)
    assert rows[0] >= 0 and films.overview[rows[0]] == ""  # the placeholder
    text = dict(zip(data.items.ids.tolist(), data.items.text, strict=True))
    assert text[1524].startswith("Kaspar Hauser (1993) — ") and ". " not in text[1524]
    assert text[1].startswith("Toy Story (1995) — Animation, Children's, Comedy. Led by Woody, Andy's toys")
    assert text[12].startswith("Usual Suspects, The (1995) — Crime, Thriller. ")
    plain = load_movielens(SHARED / "ml-100k")
    changed = [a != b for a, b in zip(plain.items.text, data.items.text, strict=True)]
    assert sum(changed) == 1330
    assert all(b.startswith(a + ". ") for a, b in zip(plain.items.text, data.items.text, strict=True) if a != b)
    assert np.array_equal(data.interactions.reward, plain.interactions.reward)


@needs_tmdb
@pytest.mark.realdata
def test_movielens_env_overviews_change_contexts_not_truth() -> None:
    from recbandit.envs import make_env

    plain = make_env("recbandit/MovieLens100K-v0").unwrapped
    rich = make_env("recbandit/MovieLens100K-v0", overviews="the-movies-dataset").unwrapped
    assert rich.config.overviews == str(TMDB.resolve())
    assert rich.fit_report["simulation"]["overviews"]["with_overview"] == 1330
    assert plain.fit_report["simulation"]["overviews"] is None
    users, items = np.arange(5), np.tile(np.arange(10), (5, 1))
    assert np.array_equal(
        plain.problem.user_model.expected_reward(users, items), rich.problem.user_model.expected_reward(users, items)
    )
    assert not np.allclose(plain.problem.item_contexts, rich.problem.item_contexts)
