-- Bids per bidder per 10 s tumbling window, legacy GROUP BY TUMBLE(...) syntax.
CREATE TABLE nexmark_tumble_count (
  bidder        BIGINT,
  window_start  TIMESTAMP(3),
  window_end    TIMESTAMP(3),
  num           BIGINT
) WITH ('connector' = 'fuzz-updates');

INSERT INTO nexmark_tumble_count
SELECT
    bidder,
    TUMBLE_START(date_time, INTERVAL '10' SECOND) AS window_start,
    TUMBLE_END(date_time, INTERVAL '10' SECOND) AS window_end,
    COUNT(*) AS num
FROM bid
GROUP BY TUMBLE(date_time, INTERVAL '10' SECOND), bidder;
