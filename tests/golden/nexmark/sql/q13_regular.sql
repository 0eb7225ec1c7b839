-- Flink's rows for q13 (golden only). Flink 2.3 refuses q13 as written: its filesystem
-- connector is not a lookup source, so `FOR SYSTEM_TIME AS OF B.p_time` becomes a temporal
-- table join, which fails with "Temporal Table Join requires primary key in versioned
-- table". Over a static side input a lookup join gives the rows of this regular join.
-- (The sink comes first: the kit reads the result's column types from the first CREATE TABLE.)
CREATE TABLE nexmark_q13_regular (
  auction  BIGINT,
  bidder  BIGINT,
  price  BIGINT,
  date_time  TIMESTAMP(3),
  `value`  VARCHAR
) WITH (${SINK});

CREATE TABLE side_input (
  key BIGINT,
  `value` VARCHAR
) WITH (
  'connector' = 'filesystem',
  'path' = '${DATA_DIR}/side_input.csv',
  'format' = 'csv'
);

INSERT INTO nexmark_q13_regular
SELECT
    B.auction,
    B.bidder,
    B.price,
    B.date_time,
    S.`value`
FROM bid B
JOIN side_input S
ON mod(B.auction, 10000) = S.key;
