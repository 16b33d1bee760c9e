//! `hotpool config check FILE` and `hotpool config default`.

use std::path::Path;
use std::process::ExitCode;

use pool_config::{Config, ConfigError, ConfigWarning};
use serde::Serialize;

use crate::Error;

/// One problem, for `--json`.
#[derive(Debug, Serialize)]
struct Problem {
    line: Option<usize>,
    column: Option<usize>,
    key: Option<String>,
    reason: String,
    message: String,
}

impl Problem {
    fn of_error(e: &ConfigError) -> Self {
        Self {
            line: e.line(),
            column: e.column(),
            key: e.key().map(str::to_owned),
            reason: e.reason().to_owned(),
            message: e.to_string(),
        }
    }

    fn of_warning(w: &ConfigWarning) -> Self {
        Self {
            line: w.line(),
            column: w.column(),
            key: w.key().map(str::to_owned),
            reason: w.reason().to_owned(),
            message: w.to_string(),
        }
    }
}

/// The `--json` report of `config check`.
#[derive(Debug, Serialize)]
struct CheckReport {
    file: String,
    valid: bool,
    errors: Vec<Problem>,
    warnings: Vec<Problem>,
}

/// `config check FILE`: every problem on its own line on stderr (`FILE:LINE:COL: KEY:
/// REASON`), warnings prefixed with `warning: `; "FILE: ok" on stdout when valid.
/// Exit status 0 when valid (warnings allowed), 1 otherwise. The file is checked as written:
/// `HOTPOOL_*` environment overrides are not applied.
pub fn check(file: &Path, json: bool) -> Result<ExitCode, Error> {
    let name = file.display().to_string();
    let text = std::fs::read_to_string(file)
        .map_err(|e| Error::new(format!("cannot read {name}: {e}")))?;
    let (errors, warnings) = match Config::check_str_named(&text, &name) {
        Ok(cfg) => (Vec::new(), cfg.warnings().to_vec()),
        Err(errors) => (errors, Vec::new()),
    };
    let valid = errors.is_empty();
    if json {
        let report = CheckReport {
            file: name,
            valid,
            errors: errors.iter().map(Problem::of_error).collect(),
            warnings: warnings.iter().map(Problem::of_warning).collect(),
        };
        crate::report::print_json(&report)?;
    } else {
        for w in &warnings {
            eprintln!("warning: {w}");
        }
        for e in &errors {
            eprintln!("{e}");
        }
        if valid {
            println!("{name}: ok");
        } else {
            let n = errors.len();
            eprintln!(
                "{name}: {n} error{}, config not valid",
                if n == 1 { "" } else { "s" }
            );
        }
    }
    Ok(if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `config default`: the documented default file, generated from pool-config's key
/// declarations (TOML; with `--json`, the default configuration as a JSON object).
pub fn default(json: bool) -> Result<ExitCode, Error> {
    if json {
        crate::report::print_json(&Config::default())?;
    } else {
        print!("{}", Config::default_toml());
    }
    Ok(ExitCode::SUCCESS)
}
