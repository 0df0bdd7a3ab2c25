-- The lake as a Spark SQL view named select_color (scripts/spark-sql runs
-- this before a query): the open hours' JSON lines and the compacted
-- hours' Parquet files (prism-lake compact) as one table, each event once,
-- in the events' own shape (navigator and ua nested). Spark reads the
-- directory names dt=YYYY-MM-DD/hour=HH as the partition columns dt (a
-- DATE) and hour (an INT). Each side names its columns, so a lake with no
-- file of one kind yet reads as that side empty. ${hivevar:lake} is the
-- topic's directory, e.g. hdfs://127.0.0.1:8020/topics/select-color.
CREATE TEMPORARY VIEW select_color_jsonl (
  schema_version INT, event_id STRING, name STRING, color STRING,
  client_ts TIMESTAMP, received_at TIMESTAMP, client_ip STRING,
  navigator STRUCT<
    user_agent: STRING, language: STRING, languages: ARRAY<STRING>,
    platform: STRING, vendor: STRING, cookie_enabled: BOOLEAN,
    do_not_track: STRING, hardware_concurrency: BIGINT, device_memory: DOUBLE,
    max_touch_points: BIGINT,
    screen: STRUCT<width: BIGINT, height: BIGINT, pixel_ratio: DOUBLE, color_depth: BIGINT>,
    viewport: STRUCT<width: BIGINT, height: BIGINT>,
    timezone: STRING, timezone_offset_min: INT, referrer: STRING, page_url: STRING,
    ua_data: STRUCT<brands: ARRAY<STRUCT<brand: STRING, version: STRING>>,
                    mobile: BOOLEAN, platform: STRING>>,
  ua STRUCT<
    browser: STRUCT<family: STRING, major: STRING, minor: STRING, patch: STRING>,
    os: STRUCT<family: STRING, major: STRING, minor: STRING, patch: STRING>,
    device: STRUCT<family: STRING, brand: STRING, model: STRING>>,
  dt DATE, hour INT)
USING json
OPTIONS (path '${hivevar:lake}', pathGlobFilter '*.jsonl');

CREATE TEMPORARY VIEW select_color_parquet (
  schema_version INT, event_id STRING, name STRING, color STRING,
  client_ts TIMESTAMP, received_at TIMESTAMP, client_ip STRING,
  navigator_user_agent STRING, navigator_language STRING,
  navigator_languages ARRAY<STRING>, navigator_platform STRING,
  navigator_vendor STRING, navigator_cookie_enabled BOOLEAN,
  navigator_do_not_track STRING, navigator_hardware_concurrency BIGINT,
  navigator_device_memory DOUBLE, navigator_max_touch_points BIGINT,
  navigator_screen_width BIGINT, navigator_screen_height BIGINT,
  navigator_screen_pixel_ratio DOUBLE, navigator_screen_color_depth BIGINT,
  navigator_viewport_width BIGINT, navigator_viewport_height BIGINT,
  navigator_timezone STRING, navigator_timezone_offset_min INT,
  navigator_referrer STRING, navigator_page_url STRING,
  navigator_ua_data_brands ARRAY<STRUCT<brand: STRING, version: STRING>>,
  navigator_ua_data_mobile BOOLEAN, navigator_ua_data_platform STRING,
  ua_browser_family STRING, ua_browser_major STRING, ua_browser_minor STRING,
  ua_browser_patch STRING, ua_os_family STRING, ua_os_major STRING,
  ua_os_minor STRING, ua_os_patch STRING, ua_device_family STRING,
  ua_device_brand STRING, ua_device_model STRING,
  dt DATE, hour INT)
USING parquet
OPTIONS (path '${hivevar:lake}', pathGlobFilter '*.parquet');

CREATE TEMPORARY VIEW select_color AS
SELECT * FROM select_color_jsonl
UNION ALL
SELECT schema_version, event_id, name, color, client_ts, received_at, client_ip,
  named_struct(
    'user_agent', navigator_user_agent, 'language', navigator_language,
    'languages', navigator_languages, 'platform', navigator_platform,
    'vendor', navigator_vendor, 'cookie_enabled', navigator_cookie_enabled,
    'do_not_track', navigator_do_not_track,
    'hardware_concurrency', navigator_hardware_concurrency,
    'device_memory', navigator_device_memory,
    'max_touch_points', navigator_max_touch_points,
    'screen', IF(navigator_screen_width IS NULL, NULL, named_struct(
      'width', navigator_screen_width, 'height', navigator_screen_height,
      'pixel_ratio', navigator_screen_pixel_ratio,
      'color_depth', navigator_screen_color_depth)),
    'viewport', IF(navigator_viewport_width IS NULL, NULL, named_struct(
      'width', navigator_viewport_width, 'height', navigator_viewport_height)),
    'timezone', navigator_timezone,
    'timezone_offset_min', navigator_timezone_offset_min,
    'referrer', navigator_referrer, 'page_url', navigator_page_url,
    'ua_data', IF(navigator_ua_data_brands IS NULL, NULL, named_struct(
      'brands', navigator_ua_data_brands, 'mobile', navigator_ua_data_mobile,
      'platform', navigator_ua_data_platform))),
  named_struct(
    'browser', named_struct('family', ua_browser_family, 'major', ua_browser_major,
                            'minor', ua_browser_minor, 'patch', ua_browser_patch),
    'os', named_struct('family', ua_os_family, 'major', ua_os_major,
                       'minor', ua_os_minor, 'patch', ua_os_patch),
    'device', named_struct('family', ua_device_family, 'brand', ua_device_brand,
                           'model', ua_device_model)),
  dt, hour
FROM select_color_parquet;
