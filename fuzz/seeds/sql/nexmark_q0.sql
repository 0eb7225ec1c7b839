-- Nexmark q0: pass-through. Measures the monitoring overhead (source -> sink).
CREATE TABLE nexmark_q0 (
  auction    BIGINT,
  bidder     BIGINT,
  price      BIGINT,
  date_time  TIMESTAMP(3),
  extra      VARCHAR
) WITH ('connector' = 'fuzz-updates');

INSERT INTO nexmark_q0
SELECT auction, bidder, price, date_time, extra FROM bid;
