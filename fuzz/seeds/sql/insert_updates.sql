INSERT INTO sink_updates SELECT a, MAX(b), SUM(c), MAX(ts) FROM t GROUP BY a
