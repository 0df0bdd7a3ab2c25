-- Presses of each colour per hour, over the whole local lake (DuckDB, after
-- sql/duckdb-lake-view.sql, from the directory that holds data/lake).
SELECT dt, hour, color, count(*) AS presses
FROM select_color
GROUP BY dt, hour, color
ORDER BY dt, hour, presses DESC, color;
