-- Nexmark q3: local item suggestion. Regular (unbounded-state) inner join of
-- auction and person; sellers in OR, ID or CA selling in category 10.
CREATE TABLE nexmark_q3 (
  name   VARCHAR,
  city   VARCHAR,
  state  VARCHAR,
  id     BIGINT
) WITH ('connector' = 'fuzz-updates');

INSERT INTO nexmark_q3
SELECT
    P.name, P.city, P.state, A.id
FROM
    auction AS A INNER JOIN person AS P on A.seller = P.id
WHERE
    A.category = 10 and (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA');
