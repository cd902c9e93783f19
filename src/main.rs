//! The `vardval` binary: parse the command line, set up logging, dispatch. Thin on purpose.

use std::process::ExitCode;

use clap::Parser;
use vardval::cli::{
    AuditCommand, Cli, ClinicsCommand, Command, RemindersCommand, ReviewCommand, TriageCommand,
    UsersCommand,
};
use vardval::commands;
use vardval::domain::rulebook::Rulebook;
use vardval::extract::Limits;

fn main() -> ExitCode {
    // A probe process of the poison-mail guard (pipeline/poison.rs): parse stdin and exit.
    if let Some(code) = vardval::pipeline::poison::probe_main_if_requested() {
        return ExitCode::from(code);
    }
    restore_sigpipe();
    // A plain `check` line is read without building clap's parser (cli/check_fast.rs).
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match vardval::cli::check_command(&args) {
        Some(command) => Cli { command },
        None => Cli::parse_from(args),
    };
    if let Command::Check {
        file,
        milestone,
        format,
        rulebook,
    } = &cli.command
    {
        let rb = match rulebook {
            None => Rulebook::embedded(),
            Some(p) => match std::fs::read_to_string(p)
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
        return commands::check::run(file, *milestone, *format, &rb, &Limits::default());
    }
    if matches!(cli.command, Command::Demo { .. }) {
        vardval::telemetry::init_with("warn,lopdf=error");
    } else {
        vardval::telemetry::init();
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vardval: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let res: anyhow::Result<ExitCode> = rt.block_on(async {
        match cli.command {
            Command::Check { .. } => unreachable!("handled above"),
            Command::Run { config, once, now } => {
                let now = now.map(|t| t.with_timezone(&chrono::Utc));
                let s = commands::run::run_at(&config, once, now).await?;
                if once {
                    commands::run::print_summary(&s);
                }
                Ok(ExitCode::SUCCESS)
            }
            Command::Schedule { config, format } => {
                let json = format == commands::check::OutputFormat::Json;
                commands::schedule::schedule(&config, json).await?;
                Ok(ExitCode::SUCCESS)
            }
            Command::Status {
                config,
                check: true,
                ..
            } => Ok(ExitCode::from(commands::status::check(&config).await)),
            Command::Status { config, json, .. } => {
                commands::status::status(&config, json).await?;
                Ok(ExitCode::SUCCESS)
            }
            Command::Submissions { config, format } => {
                let json = format == commands::check::OutputFormat::Json;
                commands::submissions::submissions(&config, json).await?;
                Ok(ExitCode::SUCCESS)
            }
            Command::Doctor { config } => {
                let bad = commands::doctor::doctor(&config).await;
                Ok(if bad == 0 {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                })
            }
            Command::Clinics { command } => {
                use commands::check::OutputFormat;
                match command {
                    ClinicsCommand::Import { file, config, by } => {
                        let by = by
                            .or_else(|| std::env::var("USER").ok())
                            .unwrap_or_else(|| "okänd".to_string());
                        commands::clinics::import(&config, &file, &by).await?
                    }
                    ClinicsCommand::List { config, format } => {
                        commands::clinics::list(&config, format == OutputFormat::Json).await?
                    }
                    ClinicsCommand::Export { config } => commands::clinics::export(&config).await?,
                    ClinicsCommand::History {
                        config,
                        clinic,
                        format,
                    } => {
                        commands::clinics::history(
                            &config,
                            clinic.as_deref(),
                            format == OutputFormat::Json,
                        )
                        .await?
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            Command::Review { command } => {
                use commands::check::OutputFormat;
                match command {
                    ReviewCommand::List {
                        config,
                        year,
                        format,
                    } => commands::review::list(&config, year, format == OutputFormat::Json).await?,
                    ReviewCommand::Confirm {
                        config,
                        submission,
                        by,
                        comment,
                        send,
                        format,
                    } => {
                        commands::review::decide(
                            &config,
                            submission,
                            &by,
                            &[],
                            None,
                            comment,
                            send,
                            format == OutputFormat::Json,
                        )
                        .await?
                    }
                    ReviewCommand::Override {
                        config,
                        submission,
                        by,
                        sections,
                        grade,
                        comment,
                        send,
                        format,
                    } => {
                        if sections.is_empty() && grade.is_none() {
                            anyhow::bail!(
                                "cannot override without a change: give --section X=ok|weak|missing or --grade"
                            );
                        }
                        commands::review::decide(
                            &config,
                            submission,
                            &by,
                            &sections,
                            grade,
                            comment,
                            send,
                            format == OutputFormat::Json,
                        )
                        .await?
                    }
                    ReviewCommand::Countersign {
                        config,
                        submission,
                        by,
                        format,
                    } => {
                        commands::review::countersign(
                            &config,
                            submission,
                            &by,
                            format == OutputFormat::Json,
                        )
                        .await?
                    }
                    ReviewCommand::RejectPending {
                        config,
                        submission,
                        by,
                        comment,
                        format,
                    } => {
                        commands::review::reject_pending(
                            &config,
                            submission,
                            &by,
                            comment.as_deref(),
                            format == OutputFormat::Json,
                        )
                        .await?
                    }
                    ReviewCommand::Presented {
                        config,
                        clinic,
                        year,
                        by,
                        note,
                        format,
                    } => {
                        commands::review::presented(
                            &config,
                            &clinic,
                            year,
                            &by,
                            note.as_deref(),
                            format == OutputFormat::Json,
                        )
                        .await?
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            Command::Audit { command } => {
                use commands::check::OutputFormat;
                match command {
                    AuditCommand::Verify { config, format } => {
                        let ok =
                            commands::audit::verify(&config, format == OutputFormat::Json).await?;
                        Ok(if ok {
                            ExitCode::SUCCESS
                        } else {
                            ExitCode::FAILURE
                        })
                    }
                    AuditCommand::List {
                        config,
                        limit,
                        actor,
                        action,
                        subject,
                        format,
                    } => {
                        let filter = vardval::store::AuditFilter {
                            actor,
                            action,
                            subject,
                        };
                        commands::audit::list(&config, limit, &filter, format == OutputFormat::Json)
                            .await?;
                        Ok(ExitCode::SUCCESS)
                    }
                }
            }
            Command::Users { command } => {
                use commands::check::OutputFormat;
                match command {
                    UsersCommand::Add {
                        config,
                        username,
                        role,
                        password_env,
                    } => {
                        commands::users::add(&config, &username, &role, password_env.as_deref())
                            .await?
                    }
                    UsersCommand::Disable { config, username } => {
                        commands::users::disable(&config, &username).await?
                    }
                    UsersCommand::Passwd {
                        config,
                        username,
                        password_env,
                    } => commands::users::passwd(&config, &username, password_env.as_deref()).await?,
                    UsersCommand::List { config, format } => {
                        commands::users::list(&config, format == OutputFormat::Json).await?
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            Command::Triage { command } => {
                use commands::check::OutputFormat;
                match command {
                    TriageCommand::List { config, format } => {
                        commands::triage::list(&config, format == OutputFormat::Json).await?
                    }
                    TriageCommand::Assign {
                        config,
                        id,
                        clinic,
                        as_user,
                    } => commands::triage::assign(&config, id, &clinic, &as_user).await?,
                    TriageCommand::Reject {
                        config,
                        id,
                        as_user,
                    } => commands::triage::reject(&config, id, &as_user).await?,
                    TriageCommand::Answer {
                        config,
                        id,
                        subject,
                        body_file,
                        as_user,
                    } => {
                        commands::triage::answer(
                            &config,
                            id,
                            &subject,
                            body_file.as_deref(),
                            &as_user,
                        )
                        .await?
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            Command::Reminders { command } => {
                let (config, paused, as_user) = match command {
                    RemindersCommand::Pause { config, as_user } => (config, true, as_user),
                    RemindersCommand::Resume { config, as_user } => (config, false, as_user),
                };
                commands::schedule::set_paused(&config, paused, &as_user).await?;
                Ok(ExitCode::SUCCESS)
            }
            Command::Payouts { command } => {
                use commands::check::OutputFormat;
                use vardval::cli::{PayoutsCommand as P, ReclaimDecision};
                let utc = |t: Option<chrono::DateTime<chrono::FixedOffset>>| {
                    t.map(|t| t.with_timezone(&chrono::Utc))
                };
                match command {
                    P::Preview {
                        config,
                        now: _,
                        format,
                    } => {
                        commands::payouts::preview(&config, format == OutputFormat::Json).await?
                    }
                    P::Run {
                        config,
                        now,
                        format,
                    } => {
                        commands::payouts::run(&config, utc(now), format == OutputFormat::Json)
                            .await?
                    }
                    P::List { config, format } => {
                        commands::payouts::list(&config, format == OutputFormat::Json).await?
                    }
                    P::Show {
                        batch,
                        config,
                        format,
                    } => {
                        commands::payouts::show(&config, batch, format == OutputFormat::Json)
                            .await?
                    }
                    P::Reclaims { config, format } => {
                        commands::payouts::reclaims(&config, format == OutputFormat::Json).await?
                    }
                    P::Reclaim {
                        decision,
                        config,
                        clinic,
                        year,
                        by,
                        reason,
                        now,
                    } => {
                        commands::payouts::decide(
                            &config,
                            decision == ReclaimDecision::Accept,
                            &clinic,
                            year,
                            &by,
                            &reason,
                            utc(now),
                        )
                        .await?
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            Command::Demo { config, fixtures } => {
                commands::demo::demo(&config, &fixtures).await?;
                Ok(ExitCode::SUCCESS)
            }
        }
    });
    match res {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vardval: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Rust ignores SIGPIPE, so `vardval status | head` would panic on a closed pipe; restore the
/// default so the process just ends, like other command-line tools.
fn restore_sigpipe() {
    #[cfg(unix)]
    {
        unsafe extern "C" {
            fn signal(sig: i32, handler: usize) -> usize;
        }
        const SIGPIPE: i32 = 13;
        const SIG_DFL: usize = 0;
        // SAFETY: setting a signal disposition to the default at start-up, before any thread.
        unsafe {
            signal(SIGPIPE, SIG_DFL);
        }
    }
}
