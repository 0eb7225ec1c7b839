-- Nexmark q7: highest bid. Bids whose price equals the maximum price of a
-- 10 s TUMBLE window and whose time lies within (window_end - 10 s, window_end].
-- Note: the upstream nexmark q7.sql selects (auction, price, bidder, ...) into a
-- sink declared (auction, bidder, price, ...); here the sink columns are named
-- in the order actually selected. The join is a regular join (window_end is
-- not a time attribute), so Flink keeps all bids in state.
CREATE TABLE nexmark_q7 (
  auction    BIGINT,
  price      BIGINT,
  bidder     BIGINT,
  date_time  TIMESTAMP(3),
  extra      VARCHAR
) WITH ('connector' = 'fuzz-updates');

INSERT INTO nexmark_q7
SELECT B.auction, B.price, B.bidder, B.date_time, B.extra
from bid B
JOIN (
  SELECT MAX(price) AS maxprice, window_end as date_time
  FROM TABLE(
          TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' SECOND))
  GROUP BY window_start, window_end
) B1
ON B.price = B1.maxprice
WHERE B.date_time BETWEEN B1.date_time  - INTERVAL '10' SECOND AND B1.date_time;
