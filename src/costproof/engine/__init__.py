"""Row-level pricing and aggregation as Ibis expressions, portable across DuckDB and Spark."""
