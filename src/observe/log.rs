//! The observation log of one run of one mode. Observations are handed on in log order as soon
//! as they are final: written to `observations.csv` or `observations.parquet` while the run goes
//! on, or kept in memory for library callers and tests. The run fingerprint (SHA-256 over the
//! log's CSV form) is computed as the rows pass, whatever the log's format.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::parquet::ParquetLog;
use super::{Item, Observation};

/// The file format of a written observation log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// `observations.csv` (the default).
    #[default]
    Csv,
    /// `observations.parquet`.
    Parquet,
}

impl Format {
    /// The file name of the log in this format.
    pub fn file_name(self) -> &'static str {
        match self {
            Format::Csv => "observations.csv",
            Format::Parquet => "observations.parquet",
        }
    }
}

/// Hashes the bytes it passes on to `inner`.
struct Digesting {
    sha: Sha256,
    inner: Box<dyn Write + Send>,
}

impl Write for Digesting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Where final observations go besides the fingerprint.
enum Sink {
    /// Kept in memory ([`Log::memory`]).
    Memory(Vec<Observation>),
    /// Written to the CSV writer's file ([`Format::Csv`]).
    Csv,
    /// Written to a Parquet file.
    Parquet(Box<ParquetLog>),
}

/// An observation that may still be waiting for its items.
struct Pending {
    observation: Observation,
    complete: bool,
}

/// The position of an observation recorded with [`Log::open`], to complete it later.
#[derive(Clone, Copy, Debug)]
pub struct Open(u64);

/// A run's observation log.
pub struct Log {
    /// The CSV form of the log: written to the file in CSV format, else only hashed.
    csv: csv::Writer<Digesting>,
    sink: Sink,
    /// Observations recorded and not handed on yet: every one after the first incomplete one.
    pending: VecDeque<Pending>,
    /// How many observations were handed on.
    done: u64,
    /// The file written, if any.
    path: Option<PathBuf>,
    /// The first write error: writing stops there, and [`Log::finish`] reports it.
    error: Option<std::io::Error>,
}

/// What a finished log holds.
#[derive(Debug)]
pub struct Finished {
    /// How many observations were recorded.
    pub count: u64,
    /// The run fingerprint: SHA-256 of the log's CSV form, in hex.
    pub fingerprint: String,
    /// The observations, for a log kept in memory; empty for a written one.
    pub observations: Vec<Observation>,
    /// The file written, for a written log.
    pub path: Option<PathBuf>,
}

impl Log {
    fn new(csv_out: Box<dyn Write + Send>, sink: Sink, path: Option<PathBuf>) -> Self {
        let mut csv = csv::Writer::from_writer(Digesting {
            sha: Sha256::new(),
            inner: csv_out,
        });
        let error = csv.write_record(super::OBSERVATIONS_HEADER).err();
        Self {
            csv,
            sink,
            pending: VecDeque::new(),
            done: 0,
            path,
            error: error.map(std::io::Error::other),
        }
    }

    /// A log kept in memory.
    pub fn memory() -> Self {
        Self::new(Box::new(std::io::sink()), Sink::Memory(vec![]), None)
    }

    /// A log written to `dir/observations.csv` or `dir/observations.parquet` as the run goes.
    pub fn create(dir: &Path, format: Format) -> std::io::Result<Self> {
        let path = dir.join(format.file_name());
        let file = File::create(&path)?;
        Ok(match format {
            Format::Csv => Self::new(Box::new(BufWriter::new(file)), Sink::Csv, Some(path)),
            Format::Parquet => {
                let parquet = ParquetLog::create(file)?;
                Self::new(
                    Box::new(std::io::sink()),
                    Sink::Parquet(Box::new(parquet)),
                    Some(path),
                )
            }
        })
    }

    /// How many observations were recorded so far.
    pub fn len(&self) -> u64 {
        self.done + self.pending.len() as u64
    }

    /// Whether nothing was recorded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether writing has failed (the error is reported by [`Log::finish`]).
    pub fn failed(&self) -> bool {
        self.error.is_some()
    }

    /// Records a final observation.
    pub fn push(&mut self, observation: Observation) {
        self.pending.push_back(Pending {
            observation,
            complete: true,
        });
        self.hand_on();
    }

    /// Records an observation whose items are not known yet: it keeps its place in the log,
    /// and it and everything after it wait until [`Log::complete`] gives its items.
    pub fn open(&mut self, observation: Observation) -> Open {
        let at = Open(self.len());
        self.pending.push_back(Pending {
            observation,
            complete: false,
        });
        at
    }

    /// Gives an open observation its items.
    pub fn complete(&mut self, at: Open, items: Vec<Item>) {
        let index = usize::try_from(at.0 - self.done).expect("pending observations fit memory");
        let p = &mut self.pending[index];
        debug_assert!(!p.complete, "an observation is completed once");
        p.observation.items = items;
        p.complete = true;
        self.hand_on();
    }

    /// Hands on every leading complete observation.
    fn hand_on(&mut self) {
        while self.pending.front().is_some_and(|p| p.complete) {
            let p = self.pending.pop_front().expect("checked");
            let seq = self.done;
            self.done += 1;
            if self.error.is_some() {
                continue;
            }
            if let Err(e) = self.write(seq, p.observation) {
                self.error = Some(e);
            }
        }
    }

    fn write(&mut self, seq: u64, o: Observation) -> std::io::Result<()> {
        super::write_observation_csv(&mut self.csv, seq, &o).map_err(std::io::Error::other)?;
        match &mut self.sink {
            Sink::Memory(kept) => kept.push(o),
            Sink::Csv => {}
            Sink::Parquet(parquet) => parquet.push(seq, &o)?,
        }
        Ok(())
    }

    /// Ends the log: writes what is left, closes the file, and returns the count and the
    /// fingerprint (and the observations of a log kept in memory).
    pub fn finish(mut self) -> Result<Finished, LogError> {
        for p in &mut self.pending {
            p.complete = true;
        }
        self.hand_on();
        let path = self.path.clone().unwrap_or_default();
        let fail = |error| LogError {
            path: path.clone(),
            error,
        };
        if let Some(e) = self.error.take() {
            return Err(fail(e));
        }
        let mut digesting = self.csv.into_inner().map_err(|e| fail(e.into_error()))?;
        digesting.flush().map_err(fail)?;
        let observations = match self.sink {
            Sink::Memory(kept) => kept,
            Sink::Csv => vec![],
            Sink::Parquet(parquet) => {
                parquet.finish().map_err(fail)?;
                vec![]
            }
        };
        Ok(Finished {
            count: self.done,
            fingerprint: hex::encode(digesting.sha.finalize()),
            observations,
            path: self.path,
        })
    }
}

/// The observation log could not be written.
#[derive(Debug, thiserror::Error)]
#[error("writing the observation log {}: {error}", .path.display())]
pub struct LogError {
    /// The file.
    pub path: PathBuf,
    /// What failed.
    pub error: std::io::Error,
}
