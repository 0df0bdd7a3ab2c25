-- The browsers that press most, over the whole local lake (DuckDB, after
-- sql/duckdb-lake-view.sql).
SELECT ua.browser.family AS browser, count(*) AS presses
FROM select_color
GROUP BY browser
ORDER BY presses DESC, browser
LIMIT 10;
