//! A partition-hour of events as one Parquet file: the event's fields
//! flattened into typed columns (`navigator.screen.width` becomes
//! `navigator_screen_width`), the two timestamps as UTC timestamps, the
//! browser's brand list as a list of structs. `dt` and `hour` are not
//! stored: they are the directory's, as Hive and Spark expect of partition
//! columns.

use std::sync::{Arc, LazyLock};

use arrow_array::{Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use prism_event::{EnrichedEvent, UaBrand};
use serde::Serialize;
use uuid::Uuid;

/// Rows per record batch while encoding: bounds the memory besides the
/// file itself.
const BATCH: usize = 8192;

fn text(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn timestamp(name: &str) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
        false,
    )
}

/// The columns, in order.
pub static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let int = |name: &str| Field::new(name, DataType::Int64, true);
    let brand = Fields::from(vec![
        Field::new("brand", DataType::Utf8, false),
        Field::new("version", DataType::Utf8, false),
    ]);
    let mut fields = vec![
        Field::new("schema_version", DataType::Int32, false),
        Field::new("event_id", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("color", DataType::Utf8, false),
        timestamp("client_ts"),
        timestamp("received_at"),
        text("client_ip"),
        Field::new("navigator_user_agent", DataType::Utf8, false),
        text("navigator_language"),
        Field::new(
            "navigator_languages",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        ),
        text("navigator_platform"),
        text("navigator_vendor"),
        Field::new("navigator_cookie_enabled", DataType::Boolean, true),
        text("navigator_do_not_track"),
        int("navigator_hardware_concurrency"),
        Field::new("navigator_device_memory", DataType::Float64, true),
        int("navigator_max_touch_points"),
        int("navigator_screen_width"),
        int("navigator_screen_height"),
        Field::new("navigator_screen_pixel_ratio", DataType::Float64, true),
        int("navigator_screen_color_depth"),
        int("navigator_viewport_width"),
        int("navigator_viewport_height"),
        text("navigator_timezone"),
        Field::new("navigator_timezone_offset_min", DataType::Int32, true),
        text("navigator_referrer"),
        text("navigator_page_url"),
        Field::new(
            "navigator_ua_data_brands",
            DataType::List(Arc::new(Field::new("item", DataType::Struct(brand), true))),
            true,
        ),
        Field::new("navigator_ua_data_mobile", DataType::Boolean, true),
        text("navigator_ua_data_platform"),
    ];
    for software in ["ua_browser", "ua_os"] {
        fields.push(Field::new(
            format!("{software}_family"),
            DataType::Utf8,
            false,
        ));
        for part in ["major", "minor", "patch"] {
            fields.push(text(&format!("{software}_{part}")));
        }
    }
    fields.push(Field::new("ua_device_family", DataType::Utf8, false));
    fields.push(text("ua_device_brand"));
    fields.push(text("ua_device_model"));
    Arc::new(Schema::new(fields))
});

/// One row, named as the columns; serialised straight into Arrow.
#[derive(Serialize)]
struct Row<'a> {
    schema_version: u32,
    event_id: Uuid,
    name: &'a str,
    color: prism_event::Color,
    /// Microseconds since the epoch.
    client_ts: i64,
    received_at: i64,
    client_ip: Option<String>,
    navigator_user_agent: &'a str,
    navigator_language: Option<&'a str>,
    navigator_languages: Option<&'a [String]>,
    navigator_platform: Option<&'a str>,
    navigator_vendor: Option<&'a str>,
    navigator_cookie_enabled: Option<bool>,
    navigator_do_not_track: Option<&'a str>,
    navigator_hardware_concurrency: Option<u32>,
    navigator_device_memory: Option<f64>,
    navigator_max_touch_points: Option<u32>,
    navigator_screen_width: Option<u32>,
    navigator_screen_height: Option<u32>,
    navigator_screen_pixel_ratio: Option<f64>,
    navigator_screen_color_depth: Option<u32>,
    navigator_viewport_width: Option<u32>,
    navigator_viewport_height: Option<u32>,
    navigator_timezone: Option<&'a str>,
    navigator_timezone_offset_min: Option<i32>,
    navigator_referrer: Option<&'a str>,
    navigator_page_url: Option<&'a str>,
    navigator_ua_data_brands: Option<&'a [UaBrand]>,
    navigator_ua_data_mobile: Option<bool>,
    navigator_ua_data_platform: Option<&'a str>,
    ua_browser_family: &'a str,
    ua_browser_major: Option<&'a str>,
    ua_browser_minor: Option<&'a str>,
    ua_browser_patch: Option<&'a str>,
    ua_os_family: &'a str,
    ua_os_major: Option<&'a str>,
    ua_os_minor: Option<&'a str>,
    ua_os_patch: Option<&'a str>,
    ua_device_family: &'a str,
    ua_device_brand: Option<&'a str>,
    ua_device_model: Option<&'a str>,
}

fn micros(t: time::OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

impl<'a> Row<'a> {
    fn of(e: &'a EnrichedEvent) -> Self {
        let n = &e.navigator;
        let (b, o, d) = (&e.ua.browser, &e.ua.os, &e.ua.device);
        Self {
            schema_version: e.schema_version,
            event_id: e.event_id,
            name: &e.name,
            color: e.color,
            client_ts: micros(e.client_ts),
            received_at: micros(e.received_at),
            client_ip: e.client_ip.map(|ip| ip.to_string()),
            navigator_user_agent: &n.user_agent,
            navigator_language: n.language.as_deref(),
            navigator_languages: n.languages.as_deref(),
            navigator_platform: n.platform.as_deref(),
            navigator_vendor: n.vendor.as_deref(),
            navigator_cookie_enabled: n.cookie_enabled,
            navigator_do_not_track: n.do_not_track.as_deref(),
            navigator_hardware_concurrency: n.hardware_concurrency,
            navigator_device_memory: n.device_memory,
            navigator_max_touch_points: n.max_touch_points,
            navigator_screen_width: n.screen.as_ref().map(|s| s.width),
            navigator_screen_height: n.screen.as_ref().map(|s| s.height),
            navigator_screen_pixel_ratio: n.screen.as_ref().and_then(|s| s.pixel_ratio),
            navigator_screen_color_depth: n.screen.as_ref().and_then(|s| s.color_depth),
            navigator_viewport_width: n.viewport.as_ref().map(|v| v.width),
            navigator_viewport_height: n.viewport.as_ref().map(|v| v.height),
            navigator_timezone: n.timezone.as_deref(),
            navigator_timezone_offset_min: n.timezone_offset_min,
            navigator_referrer: n.referrer.as_deref(),
            navigator_page_url: n.page_url.as_deref(),
            navigator_ua_data_brands: n.ua_data.as_ref().map(|u| u.brands.as_slice()),
            navigator_ua_data_mobile: n.ua_data.as_ref().and_then(|u| u.mobile),
            navigator_ua_data_platform: n.ua_data.as_ref().and_then(|u| u.platform.as_deref()),
            ua_browser_family: &b.family,
            ua_browser_major: b.major.as_deref(),
            ua_browser_minor: b.minor.as_deref(),
            ua_browser_patch: b.patch.as_deref(),
            ua_os_family: &o.family,
            ua_os_major: o.major.as_deref(),
            ua_os_minor: o.minor.as_deref(),
            ua_os_patch: o.patch.as_deref(),
            ua_device_family: &d.family,
            ua_device_brand: d.brand.as_deref(),
            ua_device_model: d.model.as_deref(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("parquet: {0}")]
pub struct ParquetError(String);

fn parquet_error(e: impl std::fmt::Display) -> ParquetError {
    ParquetError(e.to_string())
}

/// Rows per row group: what the writer holds in memory before encoding
/// them into the file.
const ROW_GROUP: usize = 128 * 1024;

/// Writes one Parquet file from events pushed a batch at a time; the
/// encoded bytes can be taken as they are produced, so a partition-hour
/// of any size is never held whole, as events or as a file.
pub struct Encoder {
    writer: ArrowWriter<Vec<u8>>,
}

impl Encoder {
    pub fn new() -> Result<Self, ParquetError> {
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP))
            .set_created_by(format!("prism-lake {}", env!("CARGO_PKG_VERSION")))
            .build();
        let writer = ArrowWriter::try_new(Vec::new(), SCHEMA.clone(), Some(properties))
            .map_err(parquet_error)?;
        Ok(Self { writer })
    }

    pub fn push(&mut self, events: &[EnrichedEvent]) -> Result<(), ParquetError> {
        for chunk in events.chunks(BATCH) {
            let mut decoder = arrow_json::ReaderBuilder::new(SCHEMA.clone())
                .with_batch_size(BATCH)
                .build_decoder()
                .map_err(parquet_error)?;
            let rows: Vec<Row<'_>> = chunk.iter().map(Row::of).collect();
            decoder.serialize(&rows).map_err(parquet_error)?;
            if let Some(batch) = decoder.flush().map_err(parquet_error)? {
                self.writer.write(&batch).map_err(parquet_error)?;
            }
        }
        Ok(())
    }

    /// The bytes encoded since the last call (whole row groups).
    pub fn take(&mut self) -> Vec<u8> {
        // The writer counts the bytes it wrote itself; emptying the buffer
        // it wrote them to does not disturb the offsets it records.
        std::mem::take(self.writer.inner_mut())
    }

    /// The rest of the file, its footer included.
    pub fn finish(self) -> Result<Vec<u8>, ParquetError> {
        self.writer.into_inner().map_err(parquet_error)
    }
}

/// The events as one Parquet file (Snappy-compressed pages).
pub fn encode(events: &[EnrichedEvent]) -> Result<Vec<u8>, ParquetError> {
    let mut encoder = Encoder::new()?;
    encoder.push(events)?;
    encoder.finish()
}

/// The `event_id` of every row, in file order.
pub fn event_ids(file: Bytes) -> Result<Vec<Uuid>, ParquetError> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_error)?;
    let column = builder
        .schema()
        .index_of("event_id")
        .map_err(parquet_error)?;
    let projection = parquet::arrow::ProjectionMask::roots(builder.parquet_schema(), [column]);
    let reader = builder
        .with_projection(projection)
        .build()
        .map_err(parquet_error)?;
    let mut ids = Vec::new();
    for batch in reader {
        let batch: RecordBatch = batch.map_err(parquet_error)?;
        let column = batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| ParquetError("event_id is not a string column".into()))?;
        for i in 0..column.len() {
            let id = Uuid::parse_str(column.value(i)).map_err(parquet_error)?;
            ids.push(id);
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, TimestampMicrosecondArray};
    use prism_event::{Navigator, Screen, UaData};
    use time::macros::datetime;

    fn sample(n: u128) -> EnrichedEvent {
        let json = serde_json::json!({
            "schema_version": 1,
            "event_id": Uuid::from_u128(n),
            "name": format!("user {n}"),
            "color": "green",
            "client_ts": "2026-11-22T04:05:06.789Z",
            "received_at": "2026-11-22T04:05:07Z",
            "navigator": {"user_agent": "Mozilla/5.0"},
            "ua": {"browser": {"family": "Firefox", "major": "133"},
                   "os": {"family": "Linux"}, "device": {"family": "Other"}}
        });
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn events_round_trip_with_typed_columns() {
        let mut full = sample(1);
        full.client_ip = Some("192.0.2.7".parse().unwrap());
        full.navigator = Navigator {
            user_agent: "Mozilla/5.0 (X11)".into(),
            languages: Some(vec!["en-GB".into(), "fr".into()]),
            screen: Some(Screen {
                width: 1920,
                height: 1080,
                pixel_ratio: Some(1.5),
                color_depth: None,
            }),
            ua_data: Some(UaData {
                brands: vec![UaBrand {
                    brand: "Chromium".into(),
                    version: "131".into(),
                }],
                mobile: Some(false),
                platform: None,
            }),
            ..Navigator::default()
        };
        let events = vec![full, sample(2)];
        let file = Bytes::from(encode(&events).unwrap());
        assert_eq!(
            event_ids(file.clone()).unwrap(),
            [Uuid::from_u128(1), Uuid::from_u128(2)]
        );

        let batch = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(batch.schema().fields().len(), SCHEMA.fields().len());
        let ts = batch
            .column_by_name("client_ts")
            .unwrap()
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .unwrap();
        assert_eq!(ts.value(0), micros(datetime!(2026-11-22 04:05:06.789 UTC)));
        let width = batch
            .column_by_name("navigator_screen_width")
            .unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!((width.value(0), width.is_null(1)), (1920, true));
        let text = |name: &str, row: usize| {
            let column = batch.column_by_name(name).unwrap();
            let strings = column.as_any().downcast_ref::<StringArray>().unwrap();
            (!strings.is_null(row)).then(|| strings.value(row).to_owned())
        };
        assert_eq!(text("color", 0).as_deref(), Some("green"));
        assert_eq!(text("client_ip", 0).as_deref(), Some("192.0.2.7"));
        assert_eq!(text("ua_browser_major", 1).as_deref(), Some("133"));
        assert_eq!(text("ua_os_major", 1), None);
        assert!(batch.column_by_name("dt").is_none());
    }

    #[test]
    fn a_file_taken_piecewise_is_the_same_file() {
        let events: Vec<EnrichedEvent> = (0..(ROW_GROUP as u128 + 10)).map(sample).collect();
        let mut encoder = Encoder::new().unwrap();
        let mut file = Vec::new();
        for chunk in events.chunks(50_000) {
            encoder.push(chunk).unwrap();
            file.extend(encoder.take());
        }
        assert!(!file.is_empty(), "a row group was encoded before the end");
        file.extend(encoder.finish().unwrap());
        let ids = event_ids(Bytes::from(file)).unwrap();
        assert_eq!(ids.len(), events.len());
        assert_eq!(ids.last(), Some(&events[events.len() - 1].event_id));
    }
}
