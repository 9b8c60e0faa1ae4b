from tests.support.fixtures_pg_replica import pg_replica  # noqa: F401  (fixture registration)
