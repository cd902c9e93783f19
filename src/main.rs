//! The `vardval` binary: parse the command line, set up logging, dispatch. Thin on purpose.

use std::process::ExitCode;

use clap::Parser;
use vardval::cli::{Cli, Command};
use vardval::commands;
use vardval::domain::rulebook::Rulebook;
use vardval::extract::Limits;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { file, milestone, format, rulebook } => {
            let rb = match rulebook {
                None => Rulebook::embedded(),
                Some(p) => match std::fs::read_to_string(&p)
                    .map_err(|e| e.to_string())
                    .and_then(|t| Rulebook::from_toml(&t).map_err(|e| e.to_string()))
                {
                    Ok(rb) => rb,
                    Err(e) => {
                        eprintln!("vardval: cannot load rulebook {}: {e}", p.display());
                        return ExitCode::from(2);
                    }
                },
            };
            commands::check::run(&file, milestone, format, &rb, &Limits::default())
        }
    }
}
