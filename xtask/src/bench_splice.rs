//! `cargo xtask bench --only NAME`: one section of `BENCHMARKS.md` re-run alone and
//! **spliced** into the existing report, for every section that can run alone (the real
//! path, the proxies, and sections 13–16 of `bench_polite.rs`). The section (from its heading to the next `## ` heading) and its
//! rows of "Targets at a glance" are replaced, a line under "Machine and run" says when and
//! how the section was re-run, and every other figure stays as the last full run wrote it.
//! The section's figures go to `target/hotpool-bench-NAME/`, so the full run's
//! `target/hotpool-bench/` is left alone. (Splicing rather than re-rendering from kept JSON
//! lines: it works in a fresh clone, where no earlier run's files exist.)

use std::path::Path;
use std::time::Instant;

use super::Figures;

/// A section that runs alone: its bench command, its place in the report, its renderer.
pub(super) struct Alone {
    /// The `--only` name; also names the figures' folder (`target/hotpool-bench-NAME`).
    pub name: &'static str,
    /// The section's number.
    pub section: u32,
    /// The section's heading up to its title's first words (`## 11. Real path`): the
    /// rendered section starts with it, and the old one is found by it.
    pub heading: &'static str,
    /// What the section is called in the header's note (`real path`).
    pub label: &'static str,
    /// The prefix of the section's rows in "Targets at a glance" (none: it has no rows).
    pub summary_prefix: Option<&'static str>,
    /// The `cargo` arguments that run the bench.
    pub args: &'static [&'static str],
    /// Renders the section and pushes its rows of "Targets at a glance".
    pub render: fn(&mut String, &Figures, u32, &mut Vec<(String, String)>),
    /// The peers' or proxies' versions, for the header's note.
    pub versions: fn() -> String,
}

impl Alone {
    /// The header note's first words, by which an older note is replaced.
    fn note_prefix(&self) -> String {
        format!("- section {} ({}) re-run", self.section, self.label)
    }
}

/// Runs `alone`'s bench by itself and splices its section into `BENCHMARKS.md` (or prints
/// the section with `write` false).
pub(super) fn run_only(root: &Path, quick: bool, write: bool, alone: &Alone) -> Result<(), String> {
    let out = root
        .join("target")
        .join(format!("hotpool-bench-{}", alone.name));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    // Criterion's estimates too (the sections of `bench_polite.rs` are criterion benches).
    let mut env: Vec<(&str, String)> = vec![
        ("HOTPOOL_BENCH_OUT", out.display().to_string()),
        (
            "CRITERION_HOME",
            out.join("criterion").display().to_string(),
        ),
    ];
    if quick {
        env.push(("HOTPOOL_BENCH_QUICK", "1".to_owned()));
    }
    let started = Instant::now();
    super::cargo_env(root, alone.args, &env)?;
    let secs = started.elapsed().as_secs_f64();
    let figures = Figures::load(&out)?;
    let mut section = String::new();
    let mut summary = Vec::new();
    (alone.render)(&mut section, &figures, alone.section, &mut summary);
    if section.is_empty() {
        return Err(format!(
            "the {} bench left no figures in {}",
            alone.name,
            out.display()
        ));
    }
    let path = root.join("BENCHMARKS.md");
    let previous = std::fs::read_to_string(&path).unwrap_or_default();
    let note = format!(
        "{} alone on {} with `cargo xtask bench --only {}{}` ({secs:.0} s, build included; load average after: {}); {}",
        alone.note_prefix(),
        super::date(),
        alone.name,
        if quick { " --quick" } else { "" },
        super::load_average(),
        (alone.versions)(),
    );
    let report = splice(&previous, alone, &section, &summary, &note);
    if write {
        std::fs::write(&path, report)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!(
            "xtask: spliced section {} into {}",
            alone.section,
            path.display()
        );
    } else {
        println!("{section}");
    }
    Ok(())
}

/// `previous` with `alone`'s section, its summary rows and the header note replaced (or
/// added: the section before the profiling notes, the rows at the end of the summary
/// table, the note at the end of "Machine and run").
pub(super) fn splice(
    previous: &str,
    alone: &Alone,
    section: &str,
    summary: &[(String, String)],
    note: &str,
) -> String {
    let heading = alone.heading;
    let mut text = previous.to_owned();
    // The section.
    match text.find(heading) {
        Some(at) => {
            let end = text[at + heading.len()..]
                .find("\n## ")
                .map_or(text.len(), |i| at + heading.len() + i + 1);
            text.replace_range(at..end, section);
        }
        None => {
            let at = text.find(super::NOTES_HEADING).unwrap_or(text.len());
            text.insert_str(at, section);
        }
    }
    // The summary rows: the old ones out, the new ones at the end of the table.
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    if let Some(prefix) = alone.summary_prefix {
        lines.retain(|l| !l.starts_with(&format!("| {prefix}")));
    }
    let note_prefix = alone.note_prefix();
    lines.retain(|l| !l.starts_with(&note_prefix));
    let table_end = lines
        .iter()
        .position(|l| l == "## Targets at a glance")
        .and_then(|h| {
            lines[h..]
                .iter()
                .position(|l| l.starts_with('|'))
                .map(|first| h + first)
        })
        .map(|first| {
            first
                + lines[first..]
                    .iter()
                    .take_while(|l| l.starts_with('|'))
                    .count()
        });
    if let Some(end) = table_end {
        for (i, (name, v)) in summary.iter().enumerate() {
            lines.insert(end + i, format!("| {name} | {v} |"));
        }
    }
    // The note, at the end of "Machine and run" (before its blank line).
    if let Some(h) = lines.iter().position(|l| l == "## Machine and run") {
        let end = lines[h + 2..]
            .iter()
            .position(String::is_empty)
            .map_or(lines.len(), |i| h + 2 + i);
        lines.insert(end, note.to_owned());
    }
    let mut joined = lines.join("\n");
    joined.push('\n');
    joined
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALONE: Alone = Alone {
        name: "realpath",
        section: 11,
        heading: "## 11. Real path",
        label: "real path",
        summary_prefix: Some("real path"),
        args: &[],
        render: |_, _, _, _| {},
        versions: String::new,
    };

    #[test]
    fn splice_replaces_the_section_and_its_summary_rows_only() {
        let previous = "# Benchmarks\n\n## Machine and run\n\n- date: x\n\n## Targets at a glance\n\n| target | result |\n|---|---|\n| a | **met** |\n| real path: old | **missed** |\n\n## 10. Engines\n\nten\n\n## 11. Real path: old\n\nold figures\n\n## Profiling notes\n\nnotes\n";
        let summary = vec![("real path: h2".to_owned(), "**met**".to_owned())];
        let text = splice(
            previous,
            &ALONE,
            "## 11. Real path: new\n\nnew figures\n\n",
            &summary,
            "- section 11 (real path) re-run alone",
        );
        assert!(
            text.contains("- date: x\n- section 11 (real path) re-run alone\n\n"),
            "{text}"
        );
        assert!(
            text.contains("| a | **met** |\n| real path: h2 | **met** |\n\n"),
            "{text}"
        );
        assert!(!text.contains("old"), "{text}");
        assert!(
            text.contains(
                "ten\n\n## 11. Real path: new\n\nnew figures\n\n## Profiling notes\n\nnotes\n"
            ),
            "{text}"
        );
        // Spliced again: one note, one set of rows.
        let again = splice(
            &text,
            &ALONE,
            "## 11. Real path: new\n\nnew figures\n\n",
            &summary,
            "- section 11 (real path) re-run alone",
        );
        assert_eq!(again, text);
        // No section yet: it goes before the profiling notes.
        let fresh = splice(
            "# B\n\n## Profiling notes\n\nn\n",
            &ALONE,
            "## 11. Real path\n\nx\n\n",
            &[],
            "- n",
        );
        assert!(
            fresh.contains("## 11. Real path\n\nx\n\n## Profiling notes"),
            "{fresh}"
        );
    }

    #[test]
    fn a_section_without_summary_rows_leaves_the_table_alone() {
        let alone = Alone {
            name: "proxy",
            section: 12,
            heading: "## 12. Proxies",
            label: "proxies",
            summary_prefix: None,
            ..ALONE
        };
        let previous = "## Machine and run\n\n- date: x\n- section 12 (proxies) re-run alone, old\n\n## Targets at a glance\n\n| target | result |\n|---|---|\n| real path: h2 | **met** |\n\n## 11. Real path\n\neleven\n\n## Profiling notes\n";
        let text = splice(
            previous,
            &alone,
            "## 12. Proxies\n\ntwelve\n\n",
            &[],
            "- section 12 (proxies) re-run alone, new",
        );
        assert_eq!(
            text,
            "## Machine and run\n\n- date: x\n- section 12 (proxies) re-run alone, new\n\n## Targets at a glance\n\n| target | result |\n|---|---|\n| real path: h2 | **met** |\n\n## 11. Real path\n\neleven\n\n## 12. Proxies\n\ntwelve\n\n## Profiling notes\n"
        );
    }
}
