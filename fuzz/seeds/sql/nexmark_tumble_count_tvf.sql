-- Same result as tumble_count.sql, written with the TUMBLE window TVF.
CREATE TABLE nexmark_tumble_count_tvf (
  bidder        BIGINT,
  window_start  TIMESTAMP(3),
  window_end    TIMESTAMP(3),
  num           BIGINT
) WITH ('connector' = 'fuzz-updates');

INSERT INTO nexmark_tumble_count_tvf
SELECT bidder, window_start, window_end, COUNT(*) AS num
FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' SECOND))
GROUP BY bidder, window_start, window_end;
