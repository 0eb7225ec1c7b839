SELECT
    bidder,
    TUMBLE_START(date_time, INTERVAL '10' SECOND) AS window_start,
    TUMBLE_END(date_time, INTERVAL '10' SECOND) AS window_end,
    COUNT(*) AS num
FROM bid
GROUP BY TUMBLE(date_time, INTERVAL '10' SECOND), bidder
