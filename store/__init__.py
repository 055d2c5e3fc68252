"""PostgreSQL: the connection pool, the migrations and one small function per query."""
