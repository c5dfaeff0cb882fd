//! The command line: `fitpulse [--config FILE] [serve|migrate|admin|openapi|asyncapi]`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "fitpulse",
    version,
    about = "Real-time engagement server for fitness apps"
)]
pub struct Cli {
    /// Configuration file (TOML), read between the defaults and the FITPULSE__* environment.
    #[arg(long, global = true, env = "FITPULSE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Create or upgrade the store's schema; running it again changes nothing.
    Migrate,
    /// Print the OpenAPI document the server serves at `/v1/openapi.json`; needs no
    /// configuration.
    Openapi,
    /// Print the AsyncAPI document of the socket protocol (`/v1/asyncapi.json`,
    /// `docs/asyncapi.json`); needs no configuration.
    Asyncapi,
    /// Operator tools.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an account with a role (staff accounts: coach or admin). With the embedded
    /// store it needs the server stopped; with scylla it works while the server runs.
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
        #[arg(long, value_parser = ["member", "coach", "admin"])]
        role: String,
        /// Defaults to the part of the email before the `@`.
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Print an access token signed with the server's key (for load tests and operators).
    MintToken {
        /// The user id (`sub`).
        #[arg(long)]
        user: String,
        #[arg(long, value_parser = ["member", "coach", "admin"], default_value = "member")]
        role: String,
        /// Lifetime such as `15m`, `1h` or `2days`.
        #[arg(long, default_value = "1h")]
        ttl: String,
        /// Extra scopes beyond `profile`, e.g. `content:premium`; repeatable.
        #[arg(long)]
        scope: Vec<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_is_a_subcommand() {
        let cli = Cli::try_parse_from(["fitpulse", "openapi"]).expect("parses");
        assert!(matches!(cli.command, Some(Command::Openapi)));
    }

    #[test]
    fn no_subcommand_means_serve() {
        let cli = Cli::try_parse_from(["fitpulse"]).expect("parses");
        assert!(cli.command.is_none());
    }

    #[test]
    fn the_config_flag_is_accepted_after_the_subcommand() {
        let cli =
            Cli::try_parse_from(["fitpulse", "migrate", "--config", "fp.toml"]).expect("parses");
        assert!(matches!(cli.command, Some(Command::Migrate)));
        assert_eq!(cli.config, Some(PathBuf::from("fp.toml")));
    }

    #[test]
    fn create_user_takes_a_known_role_only() {
        let ok = Cli::try_parse_from([
            "fitpulse",
            "admin",
            "create-user",
            "--email",
            "c@x.io",
            "--password",
            "p4ssw0rd!",
            "--role",
            "coach",
        ]);
        assert!(ok.is_ok());
        let bad = Cli::try_parse_from([
            "fitpulse",
            "admin",
            "create-user",
            "--email",
            "c@x.io",
            "--password",
            "p4ssw0rd!",
            "--role",
            "root",
        ]);
        assert!(bad.is_err());
    }

    #[test]
    fn an_unknown_subcommand_is_a_usage_error() {
        assert!(Cli::try_parse_from(["fitpulse", "serv"]).is_err());
    }
}
