//! `observations.parquet`: the observation log in Parquet, the same table as `observations.csv`
//! (one row per item, an observation without items as one row with null item columns), with
//! typed columns: numbers as unsigned integers, text as UTF-8 strings, and `room`, `subject`,
//! `kind` and `value` null where the CSV has an empty field. Rows are written in row groups of
//! [`ROW_GROUP_ROWS`] as the log grows, so the log is never held in memory whole. The file is
//! deterministic: the same rows give the same bytes (no timestamps are written; `created_by`
//! names this tool's version).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::Arc;

use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

use super::Observation;

/// The schema, in Parquet's message-type syntax; the columns are those of `observations.csv`.
pub const SCHEMA: &str = "message observations {
  REQUIRED INT64 seq (INTEGER(64,false));
  REQUIRED INT64 time_us (INTEGER(64,false));
  REQUIRED BYTE_ARRAY observer (STRING);
  REQUIRED BYTE_ARRAY flow (STRING);
  REQUIRED BYTE_ARRAY peer (STRING);
  OPTIONAL BYTE_ARRAY room (STRING);
  REQUIRED INT64 size (INTEGER(64,false));
  OPTIONAL INT32 subject (INTEGER(32,false));
  OPTIONAL BYTE_ARRAY kind (STRING);
  OPTIONAL BYTE_ARRAY value (STRING);
}";

/// Rows per row group: about 8 MB of column values before a group is encoded and written.
pub const ROW_GROUP_ROWS: usize = 1 << 17;

/// The columns of the rows not yet written.
#[derive(Default)]
struct Columns {
    seq: Vec<i64>,
    time_us: Vec<i64>,
    observer: Vec<ByteArray>,
    flow: Vec<ByteArray>,
    peer: Vec<ByteArray>,
    room: Vec<ByteArray>,
    /// Definition levels of `room`: 1 present, 0 null.
    room_def: Vec<i16>,
    size: Vec<i64>,
    subject: Vec<i32>,
    kind: Vec<ByteArray>,
    value: Vec<ByteArray>,
    /// Definition levels of the item columns (all three present or all null).
    item_def: Vec<i16>,
}

/// Writes observations to a Parquet file, a row group at a time.
pub struct ParquetLog {
    writer: SerializedFileWriter<BufWriter<File>>,
    columns: Columns,
}

fn io_error(e: ParquetError) -> std::io::Error {
    std::io::Error::other(format!("Parquet: {e}"))
}

/// Stored as the bits of a signed integer, as Parquet stores unsigned 64-bit columns.
fn u64_column(v: u64) -> i64 {
    i64::from_ne_bytes(v.to_ne_bytes())
}

impl ParquetLog {
    /// Starts the file (its header is written now, its footer by [`ParquetLog::finish`]).
    pub fn create(file: File) -> std::io::Result<Self> {
        let schema = Arc::new(parse_message_type(SCHEMA).expect("the schema parses"));
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by(format!("mimimi-sim {}", env!("CARGO_PKG_VERSION")))
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        let writer = SerializedFileWriter::new(BufWriter::new(file), schema, Arc::new(props))
            .map_err(io_error)?;
        Ok(Self {
            writer,
            columns: Columns::default(),
        })
    }

    /// Adds the rows of observation `seq`; writes a row group when enough rows are waiting.
    pub fn push(&mut self, seq: u64, o: &Observation) -> std::io::Result<()> {
        let c = &mut self.columns;
        let rows = o.items.len().max(1);
        let peer = ByteArray::from(o.peer.to_string().into_bytes());
        for i in 0..rows {
            c.seq.push(u64_column(seq));
            c.time_us.push(u64_column(o.time_us));
            c.observer.push(ByteArray::from(o.observer.as_str()));
            c.flow.push(ByteArray::from(o.flow));
            c.peer.push(peer.clone());
            match &o.room {
                Some(room) => {
                    c.room.push(ByteArray::from(room.as_str()));
                    c.room_def.push(1);
                }
                None => c.room_def.push(0),
            }
            c.size.push(u64_column(o.size as u64));
            match o.items.get(i) {
                Some(item) => {
                    c.subject
                        .push(i32::from_ne_bytes(item.subject.to_ne_bytes()));
                    c.kind.push(ByteArray::from(item.kind.as_str()));
                    c.value.push(ByteArray::from(item.value.as_str()));
                    c.item_def.push(1);
                }
                None => c.item_def.push(0),
            }
        }
        if self.columns.seq.len() >= ROW_GROUP_ROWS {
            self.write_group()?;
        }
        Ok(())
    }

    /// Writes the waiting rows as one row group.
    fn write_group(&mut self) -> std::io::Result<()> {
        let c = std::mem::take(&mut self.columns);
        if c.seq.is_empty() {
            return Ok(());
        }
        let mut group = self.writer.next_row_group().map_err(io_error)?;
        let mut index = 0;
        while let Some(mut column) = group.next_column().map_err(io_error)? {
            let written = match index {
                0 => column.typed::<Int64Type>().write_batch(&c.seq, None, None),
                1 => column
                    .typed::<Int64Type>()
                    .write_batch(&c.time_us, None, None),
                2 => column
                    .typed::<ByteArrayType>()
                    .write_batch(&c.observer, None, None),
                3 => column
                    .typed::<ByteArrayType>()
                    .write_batch(&c.flow, None, None),
                4 => column
                    .typed::<ByteArrayType>()
                    .write_batch(&c.peer, None, None),
                5 => column
                    .typed::<ByteArrayType>()
                    .write_batch(&c.room, Some(&c.room_def), None),
                6 => column.typed::<Int64Type>().write_batch(&c.size, None, None),
                7 => column
                    .typed::<Int32Type>()
                    .write_batch(&c.subject, Some(&c.item_def), None),
                8 => column
                    .typed::<ByteArrayType>()
                    .write_batch(&c.kind, Some(&c.item_def), None),
                _ => column
                    .typed::<ByteArrayType>()
                    .write_batch(&c.value, Some(&c.item_def), None),
            };
            written.map_err(io_error)?;
            column.close().map_err(io_error)?;
            index += 1;
        }
        group.close().map_err(io_error)?;
        Ok(())
    }

    /// Writes the last rows and the footer, and flushes the file.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.write_group()?;
        let mut out = self.writer.into_inner().map_err(io_error)?;
        out.flush()
    }
}
