-- The local lake as a DuckDB view named select_color (run from the
-- directory that holds data/lake, before a query): the open hours' JSON
-- lines and the compacted hours' Parquet files (prism-lake compact) as one
-- table, each event once. dt and hour come from the directory names
-- (hive_partitioning), typed explicitly: left to guess, DuckDB reads
-- hour=00 as text but hour=23 as a number. DuckDB refuses a pattern that
-- matches no file, and a lake may have no Parquet file yet (or, quiet and
-- compacted, no JSON-lines file): each side is read only if it has files.
SET VARIABLE lake_jsonl = 'data/lake/topics/select-color/*/*/*.jsonl';
SET VARIABLE lake_parquet = 'data/lake/topics/select-color/*/*/*.parquet';
SET VARIABLE has_jsonl = (SELECT count(*) > 0 FROM glob(getvariable('lake_jsonl')));
SET VARIABLE has_parquet = (SELECT count(*) > 0 FROM glob(getvariable('lake_parquet')));
CREATE OR REPLACE TEMP VIEW select_color AS
SELECT * FROM query(CASE WHEN getvariable('has_jsonl') THEN format($$
  SELECT event_id, name, color, client_ts, received_at, client_ip,
         navigator.user_agent AS user_agent, ua, dt, hour
  FROM read_json('{}', hive_partitioning = true,
                 hive_types = {{'dt': DATE, 'hour': INTEGER}},
                 columns = {{event_id: 'UUID', name: 'VARCHAR', color: 'VARCHAR',
                   client_ts: 'TIMESTAMPTZ', received_at: 'TIMESTAMPTZ', client_ip: 'VARCHAR',
                   navigator: 'STRUCT(user_agent VARCHAR)',
                   ua: 'STRUCT(browser STRUCT(family VARCHAR, major VARCHAR, minor VARCHAR, patch VARCHAR),
                               os STRUCT(family VARCHAR, major VARCHAR, minor VARCHAR, patch VARCHAR),
                               device STRUCT(family VARCHAR, brand VARCHAR, model VARCHAR))'}})$$,
  getvariable('lake_jsonl')) ELSE 'SELECT NULL::UUID AS event_id WHERE false' END)
UNION ALL BY NAME
SELECT * FROM query(CASE WHEN getvariable('has_parquet') THEN format($$
  SELECT event_id::UUID AS event_id, name, color, client_ts, received_at, client_ip,
         navigator_user_agent AS user_agent,
         {{'browser': {{'family': ua_browser_family, 'major': ua_browser_major,
                        'minor': ua_browser_minor, 'patch': ua_browser_patch}},
          'os': {{'family': ua_os_family, 'major': ua_os_major,
                   'minor': ua_os_minor, 'patch': ua_os_patch}},
          'device': {{'family': ua_device_family, 'brand': ua_device_brand,
                       'model': ua_device_model}}}} AS ua,
         dt, hour
  FROM read_parquet('{}', hive_partitioning = true,
                    hive_types = {{'dt': DATE, 'hour': INTEGER}})$$,
  getvariable('lake_parquet')) ELSE 'SELECT NULL::UUID AS event_id WHERE false' END);
