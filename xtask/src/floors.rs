//! `cargo xtask floors`: every locked version of a crate named in `security-floors.txt`
//! must satisfy its floor (and upper bound, when given).

use std::fmt;
use std::path::Path;

/// A version as three numbers; pre-release and build tags are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Version(u64, u64, u64);

impl Version {
    fn parse(text: &str) -> Option<Self> {
        let core = text.split(['-', '+']).next()?;
        let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
        Some(Version(parts.next()??, parts.next()??, parts.next()??))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

struct Floor {
    name: String,
    min: Version,
    below: Option<Version>,
}

fn parse_floors(text: &str) -> Result<Vec<Floor>, String> {
    let mut floors = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let bad = || {
            format!(
                "security-floors.txt:{}: expected `crate >= x.y.z [< x.y.z]`",
                number + 1
            )
        };
        let (name, min, below) = match words.as_slice() {
            [name, ">=", min] => (name, min, None),
            [name, ">=", min, "<", below] => (name, min, Some(below)),
            _ => return Err(bad()),
        };
        floors.push(Floor {
            name: (*name).to_owned(),
            min: Version::parse(min).ok_or_else(bad)?,
            below: match below {
                Some(v) => Some(Version::parse(v).ok_or_else(bad)?),
                None => None,
            },
        });
    }
    Ok(floors)
}

/// Every `(name, version)` of `Cargo.lock`'s `[[package]]` entries.
fn locked_packages(lock: &str) -> Vec<(String, String)> {
    let mut packages = Vec::new();
    let mut name = None;
    for line in lock.lines() {
        let line = line.trim();
        if line == "[[package]]" {
            name = None;
        } else if let Some(value) = line.strip_prefix("name = ") {
            name = Some(value.trim_matches('"').to_owned());
        } else if let (Some(value), Some(n)) = (line.strip_prefix("version = "), name.take()) {
            packages.push((n, value.trim_matches('"').to_owned()));
        }
    }
    packages
}

fn violations(floors: &[Floor], packages: &[(String, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for floor in floors {
        for (name, version) in packages.iter().filter(|(n, _)| *n == floor.name) {
            let Some(v) = Version::parse(version) else {
                found.push(format!("{name} {version}: unparsable version"));
                continue;
            };
            if v < floor.min {
                found.push(format!(
                    "{name} {v} is below the security floor {}",
                    floor.min
                ));
            }
            if let Some(below) = floor.below {
                if v >= below {
                    found.push(format!(
                        "{name} {v} is not below {below} (update security-floors.txt after review)"
                    ));
                }
            }
        }
    }
    found
}

/// Checks `root/Cargo.lock` against `root/security-floors.txt`.
pub fn check(root: &Path) -> Result<(), String> {
    let read = |file: &str| {
        std::fs::read_to_string(root.join(file)).map_err(|e| format!("cannot read {file}: {e}"))
    };
    let floors = parse_floors(&read("security-floors.txt")?)?;
    let packages = locked_packages(&read("Cargo.lock")?);
    let found = violations(&floors, &packages);
    if found.is_empty() {
        eprintln!(
            "xtask: security floors hold ({} crates checked)",
            floors.len()
        );
        Ok(())
    } else {
        Err(format!(
            "security floors violated:\n  {}",
            found.join("\n  ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"
[[package]]
name = "h2"
version = "0.4.15"

[[package]]
name = "rustls"
version = "0.23.46"

[[package]]
name = "quinn-proto"
version = "0.11.19"
"#;

    #[test]
    fn finds_versions_below_floor_and_above_bound() {
        let floors = parse_floors(
            "h2 >= 0.4.16\nrustls >= 0.23.0 < 0.23.40 # bound\nquinn-proto >= 0.11.19",
        )
        .unwrap();
        let found = violations(&floors, &locked_packages(LOCK));
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("h2 0.4.15 is below the security floor 0.4.16"));
        assert!(found[1].contains("rustls 0.23.46 is not below 0.23.40"));
    }

    #[test]
    fn rejects_malformed_floor_lines() {
        assert!(parse_floors("h2 0.4.16").is_err());
        assert!(parse_floors("h2 >= x").is_err());
    }

    #[test]
    fn the_repository_lock_file_satisfies_the_floors() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        check(root).unwrap();
    }
}
