-- Presses of each colour per hour, from the local lake (DuckDB, run from
-- the directory that holds data/lake). dt and hour come from the
-- directory names (hive_partitioning), typed explicitly: left to guess,
-- DuckDB reads hour=00 as text but hour=23 as a number.
SELECT dt, hour, color, count(*) AS presses
FROM read_json_auto('data/lake/topics/select-color/*/*/*.jsonl',
                    hive_partitioning = true, hive_types = {'dt': DATE, 'hour': INTEGER})
GROUP BY dt, hour, color
ORDER BY dt, hour, presses DESC, color;
