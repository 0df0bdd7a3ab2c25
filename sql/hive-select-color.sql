-- The lake as a Hive table on the compose stack's HDFS. One JSON event per
-- line; Hive's JsonSerDe ignores fields the table does not name.
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
LOCATION 'hdfs://namenode:8020/topics/select-color';

-- New dt=/hour= directories become partitions:
MSCK REPAIR TABLE select_color;

-- Presses of each colour per hour:
SELECT dt, hour, color, count(*) AS presses
FROM select_color
GROUP BY dt, hour, color
ORDER BY dt, hour, presses DESC;
