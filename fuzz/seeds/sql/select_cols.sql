SELECT a, b, c, ts FROM t WHERE a > 1 AND b LIKE 'x%'
