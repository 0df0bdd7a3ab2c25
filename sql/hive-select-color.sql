-- The lake as a Hive external table named select_color. One JSON event per
-- line; Hive's JSON SerDe (hive-hcatalog-core) ignores fields the table does
-- not name; the partitions dt and hour are the directory names, as text.
-- ${hivevar:lake} is the topic's directory: on the compose stack,
-- hive --hivevar lake=hdfs://namenode:8020/topics/select-color -f THIS_FILE
-- (scripts/spark-sql --hive runs it with Spark SQL before a query).
CREATE EXTERNAL TABLE IF NOT EXISTS select_color (
  schema_version INT,
  event_id STRING,
  name STRING,
  color STRING,
  client_ts STRING,
  received_at STRING,
  client_ip STRING,
  navigator STRUCT<
    user_agent: STRING, language: STRING, languages: ARRAY<STRING>,
    platform: STRING, vendor: STRING, cookie_enabled: BOOLEAN,
    do_not_track: STRING, hardware_concurrency: INT, device_memory: DOUBLE,
    max_touch_points: INT,
    screen: STRUCT<width: INT, height: INT, pixel_ratio: DOUBLE, color_depth: INT>,
    viewport: STRUCT<width: INT, height: INT>,
    timezone: STRING, timezone_offset_min: INT, referrer: STRING, page_url: STRING,
    ua_data: STRUCT<brands: ARRAY<STRUCT<brand: STRING, version: STRING>>,
                    mobile: BOOLEAN, platform: STRING>>,
  ua STRUCT<
    browser: STRUCT<family: STRING, major: STRING, minor: STRING, patch: STRING>,
    os: STRUCT<family: STRING, major: STRING, minor: STRING, patch: STRING>,
    device: STRUCT<family: STRING, brand: STRING, model: STRING>>
)
PARTITIONED BY (dt STRING, hour STRING)
ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'
STORED AS TEXTFILE
LOCATION '${hivevar:lake}';

-- New dt=/hour= directories become partitions:
MSCK REPAIR TABLE select_color;
