from tests.support.fixtures_pg_review import pg_cluster  # noqa: F401 (a fixture, shadowing the shared one here)
