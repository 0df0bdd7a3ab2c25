-- Presses of each colour per hour, over select_color: the view of
-- sql/spark-lake-view.sql or the Hive table of sql/hive-select-color.sql.
SELECT dt, hour, color, count(*) AS presses
FROM select_color
GROUP BY dt, hour, color
ORDER BY dt, hour, presses DESC, color;
