-- The lake as a Spark SQL view named select_color (scripts/spark-sql runs
-- this before a query). JSON lines under dt=YYYY-MM-DD/hour=HH/: Spark reads
-- the directory names as the partition columns dt (a DATE) and hour (an
-- INT), and the events' fields from the files. ${hivevar:lake} is the
-- topic's directory, e.g. hdfs://127.0.0.1:8020/topics/select-color.
CREATE TEMPORARY VIEW select_color
USING json
OPTIONS (path '${hivevar:lake}');
