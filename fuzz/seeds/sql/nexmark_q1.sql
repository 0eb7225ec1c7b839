-- Nexmark q1: currency conversion, dollar -> euro.
CREATE TABLE nexmark_q1 (
  auction    BIGINT,
  bidder     BIGINT,
  price      DECIMAL(23, 3),
  date_time  TIMESTAMP(3),
  extra      VARCHAR
) WITH ('connector' = 'fuzz-updates');

INSERT INTO nexmark_q1
SELECT
    auction,
    bidder,
    0.908 * price as price,
    date_time,
    extra
FROM bid;
