//! The `fitpulse` binary: parses the command line, loads the configuration and hands over
//! to the library. Exit codes: 0 done, 1 failed at run time, 2 invalid configuration/usage.

use std::process::ExitCode;

use clap::Parser;
use fitpulse::cli::{AdminCommand, Cli, Command};
use fitpulse::config::Settings;
use fitpulse::startup::Application;
use fitpulse::telemetry::{Output, Traces};

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Some(Command::Openapi)) {
        // The document depends on the code alone, not on the configuration.
        println!("{}", fitpulse::http::contract::document());
        return ExitCode::SUCCESS;
    }
    if matches!(cli.command, Some(Command::Asyncapi)) {
        print!("{}", fitpulse::ws::asyncapi::document());
        return ExitCode::SUCCESS;
    }
    let mut settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("fitpulse: {err}");
            return ExitCode::from(2);
        }
    };
    let command = cli.command.unwrap_or(Command::Serve);
    let output = match command {
        Command::Serve => Output::Stdout,
        _ => Output::Stderr,
    };
    if !matches!(command, Command::Serve) {
        fitpulse::telemetry::init_to(&settings.log, output);
    }

    match command {
        Command::Serve => {
            // Fixed once, so the spans and the bus name this node alike.
            settings.bus.node_id = fitpulse::node::node_id(&settings.bus);
            let traces = Traces {
                settings: &settings.telemetry.otlp,
                node_id: &settings.bus.node_id,
            };
            let telemetry =
                match fitpulse::telemetry::init_with_traces(&settings.log, output, traces) {
                    Ok(telemetry) => telemetry,
                    Err(err) => {
                        eprintln!("fitpulse: {err}");
                        return ExitCode::from(2);
                    }
                };
            let code = serve(settings).await;
            telemetry.shutdown();
            code
        }
        Command::Migrate => match fitpulse::migrate::run(&settings).await {
            Ok(summary) => {
                println!("{summary}");
                ExitCode::SUCCESS
            }
            Err(err) => fail("migrate failed", &err),
        },
        Command::Admin { command } => admin(&settings, command).await,
        Command::Openapi | Command::Asyncapi => {
            unreachable!("answered before the configuration is read")
        }
    }
}

async fn admin(settings: &Settings, command: AdminCommand) -> ExitCode {
    let outcome = match command {
        AdminCommand::CreateUser {
            email,
            password,
            role,
            display_name,
        } => {
            fitpulse::admin::create_user(
                settings,
                &email,
                &password,
                &role,
                display_name.as_deref(),
            )
            .await
        }
        AdminCommand::MintToken {
            user,
            role,
            ttl,
            scope,
        } => fitpulse::admin::mint_token(settings, &user, &role, &ttl, &scope),
    };
    match outcome {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(err) => fail("admin command failed", &err),
    }
}

async fn serve(settings: Settings) -> ExitCode {
    raise_open_file_limit();
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(err) => return fail("cannot start", &err),
    };
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail("server failed", &err),
    }
}

/// Logs `err` with its cause chain and prints it, so it shows with or without a log reader.
fn fail(context: &str, err: &dyn std::error::Error) -> ExitCode {
    let mut text = format!("{context}: {err}");
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    tracing::error!(error.chain = %text, "{context}");
    eprintln!("fitpulse: {text}");
    ExitCode::FAILURE
}

/// Every socket is a file descriptor: lift the limit as far as allowed.
fn raise_open_file_limit() {
    match fitpulse::fd_limit::raise_open_files() {
        Ok(limit) => tracing::info!(limit, "open file limit"),
        Err(err) => tracing::warn!(error = %err, "could not raise the open file limit"),
    }
}
