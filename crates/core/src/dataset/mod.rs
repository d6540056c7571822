//! Where schools come from: the embedded synthetic Wales-like population
//! (docs/domain.md, "The data") and CSV files such as `data/wales/schools.csv`.

mod csv_import;
mod synthetic;

pub use csv_import::{CsvImport, CsvImportError, MAX_ROWS, RowError, read_csv, read_csv_path};
pub use synthetic::{DEFAULT_SCHOOLS, DEFAULT_SEED, SyntheticConfig, SyntheticFocus, generate};
