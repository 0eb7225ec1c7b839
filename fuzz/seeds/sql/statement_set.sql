EXECUTE STATEMENT SET BEGIN
INSERT INTO sink_append SELECT a, b, c, ts FROM t;
INSERT INTO sink_append SELECT a, b, c, ts FROM tb;
END;
