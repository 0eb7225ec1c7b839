SELECT t.a, v.b FROM t JOIN v ON t.a = v.a
