-- Nexmark source tables over the CSV files written by gen_nexmark.py.
-- /nonexistent is substituted by run_query.py. Bounded filesystem source: in
-- streaming mode Flink emits a final Long.MAX_VALUE watermark at end of input,
-- so every event-time window fires before the job finishes.
-- Watermark delay 4 s as in the Nexmark benchmark DDL (ddl_gen.sql).
CREATE TABLE IF NOT EXISTS person (
    id            BIGINT,
    name          VARCHAR,
    emailAddress  VARCHAR,
    creditCard    VARCHAR,
    city          VARCHAR,
    state         VARCHAR,
    date_time     TIMESTAMP(3),
    extra         VARCHAR,
    WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND
) WITH (
    'connector' = 'fuzz',
    'path' = '/nonexistent/person.csv',
    'format' = 'csv'
);

CREATE TABLE IF NOT EXISTS auction (
    id            BIGINT,
    itemName      VARCHAR,
    description   VARCHAR,
    initialBid    BIGINT,
    reserve       BIGINT,
    date_time     TIMESTAMP(3),
    expires       TIMESTAMP(3),
    seller        BIGINT,
    category      BIGINT,
    extra         VARCHAR,
    WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND
) WITH (
    'connector' = 'fuzz',
    'path' = '/nonexistent/auction.csv',
    'format' = 'csv'
);

CREATE TABLE IF NOT EXISTS bid (
    auction       BIGINT,
    bidder        BIGINT,
    price         BIGINT,
    channel       VARCHAR,
    url           VARCHAR,
    date_time     TIMESTAMP(3),
    extra         VARCHAR,
    WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND
) WITH (
    'connector' = 'fuzz',
    'path' = '/nonexistent/bid.csv',
    'format' = 'csv'
);
