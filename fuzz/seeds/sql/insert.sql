INSERT INTO sink_append SELECT a, b, c, ts FROM t
