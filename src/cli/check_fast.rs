//! The command line of `vardval check` read without clap, when it is a plain one.
//!
//! A clinic's pre-check and the scripts around it start `vardval check` once per document,
//! and building clap's parser for all of the binary's commands cost ≈ 0.4 M instructions and
//! 40 page faults of a process whose whole work on a small DOCX is ≈ 7 M
//! (docs/performance.md, sixth round). [`check_command`] reads only the plain forms:
//! `check FILE` with `--format text|json`, `--milestone 1|2` and `--rulebook PATH`, each at
//! most once, as `--opt value` or `--opt=value`. Anything else (help, a repeated or unknown
//! option, a value clap would refuse, `--`, arguments that are not UTF-8) returns `None`, and
//! clap parses the line as before, with its own messages. A test checks that every line this
//! accepts gives the same command from clap.

use std::ffi::OsString;
use std::path::PathBuf;

use super::Command;
use crate::commands::check::OutputFormat;

/// The `check` command of a plain command line (program name first), or `None`.
pub fn check_command(args: &[OsString]) -> Option<Command> {
    let args: Vec<&str> = args.iter().map(|a| a.to_str()).collect::<Option<_>>()?;
    let (first, rest) = args.get(1..)?.split_first()?;
    if *first != "check" {
        return None;
    }
    let mut file = None;
    let mut milestone = None;
    let mut format = None;
    let mut rulebook = None;
    let mut i = 0;
    while i < rest.len() {
        let arg = rest[i];
        i += 1;
        let Some(opt) = arg.strip_prefix("--") else {
            if arg.starts_with('-') || file.is_some() {
                return None;
            }
            file = Some(PathBuf::from(arg));
            continue;
        };
        let (name, value) = match opt.split_once('=') {
            Some((n, v)) => (n, v),
            None => {
                let v = *rest.get(i)?;
                i += 1;
                if v.starts_with('-') {
                    return None;
                }
                (opt, v)
            }
        };
        match name {
            "format" if format.is_none() => {
                format = Some(match value {
                    "text" => OutputFormat::Text,
                    "json" => OutputFormat::Json,
                    _ => return None,
                });
            }
            "milestone" if milestone.is_none() => {
                milestone = Some(match value {
                    "1" => 1,
                    "2" => 2,
                    _ => return None,
                });
            }
            "rulebook" if rulebook.is_none() && !value.is_empty() => {
                rulebook = Some(PathBuf::from(value));
            }
            _ => return None,
        }
    }
    Some(Command::Check {
        file: file.filter(|f| !f.as_os_str().is_empty())?,
        milestone,
        format: format.unwrap_or(OutputFormat::Text),
        rulebook,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;
    use proptest::prelude::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    /// What this reads, clap reads the same way.
    fn agrees(args: &[&str]) -> Result<bool, TestCaseError> {
        let Some(fast) = check_command(&os(args)) else {
            return Ok(false);
        };
        let clap = Cli::try_parse_from(args);
        prop_assert!(clap.is_ok(), "clap refused {:?}", args);
        prop_assert_eq!(
            format!("{:?}", clap.unwrap().command),
            format!("{fast:?}"),
            "{:?}",
            args
        );
        Ok(true)
    }

    #[test]
    fn plain_lines_are_read_and_the_rest_left_to_clap() {
        let read = [
            &["vardval", "check", "plan.docx"][..],
            &["vardval", "check", "plan.docx", "--format", "json"],
            &[
                "vardval",
                "check",
                "--format=json",
                "plan.docx",
                "--milestone",
                "2",
            ],
            &[
                "vardval",
                "check",
                "a b.pdf",
                "--rulebook",
                "r.toml",
                "--format",
                "text",
            ],
            &[
                "vardval",
                "check",
                "plan.docx",
                "--rulebook=r.toml",
                "--milestone=1",
            ],
        ];
        for a in read {
            assert!(agrees(a).unwrap(), "{a:?}");
        }
        let left = [
            &["vardval", "check"][..],
            &["vardval", "check", "--help"],
            &["vardval", "check", "-h"],
            &["vardval", "check", "a", "b"],
            &["vardval", "check", "a", "--format", "xml"],
            &["vardval", "check", "a", "--format"],
            &[
                "vardval", "check", "a", "--format", "json", "--format", "json",
            ],
            &["vardval", "check", "a", "--milestone", "3"],
            &["vardval", "check", "a", "--milestone", "-1"],
            &["vardval", "check", "a", "--rulebook", "--format"],
            &["vardval", "check", "a", "--other", "x"],
            &["vardval", "check", "--", "-a"],
            &["vardval", "check", ""],
            &["vardval", "run", "--config", "c.toml"],
            &["vardval"],
        ];
        for a in left {
            assert_eq!(
                check_command(&os(a)).map(|c| format!("{c:?}")),
                None,
                "{a:?}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn whatever_is_read_clap_reads_the_same(
            parts in prop::collection::vec(prop::sample::select(vec![
                "plan.docx", "x.pdf", "a b", "", "-", "-x", "--", "--format", "--format=json",
                "--format=", "json", "text", "JSON", "--milestone", "--milestone=2", "1", "2",
                "0", "--rulebook", "--rulebook=r.toml", "r.toml", "=", "--help", "check",
            ]), 0..7)
        ) {
            let mut args = vec!["vardval", "check"];
            args.extend(parts);
            agrees(&args)?;
        }
    }
}
