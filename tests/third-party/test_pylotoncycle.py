"""pylotoncycle 0.9.5, a client that works against the real Peloton API, against the fake
Peloton: log in with the password grant, list workouts, fetch one with its performance
graph and instructor, list the people followed and the instructors."""

from pylotoncycle import PylotonCycle

from conftest import PELOTON_EMAIL, PELOTON_PASSWORD, unexpected_requests


def client(fake):
    """pylotoncycle with its hard-coded API host replaced by the fake's. The constructor
    sets `base_url` and logs in straight away, so the override must be in place first."""

    class AgainstFake(PylotonCycle):
        base_url = property(lambda self: fake.url, lambda self, value: None)

    return AgainstFake(
        PELOTON_EMAIL, PELOTON_PASSWORD, token_url=f"{fake.url}/oauth/token"
    )


def test_logs_in_and_reads_the_user(fake_peloton):
    conn = client(fake_peloton)
    assert conn.username == "fake_rider"
    assert len(conn.userid) == 32
    assert conn.total_workouts == 12
    assert conn.GetAuthInfo()["access_token"]


def test_lists_workouts_over_pages_and_fetches_each(fake_peloton):
    conn = client(fake_peloton)
    workouts = conn.GetWorkoutList()
    assert len(workouts) == 12
    ids = [w["id"] for w in workouts]
    assert len(set(ids)) == 12
    starts = [w["start_time"] for w in workouts]
    assert all(isinstance(s, int) for s in starts)
    assert starts == sorted(starts, reverse=True), "newest first"
    detail = conn.GetWorkoutById(ids[0])
    assert detail["id"] == ids[0]
    assert detail["ride"]["title"]


def test_recent_workouts_come_with_graph_and_instructor(fake_peloton):
    conn = client(fake_peloton)
    recent = conn.GetRecentWorkouts(3)
    assert len(recent) == 3
    for w in recent:
        assert w["performance_graph"]["duration"] > 0
        assert "instructor_name" in w


def test_following_and_instructors_are_paged_lists(fake_peloton):
    conn = client(fake_peloton)
    following = conn.GetFollowingById()
    assert following["total"] == 2
    assert [f["username"] for f in following["data"]] == ["friend1", "friend2"]
    instructors = conn.GetInstructors()
    assert len(instructors["data"]) >= 20
    assert all(i["id"] and i["name"] for i in instructors["data"])
    one = conn.GetInstructorById(instructors["data"][0]["id"])
    assert one["id"] == instructors["data"][0]["id"]


def test_no_request_missed_a_route(fake_peloton):
    client(fake_peloton).GetWorkoutList(2)
    assert unexpected_requests(fake_peloton) == []
