//! `cargo xtask layers`: the workspace's dependency edges point down the floors of
//! `docs/architecture.md` (DESIGN.md §1), read from `cargo metadata`:
//!
//! - no crate depends on `pool-cli` (normal, dev or build): it is the top floor;
//! - `pool-testkit` depends on no workspace crate (a dev-dependency cycle through it would
//!   build two copies of `pool-core`'s types), and every crate but `pool-cli` has it as a
//!   dev-dependency only;
//! - `pool-core` reaches no TLS, QUIC, HTTP or DNS crate through its normal or build
//!   dependencies, directly or transitively, nor names one as a dev-dependency;
//! - every workspace crate has a floor ([`FLOORS`]), and no normal or build dependency
//!   points to a higher floor (the side crates — the test kit, `tests`, `xtask` — stand
//!   beside the floors);
//! - `pool-dial-boring` reaches no rustls crate and not h2 through its normal or build
//!   dependencies: a BoringSSL build compiles one TLS engine and one HTTP/2 crate.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

/// The application: nothing may depend on it.
const TOP: &str = "pool-cli";
/// The test kit: a dev-dependency below `TOP`.
const TESTKIT: &str = "pool-testkit";
/// The sans-IO core and its async shell.
const CORE: &str = "pool-core";
/// The floors of `docs/architecture.md`, ground up: a crate's normal and build
/// dependencies stand on its floor or below. Crates beside the floors are in [`SIDE`].
const FLOORS: &[(&str, u8)] = &[
    ("pool-core", 1),
    ("pool-http", 2),
    ("pool-dial", 2),
    ("pool-rustls", 2),
    ("pool-dns", 2),
    ("pool-health", 2),
    ("pool-dial-rustls", 3),
    ("pool-dial-boring", 3),
    ("pool-dial-quic", 3),
    ("pool-redis", 3),
    ("pool-config", 4),
    ("hotpool", 5),
    ("pool-cli", 6),
];
/// Workspace crates beside the floors (the rules above say what they may do).
const SIDE: &[&str] = &[TESTKIT, "hotpool-tests", "xtask"];
/// The BoringSSL dialer: one TLS engine and one HTTP/2 crate (`http2`) in its build.
const BORING: &str = "pool-dial-boring";
/// Crates `BORING` must never reach (exact names).
const BORING_BANNED: &[&str] = &[
    "rustls",
    "tokio-rustls",
    "webpki-roots",
    "pool-rustls",
    "pool-dial-rustls",
    "h2",
];
/// Crates `CORE` must never reach: exact names, and prefixes ending in `-`.
const CORE_BANNED: &[&str] = &[
    "rustls",
    "tokio-rustls",
    "quinn",
    "quinn-proto",
    "h2",
    "h3",
    "hyper",
    "hickory-",
];

/// Runs `cargo metadata` for the workspace (and `cargo tree` for the BoringSSL dialer) and
/// checks them.
pub(crate) fn check() -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(&cargo)
        .args(["metadata", "--format-version", "1"])
        .current_dir(crate::workspace_root()?)
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let metadata: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("cargo metadata printed no JSON: {e}"))?;
    let mut problems = problems(&metadata)?;
    problems.extend(boring_problems(&boring_build(&cargo)?));
    if problems.is_empty() {
        eprintln!("xtask: layers ok (no upward dependency edge)");
        Ok(())
    } else {
        Err(format!(
            "{} upward dependency edge(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        ))
    }
}

/// The names of the packages in `BORING`'s own build (normal and build edges), from
/// `cargo tree`: `cargo metadata` resolves features for the whole workspace at once, so
/// there `pool-dial` has `h2` (turned on by `pool-dial-rustls`) in every crate's graph.
fn boring_build(cargo: &str) -> Result<Vec<String>, String> {
    let out = Command::new(cargo)
        .args([
            "tree",
            "-p",
            BORING,
            "-e",
            "normal,build",
            "--prefix",
            "none",
        ])
        .args(["--format", "{p}"])
        .current_dir(crate::workspace_root()?)
        .output()
        .map_err(|e| format!("cannot run cargo tree: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo tree -p {BORING} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect())
}

/// A line per banned crate in `BORING`'s build (`built`: package names).
fn boring_problems(built: &[String]) -> Vec<String> {
    let mut banned: Vec<&str> = built
        .iter()
        .map(String::as_str)
        .filter(|name| BORING_BANNED.contains(name))
        .collect();
    banned.sort_unstable();
    banned.dedup();
    banned
        .into_iter()
        .map(|name| format!("{BORING} reaches {name} through normal or build dependencies"))
        .collect()
}

/// One dependency as a package's manifest declares it.
struct Dep {
    name: String,
    /// `normal`, `dev` or `build`.
    kind: String,
}

fn text<'a>(v: &'a Value, key: &str) -> Result<&'a str, String> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("cargo metadata: no string `{key}`"))
}

fn array<'a>(v: &'a Value, key: &str) -> Result<&'a [Value], String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .ok_or_else(|| format!("cargo metadata: no array `{key}`"))
}

fn is_core_banned(name: &str) -> bool {
    CORE_BANNED.iter().any(|b| match b.strip_suffix('-') {
        Some(prefix) => name.starts_with(prefix) && name[prefix.len()..].starts_with('-'),
        None => name == *b,
    })
}

/// Every broken rule, one line each (empty: the layering holds).
fn problems(metadata: &Value) -> Result<Vec<String>, String> {
    let members: BTreeSet<&str> = array(metadata, "workspace_members")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    // Package id → name, for every package in the graph.
    let mut names = BTreeMap::new();
    // Workspace package name → its declared dependencies.
    let mut declared: BTreeMap<&str, Vec<Dep>> = BTreeMap::new();
    for p in array(metadata, "packages")? {
        let (id, name) = (text(p, "id")?, text(p, "name")?);
        names.insert(id, name);
        if !members.contains(id) {
            continue;
        }
        let deps = array(p, "dependencies")?
            .iter()
            .map(|d| {
                Ok(Dep {
                    name: text(d, "name")?.to_owned(),
                    kind: d
                        .get("kind")
                        .and_then(Value::as_str)
                        .unwrap_or("normal")
                        .to_owned(),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        declared.insert(name, deps);
    }
    let workspace: BTreeSet<&str> = declared.keys().copied().collect();

    let mut problems = Vec::new();
    for (&package, deps) in &declared {
        for dep in deps {
            if dep.name == TOP {
                problems.push(format!(
                    "{package} -> {TOP} ({}): nothing may depend on the application",
                    dep.kind
                ));
            }
            if dep.name == TESTKIT && package != TOP && dep.kind != "dev" {
                problems.push(format!(
                    "{package} -> {TESTKIT} ({}): the test kit is a dev-dependency below {TOP}",
                    dep.kind
                ));
            }
            if package == TESTKIT && workspace.contains(dep.name.as_str()) {
                problems.push(format!(
                    "{TESTKIT} -> {} ({}): the test kit depends on no workspace crate",
                    dep.name, dep.kind
                ));
            }
            if package == CORE && dep.kind == "dev" && is_core_banned(&dep.name) {
                problems.push(format!(
                    "{CORE} -> {} (dev): {CORE} never names a TLS, QUIC, HTTP or DNS crate",
                    dep.name
                ));
            }
        }
    }
    for reached in reaches(metadata, &names, CORE)? {
        if is_core_banned(reached) {
            problems.push(format!(
                "{CORE} reaches {reached} through normal or build dependencies"
            ));
        }
    }
    problems.extend(floor_problems(&declared, &workspace));
    Ok(problems)
}

fn floor(name: &str) -> Option<u8> {
    FLOORS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// Workspace crates with no floor, and normal or build edges to a higher floor.
fn floor_problems(declared: &BTreeMap<&str, Vec<Dep>>, workspace: &BTreeSet<&str>) -> Vec<String> {
    let mut problems = Vec::new();
    for (&package, deps) in declared {
        if SIDE.contains(&package) {
            continue;
        }
        let Some(own) = floor(package) else {
            problems.push(format!(
                "{package} has no floor: add it to FLOORS in xtask/src/layers.rs"
            ));
            continue;
        };
        for dep in deps {
            if dep.kind == "dev" || !workspace.contains(dep.name.as_str()) {
                continue;
            }
            if let Some(theirs) = floor(&dep.name)
                && theirs > own
            {
                problems.push(format!(
                    "{package} (floor {own}) -> {} (floor {theirs}, {}): a dependency points up",
                    dep.name, dep.kind
                ));
            }
        }
    }
    problems
}

/// The names of every package `from` reaches through normal and build edges of the
/// resolved graph (`from` itself excluded).
fn reaches<'a>(
    metadata: &'a Value,
    names: &BTreeMap<&'a str, &'a str>,
    from: &str,
) -> Result<BTreeSet<&'a str>, String> {
    let resolve = metadata
        .get("resolve")
        .ok_or("cargo metadata: no `resolve` graph")?;
    // Node id → the ids it depends on through a normal or build edge.
    let mut edges: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for node in array(resolve, "nodes")? {
        let mut out = Vec::new();
        for dep in array(node, "deps")? {
            let not_dev_only = array(dep, "dep_kinds")?
                .iter()
                .any(|k| k.get("kind").and_then(Value::as_str) != Some("dev"));
            if not_dev_only {
                out.push(text(dep, "pkg")?);
            }
        }
        edges.insert(text(node, "id")?, out);
    }
    let Some(from_id) = names.iter().find(|(_, n)| **n == from).map(|(id, _)| *id) else {
        return Err(format!("cargo metadata: no package {from}"));
    };
    let mut seen = BTreeSet::new();
    let mut todo = vec![from_id];
    while let Some(id) = todo.pop() {
        for &next in edges.get(id).map(Vec::as_slice).unwrap_or_default() {
            if seen.insert(next) {
                todo.push(next);
            }
        }
    }
    Ok(seen
        .into_iter()
        .filter_map(|id| names.get(id).copied())
        .filter(|n| *n != from)
        .collect())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A metadata document: `packages` as (name, [(dep, kind)]), all workspace members;
    /// the resolve graph has the same edges (`extra` adds non-member packages).
    fn metadata(packages: &[(&str, &[(&str, &str)])], extra: &[(&str, &[&str])]) -> Value {
        let id = |n: &str| format!("path+file:///ws/{n}#0.1.0");
        let mut pkgs = Vec::new();
        let mut nodes = Vec::new();
        for (name, deps) in packages {
            pkgs.push(json!({
                "name": name,
                "id": id(name),
                "dependencies": deps.iter().map(|(d, k)| json!({
                    "name": d,
                    "kind": if *k == "normal" { Value::Null } else { json!(k) },
                })).collect::<Vec<_>>(),
            }));
            nodes.push(json!({
                "id": id(name),
                "deps": deps.iter().map(|(d, k)| json!({
                    "name": d,
                    "pkg": id(d),
                    "dep_kinds": [{ "kind": if *k == "normal" { Value::Null } else { json!(k) } }],
                })).collect::<Vec<_>>(),
            }));
        }
        for (name, deps) in extra {
            pkgs.push(json!({ "name": name, "id": id(name), "dependencies": [] }));
            nodes.push(json!({
                "id": id(name),
                "deps": deps.iter().map(|d| json!({
                    "name": d, "pkg": id(d), "dep_kinds": [{ "kind": null }],
                })).collect::<Vec<_>>(),
            }));
        }
        json!({
            "packages": pkgs,
            "workspace_members": packages.iter().map(|(n, _)| id(n)).collect::<Vec<_>>(),
            "resolve": { "nodes": nodes },
        })
    }

    #[test]
    fn a_clean_graph_has_no_problem() {
        let m = metadata(
            &[
                ("pool-core", &[("tokio", "normal"), ("pool-testkit", "dev")]),
                (
                    "pool-dial-rustls",
                    &[("pool-core", "normal"), ("pool-testkit", "dev")],
                ),
                ("pool-testkit", &[("rustls", "normal")]),
                (
                    "pool-cli",
                    &[("pool-dial-rustls", "normal"), ("pool-testkit", "normal")],
                ),
            ],
            &[("tokio", &[]), ("rustls", &[])],
        );
        assert_eq!(problems(&m).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn every_upward_edge_is_named() {
        let m = metadata(
            &[
                ("pool-core", &[("tokio", "normal"), ("h2", "dev")]),
                (
                    "pool-dial-rustls",
                    &[("pool-core", "normal"), ("pool-cli", "dev")],
                ),
                ("pool-dns", &[("pool-testkit", "normal")]),
                ("pool-testkit", &[("pool-core", "dev")]),
                ("pool-cli", &[("pool-dial-rustls", "normal")]),
            ],
            // tokio pulling in hickory would make pool-core reach it.
            &[
                ("tokio", &["hickory-proto"]),
                ("hickory-proto", &[]),
                ("h2", &[]),
            ],
        );
        assert_eq!(
            problems(&m).unwrap(),
            vec![
                "pool-core -> h2 (dev): pool-core never names a TLS, QUIC, HTTP or DNS crate",
                "pool-dial-rustls -> pool-cli (dev): nothing may depend on the application",
                "pool-dns -> pool-testkit (normal): the test kit is a dev-dependency below pool-cli",
                "pool-testkit -> pool-core (dev): the test kit depends on no workspace crate",
                "pool-core reaches hickory-proto through normal or build dependencies",
            ]
        );
    }

    #[test]
    fn floors_are_checked() {
        let m = metadata(
            &[
                ("pool-core", &[]),
                ("pool-http", &[("pool-core", "normal")]),
                (
                    "pool-dial",
                    &[("pool-http", "normal"), ("pool-dial-quic", "normal")],
                ),
                ("pool-dial-quic", &[("pool-dial", "normal")]),
                // A dev-dependency may point anywhere below the application.
                (
                    "pool-dial-boring",
                    &[("pool-dial", "normal"), ("pool-config", "dev")],
                ),
                ("pool-config", &[("pool-dial-boring", "normal")]),
                ("pool-new", &[("pool-core", "normal")]),
            ],
            &[],
        );
        assert_eq!(
            problems(&m).unwrap(),
            vec![
                "pool-dial (floor 2) -> pool-dial-quic (floor 3, normal): a dependency points up",
                "pool-new has no floor: add it to FLOORS in xtask/src/layers.rs",
            ]
        );
    }

    #[test]
    fn the_boring_build_has_no_rustls_and_no_h2() {
        let built = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        assert!(
            boring_problems(&built(&["pool-dial", "btls", "http2", "rustls-pki-types"])).is_empty()
        );
        assert_eq!(
            boring_problems(&built(&[
                "pool-dial",
                "h2",
                "rustls",
                "h2",
                "pool-dial-rustls"
            ])),
            vec![
                "pool-dial-boring reaches h2 through normal or build dependencies",
                "pool-dial-boring reaches pool-dial-rustls through normal or build dependencies",
                "pool-dial-boring reaches rustls through normal or build dependencies",
            ]
        );
    }

    #[test]
    fn banned_names_match_exactly_or_by_prefix() {
        assert!(is_core_banned("rustls"));
        assert!(is_core_banned("hickory-resolver"));
        assert!(!is_core_banned("rustls-pki-types"));
        assert!(!is_core_banned("hickoryish"));
        assert!(!is_core_banned("h2o"));
    }

    #[test]
    fn this_workspace_is_layered() {
        check().unwrap();
    }
}
