-- Flink's rows for q10 (golden only): q10's SELECT into an unpartitioned sink, so the
-- partition columns dt and hm are in the rows. The q10 test reads Millstream's partitioned
-- output back (the file rows plus dt and hm from the directory names) and compares.
-- (The kit's run_query.py reads the sink's columns from the DDL and cannot parse
-- PARTITIONED BY, so q10 itself is not run through it.)
CREATE TABLE nexmark_q10_flat (
  auction  BIGINT,
  bidder  BIGINT,
  price  BIGINT,
  date_time  TIMESTAMP(3),
  extra  VARCHAR,
  dt STRING,
  hm STRING
) WITH (${SINK});

INSERT INTO nexmark_q10_flat
SELECT auction, bidder, price, date_time, extra, DATE_FORMAT(date_time, 'yyyy-MM-dd'), DATE_FORMAT(date_time, 'HH:mm')
FROM bid;
