from tests.unit.backup.support import restore_server, source_db, supabase_api  # noqa: F401 (fixtures)
