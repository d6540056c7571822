//! Where schools come from: the embedded synthetic Wales-like population
//! (docs/domain.md, "The data"), CSV files such as `data/wales/schools.csv`,
//! England's register of schools (GIAS), and the one set of import rules
//! that files and ImportSchools streams share.

mod csv_import;
mod gias;
mod import;
mod ofsted;
mod statswales;
mod synthetic;

pub use csv_import::{CATEGORY_2019_DATE, CsvImportError, read_csv, read_csv_path};
pub use gias::{
    GIAS_COLUMNS, GIAS_HEADER, GiasImport, GiasOptions, british_grid_to_wgs84, merge_register,
    read_gias, read_gias_path, register_sample,
};
pub use import::{
    ImportBatch, ImportMerge, LineRejections, MAX_RECORDS, MAX_REJECTIONS_LISTED, NOT_STORED_HINT,
    RecordUnit, Rejection, StoredChange, StoredImport, StoredRow,
};
pub use ofsted::{OfstedColumns, merge_evaluations, read_ofsted, read_ofsted_path};
pub use statswales::{STATSWALES_COLUMNS, read_statswales_fsm, read_statswales_fsm_path};
pub use synthetic::{
    DEFAULT_SCHOOLS, DEFAULT_SEED, ReportCardMix, SyntheticConfig, SyntheticFocus,
    add_report_cards, fill_missing_focus, generate,
};
