-- Nexmark q4: average price per category. Regular join auction x bid (bids
-- made while the auction was open), MAX per auction, then AVG per category.
-- The result is an UPDATE stream (retractions); AVG over BIGINT is BIGINT in
-- Flink (integer division of SUM by COUNT).
CREATE TABLE nexmark_q4 (
  id     BIGINT,
  final  BIGINT
) WITH ('connector' = 'fuzz-updates');

INSERT INTO nexmark_q4
SELECT
    Q.category,
    AVG(Q.final)
FROM (
    SELECT MAX(B.price) AS final, A.category
    FROM auction A, bid B
    WHERE A.id = B.auction AND B.date_time BETWEEN A.date_time AND A.expires
    GROUP BY A.id, A.category
) Q
GROUP BY Q.category;
