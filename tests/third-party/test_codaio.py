"""codaio 0.6.12, a client that works against the real Coda API, against the fake Coda:
open the doc (`GET /docs/{id}/`, with its trailing slash), list docs and tables, read the
columns, upsert rows with keyColumns, and read them back through Coda's read lag and
`nextPageLink` paging."""

import time

from codaio import Cell, Coda, Document

from conftest import CODA_DOC, CODA_TOKEN, unexpected_requests

# The fake's doc: the four tables the sync needs, then the optional Personal Bests.
TABLES = ["Workouts", "Instructors", "Friends", "Friend Workouts", "Personal Bests"]


def wait_for(what, probe, timeout=20.0):
    """Polls `probe` until it returns something truthy; fails naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def open_doc(fake):
    return Document(CODA_DOC, coda=Coda(CODA_TOKEN, href=fake.url))


def test_opens_the_doc_and_lists_docs_and_tables(fake_coda):
    doc = open_doc(fake_coda)
    assert doc.name == "Training Log"
    assert doc.type == "doc"
    listed = doc.coda.list_docs()
    assert [d["id"] for d in listed["items"]] == [CODA_DOC]
    assert [t.name for t in doc.list_tables()] == TABLES
    table = doc.get_table("Friend Workouts")
    assert table.table_type == "table"
    assert table.row_count == 0


def test_reads_columns_by_name(fake_coda):
    table = open_doc(fake_coda).get_table("Workouts")
    names = [c.name for c in table.columns()]
    assert names[:4] == ["Workout ID", "Start Time", "Discipline", "Title"]
    assert len(names) == 19
    key = table.get_column_by_name("Workout ID")
    assert key.id.startswith("c-") and key.display


def test_keyed_upserts_never_duplicate_and_read_back(fake_coda):
    doc = open_doc(fake_coda)
    table = doc.get_table("Workouts")
    key = table.get_column_by_name("Workout ID")
    title = table.get_column_by_name("Title")
    minutes = table.get_column_by_name("Duration (min)")

    def rows(version):
        return [
            [
                Cell(key, f"w{i:02}"),
                Cell(title, f"Ride {i} v{version}"),
                Cell(minutes, 20 + i),
            ]
            for i in range(30)
        ]

    first = table.upsert_rows(rows(1), key_columns=[key])
    assert first["requestId"].startswith("mutate:")
    assert "addedRowIds" not in first
    wait_for(
        "the upsert to complete",
        lambda: doc.coda.get(f"/mutationStatus/{first['requestId']}")["completed"],
    )
    wait_for(
        "rowCount to show 30 rows through the read lag",
        lambda: doc.get_table("Workouts").row_count == 30,
    )
    table.upsert_rows(rows(2), key_columns=["Workout ID"])
    wait_for(
        "the second version to be readable",
        lambda: all(r["Title"].value.endswith("v2") for r in table.rows()),
    )
    read = table.rows()  # 30 rows: codaio follows nextPageLink past the first 25
    assert len(read) == 30
    assert sorted(r["Workout ID"].value for r in read) == [f"w{i:02}" for i in range(30)]
    assert doc.get_table("Workouts").row_count == 30, "keyed: no duplicate"
    found = table.find_row_by_column_name_and_value("Workout ID", "w07")
    assert [r["Duration (min)"].value for r in found] == [27]
    as_dicts = table.to_dict()
    assert {"Workout ID": "w00", "Title": "Ride 0 v2"}.items() <= as_dicts[0].items()


def test_no_request_missed_a_route(fake_coda):
    open_doc(fake_coda).get_table("Workouts").columns()
    assert unexpected_requests(fake_coda) == []
