-- The browsers that press most, from the local lake (DuckDB).
SELECT ua.browser.family AS browser, count(*) AS presses
FROM read_json_auto('data/lake/topics/select-color/*/*/*.jsonl',
                    hive_partitioning = true, hive_types = {'dt': DATE, 'hour': INTEGER})
GROUP BY browser
ORDER BY presses DESC, browser
LIMIT 10;
