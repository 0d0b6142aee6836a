"""Reads a query's rows into a pyarrow Table with adbc-driver-postgresql: the baseline the
table bench puts the postgres driver next to. Prints rows per second.

Usage: adbc_read.py URI QUERY
"""

import sys
import time

import adbc_driver_postgresql.dbapi as pg


def main() -> None:
    uri, query = sys.argv[1], sys.argv[2]
    with pg.connect(uri) as conn:
        with conn.cursor() as cur:
            start = time.perf_counter()
            cur.execute(query)
            table = cur.fetch_arrow_table()
            elapsed = time.perf_counter() - start
    print(f"{table.num_rows} {table.num_rows / elapsed}")


if __name__ == "__main__":
    main()
